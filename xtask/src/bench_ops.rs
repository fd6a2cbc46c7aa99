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
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
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
    /// An alternative form of a step's operation, shown beside the step
    /// but not added to its sum.
    alternative: bool,
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
    let step: Vec<_> = rows.iter().filter(|(op, _, _)| !op.alternative).collect();
    let total: f64 = step.iter().map(|(_, f, b)| f + b).sum();
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
        step.iter().map(|(_, f, _)| f).sum::<f64>() * 1e3,
        step.iter().map(|(_, _, b)| b).sum::<f64>() * 1e3
    );
    gemm_ceiling(n, &device.clone().without_autodiff(), args.repeats.max(1));
    first_layers(&device.without_autodiff(), args.repeats.max(1));
    Ok(())
}

/// The ceiling the backend's matrix product sets: every matrix product of
/// one LeNet-5 step at batch `n`, each done as one product over the whole
/// batch (the convolutions' im2col matrices already built, which is less
/// than any convolution does), timed alone. Their sums are what a training
/// step, an inference batch or an attack step (forward and input
/// gradients) could cost if everything else — im2col, layout changes,
/// pooling, ReLU, the loss, the optimiser — were free.
fn gemm_ceiling(n: usize, device: &Device, repeats: usize) {
    println!("\nThe matrix products of one step alone, each over the whole batch:");
    println!("\n| layer | pass | [m, k] × [k, n] | ms | GFLOP/s |");
    println!("|---|---|---|---|---|");
    // Seconds and FLOPs of the products a training step, an inference
    // batch and an attack step use.
    let mut sums = [(0.0, 0.0); 3];
    for product in lenet5_products(n) {
        let (m, k, cols) = product.dims;
        let a = Tensor::<2>::random([m, k], Distribution::Uniform(-1.0, 1.0), device);
        let b = Tensor::<2>::random([k, cols], Distribution::Uniform(-1.0, 1.0), device);
        let mut times = Vec::with_capacity(repeats);
        for i in 0..=repeats {
            let started = Instant::now();
            let c = a.clone().matmul(b.clone());
            std::hint::black_box(c.slice([0..1, 0..1]).into_scalar::<f32>());
            if i > 0 {
                times.push(started.elapsed().as_secs_f64());
            }
        }
        let t = median(&mut times);
        let f = 2.0 * (m * k * cols) as f64;
        for (sum, used) in sums.iter_mut().zip(product.used_by) {
            if used {
                sum.0 += t;
                sum.1 += f;
            }
        }
        println!(
            "| {} | {} | [{m}, {k}] × [{k}, {cols}] | {:.2} | {:.1} |",
            product.layer,
            product.pass,
            t * 1e3,
            f / t / 1e9
        );
    }
    println!("\n| sum over | MFLOP | ms | GFLOP/s |");
    println!("|---|---|---|---|");
    for (name, (t, f)) in ["training step", "inference batch", "attack step"]
        .iter()
        .zip(sums)
    {
        println!(
            "| {name} | {:.0} | {:.2} | {:.1} |",
            f / 1e6,
            t * 1e3,
            f / t / 1e9
        );
    }
    let steps = 8000usize.div_ceil(n);
    println!(
        "\nPer 8,000-digit epoch ({steps} steps) at least {:.2} s; per 1,000 images at least {:.3} s \
         of inference and {:.2} s of PGD-40, in matrix products alone.",
        sums[0].0 * steps as f64,
        sums[1].0 * 1000.0 / n as f64,
        sums[2].0 * 40.0 * 1000.0 / n as f64,
    );
}

/// One matrix product of a LeNet-5 step: `[m, k] × [k, n]`, and whether a
/// training step, an inference batch and an attack step compute it.
struct Product {
    layer: &'static str,
    pass: &'static str,
    dims: (usize, usize, usize),
    used_by: [bool; 3],
}

