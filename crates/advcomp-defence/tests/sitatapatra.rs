//! Sitatapatra-style keyed guards and traceback on real MNIST digits: four
//! keyed LeNet-5s, each trained independently from its own seed and then
//! hardened with its own key (as the scenario runner trains one model per
//! key).

mod support;

use std::sync::OnceLock;

use advcomp_defence::{Defence, Detector, Key, Sitatapatra, SitatapatraConfig, attribute};
use advcomp_models::{Network, Sidecar};
use burn::module::Module;
use support::*;

const KEYS: [&str; 4] = ["north", "east", "south", "west"];
/// Digits used to fine-tune.
const TRAIN_N: usize = 2000;
/// Digits used to learn the thresholds (the whole bundled training set).
const CALIBRATION_N: usize = 8000;

/// The independently trained base of key `k`.
fn bases() -> &'static Vec<Network> {
    static B: OnceLock<Vec<Network>> = OnceLock::new();
    B.get_or_init(|| (0..KEYS.len()).map(|k| base(101 + k as u64)).collect())
}

/// Four keyed models, each hardened from its own base.
fn models() -> &'static Vec<(Network, Sitatapatra)> {
    static M: OnceLock<Vec<(Network, Sitatapatra)>> = OnceLock::new();
    M.get_or_init(|| {
        KEYS.iter()
            .zip(bases())
            .enumerate()
            .map(|(k, (key, base))| {
                let mut s = Sitatapatra::new(
                    Key::from_passphrase(key),
                    SitatapatraConfig::default(),
                    base,
                );
                let n = s
                    .harden_with(
                        base.clone(),
                        &train(TRAIN_N),
                        &train(CALIBRATION_N),
                        &finetune(11 + k as u64),
                        &cpu(),
                    )
                    .expect("fine-tuning runs");
                (n, s)
            })
            .collect()
    })
}

#[test]
fn the_key_fixes_the_guards_and_the_bytes() {
    let a = Sitatapatra::new(Key::from_seed(1), SitatapatraConfig::default(), lenet());
    let b = Sitatapatra::new(Key::from_seed(2), SitatapatraConfig::default(), lenet());
    let a2 = Sitatapatra::new(Key::from_seed(1), SitatapatraConfig::default(), lenet());
    assert_eq!(a.guard_weights(), a2.guard_weights());
    assert_ne!(a.guard_weights(), b.guard_weights());
    // Same key, same seed: byte-identical checkpoints; another key differs.
    let dir = tempfile::tempdir().unwrap();
    let data = train(300);
    let files: Vec<(Vec<u8>, Vec<u8>)> = ["alpha", "alpha", "beta"]
        .iter()
        .enumerate()
        .map(|(run, key)| {
            let mut s = Sitatapatra::new(
                Key::from_passphrase(key),
                SitatapatraConfig::default(),
                lenet(),
            );
            let network = s
                .harden(lenet().clone(), &data, &finetune(3), &cpu())
                .unwrap();
            let out = dir.path().join(format!("run{run}"));
            advcomp_defence::save(&network, &s, Sidecar::new(&network, 3), &out).unwrap();
            (
                std::fs::read(out.join("model.bpk")).unwrap(),
                std::fs::read(out.join("checkpoint.json")).unwrap(),
            )
        })
        .collect();
    assert!(
        files[0] == files[1],
        "two runs with the same key and seed differ"
    );
    assert_ne!(files[0].0, files[2].0);
}

#[test]
fn partial_configs_deserialize() {
    let c: SitatapatraConfig = serde_json::from_value(serde_json::json!({"guards": 4})).unwrap();
    assert_eq!(c.guards, 4);
    assert_eq!(c.density, SitatapatraConfig::default().density);
}

#[test]
fn clean_accuracy_and_false_positives() {
    let test_set = test(1000);
    let (images, _) = batch(&test_set);
    for (k, (n, s)) in models().iter().enumerate() {
        // The unkeyed twin: the same base and fine-tuning without the penalty.
        let (twin, _) = finetune(11 + k as u64)
            .fit(
                bases()[k].clone(),
                &train(TRAIN_N),
                &cpu(),
                &mut (),
                &mut (),
            )
            .expect("fine-tuning runs");
        let twin = twin.valid();
        let keyed = accuracy(n, &test_set);
        let unkeyed = accuracy(&twin, &test_set);
        let fpr = Detector::new(s).detect(n, images.clone()).flag_rate();
        eprintln!(
            "sitatapatra: key {} ({}) guards {:?}: clean accuracy keyed {keyed:.4} vs unkeyed twin \
             {unkeyed:.4} (drop {:.2} points); false positives on {} clean test digits {:.2}%",
            KEYS[k],
            s.key_id(),
            s.layers(),
            (unkeyed - keyed) * 100.0,
            test_set.len(),
            fpr * 100.0
        );
        assert!(
            unkeyed - keyed <= 0.01,
            "key {}: accuracy drop {:.4}",
            KEYS[k],
            unkeyed - keyed
        );
        assert!(fpr <= 0.05, "key {}: false-positive rate {fpr}", KEYS[k]);
    }
}

#[test]
fn guards_detect_transferred_samples_and_trace_them_back() {
    let suspects: Vec<(&Network, &dyn Defence)> = models()
        .iter()
        .map(|(n, s)| (n, s as &dyn Defence))
        .collect();
    for name in ["fgsm", "ifgsm"] {
        // Registry defaults: ε = 0.3 (I-FGSM: 80 steps of 1/255).
        let run = TraceRun::measure(&suspects, name, serde_json::json!({}), &test(80));
        let detected = run.cross_rate_success();
        let traced = run.traceback_rate(&attribute);
        eprintln!(
            "sitatapatra: {name} (eps 0.3): {} successful samples; flagged by another key {:.1}%; \
             traceback over {} keys (chance 25%): {}",
            run.rows.len(),
            detected * 100.0,
            KEYS.len(),
            compare_rules(&run)
        );
        assert!(detected >= 0.8, "{name}: cross-key detection {detected}");
        // Well above chance (25%) on 80 images per source; the rule trades
        // a few points on I-FGSM for DeepFool and C&W (docs/defences.md).
        let floor = if name == "fgsm" { 0.35 } else { 0.45 };
        assert!(traced >= floor, "{name}: traceback {traced}");
    }
}

/// An attacker who knows the key (adaptive PGD minimising the guards'
/// hinge) gets samples past the checksums that a detector-blind attack of
/// the same budget mostly does not.
#[test]
fn adaptive_pgd_with_the_key_gets_past_the_guards() {
    let (net, guards) = &models()[0];
    adaptive_beats_blind_attacks("sitatapatra", net, guards);
}

#[test]
fn checkpoints_round_trip_with_the_key() {
    let (n, s) = &models()[0];
    let dir = tempfile::tempdir().unwrap();
    advcomp_defence::save(n, s, Sidecar::new(n, 11), dir.path()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("checkpoint.json")).unwrap();
    assert!(text.contains("\"sitatapatra\"") && text.contains(&s.key_id()));
    let (loaded, _) =
        advcomp_defence::DefendedModel::load(dir.path(), &Key::from_passphrase(KEYS[0]), &cpu())
            .unwrap();
    let (images, _) = batch(&test(64));
    assert_eq!(
        loaded.detect(images.clone()),
        Detector::new(s).detect(n, images)
    );
    let err =
        advcomp_defence::DefendedModel::load(dir.path(), &Key::from_passphrase(KEYS[1]), &cpu())
            .unwrap_err();
    assert!(
        matches!(err, advcomp_defence::DefenceError::WrongKey { .. }),
        "{err}"
    );
}
