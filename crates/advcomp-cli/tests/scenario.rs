//! `advcomp run`, `check`, `fmt` as a user runs them, including a run
//! killed with SIGKILL and resumed.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn advcomp(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_advcomp"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("ADVCOMP_BACKEND")
        .env_remove("ADVCOMP_CACHE")
        .output()
        .expect("advcomp runs")
}

/// The bundled MNIST directory, as a command-line argument.
fn bundled() -> String {
    advcomp_testkit::mnist_dir().display().to_string()
}

const SCENARIO: &str = "seed = 5
train_images = 800
test_images = 100

model base = lenet5 { epochs: 2 }
variant pruned = base | prune magnitude { density: [0.2, 0.1] }
variant quantised = base | quantise dynamic { bits: 4 }

attack fgsm = fgsm { epsilon: 0.2 }
attack ifgsm = ifgsm { epsilon: 0.1 }

transfer base -> pruned, quantised using all
transfer pruned -> base using fgsm
";

fn numbers(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("runs/s/results.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("timings");
    v
}

#[test]
fn a_killed_run_resumes_to_the_same_numbers() {
    // Uninterrupted reference.
    let a = tempfile::tempdir().unwrap();
    std::fs::write(a.path().join("s.scn"), SCENARIO).unwrap();
    let o = advcomp(a.path(), &["run", "s.scn", "--data", &bundled(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Killed part-way (SIGKILL: no clean-up runs), then resumed.
    let b = tempfile::tempdir().unwrap();
    std::fs::write(b.path().join("s.scn"), SCENARIO).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_advcomp"))
        .current_dir(b.path())
        .args(["run", "s.scn", "--data", &bundled(), "-q"])
        .spawn()
        .unwrap();
    // Wait until at least one step has finished, then kill.
    let cache = b.path().join("runs/cache");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        let done = std::fs::read_dir(&cache)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().join("step.json").is_file())
                    .count()
            })
            .unwrap_or(0);
        if done >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let _ = child.wait();
    assert!(
        !b.path().join("runs/s/results.json").exists(),
        "the run finished before it could be killed; the test needs a longer scenario"
    );
    let o = advcomp(b.path(), &["run", "s.scn", "--data", &bundled(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(numbers(a.path()), numbers(b.path()));

    // A third run is all cache hits and changes nothing.
    let before = std::fs::read(b.path().join("runs/s/results.json")).unwrap();
    let o = advcomp(b.path(), &["run", "s.scn", "--data", &bundled()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("from the cache"));
    assert_eq!(
        std::fs::read(b.path().join("runs/s/results.json")).unwrap(),
        before
    );
}

#[test]
fn claims_are_printed_and_strict_fails_the_run_unless_all_hold() {
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "{SCENARIO}\nexpect accuracy(base) > 0.2\nexpect accuracy(base) > 1.0\nexpect success(pruned, fgsm) > 0\n"
    );
    std::fs::write(d.path().join("s.scn"), text).unwrap();
    let o = advcomp(d.path(), &["run", "s.scn", "--data", &bundled(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("✅ holds  accuracy(base) > 0.2  (line 15)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("❌ fails  accuracy(base) > 1.0  (line 16)"),
        "{stdout}"
    );
    assert!(stdout.contains("success(pruned, fgsm) > 0"), "{stdout}");
    let results = numbers(d.path());
    assert_eq!(results["claims"][1]["verdict"], "fails", "{results}");
    assert_eq!(results["claims"][1]["cases"][0]["right"]["mean"], 1.0);

    // --strict: the same (cached) run fails, and says why.
    let o = advcomp(
        d.path(),
        &["run", "s.scn", "--data", &bundled(), "-q", "--strict"],
    );
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("1 of 3 claims do not hold"), "{stderr}");

    // A claim naming a number the run does not make is a check error.
    std::fs::write(
        d.path().join("bad.scn"),
        format!("{SCENARIO}expect transfer(base -> base, fgsm) > 0\n"),
    )
    .unwrap();
    let o = advcomp(d.path(), &["check", "bad.scn"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bad.scn:14:8"), "{stderr}");
}

#[test]
fn every_paper_scenario_checks_against_the_real_registries() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut files: Vec<String> = std::fs::read_dir(root.join("scenarios/papers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let o = advcomp(root, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for f in &files {
        assert!(stdout.contains(&format!("{f}: ok")), "{stdout}");
    }
    assert!(stdout.contains("claims)"), "claims are counted: {stdout}");
}

#[test]
fn check_and_fmt_report_errors_with_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("bad.scn"),
        "model base = lenet5 { epochs: 2 }\nattack a = fgsm { epsilno: 0.1 }\ntransfer base -> base using a\n",
    )
    .unwrap();
    let o = advcomp(d.path(), &["check", "bad.scn"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.scn:2:"), "{err}");
    assert!(err.contains("epsilon"), "suggests the nearest name: {err}");
    assert!(!err.contains("panicked"), "{err}");

    std::fs::write(
        d.path().join("ok.scn"),
        "model   base=lenet5\nattack f = fgsm\ntransfer base->base using f\n",
    )
    .unwrap();
    let o = advcomp(d.path(), &["fmt", "--check", "ok.scn"]);
    assert!(!o.status.success(), "not canonical");
    let o = advcomp(d.path(), &["fmt", "--write", "ok.scn"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = advcomp(d.path(), &["fmt", "--check", "ok.scn"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = advcomp(d.path(), &["check", "ok.scn"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    std::fs::write(
        d.path().join("garbage.scn"),
        [0u8, 159, 146, 150, 255, b'\n', b'{'],
    )
    .unwrap();
    let o = advcomp(d.path(), &["check", "garbage.scn"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("garbage.scn:1:") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn dry_run_prints_the_plan() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("s.scn"), SCENARIO).unwrap();
    let o = advcomp(
        d.path(),
        &["run", "s.scn", "--dry-run", "--data", &bundled()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("train base") && out.contains("apply fgsm from base to pruned[density=0.2]"),
        "{out}"
    );
    assert!(!d.path().join("runs/s/results.json").exists());
}

#[test]
fn a_plan_over_the_step_limit_is_refused_by_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let seeds: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    std::fs::write(
        dir.path().join("big.scn"),
        format!(
            "model m = lenet5 {{ epochs: 1, seed: [{}] }}\nattack a = fgsm {{}}\ntransfer m -> m using a\n",
            seeds.join(", ")
        ),
    )
    .unwrap();
    for args in [
        &["check", "big.scn"][..],
        &["run", "big.scn", "--dry-run", "--data", &bundled()][..],
    ] {
        let o = advcomp(dir.path(), args);
        // miette wraps long messages: compare with the wrapping undone.
        let err = String::from_utf8_lossy(&o.stderr).replace('│', " ");
        let err = err.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        for needle in [
            "more than 100000 steps",
            "transfer statement 1",
            "`m -> m`",
            "--max-steps",
        ] {
            assert!(
                err.contains(needle),
                "{args:?}: {needle} missing from {err}"
            );
        }
    }
    // Under a raised limit the check passes.
    let o = advcomp(dir.path(), &["check", "big.scn", "--max-steps", "2000000"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn cache_gc_keeps_exactly_what_the_given_scenarios_use() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scenario = |eps: &str| {
        format!(
            "seed = 2\ntrain_images = 300\ntest_images = 30\n\
             model base = lenet5 {{ epochs: 1 }}\n\
             variant small = base | prune magnitude {{ density: 0.5 }}\n\
             attack a = fgsm {{ epsilon: {eps} }}\n\
             transfer base -> small using a\n"
        )
    };
    std::fs::write(d.join("a.scn"), scenario("0.2")).unwrap();
    std::fs::write(d.join("b.scn"), scenario("0.25")).unwrap();
    let o = advcomp(d, &["run", "a.scn", "--data", &bundled(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let ls = advcomp(d, &["cache", "ls", "b.scn", "--data", &bundled()]);
    let text = String::from_utf8_lossy(&ls.stdout).into_owned();
    assert!(
        ls.status.success(),
        "{}",
        String::from_utf8_lossy(&ls.stderr)
    );
    // base and small: trained/compressed and evaluated, shared by b.scn;
    // the attack and its transfer: a.scn's alone.
    assert_eq!(text.matches("  used  ").count(), 4, "{text}");
    assert_eq!(text.matches("  unused  ").count(), 2, "{text}");

    let o = advcomp(d, &["cache", "gc", "--data", &bundled()]);
    assert!(
        !o.status.success(),
        "gc without scenarios would remove everything"
    );
    let o = advcomp(d, &["cache", "gc", "b.scn", "--data", &bundled()]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("removed 2 entries"), "{text}");

    // a.scn now recomputes exactly its attack and transfer.
    let plan = advcomp(d, &["run", "a.scn", "--dry-run", "--data", &bundled()]);
    let text = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert_eq!(text.matches("to run").count(), 2, "{text}");
    assert_eq!(text.matches("cached").count(), 4, "{text}");
}

/// Plugin compressors are named in a scenario like built-in ones: `check`
/// accepts them and checks their parameters, `run` compresses with them
/// (swept), the results record their axes (the low-bit plugin's bits, the
/// N:M plugin's density), and a rerun is served from the cache with the
/// same numbers.
#[test]
fn a_plugin_compressor_runs_in_a_scenario() {
    let d = tempfile::tempdir().unwrap();
    let text = "seed = 5
train_images = 800
test_images = 100

model base = lenet5 { epochs: 1 }
variant low = base | quantise ternary { threshold: [0.7, 0.5] } | finetune { epochs: 1 }
variant bin = base | prune magnitude { density: 0.5 } | quantise binary
variant sparse = base | prune nm { n: 2, m: 4 }

attack fgsm = fgsm { epsilon: 0.1 }
transfer base -> low, bin, sparse using fgsm
";
    std::fs::write(d.path().join("s.scn"), text).unwrap();
    let o = advcomp(d.path(), &["check", "s.scn"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(
        d.path().join("bad.scn"),
        text.replace("threshold: [0.7, 0.5]", "treshold: 0.7"),
    )
    .unwrap();
    let o = advcomp(d.path(), &["check", "bad.scn"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("bad.scn:6:") && err.contains("threshold"),
        "{err}"
    );

    let o = advcomp(d.path(), &["run", "s.scn", "--data", &bundled(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let results = numbers(d.path());
    let models = results["models"].as_array().unwrap();
    let model = |id: &str| {
        models
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {models:?}"))
    };
    // The plugins' axis (their registration declares weight bits) is in
    // the results like the built-ins' own.
    for id in ["low[threshold=0.7]", "low[threshold=0.5]"] {
        assert_eq!(model(id)["axes"]["weight_bits"], 2.0, "{id}");
        assert_eq!(
            model(id)["varies"],
            serde_json::json!(["weight_bits"]),
            "{id}"
        );
    }
    assert_eq!(model("bin")["axes"]["weight_bits"], 1.0);
    assert_eq!(
        model("bin")["varies"],
        serde_json::json!(["density", "weight_bits"])
    );
    let density = model("bin")["axes"]["density"].as_f64().unwrap();
    assert!(
        (density - 0.5).abs() < 0.01,
        "binary keeps the pruned density: {density}"
    );
    // A pruning plugin: 2 of every 4 weights along each layer's inputs,
    // conv1 (one input channel) left dense: (500 + 215,000) of 430,500.
    assert_eq!(model("sparse")["varies"], serde_json::json!(["density"]));
    let density = model("sparse")["axes"]["density"].as_f64().unwrap();
    assert!(
        (density - 215_500.0 / 430_500.0).abs() < 1e-12,
        "2:4 density: {density}"
    );

    let o = advcomp(d.path(), &["run", "s.scn", "--data", &bundled(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        numbers(d.path()),
        results,
        "a rerun is served from the cache"
    );
}

/// A plugin defence (feature squeezing, an input detector) in a scenario:
/// applied to a model and to a compressed model (`compress → defend`), and
/// kept by a compressed variant of a guarded model (`defend → compress`)
/// with its threshold set again on the compressed weights.
#[test]
fn a_plugin_detector_guards_models_before_and_after_compression() {
    let d = tempfile::tempdir().unwrap();
    let text = "seed = 5
train_images = 800
test_images = 100

model base = lenet5 { epochs: 1 }
variant guarded = base | defend squeeze { calibration_images: 400 }
variant guarded_pruned = guarded | prune magnitude { density: 0.3 }
variant pruned_guarded = base | prune magnitude { density: 0.3 } | defend squeeze { calibration_images: 400 }

attack fgsm = fgsm { epsilon: 0.2 }
transfer base -> guarded, guarded_pruned, pruned_guarded using fgsm
";
    std::fs::write(d.path().join("s.scn"), text).unwrap();
    let o = advcomp(d.path(), &["check", "s.scn"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = advcomp(d.path(), &["run", "s.scn", "--data", &bundled(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let results = numbers(d.path());
    let models = results["models"].as_array().unwrap();
    let model = |id: &str| models.iter().find(|m| m["id"] == id).unwrap().clone();
    for (id, applied_to) in [
        ("guarded", "guarded"),
        ("guarded_pruned", "guarded"),
        ("pruned_guarded", "pruned_guarded"),
    ] {
        let m = model(id);
        assert_eq!(m["defence"]["defence"], "squeeze", "{m}");
        assert_eq!(m["defence"]["applied_to"], applied_to, "{m}");
        assert!(m["defence"]["false_positive_rate"].is_number(), "{m}");
    }
    assert_eq!(
        model("pruned_guarded")["varies"],
        serde_json::json!(["density"])
    );
    for t in results["transfers"].as_array().unwrap() {
        assert!(t["detected"].is_number(), "every target detects: {t}");
    }
    // The compressed variant's checkpoint records a threshold set on its
    // own weights, not its parent's: the one `pruned_guarded` gets, whose
    // weights are the same (pruning the guarded model or the base gives
    // the same network, and guarding changes no weight).
    let mut thresholds = Vec::new();
    let mut stack = vec![d.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "checkpoint.json") {
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                if let Some(t) = v["extra"]["detector"]["threshold"].as_f64() {
                    let pruned = !v["extra"]["compression"]["state"]["pruning"].is_null();
                    thresholds.push((pruned, t.to_bits()));
                }
            }
        }
    }
    thresholds.sort_unstable();
    let [(false, base), (true, a), (true, b)] = thresholds[..] else {
        panic!("one unpruned and two pruned guarded models: {thresholds:?}");
    };
    assert_eq!(
        a, b,
        "both pruned models are calibrated on their own weights"
    );
    assert_ne!(a, base, "not on their parent's");
}
