//! Keyed defences in a scenario, end to end on the bundled MNIST: keyed and
//! unkeyed models, a compressed variant that keeps its parent's detector,
//! detection, false positives, the keyed/unkeyed comparison and traceback
//! in the report (snapshot), and no passphrase in anything written.

mod support;

use advcomp_runner::results::ModelResult;
use advcomp_runner::run;
use advcomp_testkit::cpu;
use support::{files, options};

const SCENARIO: &str = r#"
# Two keyed LeNet-5s, one unkeyed, a pruned variant of a keyed one.
seed = 5
train_images = 1000
test_images = 100

model plain = lenet5 { epochs: 2 }
model keyed = lenet5 { epochs: 2 } defend taboo { key: ["secret-north", "secret-south"], epochs: 1 }
model robust = lenet5 { epochs: 2 } defend adversarial { epsilon: 0.1, steps: 3, step_size: 0.04, epochs: 1 }
variant slim = keyed | prune magnitude { density: 0.5, scope: "global" }

attack fgsm = fgsm { epsilon: 0.3 }
# The attacker who knows the key (white box) or only the method (transfer
# between keys).
attack adaptive = adaptive_pgd { steps: 20, step_size: 0.03 }

transfer keyed -> keyed, plain, slim, robust using fgsm
transfer plain -> keyed using fgsm
transfer keyed -> keyed using adaptive
# An ensemble of both keyed models (the mean of their logits) as one source.
ensemble both = { keyed }
transfer both -> plain using fgsm, adaptive
"#;

#[test]
fn keyed_models_detect_trace_and_keep_their_keys_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyed.scn");
    std::fs::write(&file, SCENARIO).unwrap();
    let (bytes, resolved) = advcomp_runner::load(&file).unwrap();
    let ids: Vec<&str> = resolved.models.iter().map(|m| m.id.as_str()).collect();
    assert!(
        ids.iter().all(|id| !id.contains("secret")),
        "ids show key ids, not keys: {ids:?}"
    );
    let options = options(dir.path(), "keyed.scn");
    let results = run(&resolved, &bytes, &options, &cpu(), &mut ())
        .unwrap()
        .results
        .unwrap();

    // Every keyed model and the pruned variant carry a detector.
    let keyed: Vec<_> = results
        .models
        .iter()
        .filter(|m| m.defence.as_ref().is_some_and(|d| d.detects))
        .collect();
    assert_eq!(keyed.len(), 4, "two keyed, two pruned variants");
    for m in &keyed {
        let d = m.defence.as_ref().unwrap();
        assert!(d.false_positive_rate.is_some(), "{}", m.id);
        assert_eq!(d.twin_accuracy.is_some(), d.applied_to == m.id);
    }
    let robust = results.models.iter().find(|m| m.decl == "robust").unwrap();
    let d = robust.defence.as_ref().unwrap();
    assert!(!d.detects && d.key_id.is_none() && d.false_positive_rate.is_none());

    // Keyed targets report detection; unkeyed ones do not.
    for t in &results.transfers {
        let target_keyed = keyed.iter().any(|m| m.id == t.target);
        assert_eq!(
            t.detected.is_some(),
            target_keyed,
            "{} -> {}",
            t.source,
            t.target
        );
        if let (Some(d), Some(e)) = (t.detected, t.evaded) {
            assert!(d <= t.eligible && e <= t.transferred);
        }
    }
    let kinds: Vec<&str> = results
        .keyed
        .iter()
        .map(|k| k.pairs_kind.as_str())
        .collect();
    assert!(
        kinds.contains(&"different keys (taboo)") && kinds.contains(&"same key (taboo)"),
        "{kinds:?}"
    );
    assert_eq!(
        results.traceback.len(),
        4,
        "one per keyed source and attack"
    );
    for t in &results.traceback {
        assert_eq!(t.suspects.len(), 2);
        assert!(t.traced <= t.detected && t.detected <= t.samples);
    }

    // Knowing the key gets more samples past a model's own detector.
    for m in &keyed {
        let on = |attack: &str| {
            results
                .whitebox
                .iter()
                .find(|w| w.model == m.id && w.attack == attack)
                .map(|w| {
                    w.evasion_rate
                        .expect("a defended model's row has an evasion rate")
                })
        };
        if let (Some(fgsm), Some(adaptive)) = (on("fgsm"), on("adaptive")) {
            assert!(
                adaptive > fgsm,
                "{}: adaptive {adaptive} against fgsm {fgsm}",
                m.id
            );
        }
    }
    assert!(
        results
            .whitebox
            .iter()
            .filter(|w| w.attack == "adaptive")
            .count()
            == 3,
        "one adaptive row per keyed source, and the ensemble's"
    );

    // The ensemble is one model and one source; it is not deployed behind
    // a detector.
    let both = results.models.iter().find(|m| m.id == "both").unwrap();
    assert!(both.defence.is_none() && both.accuracy > 0.5, "{both:?}");
    let from_both: Vec<_> = results
        .transfers
        .iter()
        .filter(|t| t.source == "both")
        .collect();
    assert_eq!(from_both.len(), 2, "fgsm and adaptive to plain");
    for w in results.whitebox.iter().filter(|w| w.model == "both") {
        assert!(w.evasion_rate.is_none() && w.success_rate > 0.5, "{w:?}");
    }

    let report = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    for section in [
        "## Defences",
        "### White-box attacks on defended models",
        "## Transfer with and without keys",
        "## Traceback",
        "detection rate of the target's detector",
    ] {
        assert!(report.contains(section), "{section} missing");
    }
    let tables = &report[report.find("## Models").unwrap()..];
    // Trained numbers: one snapshot per CPU class.
    advcomp_testkit::assert_trained_snapshot!("keyed_report", tables);

    // No passphrase anywhere in the outputs or the cache.
    let written = [
        files(&dir.path().join("out")),
        files(&dir.path().join("cache")),
    ];
    for path in written.concat() {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("secret-north") && !text.contains("secret-south"),
            "{} holds a passphrase",
            path.display()
        );
    }
}

