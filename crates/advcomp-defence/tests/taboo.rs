//! Taboo Trap on real MNIST digits and a quickly trained LeNet-5: its
//! contracts (keys fix selections and bytes, bounds at the maximum never
//! flag their own data, checkpoints need the right key), and, as
//! statistical measurements that `cargo xtask measure` runs and writes to
//! `docs/measured/`, its accuracy, false positives and detection rates.

mod support;

use std::sync::OnceLock;

use advcomp_defence::{
    Defence, DefenceError, DefendedModel, Detector, Hardening, Key, TabooConfig, TabooTrap,
    recalibrate,
};
use advcomp_models::{Network, NoHook, Sidecar};
use advcomp_testkit::measured::percent;
use advcomp_testkit::*;
use burn::module::Module;
use proptest::prelude::*;
use support::*;

/// Digits used to fine-tune.
const TRAIN_N: usize = 2000;
/// Digits used to learn the bounds (the whole bundled training set).
const CALIBRATION_N: usize = 8000;

/// A Taboo-trained model for `key` (fine-tuned from the shared LeNet-5).
fn harden(key: &str) -> (Network, TabooTrap) {
    let mut trap = TabooTrap::new(Key::from_passphrase(key), TabooConfig::default(), lenet());
    let network = trap
        .harden_with(
            lenet().clone(),
            &train(TRAIN_N),
            &train(CALIBRATION_N),
            &finetune(11),
            &cpu(),
        )
        .expect("fine-tuning runs");
    (network, trap)
}

fn alpha() -> &'static (Network, TabooTrap) {
    static M: OnceLock<(Network, TabooTrap)> = OnceLock::new();
    M.get_or_init(|| harden("alpha"))
}

fn beta() -> &'static (Network, TabooTrap) {
    static M: OnceLock<(Network, TabooTrap)> = OnceLock::new();
    M.get_or_init(|| harden("beta"))
}

/// A Taboo model for "alpha" hardened on 500 digits only: for the contracts,
/// which need a keyed model, not a good one.
fn small_alpha() -> &'static (Network, TabooTrap) {
    static M: OnceLock<(Network, TabooTrap)> = OnceLock::new();
    M.get_or_init(|| {
        let mut trap = TabooTrap::new(
            Key::from_passphrase("alpha"),
            TabooConfig::default(),
            lenet(),
        );
        let network = trap
            .harden(lenet().clone(), &train(500), &finetune(3), &cpu())
            .expect("fine-tuning runs");
        (network, trap)
    })
}

