//! End-to-end runs of a small deterministic scenario on the bundled MNIST:
//! the report is snapshot-tested, a rerun comes from the cache with
//! identical results, an interrupted run resumes to the same numbers.

mod support;

use std::path::Path;

use advcomp_runner::{Results, RunOptions, run};
use advcomp_testkit::cpu;
use support::options;

const SCENARIO: &str = r#"
# Tiny scenario 1 and 2 for the test suite.
seed = 3
train_images = 1000
test_images = 120

model base = lenet5 { epochs: 2 }
variant pruned = base | prune magnitude { density: [0.3, 0.1], scope: "global" }
variant quantised = base | quantise fixed { bits: [8, 4] }

attack fgsm = fgsm { epsilon: 0.15 }
attack deepfool = deepfool { images: 60 }

transfer base -> pruned, quantised using all
transfer quantised -> base, pruned using fgsm

# Claims the runner judges (their verdicts are part of the snapshot).
expect accuracy(base) > 0.6
expect transfer(quantised -> base, fgsm) > transfer(base -> quantised, fgsm)
expect success(quantised, fgsm) increasing along bits
"#;

fn run_in(dir: &Path, stop_after: Option<usize>) -> advcomp_runner::RunOutcome {
    let file = dir.join("tiny.scn");
    std::fs::write(&file, SCENARIO).unwrap();
    let (bytes, resolved) = advcomp_runner::load(&file).unwrap();
    let options = RunOptions {
        stop_after,
        ..options(dir, "tiny.scn")
    };
    run(&resolved, &bytes, &options, &cpu(), &mut ()).unwrap()
}

fn without_timings(mut r: Results) -> Results {
    r.timings.clear();
    r
}

#[test]
fn report_rerun_and_resume() {
    let a = tempfile::tempdir().unwrap();
    let first = run_in(a.path(), None);
    assert!(first.cached.iter().all(|c| !c), "a fresh cache has nothing");
    let results = first.results.unwrap();
    let report = std::fs::read_to_string(a.path().join("out/report.md")).unwrap();
    // The header names the commit and version; the claims and tables are
    // the numbers.
    let tables = &report[report.find("## Claims").unwrap()..];
    // Trained numbers: one snapshot per CPU class.
    advcomp_testkit::assert_trained_snapshot!("tiny_report", tables);
    assert!(a.path().join("out/transfer.csv").is_file());
    assert!(a.path().join("out/transfer-vs-density.svg").is_file());
    assert!(a.path().join("out/transfer-vs-bits.svg").is_file());
    let json_before = std::fs::read(a.path().join("out/results.json")).unwrap();

    // A plot replaced by a symlink to someone else's file: the rerun
    // replaces the link and never writes through it.
    let svg = a.path().join("out/transfer-vs-density.svg");
    let victim = a.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::fs::remove_file(&svg).unwrap();
    std::os::unix::fs::symlink(&victim, &svg).unwrap();

    // A rerun computes nothing and writes the same bytes.
    let started = std::time::Instant::now();
    let second = run_in(a.path(), None);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(
        std::fs::symlink_metadata(&svg)
            .unwrap()
            .file_type()
            .is_file()
    );
    assert!(second.cached.iter().all(|c| *c));
    assert_eq!(second.results.unwrap(), results);
    assert_eq!(
        std::fs::read(a.path().join("out/results.json")).unwrap(),
        json_before
    );
    eprintln!("cached rerun: {:.2}s", started.elapsed().as_secs_f64());

    // Interrupted after 4 steps, then resumed: the same numbers.
    let b = tempfile::tempdir().unwrap();
    let stopped = run_in(b.path(), Some(4));
    assert!(stopped.results.is_none());
    // What an interruption leaves mid-step: a staging directory and its
    // lock file, unlocked since its owner is dead.
    std::fs::create_dir_all(b.path().join("cache/tmp/deadbeef-1-0")).unwrap();
    std::fs::write(b.path().join("cache/tmp/deadbeef-1-0.lock"), "").unwrap();
    let resumed = run_in(b.path(), None);
    assert_eq!(resumed.cached.iter().filter(|c| **c).count(), 4);
    assert!(!b.path().join("cache/tmp/deadbeef-1-0").exists());
    assert!(!b.path().join("cache/tmp/deadbeef-1-0.lock").exists());
    assert_eq!(
        without_timings(resumed.results.unwrap()),
        without_timings(results)
    );
}

