//! The fixtures every advcomp test suite shares, in one place instead of a
//! copy per crate: the default CPU device, the bundled real MNIST digits,
//! and the quickly trained LeNet-5 that attack, compression and defence
//! tests run on.
//!
//! **Why a model on disk.** Before this kit, five test binaries each trained
//! the same one-epoch LeNet-5 (and the defence suites trained more, one per
//! seed). [`lenet_seeded`] trains a model once per target directory and
//! saves it as an ordinary advcomp checkpoint under
//! `target/<profile>/advcomp-testkit/`; every later test binary loads it.
//! A checkpoint round trip is exact (`tests/checkpoints.rs`), so a loaded
//! model gives the same numbers, bit for bit, as a freshly trained one.
//!
//! **When it is retrained.** A model's directory is named after everything
//! its bytes depend on: its seed, the training configuration, the training
//! loop's [`advcomp_train::VERSION`], the bundled data's fingerprint, the
//! CPU class the kernels were picked for
//! ([`advcomp_backend::cpu_class`]), and a hash of the source files of the
//! training, model, data and backend crates, this kit and `Cargo.lock`
//! (computed by `build.rs`). Editing any of them trains afresh; nothing is
//! ever served stale.
//!
//! **Concurrent test binaries.** A model is saved into a fresh temporary
//! directory and renamed into place, so a reader never sees half a
//! checkpoint; two binaries that train the same model at once both rename,
//! the loser's copy is discarded, and both hold identical bytes anyway.

pub mod measured;
pub mod snapshots;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use advcomp_data::{Dataset, DatasetKind, Split};
use advcomp_models::{Architecture, Checkpoint, Network};
use advcomp_train::{LrSchedule, TrainConfig, Trainer, batch};
use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Int};
use sha2::{Digest, Sha256};

/// How many training digits the quick models see (spread over the bundled
/// 8,000).
pub const QUICK_TRAIN_IMAGES: usize = 2000;

/// The seed of [`lenet`], the model most tests share.
pub const QUICK_SEED: u64 = 7;

/// The default CPU device (the backend CI runs on).
pub fn cpu() -> Device {
    advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("default CPU backend")
}

/// The directory of the bundled MNIST sample (8,000 training and 2,000 test
/// digits), at the workspace root.
pub fn mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k"))
}

/// The bundled MNIST sample, loaded once per test binary.
pub fn mnist() -> &'static Split {
    static SPLIT: OnceLock<Split> = OnceLock::new();
    SPLIT.get_or_init(|| {
        advcomp_data::load(DatasetKind::Mnist, &mnist_dir()).expect("bundled MNIST loads")
    })
}

/// `n` training digits spread evenly over the bundled training set.
pub fn train(n: usize) -> Dataset {
    let t = &mnist().train;
    t.select(&advcomp_train::job::spread(t.len(), n))
}

/// `n` test digits spread evenly over the bundled test set.
pub fn test(n: usize) -> Dataset {
    let t = &mnist().test;
    t.select(&advcomp_train::job::spread(t.len(), n))
}

/// The whole of `data` as one batch of images and labels.
pub fn batch(data: &Dataset) -> (Tensor<4>, Tensor<1, Int>) {
    let idx: Vec<usize> = (0..data.len()).collect();
    let device = cpu();
    (
        batch::images(data, &idx, &device),
        batch::labels(data, &idx, &device),
    )
}

/// `n` test digits starting at `offset`, every 97th (wrapping), as a batch:
/// a cheap way to draw different digits for different tests.
pub fn digits(n: usize, offset: usize) -> (Tensor<4>, Tensor<1, Int>) {
    let test = &mnist().test;
    let rows: Vec<usize> = (0..n).map(|i| (offset + i * 97) % test.len()).collect();
    let device = cpu();
    (
        batch::images(test, &rows, &device),
        batch::labels(test, &rows, &device),
    )
}

/// The quick models' training: one epoch at a constant rate of 0.05 (the
/// default's starting rate) from `seed`, which fixes the initialisation and
/// the batch order. About 90% accurate on LeNet-5.
pub fn quick_config(seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: 1,
        learning_rate: 0.05,
        schedule: LrSchedule::Constant,
        seed,
        ..TrainConfig::default()
    }
}

/// LeNet-5 trained by [`quick_config`]`(`[`QUICK_SEED`]`)` on
/// [`QUICK_TRAIN_IMAGES`] digits, in inference mode on the plain CPU device.
/// Loaded (or trained) once per test binary.
pub fn lenet() -> &'static Network {
    static NET: OnceLock<Network> = OnceLock::new();
    NET.get_or_init(|| lenet_seeded(QUICK_SEED))
}