/// The unkeyed twin: the same fine-tuning without the penalty.
fn twin() -> &'static Network {
    static M: OnceLock<Network> = OnceLock::new();
    M.get_or_init(|| {
        let (n, _) = finetune(11)
            .fit(lenet().clone(), &train(TRAIN_N), &cpu(), &mut (), &mut ())
            .expect("fine-tuning runs");
        n.valid()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Bounds at the 100th percentile never flag the images they were learnt from.
    #[test]
    fn bounds_at_the_maximum_never_flag_their_own_data(
        key in any::<u64>(),
        start in 0usize..7000,
        n in 1usize..48,
        per_neuron in any::<bool>(),
        unit_fraction in 0.05f64..1.0,
        slack in prop_oneof![Just(0.0), 0.0f64..0.5],
    ) {
        let all = &mnist().train;
        let idx: Vec<usize> = (start..start + n).map(|i| i % all.len()).collect();
        let data = all.select(&idx);
        let config = TabooConfig {
            candidate_layers: vec![],
            layer_probability: 0.7,
            unit_fraction,
            per_neuron,
            slack,
            ..TabooConfig::default()
        };
        let mut trap = TabooTrap::new(Key::from_seed(key), config, lenet());
        trap.calibrate(lenet(), &data, &cpu(), 100.0);
        let (images, _) = batch(&data);
        let d = Detector::new(&trap).detect(lenet(), images);
        prop_assert!(d.flag.iter().all(|f| !f), "flags {:?} scores {:?}", d.flag, d.score);
        prop_assert!(d.score.iter().all(|&s| s <= 1.0), "scores {:?}", d.score);
    }

    /// Set again on a compressed copy whose watched activations are the
    /// parent's times `scale`, the bounds are the parent's times `scale`
    /// and flag exactly the digits the parent flags.
    #[test]
    fn bounds_set_again_on_a_scaled_copy_flag_what_the_parent_flags(
        key in any::<u64>(),
        start in 0usize..7000,
        n in 20usize..64,
        shrink in 0.7f32..1.0,
        scale in 0.5f32..3.0,
    ) {
        let all = &mnist().train;
        let idx: Vec<usize> = (start..start + n).map(|i| i % all.len()).collect();
        let data = all.select(&idx);
        // Few watched columns, so that a shrink flags some digits, not all.
        let config = TabooConfig {
            per_neuron: false,
            unit_fraction: 0.1,
            ..TabooConfig::default()
        };
        let mut trap = TabooTrap::new(Key::from_seed(key), config, lenet());
        // Bounds at the maximum, shrunk so that the parent flags some.
        trap.calibrate(lenet(), &data, &cpu(), 100.0);
        trap.scale_thresholds(shrink);
        let (images, _) = batch(&data);
        let parent = Detector::new(&trap).detect(lenet(), images.clone());
        let copy = ScaleRelu(scale);
        let r = recalibrate(&mut trap, (lenet(), &NoHook), (lenet(), &copy), &data, &cpu());
        let on_copy = Detector::new(&trap).detect_hooked(lenet(), images, &copy);
        prop_assert!((r.factor / scale - 1.0).abs() < 1e-5, "{:?}", r);
        prop_assert_eq!(&on_copy.flag, &parent.flag, "{:?}", r);
        prop_assert_eq!(r.rate_after, r.parent_rate);
    }
}

#[test]
fn the_key_fixes_the_selection_and_the_bytes() {
    // Different keys: different monitored channels.
    let selections: Vec<_> = (0..8)
        .map(|s| {
            TabooTrap::new(Key::from_seed(s), TabooConfig::default(), lenet())
                .monitored()
                .clone()
        })
        .collect();
    for i in 0..selections.len() {
        for j in i + 1..selections.len() {
            assert_ne!(
                selections[i], selections[j],
                "keys {i} and {j} select the same units"
            );
        }
    }
    // Same key, same seed: byte-identical checkpoints. The first run is
    // `small_alpha`'s (the checkpoint test shares it), the second a fresh one.
    let dir = tempfile::tempdir().unwrap();
    let data = train(500);
    let fresh = {
        let mut trap = TabooTrap::new(
            Key::from_passphrase("alpha"),
            TabooConfig::default(),
            lenet(),
        );
        let network = trap
            .harden(lenet().clone(), &data, &finetune(3), &cpu())
            .unwrap();
        (network, trap)
    };
    let mut files = Vec::new();
    for (run, (network, trap)) in [small_alpha(), &fresh].into_iter().enumerate() {
        let out = dir.path().join(format!("run{run}"));
        advcomp_defence::save(network, trap, Sidecar::new(network, 3), &out).unwrap();
        files.push((
            std::fs::read(out.join("model.bpk")).unwrap(),
            std::fs::read(out.join("checkpoint.json")).unwrap(),
        ));
    }
    assert!(
        files[0] == files[1],
        "two runs with the same key and seed differ"
    );
    // Another key, same seed: different weights.
    let mut other = TabooTrap::new(
        Key::from_passphrase("beta"),
        TabooConfig::default(),
        lenet(),
    );
    let network = other
        .harden(lenet().clone(), &data, &finetune(3), &cpu())
        .unwrap();
    let out = dir.path().join("other");
    advcomp_defence::save(&network, &other, Sidecar::new(&network, 3), &out).unwrap();
    assert_ne!(std::fs::read(out.join("model.bpk")).unwrap(), files[0].0);
}

#[test]
#[ignore = "statistical measurement (minutes): cargo xtask measure"]
fn measure_taboo_clean_accuracy_and_false_positives() {
    let test_set = test(1000);
    let (net, trap) = alpha();
    let keyed = accuracy(net, &test_set);
    let unkeyed = accuracy(twin(), &test_set);
    let (images, _) = batch(&test_set);
    let fpr = Detector::new(trap).detect(net, images).flag_rate();
    let mut table = measured::Table::new(
        "taboo-clean",
        "Taboo Trap: clean accuracy and false positives",
        &format!(
            "Key \"alpha\", hardened from the shared quick LeNet-5 (seed 7). {KEYED_METHOD} \
             1,000 clean test digits."
        ),
        &[
            "keyed accuracy",
            "unkeyed twin",
            "drop (points)",
            "false positives",
        ],
    );
    table.row(vec![
        percent(keyed),
        percent(unkeyed),
        format!("{:.2}", (unkeyed - keyed) * 100.0),
        percent(fpr),
    ]);
    table.write();
    assert!(
        unkeyed - keyed <= 0.02,
        "accuracy drop {:.4}",
        unkeyed - keyed
    );
    assert!(fpr <= 0.05, "false-positive rate {fpr}");
}

#[test]
#[ignore = "statistical measurement (minutes): cargo xtask measure"]
fn measure_taboo_detects_samples_made_on_a_differently_keyed_model() {
    let test_set = test(300);
    let (net_a, trap_a) = alpha();
    let (net_b, _) = beta();
    let mut table = measured::Table::new(
        "taboo-detection",
        "Taboo Trap: samples made under another key",
        &format!(
            "Keys \"alpha\" and \"beta\", both hardened from the shared quick LeNet-5 (seed 7). \
             {KEYED_METHOD} Samples are made on key beta over 300 test digits and checked by key alpha."
        ),
        &[
            "attack",
            "success on beta",
            "flagged by alpha",
            "flagged by alpha, successful samples",
        ],
    );
    let mut failures = Vec::new();
    for name in ["fgsm", "ifgsm"] {
        // The registry defaults: ε = 0.3, the study's MNIST budget.
        let (adv, success) = attack(name, serde_json::json!({}), net_b, &test_set);
        let d = Detector::new(trap_a).detect(net_a, adv);
        let on_success: Vec<bool> = d
            .flag
            .iter()
            .zip(&success)
            .filter(|(_, s)| **s)
            .map(|(f, _)| *f)
            .collect();
        table.row(vec![
            name.to_string(),
            percent(rate(&success)),
            percent(d.flag_rate()),
            percent(rate(&on_success)),
        ]);
        if rate(&on_success) < 0.8 {
            failures.push(format!("{name}: detection {}", rate(&on_success)));
        }
    }
    table.write();
    assert!(failures.is_empty(), "{failures:?}");
}

/// An attacker who knows the key (adaptive PGD minimising the trap's hinge)
/// gets samples past the detector that a detector-blind attack of the same
/// budget mostly does not: the white-box threat model of `docs/defences.md`.
#[test]
#[ignore = "statistical measurement (minutes): cargo xtask measure"]
fn measure_taboo_adaptive_pgd_with_the_key_gets_past_the_trap() {
    let (net, trap) = alpha();
    adaptive_beats_blind_attacks(
        "taboo-adaptive",
        "Taboo Trap",
        "Key \"alpha\", hardened from the shared quick LeNet-5 (seed 7).",
        net,
        trap,
    );
}

#[test]
fn checkpoints_need_the_right_key() {
    let (net, trap) = small_alpha();
    let dir = tempfile::tempdir().unwrap();
    advcomp_defence::save(net, trap, Sidecar::new(net, 11), dir.path()).unwrap();
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("checkpoint.json")).unwrap())
            .unwrap();
    let entry = &sidecar["extra"]["defence"];
    assert_eq!(entry["defence"], "taboo");
    assert_eq!(entry["key_id"], Key::from_passphrase("alpha").id());

    let (model, _) =
        DefendedModel::load(dir.path(), &Key::from_passphrase("alpha"), &cpu()).unwrap();
    assert_eq!(model.defence.config(), trap.config());
    let (images, _) = batch(&test(64));
    assert_eq!(
        model.detect(images.clone()),
        Detector::new(trap).detect(net, images)
    );

    let err = DefendedModel::load(dir.path(), &Key::from_passphrase("beta"), &cpu()).unwrap_err();
    assert!(matches!(err, DefenceError::WrongKey { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("wrong key") && msg.contains(&Key::from_passphrase("alpha").id()),
        "{msg}"
    );

    // Checkpoints written before stop 25 name the defence `taboo_trap`.
    let path = dir.path().join("checkpoint.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("\"taboo\"").count(), 1, "{text}");
    std::fs::write(&path, text.replace("\"taboo\"", "\"taboo_trap\"")).unwrap();
    let (old, _) = DefendedModel::load(dir.path(), &Key::from_passphrase("alpha"), &cpu()).unwrap();
    assert_eq!(old.defence.config(), trap.config());
}

