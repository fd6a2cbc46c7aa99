//! Hashes the sources a quickly trained test model depends on, so that
//! `advcomp-testkit` can name its on-disk models after them: a change to the
//! training loop, the models, the data readers, the backend choice, this kit
//! or a dependency version (`Cargo.lock`) trains afresh instead of loading a
//! model the new code would not have made.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Crate source trees, relative to this crate, that decide a trained model's
/// bytes.
const SOURCES: [&str; 5] = [
    "src",
    "../advcomp-train/src",
    "../advcomp-models/src",
    "../advcomp-data/src",
    "../advcomp-backend/src",
];

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut files = Vec::new();
    for dir in SOURCES {
        let dir = here.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        walk(&dir, &mut files);
    }
    let lock = here.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    files.push(lock);
    files.sort();
    let mut hash = Sha256::new();
    for file in &files {
        let name = file.strip_prefix(&here).unwrap_or(file);
        hash.update(name.to_string_lossy().as_bytes());
        hash.update([0]);
        hash.update(std::fs::read(file).unwrap_or_default());
        hash.update([0]);
    }
    println!(
        "cargo:rustc-env=ADVCOMP_TESTKIT_SOURCES={}",
        &hex::encode(hash.finalize())[..16]
    );
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}
