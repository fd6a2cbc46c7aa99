//! Where data is looked for, with the environment passed in rather than set.

mod common;

use std::ffi::OsString;
use std::fs;

use advcomp_data::DatasetKind::{Cifar10, Mnist};
use advcomp_data::locate::resolve_in;
use common::redact;

#[test]
fn explicit_dir_wins_over_everything() {
    let cwd = tempfile::tempdir().unwrap();
    fs::create_dir_all(cwd.path().join("mine")).unwrap();
    fs::create_dir_all(cwd.path().join("env/mnist")).unwrap();
    fs::create_dir_all(cwd.path().join("data/mnist")).unwrap();
    let got = resolve_in(
        Mnist,
        Some("mine".as_ref()),
        Some(OsString::from("env")),
        cwd.path(),
    )
    .unwrap();
    assert_eq!(got, cwd.path().join("mine"));
}

#[test]
fn explicit_dir_must_exist() {
    let cwd = tempfile::tempdir().unwrap();
    let err = resolve_in(Cifar10, Some("nope".as_ref()), None, cwd.path()).unwrap_err();
    insta::assert_snapshot!("explicit_missing", redact(err, cwd.path()));
}

#[test]
fn env_var_selects_the_kind_subdirectory() {
    let cwd = tempfile::tempdir().unwrap();
    let root = cwd.path().join("store");
    fs::create_dir_all(root.join("cifar10")).unwrap();
    fs::create_dir_all(cwd.path().join("data/cifar10")).unwrap();
    let got = resolve_in(Cifar10, None, Some(root.clone().into()), cwd.path()).unwrap();
    assert_eq!(got, root.join("cifar10"));
}

#[test]
fn env_var_set_but_subdirectory_missing_is_an_error() {
    let cwd = tempfile::tempdir().unwrap();
    // Even though ./data/mnist exists: a set variable is not silently ignored.
    fs::create_dir_all(cwd.path().join("data/mnist")).unwrap();
    let root = cwd.path().join("store");
    let err = resolve_in(Mnist, None, Some(root.into()), cwd.path()).unwrap_err();
    insta::assert_snapshot!("env_missing", redact(err, cwd.path()));
}

#[test]
fn empty_env_var_counts_as_unset() {
    let cwd = tempfile::tempdir().unwrap();
    fs::create_dir_all(cwd.path().join("data/cifar10")).unwrap();
    let got = resolve_in(Cifar10, None, Some(OsString::new()), cwd.path()).unwrap();
    assert_eq!(got, cwd.path().join("data/cifar10"));
}

#[test]
fn fetched_data_in_the_current_directory() {
    let cwd = tempfile::tempdir().unwrap();
    fs::create_dir_all(cwd.path().join("data/mnist")).unwrap();
    let got = resolve_in(Mnist, None, None, cwd.path()).unwrap();
    assert_eq!(got, cwd.path().join("data/mnist"));
}

#[test]
fn mnist_falls_back_to_the_bundled_sample() {
    let cwd = tempfile::tempdir().unwrap();
    let got = resolve_in(Mnist, None, None, cwd.path()).unwrap();
    assert!(got.ends_with("data/mnist-10k"), "{}", got.display());
    assert!(got.join("t10k-labels-idx1-ubyte.gz").is_file());

    // A bundled copy under the current directory comes first.
    fs::create_dir_all(cwd.path().join("data/mnist-10k")).unwrap();
    let got = resolve_in(Mnist, None, None, cwd.path()).unwrap();
    assert_eq!(got, cwd.path().join("data/mnist-10k"));
}

#[test]
fn cifar_without_data_says_how_to_get_it() {
    let cwd = tempfile::tempdir().unwrap();
    let err = resolve_in(Cifar10, None, None, cwd.path()).unwrap_err();
    let msg = redact(err, cwd.path());
    assert!(msg.contains("advcomp data fetch cifar10"));
    assert!(msg.contains("--data DIR"));
    assert!(msg.contains("ADVCOMP_DATA"));
    insta::assert_snapshot!("cifar_not_found", msg);
}
