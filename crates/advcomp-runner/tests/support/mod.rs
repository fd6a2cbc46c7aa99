//! What the runner's end-to-end tests share: the bundled MNIST, the CPU
//! device, run options for a scratch directory, and a walk over every file
//! a run wrote. Each test binary uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use advcomp_runner::{Environment, RunOptions};
use advcomp_scenario::Resolved;

/// The CPU backend's device.
pub fn cpu() -> burn::tensor::Device {
    advcomp_backend::device(advcomp_backend::BackendKind::Cpu).unwrap()
}

/// The 10,000 bundled MNIST digits.
pub fn bundled() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k"))
}

/// Options for running scenario file `name` with its output in `dir/out`
/// and its cache in `dir/cache`, on the bundled MNIST and the flex backend.
pub fn options(dir: &Path, name: &str) -> RunOptions {
    RunOptions {
        scenario: PathBuf::from(name),
        out_dir: dir.join("out"),
        cache_dir: dir.join("cache"),
        data_dir: Some(bundled()),
        backend: "flex".into(),
        dry_run: false,
        ..RunOptions::default()
    }
}

/// Every file below `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// An environment for planning only (nothing is run): fixed seed, data
/// fingerprint, image counts and backend.
pub fn plan_env() -> Environment {
    Environment {
        seed: 1,
        data_fingerprint: "x".into(),
        train_images: 100,
        test_images: 100,
        backend: "flex".into(),
        advcomp_version: "test".into(),
    }
}

/// Scenario `text` loaded (parsed, checked, validated) as `advcomp run`
/// loads a file.
pub fn resolve(text: &str) -> Resolved {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.scn");
    std::fs::write(&file, text).unwrap();
    advcomp_runner::load(&file).unwrap().1
}
