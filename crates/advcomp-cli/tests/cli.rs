//! The `advcomp` binary end to end: train on the bundled MNIST, evaluate the
//! checkpoint, and fail cleanly on bad input.

use std::path::Path;
use std::process::{Command, Output};

fn advcomp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_advcomp"))
        .args(args)
        .env_remove("ADVCOMP_DATA")
        .env_remove("ADVCOMP_BACKEND")
        .output()
        .expect("the advcomp binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

use advcomp_testkit::mnist_dir;

#[test]
fn train_then_eval_reproduces_metrics_json_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lenet5");
    let out_s = out.to_str().unwrap();
    let data = mnist_dir();
    let trained = advcomp(&[
        "train",
        "--model",
        "lenet5",
        "--epochs",
        "2",
        "--seed",
        "3",
        "--train-limit",
        "1600",
        "--test-limit",
        "200",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_s,
        "--quiet",
    ]);
    assert!(trained.status.success(), "{}", stderr(&trained));
    for file in [
        "model.bpk",
        "checkpoint.json",
        "metrics.json",
        "train_log.json",
    ] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let accuracy = metrics["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.5 && accuracy <= 1.0, "{metrics}");
    assert_eq!(metrics["test_total"], 200);

    let eval = advcomp(&["eval", out_s, "--json", "--data", data.to_str().unwrap()]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    assert_eq!(
        stdout(&eval),
        std::fs::read_to_string(out.join("metrics.json")).unwrap()
    );

    let human = advcomp(&["eval", out_s, "--data", data.to_str().unwrap()]);
    assert!(human.status.success());
    assert!(
        stdout(&human).contains("lenet5 on mnist (200 test images)"),
        "{}",
        stdout(&human)
    );
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let o = advcomp(args);
    assert!(!o.status.success(), "expected failure for {args:?}");
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "panic for {args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in:\n{err}");
    }
}

#[test]
fn bad_input_is_a_clear_error_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap();
    // Not a checkpoint.
    fails_with(
        &["eval", t],
        &["not an advcomp checkpoint", "checkpoint.json"],
    );
    // Unknown backend.
    fails_with(
        &["train", "--model", "lenet5", "--out", t, "--backend", "tpu"],
        &["unknown backend `tpu`"],
    );
    // Bad hyper-parameter, named.
    fails_with(
        &["train", "--model", "lenet5", "--out", t, "--epochs", "0"],
        &["parameter `epochs`", "found `0`", "--epochs"],
    );
    // Data directory that does not exist.
    fails_with(
        &[
            "train",
            "--model",
            "lenet5",
            "--out",
            t,
            "--data",
            "/nonexistent/mnist",
        ],
        &["/nonexistent/mnist"],
    );
    // Unknown model: the registry's names are listed.
    fails_with(
        &["train", "--model", "resnet", "--out", t],
        &[
            "unknown model `resnet`",
            "known models: cifarnet, cifarnet-tf, lenet5",
        ],
    );
}

/// `train --list` comes from the architecture registry: every architecture
/// with its input, classes and data set, then the training parameters as
/// `TrainConfig` declares them.
#[test]
fn train_list_shows_every_registered_architecture_and_the_training_parameters() {
    let o = advcomp(&["train", "--list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "lenet5 — ",
        "[1x28x28, 10 classes, trained on mnist]",
        "cifarnet — ",
        "cifarnet-tf — ",
        "[3x32x32, 10 classes, trained on cifar10]",
        "training parameters",
        "weight_decay",
    ] {
        assert!(out.contains(needle), "{needle:?} in:\n{out}");
    }
    // The name is the canonical one whatever the spelling asked for.
    fails_with(
        &[
            "train",
            "--model",
            "CifarNet_TF",
            "--out",
            "/nonexistent/out",
            "--epochs",
            "0",
        ],
        &["parameter `epochs`"],
    );
}

#[test]
fn a_backend_not_compiled_in_says_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap();
    for backend in ["wgpu", "cuda"] {
        let o = advcomp(&[
            "train",
            "--model",
            "lenet5",
            "--out",
            t,
            "--backend",
            backend,
        ]);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{err}");
        // Either not compiled in (the default build) or compiled but without a device.
        assert!(
            err.contains(&format!("--features {backend}"))
                || err.contains("found no usable device"),
            "{err}"
        );
    }
}

