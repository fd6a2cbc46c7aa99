//! What the runner's end-to-end tests share besides `advcomp-testkit`'s
//! device and bundled MNIST: run options for a scratch directory, and a walk over every file
//! a run wrote. Each test binary uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use advcomp_runner::{Environment, RunOptions};
use advcomp_scenario::Resolved;

use advcomp_testkit::mnist_dir;

/// Options for running scenario file `name` with its output in `dir/out`
/// and its cache in `dir/cache`, on the bundled MNIST and the flex backend.
pub fn options(dir: &Path, name: &str) -> RunOptions {
    RunOptions {
        scenario: PathBuf::from(name),
        out_dir: dir.join("out"),
        cache_dir: dir.join("cache"),
        data_dir: Some(mnist_dir()),
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
