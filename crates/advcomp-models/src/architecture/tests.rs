//! The registry's contract, with one architecture registered here the way
//! a plugin crate registers its own: through `inventory::submit!` alone.

use burn::Tensor;
use burn::nn::{Initializer, LinearConfig};
use burn::tensor::{Device, Distribution};

use super::*;
use crate::checkpoint::{self, Checkpoint, Sidecar};
use crate::layer::{Flatten, Normalize};
use crate::network::Network;

/// A two-layer perceptron on 1×4×4 inputs with three classes: nothing the
/// study uses, so nothing outside the registry can know about it.
const TINY: Registration = Registration {
    name: "tiny-mlp",
    summary: "a test's two-layer perceptron (1x4x4, 3 classes)",
    paper: "none: the architecture registry's test",
    dataset: "mnist",
    input_shape: [1, 4, 4],
    num_classes: 3,
    version: 1,
    layers: tiny_layers,
};

fn tiny_layers(device: &Device) -> Vec<(String, Layer)> {
    let linear = |din, dout| {
        Layer::Linear(
            LinearConfig::new(din, dout)
                .with_initializer(Initializer::Zeros)
                .init(device),
        )
    };
    let normalize = Normalize {
        mean: vec![0.5],
        std: vec![0.25],
    };
    [
        ("normalize", Layer::Normalize(normalize)),
        ("flatten", Layer::Flatten(Flatten {})),
        ("fc1", linear(16, 8)),
        ("relu1", Layer::relu()),
        ("fc2", linear(8, 3)),
    ]
    .into_iter()
    .map(|(name, layer)| (name.to_string(), layer))
    .collect()
}

crate::inventory::submit!(TINY);

fn cpu() -> Device {
    advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("default CPU backend")
}

fn images(arch: Architecture, batch: usize, device: &Device) -> Tensor<4> {
    let [c, h, w] = arch.input_shape();
    Tensor::random([batch, c, h, w], Distribution::Uniform(0.0, 1.0), device)
}

#[test]
fn every_architecture_is_listed_once_by_name() {
    let names: Vec<&str> = Architecture::all().iter().map(|a| a.name()).collect();
    assert_eq!(names, ["cifarnet", "cifarnet-tf", "lenet5", "tiny-mlp"]);
    assert_eq!(duplicates(), Vec::<String>::new());
}

#[test]
fn every_registration_is_declared_well_and_builds_what_it_declares() {
    let device = cpu();
    for arch in Architecture::all() {
        assert_eq!(
            arch.registration().declaration_problems(),
            Vec::<String>::new(),
            "{arch}"
        );
        let net = Network::new(arch, &device, 1);
        assert_eq!(
            net.forward(images(arch, 2, &device)).dims(),
            [2, arch.num_classes()],
            "{arch}"
        );
        // Compressors fold batch norms first: a batch norm must follow a
        // convolution, and folding must keep the network's classes.
        let folded = net.fold_batch_norm();
        assert_eq!(
            folded.forward(images(arch, 1, &device)).dims(),
            [1, arch.num_classes()]
        );
    }
}

#[test]
fn names_are_found_whatever_their_case_and_separators() {
    assert_eq!(Architecture::find("Tiny_MLP").unwrap().name(), "tiny-mlp");
    assert_eq!(
        "CifarNet_TF".parse::<Architecture>().unwrap(),
        Architecture::CIFARNET_TF
    );
    assert_eq!(Architecture::find("lenet5").unwrap(), Architecture::LENET5);
    let err = Architecture::find("resnet").unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown model `resnet`; known models: cifarnet, cifarnet-tf, lenet5, tiny-mlp"
    );
}

#[test]
fn checkpoints_record_the_exact_name_and_refuse_an_unknown_one() {
    let json = serde_json::to_string(&Architecture::CIFARNET_TF).unwrap();
    assert_eq!(json, "\"cifarnet-tf\"");
    let back: Architecture = serde_json::from_str(&json).unwrap();
    assert_eq!(back, Architecture::CIFARNET_TF);
    let err = serde_json::from_str::<Architecture>("\"resnet\"").unwrap_err();
    assert!(err.to_string().contains("unknown model `resnet`"), "{err}");
    // A near miss is not what a checkpoint writes: refused, not guessed.
    assert!(serde_json::from_str::<Architecture>("\"LeNet5\"").is_err());
}

#[test]
fn a_registered_architecture_round_trips_through_a_checkpoint() {
    let device = cpu();
    let arch = Architecture::find("tiny-mlp").unwrap();
    let net = Network::new(arch, &device, 7);
    let tmp = tempfile::tempdir().unwrap();
    checkpoint::save(&net, &Sidecar::new(&net, 7), tmp.path()).unwrap();
    let loaded = Checkpoint::load(tmp.path(), &device).unwrap();
    assert_eq!(loaded.sidecar.architecture, arch);
    let x = images(arch, 3, &device);
    let diff: f32 = (net.forward(x.clone()) - loaded.network.forward(x))
        .abs()
        .max()
        .into_scalar();
    assert_eq!(diff, 0.0);
}
