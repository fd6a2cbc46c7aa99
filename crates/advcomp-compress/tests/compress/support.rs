//! Shared fixtures: the CPU device, bundled MNIST and one quickly trained
//! LeNet-5 per test binary.

use std::sync::OnceLock;

use advcomp_compress::{CompressedModel, CompressionReport, Context, Step, compress};
use advcomp_data::{Dataset, DatasetKind, Split};
use advcomp_models::{Architecture, Network};
use advcomp_train::{LrSchedule, TrainConfig, Trainer};
use burn::module::Module;
use burn::tensor::Device;
use serde_json::Value;

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

/// One step from the scenario language's parts.
pub fn step(op: &str, method: &str, params: Value) -> Step {
    Step::from_parts(op, method, params.as_object().expect("a map")).expect("valid step")
}

/// Runs `steps` on the quick LeNet-5 with `train_n` training and 500 test images.
pub fn run(steps: &[Step], train_n: usize) -> (CompressedModel, CompressionReport) {
    let device = cpu();
    let (train, test) = (train(train_n), test(500));
    compress(
        &CompressedModel::uncompressed(lenet().clone()),
        steps,
        Context {
            train: &train,
            test: &test,
            device: &device,
            observer: &mut (),
        },
    )
    .expect("compression runs")
}

/// Every parameter on the host, by name.
pub fn host_params(network: &Network) -> Vec<(advcomp_models::ParamInfo, Vec<f32>)> {
    network
        .params()
        .into_iter()
        .map(|(i, t)| (i, t.into_data().try_into_vec_as::<f32>().unwrap()))
        .collect()
}