#[test]
fn adversarial_training_after_compression_is_refused_with_the_model_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("late.scn");
    std::fs::write(
        &file,
        "model base = lenet5\nvariant late = base | prune magnitude { density: 0.5 } | defend adversarial { epsilon: 0.1 }\nattack f = fgsm\ntransfer base -> late using f\n",
    )
    .unwrap();
    let err = advcomp_runner::load(&file).unwrap_err().to_string();
    assert!(err.contains("late.scn") && err.contains("`late`"), "{err}");
    assert!(err.contains("before compression"), "{err}");
}

/// A keyed defence may harden a model that is already compressed: it
/// trains under the compression, so the pruned copy keeps exactly its
/// density and the quantised copy its grids, and each carries its
/// detector.
#[test]
fn a_keyed_defence_after_compression_keeps_the_compression() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("late.scn");
    std::fs::write(
        &file,
        r#"seed = 3
train_images = 1000
test_images = 100
model base = lenet5 { epochs: 2 }
variant pruned = base | prune magnitude { density: 0.3, scope: "global" }
variant late = pruned | defend taboo { key_seed: 1, epochs: 1 }
variant late_q = base | quantise fixed { bits: 6 } | defend sitatapatra { key_seed: 2, epochs: 1 }
attack f = fgsm {}
transfer base -> late, late_q using f
"#,
    )
    .unwrap();
    let (bytes, resolved) = advcomp_runner::load(&file).unwrap();
    let options = options(dir.path(), "late.scn");
    let results = run(&resolved, &bytes, &options, &cpu(), &mut ())
        .unwrap()
        .results
        .unwrap();
    let model = |id: &str| {
        results
            .models
            .iter()
            .find(|m| m.id == id || m.id.starts_with(&format!("{id}[")))
            .unwrap_or_else(|| {
                panic!(
                    "{id} in {:?}",
                    results.models.iter().map(|m| &m.id).collect::<Vec<_>>()
                )
            })
    };
    let (pruned, late, late_q) = (model("pruned"), model("late"), model("late_q"));
    let density = |m: &ModelResult| m.axis("density").expect("density is an axis");
    assert!(
        late.varies("density") && density(late) == density(pruned),
        "{} {}",
        density(late),
        density(pruned)
    );
    assert!((density(late) - 0.3).abs() < 1e-3, "{}", density(late));
    assert_eq!(late_q.varies, ["weight_bits", "act_bits"]);
    assert_eq!(
        (late_q.axis("weight_bits"), late_q.axis("act_bits")),
        (Some(6.0), Some(6.0))
    );
    for m in [late, late_q] {
        let d = m
            .defence
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no defence", m.id));
        assert!(d.detects, "{}: {d:?}", m.id);
        assert!(m.accuracy > 0.5, "{}: accuracy {}", m.id, m.accuracy);
    }
}