/// Every matrix product of LeNet-5 at batch `n`: each layer's forward, its
/// weight gradient (training only) and its input gradient (training skips
/// conv1's, an attack needs it: the gradient reaches the image).
fn lenet5_products(n: usize) -> Vec<Product> {
    let (p1, p2) = (n * 24 * 24, n * 8 * 8);
    let all = [true, true, true];
    let train = [true, false, false];
    let backward = [true, false, true];
    let p = |layer, pass, dims, used_by| Product {
        layer,
        pass,
        dims,
        used_by,
    };
    vec![
        p("conv1", "forward", (20, 25, p1), all),
        p("conv1", "weight gradient", (20, p1, 25), train),
        p(
            "conv1",
            "input gradient",
            (25, 20, p1),
            [false, false, true],
        ),
        p("conv2", "forward", (50, 500, p2), all),
        p("conv2", "weight gradient", (50, p2, 500), train),
        p("conv2", "input gradient", (500, 50, p2), backward),
        p("fc1", "forward", (n, 800, 500), all),
        p("fc1", "weight gradient", (800, n, 500), train),
        p("fc1", "input gradient", (n, 500, 800), backward),
        p("fc2", "forward", (n, 500, 10), all),
        p("fc2", "weight gradient", (500, n, 10), train),
        p("fc2", "input gradient", (n, 10, 500), backward),
    ]
}

/// The operations of LeNet-5's forward pass, in order, each with the input
/// it sees at batch `n` (4-D throughout: the linear layers see `[n, f, 1, 1]`
/// reshaped to `[n, f]` inside).
fn lenet5_ops(n: usize, device: &Device) -> Vec<Op> {
    let conv1 = Conv2dConfig::new([1, 20], [5, 5]).init(device);
    let conv2 = Conv2dConfig::new([20, 50], [5, 5]).init(device);
    let batched = |c: &Conv2d| {
        let (weight, bias) = (c.weight.val(), c.bias.as_ref().map(|b| b.val()));
        move |x: Tensor<4>| conv_as_one_product(x, weight.clone(), bias.clone())
    };
    let (conv1_batched, conv2_batched) = (batched(&conv1), batched(&conv2));
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
            alternative: false,
            run: Box::new(move |x| conv1.forward(x)),
        },
        Op {
            name: "relu1",
            input: vec![n, 20, 24, 24],
            alternative: false,
            run: Box::new(|x| Relu::new().forward(x)),
        },
        Op {
            name: "pool1 (max 2×2)",
            input: vec![n, 20, 24, 24],
            alternative: false,
            run: Box::new({
                let pool = pool.clone();
                move |x| pool.forward(x)
            }),
        },
        Op {
            name: "conv2 (20→50, 5×5)",
            input: vec![n, 20, 12, 12],
            alternative: false,
            run: Box::new(move |x| conv2.forward(x)),
        },
        Op {
            name: "relu2",
            input: vec![n, 50, 8, 8],
            alternative: false,
            run: Box::new(|x| Relu::new().forward(x)),
        },
        Op {
            name: "pool2 (max 2×2)",
            input: vec![n, 50, 8, 8],
            alternative: false,
            run: Box::new(move |x| pool.forward(x)),
        },
        Op {
            name: "fc1 (800→500)",
            input: vec![n, 800, 1, 1],
            alternative: false,
            run: Box::new(move |x| unflat(fc1.forward(flat(800)(x)))),
        },
        Op {
            name: "fc2 (500→10)",
            input: vec![n, 500, 1, 1],
            alternative: false,
            run: Box::new(move |x| unflat(fc2.forward(flat(500)(x)))),
        },
        Op {
            name: "conv1 as one product (not in the sum's step)",
            input: vec![n, 1, 28, 28],
            alternative: true,
            run: Box::new(conv1_batched),
        },
        Op {
            name: "conv2 as one product (not in the sum's step)",
            input: vec![n, 20, 12, 12],
            alternative: true,
            run: Box::new(conv2_batched),
        },
    ]
}

