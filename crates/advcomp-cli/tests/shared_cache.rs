//! Several `advcomp run` processes and dry runs on one cache (issue #11,
//! item 2): no process loses work to another, and every run ends with the
//! numbers a run alone would give.

use std::path::Path;
use std::process::{Child, Command, Stdio};

const SCENARIO: &str = "seed = 4
train_images = 800
test_images = 40

model base = lenet5 { epochs: 2 }
variant pruned = base | prune magnitude { density: [0.5, 0.2] }

attack fgsm = fgsm { epsilon: 0.2 }

transfer base -> pruned using fgsm
transfer pruned -> base using fgsm
";

/// The bundled MNIST directory, as a command-line argument.
fn bundled() -> String {
    advcomp_testkit::mnist_dir().display().to_string()
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_advcomp"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("ADVCOMP_BACKEND")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("advcomp runs")
}

fn numbers(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("timings");
    v
}

#[test]
fn concurrent_runs_and_dry_runs_share_one_cache_safely() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.scn"), SCENARIO).unwrap();
    let data = bundled();
    let runs: Vec<Child> = ["a", "b"]
        .iter()
        .map(|out| {
            let out = format!("out-{out}");
            spawn(
                d,
                &[
                    "run", "s.scn", "--cache", "cache", "--out", &out, "--data", &data, "-q",
                ],
            )
        })
        .collect();
    // Dry runs (readers) keep opening the cache while both runs build.
    let mut dry_runs = 0;
    let mut runs: Vec<Option<Child>> = runs.into_iter().map(Some).collect();
    let mut statuses = Vec::new();
    while runs.iter().any(Option::is_some) {
        let o = spawn(
            d,
            &[
                "run",
                "s.scn",
                "--cache",
                "cache",
                "--dry-run",
                "--data",
                &data,
            ],
        )
        .wait_with_output()
        .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        dry_runs += 1;
        for slot in &mut runs {
            if let Some(child) = slot
                && child.try_wait().unwrap().is_some()
            {
                let o = slot.take().unwrap().wait_with_output().unwrap();
                statuses.push((o.status, String::from_utf8_lossy(&o.stderr).into_owned()));
            }
        }
    }
    for (status, stderr) in &statuses {
        assert!(status.success(), "a run sharing the cache failed: {stderr}");
    }
    assert!(dry_runs >= 1);
    assert_eq!(
        numbers(&d.join("out-a/results.json")),
        numbers(&d.join("out-b/results.json"))
    );
    // A run alone on a fresh cache gives the same numbers.
    let o = spawn(
        d,
        &[
            "run", "s.scn", "--cache", "alone", "--out", "out-c", "--data", &data, "-q",
        ],
    )
    .wait_with_output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        numbers(&d.join("out-a/results.json")),
        numbers(&d.join("out-c/results.json"))
    );
    // Nothing is left staged.
    let tmp = d.join("cache/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