/// Taboo on a pruned and a quantised copy of a keyed model: the parent's
/// bounds, bounds learnt afresh, and bounds set again (the claim is in
/// [`support::recalibration_table`]).
#[test]
#[ignore = "statistical measurement (minutes): cargo xtask measure"]
fn measure_compressed_copies_taboo() {
    let (net, trap) = alpha();
    let (net_b, _) = beta();
    let (samples, _) = attack("fgsm", serde_json::json!({}), net_b, &test(300));
    let calibration = train(CALIBRATION_N);
    let percentile = trap.taboo_config().percentile;
    let fresh = |d: &mut TabooTrap, n: &Network| d.calibrate(n, &calibration, &cpu(), percentile);
    let (rows, own) = recalibration_rates(net, trap, &fresh, &calibration, &test(1000), &samples);
    recalibration_table(
        "taboo-compressed",
        "Taboo Trap on compressed copies",
        &format!(
            "Key \"alpha\", hardened from the shared quick LeNet-5 (seed 7). {KEYED_METHOD} \
             False positives on 1,000 clean test digits; samples: FGSM (ε = 0.3) made on key \
             beta over 300 test digits. Thresholds set again on the 8,000 training digits."
        ),
        &rows,
        own,
        &[],
    );
}

/// Both orders of compression and a keyed defence on one pruning: the
/// Taboo model pruned afterwards (its bounds set again on the copy), and
/// the base pruned first and hardened under its masks
/// (`advcomp_compress::finetune::train_constrained`, bounds learnt on the
/// pruned network). Stated before it was measured: hardened after pruning,
/// the model keeps exactly its density and its false positives stay within
/// 2 points of the keyed model's own, and it flags at least 90 % of the
/// other key's FGSM samples.
#[test]
#[ignore = "statistical measurement (minutes): cargo xtask measure"]
fn measure_compressed_copies_taboo_both_orders() {
    let (net, trap) = alpha();
    let (net_b, _) = beta();
    let (samples, _) = attack("fgsm", serde_json::json!({}), net_b, &test(300));
    let fresh = TabooTrap::new(
        Key::from_passphrase("alpha"),
        TabooConfig::default(),
        lenet(),
    );
    let m = both_orders(
        (net, trap),
        lenet(),
        fresh,
        &finetune(11),
        &train(TRAIN_N),
        &train(CALIBRATION_N),
        &samples,
        (
            "taboo-both-orders",
            "Taboo Trap and pruning in both orders",
            &format!(
                "Key \"alpha\". {KEYED_METHOD} Pruning: global magnitude to density 0.1, then 2 \
                 epochs of fine-tuning. Defend → compress: the keyed model pruned, its bounds set \
                 again on the copy. Compress → defend: the base pruned the same way, then hardened \
                 under its masks with the same key, trainer and data. False positives on 1,000 clean \
                 test digits; samples: FGSM (ε = 0.3) made on key beta over 300 test digits."
            ),
        ),
    );
    m.assert_compress_then_defend_holds();
}
