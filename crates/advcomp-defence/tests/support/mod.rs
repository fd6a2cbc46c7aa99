//! Shared fixtures: the CPU device, bundled MNIST, one quickly trained
//! LeNet-5 per test binary, and small helpers.
#![allow(dead_code)]

use std::sync::OnceLock;

use advcomp_data::{Dataset, DatasetKind, Split};
use advcomp_models::{Architecture, Classifier, Network};
use advcomp_train::{LrSchedule, TrainConfig, Trainer};
use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Int};

pub fn cpu() -> Device {
    advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("default CPU backend")
}

pub fn mnist() -> &'static Split {
    static SPLIT: OnceLock<Split> = OnceLock::new();
    SPLIT.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k");
        advcomp_data::load(DatasetKind::Mnist, std::path::Path::new(dir))
            .expect("bundled MNIST loads")
    })
}

/// `n` training images spread over the bundled training set.
pub fn train(n: usize) -> Dataset {
    let t = &mnist().train;
    t.select(&advcomp_train::job::spread(t.len(), n))
}

/// `n` test images spread over the bundled test set.
pub fn test(n: usize) -> Dataset {
    let t = &mnist().test;
    t.select(&advcomp_train::job::spread(t.len(), n))
}

/// The fine-tuning trainer: one epoch at a small constant rate.
pub fn finetune(seed: u64) -> Trainer {
    Trainer::new(TrainConfig {
        epochs: 1,
        learning_rate: 0.02,
        schedule: LrSchedule::Constant,
        seed,
        ..TrainConfig::default()
    })
    .unwrap()
}

/// LeNet-5 after one epoch on 2,000 digits, plain device, inference mode.
pub fn lenet() -> &'static Network {
    static NET: OnceLock<Network> = OnceLock::new();
    NET.get_or_init(|| {
        let config = TrainConfig {
            epochs: 1,
            learning_rate: 0.05,
            schedule: LrSchedule::Constant,
            seed: 7,
            ..TrainConfig::default()
        };
        let device = cpu();
        let net = Network::new(
            Architecture::Lenet5,
            &device.clone().autodiff(),
            config.seed,
        );
        let (net, _) = Trainer::new(config)
            .unwrap()
            .fit(net, &train(2000), &device, &mut (), &mut ())
            .expect("training runs");
        net.valid()
    })
}

/// The whole dataset as one batch.
pub fn batch(data: &Dataset) -> (Tensor<4>, Tensor<1, Int>) {
    let idx: Vec<usize> = (0..data.len()).collect();
    let device = cpu();
    (
        advcomp_train::batch::images(data, &idx, &device),
        advcomp_train::batch::labels(data, &idx, &device),
    )
}

/// Accuracy of `model` on `data`.
pub fn accuracy(model: &dyn Classifier, data: &Dataset) -> f64 {
    advcomp_train::evaluate(model, data, &cpu(), 500).accuracy
}

/// Adversarial images made by the registered attack `name` on `model`.
pub fn attack(
    name: &str,
    params: serde_json::Value,
    model: &dyn Classifier,
    data: &Dataset,
) -> (Tensor<4>, Vec<bool>) {
    let (images, labels) = batch(data);
    let attack = advcomp_attack::registry::build(name, &params).expect("attack builds");
    let out = attack
        .run(model, images, labels, None, &cpu())
        .expect("attack runs");
    let success = out
        .success
        .into_data()
        .convert::<bool>()
        .try_into_vec::<bool>()
        .expect("bools");
    (out.adversarial, success)
}

/// Share of `true`.
pub fn rate(flags: &[bool]) -> f64 {
    flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64
}
