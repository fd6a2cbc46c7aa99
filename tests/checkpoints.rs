//! Checkpoints round-trip exactly and fail loudly: corrupt weights, a wrong
//! architecture, a foreign or future sidecar.

use std::path::Path;

use advcomp_models::checkpoint::{self, Checkpoint, CheckpointError, Sidecar};
use advcomp_models::{Architecture, Network};
use advcomp_tests::cpu;
use burn::Tensor;
use burn::tensor::Distribution;

fn saved(dir: &Path, arch: Architecture) -> Network {
    let net = Network::new(arch, &cpu(), 11);
    checkpoint::save(&net, &Sidecar::new(&net, 11), dir).unwrap();
    net
}

/// Replaces the temp dir in messages so snapshots are stable.
fn redact(err: &CheckpointError, dir: &Path) -> String {
    err.to_string().replace(&dir.display().to_string(), "[DIR]")
}

/// Swaps in other weights and updates the sidecar's hash to match, so only
/// the weights themselves can be found wrong.
fn replace_weights(dir: &Path, bytes: &[u8]) {
    std::fs::write(dir.join(checkpoint::WEIGHTS_FILE), bytes).unwrap();
    let mut sidecar = checkpoint::read_sidecar(dir).unwrap();
    sidecar.weights_sha256 = checkpoint::sha256_hex(bytes);
    let json = serde_json::to_vec(&sidecar).unwrap();
    std::fs::write(dir.join(checkpoint::SIDECAR_FILE), json).unwrap();
}

#[test]
fn round_trip_gives_identical_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let net = saved(tmp.path(), Architecture::LENET5);
    let device = cpu();
    let loaded = Checkpoint::load(tmp.path(), &device).unwrap();
    assert_eq!(loaded.sidecar.architecture, Architecture::LENET5);
    assert_eq!(loaded.sidecar.num_params, 431_080);
    let x = Tensor::<4>::random([4, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &device);
    let a = net.forward(x.clone()).into_data();
    let b = loaded.network.forward(x).into_data();
    assert_eq!(a, b);
}

#[test]
fn corrupt_weights_are_reported_with_both_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    saved(tmp.path(), Architecture::LENET5);
    let weights = tmp.path().join(checkpoint::WEIGHTS_FILE);
    let mut bytes = std::fs::read(&weights).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&weights, &bytes).unwrap();
    let err = Checkpoint::load(tmp.path(), &cpu()).unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("model.bpk is corrupt") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn garbage_with_a_matching_hash_is_a_weights_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    saved(tmp.path(), Architecture::LENET5);
    // The sidecar agrees with the garbage, so the burnpack reader itself is exercised.
    replace_weights(tmp.path(), b"this is not a burnpack file");
    let err = Checkpoint::load(tmp.path(), &cpu()).unwrap_err();
    assert!(matches!(err, CheckpointError::Weights { .. }), "{err}");
}

#[test]
fn loading_the_wrong_architecture_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    saved(tmp.path(), Architecture::CIFARNET);
    let err = Checkpoint::load_as(tmp.path(), Architecture::LENET5, &cpu()).unwrap_err();
    insta::assert_snapshot!(redact(&err, tmp.path()), @"[DIR] holds a cifarnet checkpoint, but a lenet5 model was asked for");
}

