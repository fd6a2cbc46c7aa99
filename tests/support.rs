//! Shared helpers for the workspace integration tests.

use std::path::PathBuf;

use advcomp_data::{DatasetKind, Split};
use burn::tensor::Device;

/// The bundled real MNIST sample (8,000 train / 2,000 test).
pub fn bundled_mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mnist-10k"))
}

/// Loads the bundled MNIST sample.
pub fn mnist() -> Split {
    advcomp_data::load(DatasetKind::Mnist, &bundled_mnist_dir()).expect("bundled MNIST loads")
}

/// The default CPU device (the backend CI runs on).
pub fn cpu() -> Device {
    advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("default CPU backend")
}
