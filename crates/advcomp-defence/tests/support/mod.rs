//! The defence suites' helpers. The device, the digits and the quickly
//! trained LeNet-5s come from `advcomp-testkit`, shared with every suite.
#![allow(dead_code)]

use advcomp_data::Dataset;
use advcomp_models::{Classifier, Network};
use advcomp_train::{LrSchedule, TrainConfig, Trainer};
use burn::Tensor;

use advcomp_testkit::measured::percent;
use advcomp_testkit::{batch, cpu, test};

/// The fine-tuning trainer: one epoch at a small constant rate.
pub fn finetune(seed: u64) -> Trainer {
    Trainer::new(TrainConfig {
        epochs: 1,
        learning_rate: 0.02,
        schedule: LrSchedule::Constant,
        seed,
        ..TrainConfig::default()
    })
    .unwrap()
}

/// Accuracy of `model` on `data`.
pub fn accuracy(model: &dyn Classifier, data: &Dataset) -> f64 {
    advcomp_train::evaluate(model, data, &cpu(), 500).accuracy
}

/// Adversarial images made by the registered attack `name` on `model`.
pub fn attack(
    name: &str,
    params: serde_json::Value,
    model: &dyn Classifier,
    data: &Dataset,
) -> (Tensor<4>, Vec<bool>) {
    let (images, labels) = batch(data);
    let attack = advcomp_attack::registry::build(name, &params).expect("attack builds");
    let out = attack
        .run(model, images, labels, None, &cpu())
        .expect("attack runs");
    let success = out
        .success
        .into_data()
        .convert::<bool>()
        .try_into_vec::<bool>()
        .expect("bools");
    (out.adversarial, success)
}

/// Share of `true`.
pub fn rate(flags: &[bool]) -> f64 {
    flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64
}

/// Evidence rows of a traceback experiment: for every adversarial sample that
/// fooled its source, the source's index and every suspect's evidence.
#[derive(Debug, Default)]
pub struct TraceRun {
    /// `(source, evidence per suspect)` per successful sample.
    pub rows: Vec<(usize, Vec<advcomp_defence::Evidence>)>,
    /// Flags raised by suspects other than the source, over all samples.
    pub cross_flagged: usize,
    /// Checks by suspects other than the source, over all samples.
    pub cross_checked: usize,
    /// Flags raised by other suspects on successful samples only.
    pub cross_flagged_success: usize,
    /// Checks by other suspects on successful samples only.
    pub cross_checked_success: usize,
}

impl TraceRun {
    /// Crafts `attack` on every suspect in turn over `sources` and records
    /// every suspect's evidence.
    pub fn measure(
        models: &[(&Network, &dyn advcomp_defence::Defence)],
        name: &str,
        params: serde_json::Value,
        sources: &Dataset,
    ) -> Self {
        let mut run = TraceRun::default();
        for (src, (n, _)) in models.iter().enumerate() {
            let (adv, success) = attack(name, params.clone(), *n, sources);
            let detections: Vec<advcomp_defence::Detection> = models
                .iter()
                .map(|(m, d)| advcomp_defence::Detector::new(*d).detect(m, adv.clone()))
                .collect();
            for (k, d) in detections.iter().enumerate() {
                if k == src {
                    continue;
                }
                for (f, ok) in d.flag.iter().zip(&success) {
                    run.cross_checked += 1;
                    run.cross_flagged += usize::from(*f);
                    if *ok {
                        run.cross_checked_success += 1;
                        run.cross_flagged_success += usize::from(*f);
                    }
                }
            }
            for (i, ok) in success.iter().enumerate() {
                if *ok {
                    let ev = detections
                        .iter()
                        .map(|d| advcomp_defence::Evidence::of(d, i))
                        .collect();
                    run.rows.push((src, ev));
                }
            }
        }
        run
    }

    /// Share of other suspects' checks that flag a sample (all samples).
    pub fn cross_rate(&self) -> f64 {
        self.cross_flagged as f64 / self.cross_checked.max(1) as f64
    }

    /// Share of other suspects' checks that flag a successful sample.
    pub fn cross_rate_success(&self) -> f64 {
        self.cross_flagged_success as f64 / self.cross_checked_success.max(1) as f64
    }

    /// `(right, attributed)` under `rule` (samples it attributes to nobody
    /// are not counted).
    pub fn traceback(
        &self,
        rule: &dyn Fn(&[advcomp_defence::Evidence]) -> Option<usize>,
    ) -> (usize, usize) {
        let mut right = 0;
        let mut attributed = 0;
        for (src, ev) in &self.rows {
            if let Some(w) = rule(ev) {
                attributed += 1;
                right += usize::from(w == *src);
            }
        }
        (right, attributed)
    }