#[test]
fn cifar10_without_data_tells_the_user_how_to_fetch_it() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_advcomp"))
        .args(["train", "--model", "cifarnet", "--out", "out"])
        .current_dir(tmp.path())
        .env_remove("ADVCOMP_DATA")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("advcomp data fetch cifar10"), "{err}");
}

#[test]
fn fetch_verifies_hashes_and_keeps_nothing_bad() {
    // Serve the bundled 10k sample as if it were the official files: the
    // hashes cannot match, and nothing may be left behind.
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("mnist");
    let mirror = format!("file://{}/", mnist_dir().canonicalize().unwrap().display());
    let o = advcomp(&[
        "data",
        "fetch",
        "mnist",
        "--dir",
        dest.to_str().unwrap(),
        "--mirror",
        &mirror,
        "--quiet",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.to_lowercase().contains("sha-256") || err.to_lowercase().contains("sha256"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&dest)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn data_info_finds_the_bundled_sample() {
    let o = Command::new(env!("CARGO_BIN_EXE_advcomp"))
        .args(["data", "info", "mnist"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env_remove("ADVCOMP_DATA")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("mnist-10k") && out.contains("8000 images") && out.contains("2000 images"),
        "{out}"
    );
}

#[test]
fn attack_list_includes_the_square_plugin_and_every_builtin() {
    let o = advcomp(&["attack", "--list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for name in [
        "fgsm",
        "ifgsm",
        "pgd",
        "pgd_l2",
        "mifgsm",
        "difgsm",
        "tifgsm",
        "nifgsm",
        "vmifgsm",
        "apgd_ce",
        "apgd_dlr",
        "autoattack",
        "adaptive_pgd",
        "hop_skip_jump",
        "boundary",
        "deepfool",
        "deepfool_linf",
        "cw_l2",
        "jsma",
        "square",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(name)),
            "{name} missing from:\n{out}"
        );
    }
    assert!(
        out.contains("p_init"),
        "square's parameters are listed:\n{out}"
    );
}

#[test]
fn attack_writes_the_adversarial_set_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    let out = tmp.path().join("fgsm");
    let data = mnist_dir();
    let data = data.to_str().unwrap();
    let trained = advcomp(&[
        "train",
        "--model",
        "lenet5",
        "--epochs",
        "1",
        "--train-limit",
        "1000",
        "--test-limit",
        "100",
        "--data",
        data,
        "--out",
        model.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(trained.status.success(), "{}", stderr(&trained));
    let attacked = advcomp(&[
        "attack",
        "--model",
        model.to_str().unwrap(),
        "--attack",
        "fgsm",
        "--param",
        "epsilon=0.2",
        "--n",
        "40",
        "--batch-size",
        "16",
        "--data",
        data,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(attacked.status.success(), "{}", stderr(&attacked));
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["attack"], "fgsm");
    assert_eq!(metrics["params"]["epsilon"], 0.2);
    assert_eq!(metrics["summary"]["samples"], 40);
    let rate = metrics["summary"]["success_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate), "{metrics}");
    let linf = metrics["summary"]["linf"]["mean"].as_f64().unwrap_or(0.0);
    assert!(linf <= 0.2 + 1e-6, "{metrics}");
    // IDX sizes: header + payload.
    let images = std::fs::read(out.join("adversarial-images.idx")).unwrap();
    assert_eq!(&images[..4], &[0, 0, 0x0D, 4]);
    assert_eq!(images.len(), 4 + 4 * 4 + 4 * 40 * 28 * 28);
    assert_eq!(std::fs::read(out.join("labels.idx")).unwrap().len(), 8 + 40);
    assert_eq!(
        std::fs::read(out.join("success.idx")).unwrap().len(),
        8 + 40
    );
}

#[test]
fn attack_names_and_params_are_checked_with_suggestions() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap();
    fails_with(
        &["attack", "--model", t, "--attack", "pgdd", "--out", t],
        &["pgdd", "pgd"],
    );
    fails_with(
        &[
            "attack",
            "--model",
            t,
            "--attack",
            "fgsm",
            "--param",
            "epsilonn=0.1",
            "--out",
            t,
        ],
        &["epsilonn", "epsilon"],
    );
    fails_with(
        &[
            "attack", "--model", t, "--attack", "fgsm", "--param", "epsilon", "--out", t,
        ],
        &["NAME=VALUE"],
    );
}

/// An untrained LeNet-5 checkpoint in `dir`, made through the library (no
/// training needed to test what the commands do around it).
fn untrained_checkpoint(dir: &Path) {
    use advcomp_models::{Architecture, Network, Sidecar, checkpoint};
    let device = advcomp_backend::device(advcomp_backend::BackendKind::Cpu).unwrap();
    let net = Network::new(Architecture::LENET5, &device, 1);
    let mut sidecar = Sidecar::new(&net, 1);
    sidecar.data = serde_json::json!({ "dataset": "mnist" });
    checkpoint::save(&net, &sidecar, dir).unwrap();
}

/// An MNIST directory of 20 training and `test` test images (raw IDX).
fn tiny_mnist(dir: &Path, test: usize) {
    use advcomp_data::idx_write::encode_u8;
    std::fs::create_dir_all(dir).unwrap();
    for (split, n) in [("train", 20), ("t10k", test)] {
        let pixels: Vec<u8> = (0..n * 28 * 28).map(|i| (i * 7 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images = dir.join(format!("{split}-images-idx3-ubyte"));
        std::fs::write(images, encode_u8(&[n, 28, 28], &pixels)).unwrap();
        let labels_path = dir.join(format!("{split}-labels-idx1-ubyte"));
        std::fs::write(labels_path, encode_u8(&[n], &labels)).unwrap();
    }
}

#[test]
fn an_output_in_the_input_checkpoint_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    untrained_checkpoint(&model);
    std::fs::write(model.join("metrics.json"), "{\"mine\": true}\n").unwrap();
    let data = tmp.path().join("mnist");
    tiny_mnist(&data, 10);
    let snapshot = |dir: &Path| -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), std::fs::read(e.path()).unwrap_or_default())
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&model);
    let m = model.to_str().unwrap();
    let d = data.to_str().unwrap();
    let inside = model.join("sub");
    let dotted = format!("{m}/.");
    for out in [m, dotted.as_str(), inside.to_str().unwrap()] {
        fails_with(
            &[
                "compress",
                "--model",
                m,
                "--prune",
                "magnitude",
                "--density",
                "0.5",
                "--data",
                d,
                "--out",
                out,
                "--quiet",
            ],
            &["--out", "input checkpoint", "overwrite"],
        );
        fails_with(
            &[
                "attack", "--model", m, "--attack", "fgsm", "--n", "4", "--data", d, "--out", out,
                "--quiet",
            ],
            &["--out", "input checkpoint", "overwrite"],
        );
    }
    assert_eq!(
        snapshot(&model),
        before,
        "the input checkpoint was modified"
    );
    assert!(!inside.exists());
}

/// A checkpoint that records a keyed defence cannot be compressed outside
/// a scenario: its thresholds are set again on the copy, which needs the
/// key, and the CLI takes none. It is refused before any work, naming the
/// checkpoint, the defence and the key id, and nothing is written.
#[test]
fn a_keyed_checkpoint_is_refused_by_compress_with_the_key_id_named() {
    use advcomp_models::{Architecture, Network, Sidecar, checkpoint};
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("keyed");
    let device = advcomp_backend::device(advcomp_backend::BackendKind::Cpu).unwrap();
    let net = Network::new(Architecture::LENET5, &device, 1);
    let mut sidecar = Sidecar::new(&net, 1);
    sidecar.data = serde_json::json!({ "dataset": "mnist" });
    sidecar.extra.insert(
        "defence".into(),
        serde_json::json!({ "defence": "taboo", "key_id": "0123456789abcdef", "config": {} }),
    );
    checkpoint::save(&net, &sidecar, &model).unwrap();
    let data = tmp.path().join("mnist");
    tiny_mnist(&data, 10);
    let out = tmp.path().join("slim");
    fails_with(
        &[
            "compress",
            "--model",
            model.to_str().unwrap(),
            "--prune",
            "magnitude",
            "--density",
            "0.5",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        &["keyed", "taboo", "0123456789abcdef", "scenario"],
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn more_images_than_the_test_set_are_attacked_whole_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    untrained_checkpoint(&model);
    let data = tmp.path().join("mnist");
    tiny_mnist(&data, 10);
    let out = tmp.path().join("fgsm");
    let o = advcomp(&[
        "attack",
        "--model",
        model.to_str().unwrap(),
        "--attack",
        "fgsm",
        "--n",
        "50",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("--n 50 is more than the 10 images of the test set"),
        "{err}"
    );
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["summary"]["samples"], 10);
}

#[test]
fn a_targeted_attack_writes_its_targets_and_untargeted_attacks_refuse_them() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    untrained_checkpoint(&model);
    let data = tmp.path().join("mnist");
    tiny_mnist(&data, 10);
    let (m, d) = (model.to_str().unwrap(), data.to_str().unwrap());
    let out = tmp.path().join("pgd");
    let o = advcomp(&[
        "attack",
        "--model",
        m,
        "--attack",
        "pgd",
        "--param",
        "steps=2",
        "--target",
        "next",
        "--data",
        d,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // IDX u8 vectors: an 8-byte header, then one byte per image.
    let labels = std::fs::read(out.join("labels.idx")).unwrap();
    let targets = std::fs::read(out.join("targets.idx")).unwrap();
    assert_eq!(targets.len(), labels.len());
    for (t, l) in targets[8..].iter().zip(&labels[8..]) {
        assert_eq!(*t, (l + 1) % 10);
    }
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["target"], "next");
    let out = tmp.path().join("x");
    let out = out.to_str().unwrap();
    fails_with(
        &[
            "attack", "--model", m, "--attack", "deepfool", "--target", "next", "--data", d,
            "--out", out,
        ],
        &["--target", "deepfool is untargeted only"],
    );
    fails_with(
        &[
            "attack", "--model", m, "--attack", "fgsm", "--target", "nxt", "--data", d, "--out",
            out,
        ],
        &["--target", "unknown target `nxt`"],
    );
    fails_with(
        &[
            "attack", "--model", m, "--attack", "fgsm", "--target", "12", "--data", d, "--out", out,
        ],
        &["--target", "target class 12 is not a class of the model"],
    );
}

#[test]
fn options_that_could_not_be_meant_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    // A parameter given twice: which one was meant?
    fails_with(
        &[
            "attack",
            "--model",
            t,
            "--attack",
            "fgsm",
            "--param",
            "epsilon=0.1",
            "--param",
            "epsilon=0.3",
            "--out",
            out,
        ],
        &["--param epsilon is given twice", "0.1", "0.3"],
    );
    // Limits of zero images.
    for flag in ["--train-limit", "--test-limit"] {
        fails_with(
            &["train", "--model", "lenet5", "--out", out, flag, "0"],
            &[&format!("{flag} must be at least 1")],
        );
    }
    // Negative numbers reach the command's own checks, not clap's "unexpected argument".
    fails_with(
        &["train", "--model", "lenet5", "--out", out, "--lr", "-0.1"],
        &["parameter `lr`", "found `-0.1`", "--lr"],
    );
    fails_with(
        &[
            "train",
            "--model",
            "lenet5",
            "--out",
            out,
            "--momentum",
            "-0.5",
        ],
        &["parameter `momentum`", "[0, 1)", "found `-0.5`"],
    );
    // A flag that cannot apply is refused, not ignored.
    fails_with(
        &[
            "train",
            "--model",
            "lenet5",
            "--out",
            out,
            "--optimizer",
            "adam",
            "--momentum",
            "0.5",
        ],
        &["parameter `momentum`", "--momentum"],
    );
    fails_with(
        &["train", "--model", "lenet5", "--out", out, "--gamma", "0.5"],
        &["parameter `gamma`", "--gamma"],
    );
    fails_with(
        &[
            "compress",
            "--model",
            t,
            "--prune",
            "magnitude",
            "--density",
            "-0.5",
            "--out",
            out,
        ],
        &["density", "(0, 1]", "-0.5"],
    );
    fails_with(
        &["train", "--model", "lenet5", "--out", out, "--epochs", "-1"],
        &["invalid value '-1' for '--epochs"],
    );
}

#[cfg(unix)]
#[test]
fn written_files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let scn = tmp.path().join("s.scn");
    for (umask, expected) in [("022", 0o644), ("027", 0o640)] {
        std::fs::write(&scn, "seed   =   1\n").unwrap();
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_advcomp"))
            .args(["fmt", "--write", scn.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&scn).unwrap(), "seed = 1\n");
        let mode = std::fs::metadata(&scn).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected, "umask {umask}: mode {mode:o}");
    }
}

/// Runs advcomp with stdout a pipe whose reader is already closed: its
/// first write fails with EPIPE, whatever the size of the output.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(env!("CARGO_BIN_EXE_advcomp"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env_remove("ADVCOMP_DATA")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    for args in [&["attack", "--list"][..], &["data", "info", "mnist"]] {
        let o = with_closed_stdout(args);
        let err = stderr(&o);
        assert_ne!(o.status.code(), Some(101), "{args:?}: {err}");
        assert!(o.status.success(), "{args:?}: {:?}: {err}", o.status);
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_stdout_ends_fmt_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = tmp.path().join("s.scn");
    std::fs::write(&scn, "seed   =   1\n").unwrap();
    let o = with_closed_stdout(&["fmt", scn.to_str().unwrap()]);
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(101), "{err}");
    assert!(o.status.success(), "{:?}: {err}", o.status);
}

