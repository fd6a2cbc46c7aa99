//! Shared fixtures: the CPU device, real MNIST digits and one quickly
//! trained LeNet-5 per test binary.

use std::sync::OnceLock;

use advcomp_data::{DatasetKind, Split};
use advcomp_models::{Architecture, Classifier, Network};
use advcomp_train::{LrSchedule, TrainConfig, Trainer, batch};
use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Int};

/// The default CPU device.
pub fn cpu() -> Device {
    advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("default CPU backend")
}

/// The bundled real MNIST sample.
pub fn mnist() -> &'static Split {
    static SPLIT: OnceLock<Split> = OnceLock::new();
    SPLIT.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k");
        advcomp_data::load(DatasetKind::Mnist, std::path::Path::new(dir))
            .expect("bundled MNIST loads")
    })
}

/// LeNet-5 trained for one epoch on 2,000 digits (about 90% accurate), in
/// inference mode on the plain CPU device. Trained once per test binary.
pub fn lenet() -> &'static Network {
    static NET: OnceLock<Network> = OnceLock::new();
    NET.get_or_init(|| {
        let started = std::time::Instant::now();
        let split = mnist();
        let train = split
            .train
            .select(&advcomp_train::job::spread(split.train.len(), 2000));
        let config = TrainConfig {
            epochs: 1,
            learning_rate: 0.05,
            schedule: LrSchedule::Constant,
            seed: 7,
            ..TrainConfig::default()
        };
        let device = cpu();
        let ad = device.clone().autodiff();
        let net = Network::new(Architecture::Lenet5, &ad, config.seed);
        let (net, _) = Trainer::new(config)
            .unwrap()
            .fit(net, &train, &device, &mut (), &mut ())
            .expect("training runs");
        eprintln!("trained LeNet-5 in {:.1}s", started.elapsed().as_secs_f64());
        net.valid()
    })
}

/// `n` test digits starting at `offset` (wrapping), as a batch and labels.
pub fn digits(n: usize, offset: usize) -> (Tensor<4>, Tensor<1, Int>) {
    let test = &mnist().test;
    let rows: Vec<usize> = (0..n).map(|i| (offset + i * 97) % test.len()).collect();
    let device = cpu();
    (
        batch::images(test, &rows, &device),
        batch::labels(test, &rows, &device),
    )
}

/// `n` test digits the trained LeNet-5 classifies correctly.
pub fn correct_digits(n: usize, offset: usize) -> (Tensor<4>, Tensor<1, Int>) {
    let (x, y) = digits(4 * n, offset);
    let pred = lenet().predict(x.clone());
    let ok = pred.equal(y.clone());
    let idx = ok.nonzero().pop().expect("one index tensor");
    assert!(idx.dims()[0] >= n, "too few correctly classified digits");
    let idx = idx.narrow(0, 0, n);
    (x.select(0, idx.clone()), y.select(0, idx))
}

/// `(label + 1) mod 10`: a target class other than the label.
pub fn next_class(labels: Tensor<1, Int>) -> Tensor<1, Int> {
    labels.add_scalar(1).remainder_scalar(10)
}

/// Host copy of a boolean tensor.
pub fn bools(t: Tensor<1, burn::tensor::Bool>) -> Vec<bool> {
    advcomp_attack::ops::host_bool(t)
}

/// Host copy of a float tensor.
pub fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    advcomp_attack::ops::host_f32(t)
}

/// Checks what every attack output must satisfy: the shape of the input,
/// pixels in `[0,1]`, and a success mask equal to re-classifying the
/// adversarial batch with `model`.
pub fn check_output(
    model: &dyn Classifier,
    out: &advcomp_attack::AttackOutput,
    clean: &Tensor<4>,
    labels: &Tensor<1, Int>,
    targets: Option<&Tensor<1, Int>>,
) -> Result<(), String> {
    if out.adversarial.dims() != clean.dims() {
        return Err(format!(
            "shape {:?} != {:?}",
            out.adversarial.dims(),
            clean.dims()
        ));
    }
    let min = out.adversarial.clone().min().into_scalar::<f32>();
    let max = out.adversarial.clone().max().into_scalar::<f32>();
    if !(0.0..=1.0).contains(&min) || !(0.0..=1.0).contains(&max) {
        return Err(format!("pixels in [{min}, {max}]"));
    }
    let predicted = model.predict(out.adversarial.clone());
    let expected = match targets {
        Some(t) => predicted.equal(t.clone()),
        None => predicted.not_equal(labels.clone()),
    };
    let (expected, got) = (bools(expected), bools(out.success.clone()));
    if expected != got {
        return Err(format!(
            "success mask {got:?} but re-classification says {expected:?}"
        ));
    }
    Ok(())
}