/// A stride-1, unpadded convolution as one im2col matrix for the whole
/// batch and one matrix product per pass, from differentiable tensor
/// operations (autodiff derives the backward: the product's two gradients,
/// and the im2col's adjoint through the slices): the "one product per
/// pass" convolution `docs/performance.md` asks about, measured against
/// burn-flex's tiled one. The matrix is `[c·kh·kw, n·oh·ow]`, rows
/// `(c, kh, kw)` as burn's weights are laid out.
fn conv_as_one_product(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let [o, _, kh, kw] = weight.dims();
    let (oh, ow) = (h - kh + 1, w - kw + 1);
    let channels_first = x.swap_dims(0, 1);
    let mut shifted = Vec::with_capacity(kh * kw);
    for i in 0..kh {
        for j in 0..kw {
            shifted.push(
                channels_first
                    .clone()
                    .slice([0..c, 0..n, i..i + oh, j..j + ow]),
            );
        }
    }
    let columns: Tensor<5> = Tensor::stack(shifted, 1);
    let columns = columns.reshape([c * kh * kw, n * oh * ow]);
    let mut out = weight.reshape([o, c * kh * kw]).matmul(columns);
    if let Some(bias) = bias {
        out = out + bias.reshape([o, 1]);
    }
    out.reshape([o, n, oh, ow]).swap_dims(0, 1)
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

/// Convolutions outside autodiff (evaluation, scoring an attack), burn's
/// `conv2d` against `advcomp_models::conv::forward`, which runs the first
/// layers as one batched im2col product: the measurement behind its rule,
/// with the number of outputs whose bits differ (it must be 0 where the
/// batched path is taken). The shapes are the first convolutions of the
/// three shipped architectures and two that keep burn's path.
fn first_layers(device: &Device, repeats: usize) {
    println!("\nConvolutions outside autodiff, burn's conv2d against advcomp's:");
    println!(
        "\n| convolution | input | batched | burn ms | advcomp ms | burn / advcomp | outputs differing |"
    );
    println!("|---|---|---|---|---|---|---|");
    let conv = |cin, cout, k| Conv2dConfig::new([cin, cout], [k, k]);
    let explicit = |p| PaddingConfig2d::Explicit(p, p, p, p);
    let cases: Vec<(&str, [usize; 4], Conv2d)> = vec![
        (
            "LeNet-5 conv1, 1→20 5×5",
            [500, 1, 28, 28],
            conv(1, 20, 5).init(device),
        ),
        (
            "LeNet-5 conv2, 20→50 5×5",
            [500, 20, 12, 12],
            conv(20, 50, 5).init(device),
        ),
        (
            "CifarNet conv0, 3→64 3×3",
            [100, 3, 32, 32],
            conv(3, 64, 3).with_bias(false).init(device),
        ),
        (
            "CifarNet conv1, 64→64 3×3 pad 1",
            [100, 64, 30, 30],
            conv(64, 64, 3)
                .with_padding(explicit(1))
                .with_bias(false)
                .init(device),
        ),
        (
            "CifarNet-TF conv1, 3→64 5×5 same",
            [100, 3, 32, 32],
            conv(3, 64, 5)
                .with_padding(PaddingConfig2d::Same)
                .init(device),
        ),
    ];
    for (name, shape, conv) in cases {
        let x = Tensor::<4>::random(shape, Distribution::Uniform(0.0, 1.0), device);
        let bits = |t: Tensor<4>| -> Vec<u32> {
            let data = t.into_data().convert::<f32>();
            data.as_slice::<f32>()
                .expect("f32")
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        let (burns, ours) = (
            conv.forward(x.clone()),
            advcomp_models::conv::forward(&conv, x.clone()),
        );
        let differing = bits(burns)
            .iter()
            .zip(bits(ours))
            .filter(|(a, b)| **a != *b)
            .count();
        let time = |f: &dyn Fn() -> Tensor<4>| {
            let mut times = Vec::with_capacity(repeats);
            for i in 0..=repeats {
                let started = Instant::now();
                // Read one value through a contiguous copy, so a lazily
                // permuted output pays for its layout as the next layer would.
                let y = burn::tensor::activation::relu(f());
                std::hint::black_box(y.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>());
                if i > 0 {
                    times.push(started.elapsed().as_secs_f64());
                }
            }
            median(&mut times) * 1e3
        };
        let burn_ms = time(&|| conv.forward(x.clone()));
        let ours_ms = time(&|| advcomp_models::conv::forward(&conv, x.clone()));
        println!(
            "| {name} | {shape:?} | {} | {burn_ms:.2} | {ours_ms:.2} | {:.2} | {differing} |",
            if advcomp_models::conv::takes_batched_path(&conv, &x) {
                "yes"
            } else {
                "no"
            },
            burn_ms / ours_ms
        );
    }
}