#[test]
fn the_transfer_metric_counts_only_eligible_samples() {
    let a = tempfile::tempdir().unwrap();
    let results = run_in(a.path(), None).results.unwrap();
    for t in &results.transfers {
        assert!(t.transferred <= t.eligible);
        if let Some(rate) = t.transfer_rate {
            assert!((0.0..=1.0).contains(&rate));
        }
    }
    let wb = results
        .whitebox
        .iter()
        .find(|w| w.attack == "deepfool")
        .unwrap();
    assert_eq!(wb.images, 60);
}

#[test]
fn a_targeted_attack_reports_targeted_success_and_targeted_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targeted.scn");
    std::fs::write(
        &file,
        "seed = 5\ntrain_images = 600\ntest_images = 40\n\
         model a = lenet5 { epochs: 1 }\nmodel b = lenet5 { epochs: 1, seed: 9 }\n\
         attack t = pgd { steps: 20, target: \"next\" }\nattack u = pgd { steps: 20 }\n\
         transfer a -> b using t, u\n",
    )
    .unwrap();
    let (bytes, resolved) = advcomp_runner::load(&file).unwrap();
    let outcome = run(
        &resolved,
        &bytes,
        &options(dir.path(), "targeted.scn"),
        &cpu(),
        &mut (),
    )
    .unwrap();
    let results = outcome.results.unwrap();
    let wb = |a: &str| results.whitebox.iter().find(|w| w.attack == a).unwrap();
    assert_eq!(wb("t").target.as_deref(), Some("next"));
    assert_eq!(wb("u").target, None);
    let cell = |a: &str| results.transfers.iter().find(|t| t.attack == a).unwrap();
    let (t, u) = (cell("t"), cell("u"));
    // Reaching the source's target on the target model implies fooling it.
    let reached = t
        .targeted_transferred
        .expect("targeted cells count the target");
    assert!(
        reached <= t.transferred && t.transferred <= t.eligible,
        "{t:?}"
    );
    assert!(t.eligible > 0, "{t:?}");
    assert_eq!(u.targeted_transferred, None);
    // The targeted and untargeted attacks are different computations.
    let key = |a: &str| {
        outcome
            .plan
            .steps
            .iter()
            .find(|s| s.label == format!("attack {a} on a"))
            .unwrap()
            .key
            .clone()
    };
    assert_ne!(key("t"), key("u"));
    let report = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(report.contains("| t (targeted: next) | a |"), "{report}");
    assert!(report.contains("### t: targeted transfer rate"), "{report}");
    assert!(
        !report.contains("### u: targeted transfer rate"),
        "{report}"
    );
}

#[test]
fn a_damaged_cache_entry_is_an_error_not_a_panic() {
    let a = tempfile::tempdir().unwrap();
    let outcome = run_in(a.path(), None);
    // Truncate one transfer step's predictions, as a hand edit might.
    let step = outcome
        .plan
        .steps
        .iter()
        .find(|s| matches!(s.kind, advcomp_runner::plan::StepKind::Apply { .. }))
        .unwrap();
    let path = a
        .path()
        .join("cache")
        .join(&step.key)
        .join("predictions.json");
    std::fs::write(&path, r#"{ "predicted": [1, 2], "accuracy": 0.5 }"#).unwrap();
    let file = a.path().join("tiny.scn");
    let (bytes, resolved) = advcomp_runner::load(&file).unwrap();
    let options = options(a.path(), "tiny.scn");
    let err = run(&resolved, &bytes, &options, &cpu(), &mut ()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("predictions.json") && text.contains("corrupt"),
        "{text}"
    );
}