/// A LeNet-5 trained like [`lenet`] from its own `seed`: independently
/// trained models, as the scenario runner trains one per key. Trained once
/// per target directory, then loaded from disk (see the crate docs).
pub fn lenet_seeded(seed: u64) -> Network {
    // One trainer at a time within a binary: two threads asking for the
    // same model would otherwise both train it.
    static TRAINING: Mutex<()> = Mutex::new(());
    let _one = TRAINING.lock().unwrap_or_else(|e| e.into_inner());
    let config = quick_config(seed);
    let dir = store().join(format!("lenet5-seed{seed}-{}", model_key(&config)));
    let device = cpu();
    if let Ok(checkpoint) = Checkpoint::load_as(&dir, Architecture::LENET5, &device) {
        return checkpoint.network.valid();
    }
    let started = std::time::Instant::now();
    let net = train_quick(&config);
    eprintln!(
        "advcomp-testkit: trained LeNet-5 (seed {seed}) in {:.1}s, saved to {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    if let Err(e) = save_atomically(&net, &config, &dir) {
        // The store is an optimisation: a read-only target still tests.
        eprintln!("advcomp-testkit: could not save {}: {e}", dir.display());
    }
    net
}

/// Trains a LeNet-5 by `config` on [`QUICK_TRAIN_IMAGES`] digits, without
/// the store.
fn train_quick(config: &TrainConfig) -> Network {
    let device = cpu();
    let net = Network::new(
        Architecture::LENET5,
        &device.clone().autodiff(),
        config.seed,
    );
    let (net, _) = Trainer::new(config.clone())
        .expect("the quick configuration is valid")
        .fit(net, &train(QUICK_TRAIN_IMAGES), &device, &mut (), &mut ())
        .expect("training runs");
    net.valid()
}

/// Where trained test models live: `advcomp-testkit/` beside the test
/// binaries' `deps/` directory, that is `target/<profile>/advcomp-testkit`.
fn store() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    exe.parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("advcomp-testkit"))
        .unwrap_or_else(|| std::env::temp_dir().join("advcomp-testkit"))
}

/// A hash of everything a quick model's bytes depend on (see the crate
/// docs), 16 hex digits.
fn model_key(config: &TrainConfig) -> String {
    let mut hash = Sha256::new();
    for part in [
        serde_json::to_string(config).expect("configs serialise"),
        QUICK_TRAIN_IMAGES.to_string(),
        advcomp_train::VERSION.to_string(),
        mnist().fingerprint.clone(),
        advcomp_backend::cpu_class(),
        env!("ADVCOMP_TESTKIT_SOURCES").to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())[..16].to_string()
}

/// Saves `net` as a checkpoint in a fresh sibling of `dir` and renames it to
/// `dir`. If another process got there first, its (identical) copy stays.
fn save_atomically(net: &Network, config: &TrainConfig, dir: &Path) -> std::io::Result<()> {
    let parent = dir.parent().expect("the store has a parent");
    std::fs::create_dir_all(parent)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = parent.join(format!(".tmp-{}-{nanos}", std::process::id()));
    let mut sidecar = advcomp_models::Sidecar::new(net, config.seed);
    sidecar.training = serde_json::to_value(config).expect("configs serialise");
    advcomp_models::checkpoint::save(net, &sidecar, &tmp).map_err(std::io::Error::other)?;
    if let Err(e) = std::fs::rename(&tmp, dir) {
        std::fs::remove_dir_all(&tmp)?;
        // Another binary saved the same model first: keep its copy.
        if !dir.is_dir() {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_the_seed_and_the_configuration() {
        assert_ne!(model_key(&quick_config(1)), model_key(&quick_config(2)));
        let mut other = quick_config(1);
        other.learning_rate = 0.1;
        assert_ne!(model_key(&quick_config(1)), model_key(&other));
        assert_eq!(model_key(&quick_config(1)), model_key(&quick_config(1)));
    }

    #[test]
    fn the_stored_model_is_what_the_code_trains_today() {
        // Whether `lenet` was loaded from the store or trained just now,
        // it must equal a fresh training, byte for byte.
        let fresh = train_quick(&quick_config(QUICK_SEED));
        let bytes = |n: &Network| n.clone().into_record().into_bytes().unwrap().to_vec();
        assert_eq!(bytes(&fresh), bytes(lenet()));
    }
}
