//! Shared helpers for the workspace integration tests, besides
//! `advcomp-testkit`'s device and bundled MNIST.

use std::path::PathBuf;

pub use advcomp_testkit::{cpu, mnist};

/// The README's LeNet-5 (`advcomp train --model lenet5 --epochs 8`, that is
/// `TrainConfig::default()` on the bundled data), trained once into
/// `target/advcomp-acceptance/lenet5-train-v<N>` (`N` the training loop's
/// [`advcomp_train::VERSION`], so a new training version retrains instead of
/// reusing a stale model) and loaded from there afterwards. For the by-hand
/// acceptance tests.
pub fn readme_model() -> advcomp_models::Network {
    use burn::module::Module;
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/advcomp-acceptance"
    ))
    .join(format!("lenet5-train-v{}", advcomp_train::VERSION));
    let device = cpu();
    if let Ok(checkpoint) = advcomp_models::Checkpoint::load(&dir, &device) {
        return checkpoint.network.valid();
    }
    let outcome = advcomp_train::job::train_to_checkpoint(
        advcomp_models::Architecture::LENET5,
        mnist(),
        advcomp_train::Limits::default(),
        &advcomp_train::TrainConfig::default(),
        &device,
        &dir,
        &mut (),
    )
    .expect("README model trains");
    eprintln!(
        "trained the README LeNet-5: {:.4} test accuracy",
        outcome.metrics.test_accuracy
    );
    outcome.network
}