#[test]
fn weights_of_another_architecture_under_a_lying_sidecar_are_rejected() {
    // CifarNet weights copied into a directory whose sidecar says LeNet-5.
    let lenet = tempfile::tempdir().unwrap();
    let cifar = tempfile::tempdir().unwrap();
    saved(lenet.path(), Architecture::LENET5);
    saved(cifar.path(), Architecture::CIFARNET);
    let bytes = std::fs::read(cifar.path().join(checkpoint::WEIGHTS_FILE)).unwrap();
    replace_weights(lenet.path(), &bytes);
    let err = Checkpoint::load(lenet.path(), &cpu()).unwrap_err();
    assert!(matches!(err, CheckpointError::Weights { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot load lenet5 weights"),
        "{err}"
    );
}

#[test]
fn sidecar_problems_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sidecar = dir.join(checkpoint::SIDECAR_FILE);
    let cases: Vec<(&str, Option<&str>)> = vec![
        ("no sidecar", None),
        ("not json", Some("{ this is not json")),
        ("foreign json", Some(r#"{"format": "something-else"}"#)),
        (
            "future version",
            Some(r#"{"format": "advcomp-checkpoint", "format_version": 99}"#),
        ),
        (
            "missing field",
            Some(r#"{"format": "advcomp-checkpoint", "format_version": 1}"#),
        ),
    ];
    let mut out = String::new();
    for (name, content) in cases {
        match content {
            Some(c) => std::fs::write(&sidecar, c).unwrap(),
            None => {
                let _ = std::fs::remove_file(&sidecar);
            }
        }
        let err = Checkpoint::load(dir, &cpu()).unwrap_err();
        out.push_str(&format!("{name}: {}\n", redact(&err, dir)));
    }
    insta::assert_snapshot!(out);
}

/// Rewrites the sidecar of `dir` after `edit`.
fn edit_sidecar(dir: &Path, edit: impl FnOnce(&mut Sidecar)) {
    let mut sidecar = checkpoint::read_sidecar(dir).unwrap();
    edit(&mut sidecar);
    std::fs::write(
        dir.join(checkpoint::SIDECAR_FILE),
        serde_json::to_vec(&sidecar).unwrap(),
    )
    .unwrap();
}

#[test]
fn weights_file_must_be_a_plain_name_in_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ckpt");
    saved(&dir, Architecture::LENET5);
    // A perfectly good copy of the weights just outside the directory: only
    // the name can be refused, not the content.
    std::fs::copy(
        dir.join(checkpoint::WEIGHTS_FILE),
        tmp.path().join("outside.bpk"),
    )
    .unwrap();
    let names = [
        "../outside.bpk".to_string(),
        tmp.path().join("outside.bpk").display().to_string(),
        "/etc/hostname".to_string(),
        "/dev/zero".to_string(),
        "./model.bpk".to_string(),
        "model.bpk/".to_string(),
        "sub\\model.bpk".to_string(),
        ".".to_string(),
        "..".to_string(),
        String::new(),
    ];
    for name in names {
        edit_sidecar(&dir, |s| s.weights_file = name.clone());
        let err = Checkpoint::load(&dir, &cpu()).unwrap_err();
        assert!(
            matches!(err, CheckpointError::WeightsFileName { .. }),
            "{name:?}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("checkpoint.json") && msg.contains(&format!("{name:?}")),
            "{msg}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_symlinked_weights_file_is_refused_even_to_good_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ckpt");
    saved(&dir, Architecture::LENET5);
    let weights = dir.join(checkpoint::WEIGHTS_FILE);
    let outside = tmp.path().join("outside.bpk");
    std::fs::rename(&weights, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &weights).unwrap();
    let err = Checkpoint::load(&dir, &cpu()).unwrap_err();
    assert!(matches!(err, CheckpointError::NotAFile { .. }), "{err}");
    insta::assert_snapshot!(redact(&err, tmp.path()), @"[DIR]/ckpt/model.bpk is a symlink, not a regular file; refusing to read it");
}

#[test]
fn a_weights_file_that_is_a_directory_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    saved(tmp.path(), Architecture::LENET5);
    let weights = tmp.path().join(checkpoint::WEIGHTS_FILE);
    std::fs::remove_file(&weights).unwrap();
    std::fs::create_dir(&weights).unwrap();
    let err = Checkpoint::load(tmp.path(), &cpu()).unwrap_err();
    assert!(matches!(err, CheckpointError::NotAFile { .. }), "{err}");
    assert!(err.to_string().contains("a directory"), "{err}");
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    saved(tmp.path(), Architecture::LENET5);
    // Sparse files: no disk space or memory is needed to make them, and the
    // size check must refuse them without reading.
    let weights = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join(checkpoint::WEIGHTS_FILE))
        .unwrap();
    weights.set_len(checkpoint::MAX_WEIGHTS_BYTES + 1).unwrap();
    let err = Checkpoint::load(tmp.path(), &cpu()).unwrap_err();
    assert!(matches!(err, CheckpointError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("model.bpk"), "{err}");

    let sidecar = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join(checkpoint::SIDECAR_FILE))
        .unwrap();
    sidecar.set_len(checkpoint::MAX_SIDECAR_BYTES + 1).unwrap();
    let err = checkpoint::read_sidecar(tmp.path()).unwrap_err();
    assert!(matches!(err, CheckpointError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("checkpoint.json"), "{err}");
}
