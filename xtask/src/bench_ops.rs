//! `cargo xtask bench-ops`: the time of each operation of one LeNet-5
//! training step (batch 64), forward and backward, on a CPU backend: the
//! split by operation behind `docs/performance.md` (issue #16).
//!
//! Each operation runs alone on an input of the size it sees in LeNet-5,
//! with its weights and its input tracked by autodiff as in training (so
//! conv1's backward also computes the input gradient training skips). Its
//! backward is timed as `(y · g).sum().backward()` with `g` all ones, so it
//! includes that product and sum (element-wise, small beside every
//! operation measured). A measurement is the median of `--repeats` runs,
//! each ended by reading a value back to the host.

use std::time::Instant;

use advcomp_backend::BackendKind;
use burn::Tensor;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{LinearConfig, Relu};
use burn::tensor::{Device, Distribution};

#[derive(clap::Args)]
pub struct BenchOpsArgs {
    /// Backend.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Images per batch (training uses 64).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 30)]
    repeats: usize,
}

/// One operation: its name, its input shape, and the function under test.
struct Op {
    name: &'static str,
    input: Vec<usize>,
    run: Box<dyn Fn(Tensor<4>) -> Tensor<4>>,
}

pub fn run(args: &BenchOpsArgs) -> Result<(), String> {
    let kind: BackendKind = args
        .backend
        .parse()
        .map_err(|e: advcomp_backend::BackendError| e.to_string())?;
    let device = advcomp_backend::device(kind)
        .map_err(|e| e.to_string())?
        .autodiff();
    let n = args.batch;
    let ops = lenet5_ops(n, &device);
    println!(
        "LeNet-5 operations at batch {n}, backend {}, {} threads, median of {}",
        kind.resolve(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.repeats
    );
    println!("\n| operation | input | forward ms | backward ms | share of the sum |");
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    for op in &ops {
        let (forward, backward) = measure(op, &device, args.repeats.max(1));
        rows.push((op, forward, backward));
    }
    let total: f64 = rows.iter().map(|(_, f, b)| f + b).sum();
    for (op, forward, backward) in &rows {
        println!(
            "| {} | {:?} | {:.2} | {:.2} | {:.1}% |",
            op.name,
            op.input,
            forward * 1e3,
            backward * 1e3,
            100.0 * (forward + backward) / total
        );
    }
    println!(
        "| **sum** | | {:.2} | {:.2} | 100% |",
        rows.iter().map(|(_, f, _)| f).sum::<f64>() * 1e3,
        rows.iter().map(|(_, _, b)| b).sum::<f64>() * 1e3
    );
    Ok(())
}

/// The operations of LeNet-5's forward pass, in order, each with the input
/// it sees at batch `n` (4-D throughout: the linear layers see `[n, f, 1, 1]`
/// reshaped to `[n, f]` inside).
fn lenet5_ops(n: usize, device: &Device) -> Vec<Op> {
    let conv1 = Conv2dConfig::new([1, 20], [5, 5]).init(device);
    let conv2 = Conv2dConfig::new([20, 50], [5, 5]).init(device);
    let fc1 = LinearConfig::new(800, 500).init(device);
    let fc2 = LinearConfig::new(500, 10).init(device);
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let flat = move |f: usize| move |x: Tensor<4>| x.reshape([n as i32, f as i32]);
    let unflat = |y: Tensor<2>| {
        let [n, f] = y.dims();
        y.reshape([n, f, 1, 1])
    };
    vec![
        Op {
            name: "conv1 (1→20, 5×5)",
            input: vec![n, 1, 28, 28],
            run: Box::new(move |x| conv1.forward(x)),
        },
        Op {
            name: "relu1",
            input: vec![n, 20, 24, 24],
            run: Box::new(|x| Relu::new().forward(x)),
        },
        Op {
            name: "pool1 (max 2×2)",
            input: vec![n, 20, 24, 24],
            run: Box::new({
                let pool = pool.clone();
                move |x| pool.forward(x)
            }),
        },
        Op {
            name: "conv2 (20→50, 5×5)",
            input: vec![n, 20, 12, 12],
            run: Box::new(move |x| conv2.forward(x)),
        },
        Op {
            name: "relu2",
            input: vec![n, 50, 8, 8],
            run: Box::new(|x| Relu::new().forward(x)),
        },
        Op {
            name: "pool2 (max 2×2)",
            input: vec![n, 50, 8, 8],
            run: Box::new(move |x| pool.forward(x)),
        },
        Op {
            name: "fc1 (800→500)",
            input: vec![n, 800, 1, 1],
            run: Box::new(move |x| unflat(fc1.forward(flat(800)(x)))),
        },
        Op {
            name: "fc2 (500→10)",
            input: vec![n, 500, 1, 1],
            run: Box::new(move |x| unflat(fc2.forward(flat(500)(x)))),
        },
    ]
}

/// Median forward and backward seconds of `op`.
fn measure(op: &Op, device: &Device, repeats: usize) -> (f64, f64) {
    let shape: [usize; 4] = op.input.clone().try_into().expect("4-D inputs");
    let input = Tensor::<4>::random(shape, Distribution::Uniform(0.0, 1.0), device);
    let mut forward = Vec::with_capacity(repeats);
    let mut backward = Vec::with_capacity(repeats);
    // One unmeasured run first: allocations and thread pools warm up.
    for i in 0..=repeats {
        let x = input.clone().detach().require_grad();
        let started = Instant::now();
        let y = (op.run)(x.clone());
        std::hint::black_box(y.clone().sum().into_scalar::<f32>());
        let f = started.elapsed().as_secs_f64();
        let g = y.clone().detach().ones_like();
        let started = Instant::now();
        let grads = (y * g).sum().backward();
        let grad = x.grad(&grads).expect("the input is tracked");
        std::hint::black_box(grad.sum().into_scalar::<f32>());
        let b = started.elapsed().as_secs_f64();
        if i > 0 {
            forward.push(f);
            backward.push(b);
        }
    }
    (median(&mut forward), median(&mut backward))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