#[test]
fn a_reader_that_stops_early_is_not_a_crash() {
    // More output than a pipe can buffer (64 KiB by default, 1 MiB at
    // most), so the writer is still writing when the reader goes away, as
    // in `advcomp fmt big.scn | head -1`.
    let tmp = tempfile::tempdir().unwrap();
    let scn = tmp.path().join("big.scn");
    let mut text = String::from("model base = lenet5 { epochs: 1 }\n");
    for i in 0..40_000 {
        text.push_str(&format!("attack a{i}   =   fgsm {{ epsilon: 0.1 }}\n"));
    }
    std::fs::write(&scn, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_advcomp"))
        .args(["fmt", scn.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert_eq!(first, "model base = lenet5 { epochs: 1 }\n");
    drop(stdout);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(101), "{err}");
    assert!(o.status.success(), "{:?}: {err}", o.status);
    assert!(err.is_empty(), "{err}");
}

/// `advcomp compress` finds compressors in the registry, plugins included:
/// `--list` shows them with their parameters, and a plugin's parameters
/// are checked against its declaration before any file is read.
#[test]
fn compress_knows_every_registered_compressor() {
    let o = advcomp(&["compress", "--list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listing = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "prune magnitude",
        "prune dns",
        "quantise fixed",
        "quantise ternary",
        "quantise binary",
        "threshold",
        "[plugin: straight-through projection]",
    ] {
        assert!(listing.contains(needle), "{needle:?} in:\n{listing}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    let compress = |extra: &[&str], needles: &[&str]| {
        let mut args = vec!["compress", "--model", t, "--out", out];
        args.extend_from_slice(extra);
        fails_with(&args, needles);
    };
    compress(
        &["--quantise", "ternary", "--quant-param", "treshold=0.5"],
        &[
            "--quantise ternary",
            "unknown parameter `treshold`",
            "did you mean",
            "`threshold`",
        ],
    );
    compress(
        &["--quantise", "ternary", "--weight-bits", "8"],
        &["--quantise ternary", "unknown parameter `weight_bits`"],
    );
    compress(
        &["--quantise", "ternery"],
        &["unknown compressor", "did you mean", "`ternary`"],
    );
    compress(
        &[
            "--quantise",
            "fixed",
            "--weight-bits",
            "8",
            "--quant-param",
            "weight_bits=4",
        ],
        &["`weight_bits` is given both as --weight-bits and as --quant-param"],
    );
}

#[test]
fn dns_takes_exactly_one_of_density_and_alpha() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    let compress = |extra: &[&str]| {
        let mut args = vec!["compress", "--model", t, "--out", out];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str], needles: &[&str]| {
        let args = compress(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(&args, needles);
    };
    run(
        &["--prune", "dns", "--alpha", "1.0", "--density", "0.1"],
        &["--alpha", "--density", "cannot be used with"],
    );
    run(
        &["--prune", "dns"],
        &["--prune dns", "`density`", "`alpha`"],
    );
    run(
        &["--prune", "magnitude", "--alpha", "-0.1"],
        &["--prune magnitude", "unknown parameter `alpha`"],
    );
}

/// `advcomp catalogue` prints the binary's registries: the whole of it is
/// `docs/catalogue.md` (the binary links the plugins advcomp ships), and
/// `--kind` keeps one kind, in Markdown or as the JSON snapshot.
#[test]
fn catalogue_prints_the_registries_the_binary_was_built_with() {
    let o = advcomp(&["catalogue"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/catalogue.md"),
    )
    .unwrap();
    assert!(
        stdout(&o) == doc,
        "advcomp catalogue differs from docs/catalogue.md"
    );
    let o = advcomp(&["catalogue", "--kind", "defence"]);
    let out = stdout(&o);
    for needle in [
        "## Defences",
        "### `taboo`",
        "### `sitatapatra`",
        "### `squeeze`",
    ] {
        assert!(out.contains(needle), "{needle:?} in:\n{out}");
    }
    assert!(
        !out.contains("### `fgsm`") && !out.contains("## Attacks"),
        "{out}"
    );
    let o = advcomp(&["catalogue", "--kind", "architecture", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = json["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cifarnet", "cifarnet-tf", "lenet5"]);
}