    /// Traceback accuracy under `rule` (0 when nothing is attributed).
    pub fn traceback_rate(
        &self,
        rule: &dyn Fn(&[advcomp_defence::Evidence]) -> Option<usize>,
    ) -> f64 {
        let (right, attributed) = self.traceback(rule);
        right as f64 / attributed.max(1) as f64
    }
}

/// The index of the largest `f(evidence)` among the suspects (`None` when no
/// suspect flags the sample), ties to the first.
fn argmax_by(
    evidence: &[advcomp_defence::Evidence],
    f: impl Fn(&advcomp_defence::Evidence) -> Option<f32>,
) -> Option<usize> {
    if !evidence.iter().any(|e| e.flagged) {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for (k, e) in evidence.iter().enumerate() {
        if let Some(v) = f(e)
            && best.is_none_or(|(_, b)| v > b)
        {
            best = Some((k, v));
        }
    }
    best.map(|(k, _)| k)
}

/// An attribution rule: evidence of every suspect to a verdict.
pub type Rule = Box<dyn Fn(&[advcomp_defence::Evidence]) -> Option<usize>>;

/// Attribution rules compared with [`advcomp_defence::attribute`]
/// (the chosen one) in the traceback measurements.
pub fn alternative_rules() -> Vec<(&'static str, Rule)> {
    vec![
        (
            "max confidence",
            Box::new(|ev| argmax_by(ev, |e| Some(e.confidence))),
        ),
        ("max score", Box::new(|ev| argmax_by(ev, |e| Some(e.score)))),
        (
            "max confidence among flagging",
            Box::new(|ev| argmax_by(ev, |e| e.flagged.then_some(e.confidence))),
        ),
        (
            "max score x confidence",
            Box::new(|ev| argmax_by(ev, |e| Some(e.score * e.confidence))),
        ),
        (
            "max logit(confidence) + 0.5 ln(score)",
            Box::new(|ev| {
                argmax_by(ev, |e| {
                    let c = e.confidence.clamp(1e-7, 1.0 - 1e-7);
                    Some((c / (1.0 - c)).ln() + 0.5 * e.score.max(1e-6).ln())
                })
            }),
        ),
        (
            "min score",
            Box::new(|ev| argmax_by(ev, |e| Some(-e.score))),
        ),
    ]
}

/// How the keyed models of the measurements are made, for the tables.
pub const KEYED_METHOD: &str = "Base LeNet-5s: one epoch on 2,000 bundled MNIST digits (lr 0.05, \
`advcomp_testkit::lenet_seeded`). Each defence fine-tunes its base for one epoch at lr 0.02 on the \
same 2,000 digits and learns its thresholds (bounds) on all 8,000 training digits; the unkeyed \
twin is the same fine-tuning without the penalty. Attacks use the registry's defaults \
(ε = 0.3; I-FGSM 80 steps of 1/255); detection and traceback count the samples that fooled \
their source.";

/// Crafts FGSM and I-FGSM (registry defaults) on each of `suspects` over 80
/// test digits, writes the cross-key detection and traceback table `name`
/// (the chosen rule [`advcomp_defence::attribute`] and every
/// [`alternative_rules`]), and asserts the findings `docs/defences.md`
/// states: another key flags at least 80% of the successful samples, and
/// `attribute` traces well above chance (25% for four suspects).
pub fn measure_traceback(
    name: &str,
    title: &str,
    models: &str,
    suspects: &[(&Network, &dyn advcomp_defence::Defence)],
) {
    let rules = alternative_rules();
    let mut header = vec![
        "attack",
        "successful samples",
        "flagged by another key",
        "`attribute` (odd one out, else max confidence)",
    ];
    header.extend(rules.iter().map(|(n, _)| *n));
    let mut table = advcomp_testkit::measured::Table::new(
        name,
        title,
        &format!("{models} {KEYED_METHOD} 80 test digits per source model; chance is 25%."),
        &header,
    );
    let mut failures = Vec::new();
    for attack in ["fgsm", "ifgsm"] {
        let run = TraceRun::measure(suspects, attack, serde_json::json!({}), &test(80));
        let traced = run.traceback_rate(&advcomp_defence::attribute);
        let mut row = vec![
            attack.to_string(),
            run.rows.len().to_string(),
            percent(run.cross_rate_success()),
            percent(traced),
        ];
        row.extend(
            rules
                .iter()
                .map(|(_, rule)| percent(run.traceback_rate(rule))),
        );
        table.row(row);
        // The rule trades a few points on I-FGSM for DeepFool and C&W
        // (docs/defences.md), so the floor is well above chance, not at
        // the best rule's rate.
        let floor = if attack == "fgsm" { 0.35 } else { 0.45 };
        if traced < floor {
            failures.push(format!("{attack}: traceback {traced} < {floor}"));
        }
        if run.cross_rate_success() < 0.8 {
            failures.push(format!(
                "{attack}: cross-key detection {}",
                run.cross_rate_success()
            ));
        }
    }
    table.write();
    assert!(failures.is_empty(), "{failures:?}");
}

/// For attacks made on `net` guarded by `defence` (the attacker knows the
/// key): per attack, the share of the correctly classified images of `data`
/// turned into samples that fool `net` and pass its detector. Also checks
/// the screen's contract on the adversarial images: the guarded logits are
/// the network's, and `excess > 0` exactly where the detector flags.
pub fn evasion_rates(
    net: &Network,
    defence: &dyn advcomp_defence::Defence,
    data: &Dataset,
    attacks: &[(&str, serde_json::Value)],
) -> Vec<f64> {
    let guarded = advcomp_defence::Guarded::new(net, defence);
    let (images, labels) = batch(data);
    let labels = labels.into_data().try_into_vec_as::<i64>().unwrap();
    let clean = net
        .predict(images)
        .into_data()
        .try_into_vec_as::<i64>()
        .unwrap();
    let correct: Vec<bool> = clean.iter().zip(&labels).map(|(p, l)| p == l).collect();
    attacks
        .iter()
        .map(|(name, params)| {
            let (adv, success) = attack(name, params.clone(), &guarded, data);
            let detection = advcomp_defence::Detector::new(defence).detect(net, adv.clone());
            let screened = guarded
                .screen(adv.clone(), 0.0)
                .expect("a guarded model screens");
            let excess = screened
                .excess
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap();
            for (k, (&e, &f)) in excess.iter().zip(&detection.flag).enumerate() {
                assert_eq!(e > 0.0, f, "{name}: image {k}: excess {e} against flag {f}");
            }
            let same: bool = screened.logits.equal(net.forward(adv)).all().into_scalar();
            assert!(same, "{name}: guarded logits differ from the network's");
            let evaded = (0..labels.len())
                .filter(|&k| correct[k] && success[k] && !detection.flag[k])
                .count();
            evaded as f64 / correct.iter().filter(|&&c| c).count().max(1) as f64
        })
        .collect()
}

/// On 100 test digits, the white-box attacker who knows `defence`'s key
/// (`adaptive_pgd`) gets more samples past its detector than I-FGSM and
/// than the same attack blind to the detector (λ = 0). Writes table `name`.
pub fn adaptive_beats_blind_attacks(
    name: &str,
    label: &str,
    models: &str,
    net: &Network,
    defence: &dyn advcomp_defence::Defence,
) {
    let attacks = [
        ("ifgsm", "`ifgsm` (defaults)", serde_json::json!({})),
        (
            "adaptive_pgd",
            "`adaptive_pgd` blind to the detector (`detector_weight: 0`)",
            serde_json::json!({ "detector_weight": 0.0 }),
        ),
        (
            "adaptive_pgd",
            "`adaptive_pgd` (defaults)",
            serde_json::json!({}),
        ),
    ];
    let rates = evasion_rates(
        net,
        defence,
        &test(100),
        &attacks
            .iter()
            .map(|(n, _, p)| (*n, p.clone()))
            .collect::<Vec<_>>(),
    );
    let mut table = advcomp_testkit::measured::Table::new(
        name,
        &format!("{label}: an attacker who knows the key"),
        &format!(
            "{models} {KEYED_METHOD} Attacks are made on the guarded model (`Guarded`) of the first key over 100 \
             test digits; a sample counts when it fools the network and its detector does not flag it, as a \
             share of the digits the network classifies correctly."
        ),
        &["attack", "fooled and not flagged"],
    );
    for ((_, label, _), rate) in attacks.iter().zip(&rates) {
        table.row(vec![label.to_string(), percent(*rate)]);
    }
    table.write();
    assert!(
        rates[2] > rates[0] && rates[2] > rates[1],
        "{label}: {rates:?}"
    );
}
