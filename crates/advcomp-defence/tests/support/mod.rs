//! Shared fixtures: the CPU device, bundled MNIST, one quickly trained
//! LeNet-5 per test binary, and small helpers.
#![allow(dead_code)]

use std::sync::OnceLock;

use advcomp_data::{Dataset, DatasetKind, Split};
use advcomp_models::{Architecture, Classifier, Network};
use advcomp_train::{LrSchedule, TrainConfig, Trainer};
use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Int};

pub fn cpu() -> Device {
    advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("default CPU backend")
}

pub fn mnist() -> &'static Split {
    static SPLIT: OnceLock<Split> = OnceLock::new();
    SPLIT.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k");
        advcomp_data::load(DatasetKind::Mnist, std::path::Path::new(dir))
            .expect("bundled MNIST loads")
    })
}

/// `n` training images spread over the bundled training set.
pub fn train(n: usize) -> Dataset {
    let t = &mnist().train;
    t.select(&advcomp_train::job::spread(t.len(), n))
}

/// `n` test images spread over the bundled test set.
pub fn test(n: usize) -> Dataset {
    let t = &mnist().test;
    t.select(&advcomp_train::job::spread(t.len(), n))
}

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

/// LeNet-5 after one epoch on 2,000 digits, plain device, inference mode.
pub fn lenet() -> &'static Network {
    static NET: OnceLock<Network> = OnceLock::new();
    NET.get_or_init(|| base(7))
}

/// A LeNet-5 trained like [`lenet`] (one epoch on 2,000 digits) from its own
/// `seed` (initialisation and batch order): independently trained models,
/// as the scenario runner trains one per key.
pub fn base(seed: u64) -> Network {
    let config = TrainConfig {
        epochs: 1,
        learning_rate: 0.05,
        schedule: LrSchedule::Constant,
        seed,
        ..TrainConfig::default()
    };
    let device = cpu();
    let net = Network::new(
        Architecture::Lenet5,
        &device.clone().autodiff(),
        config.seed,
    );
    let (net, _) = Trainer::new(config)
        .unwrap()
        .fit(net, &train(2000), &device, &mut (), &mut ())
        .expect("training runs");
    net.valid()
}

/// The whole dataset as one batch.
pub fn batch(data: &Dataset) -> (Tensor<4>, Tensor<1, Int>) {
    let idx: Vec<usize> = (0..data.len()).collect();
    let device = cpu();
    (
        advcomp_train::batch::images(data, &idx, &device),
        advcomp_train::batch::labels(data, &idx, &device),
    )
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

/// Traceback accuracy of [`advcomp_defence::attribute`] and of every
/// [`alternative_rules`] on `run`, as a printable line.
pub fn compare_rules(run: &TraceRun) -> String {
    let mut line = String::new();
    let (right, n) = run.traceback(&advcomp_defence::attribute);
    line += &format!(
        "attribute (odd one out, else max confidence) {:.1}% of {n}",
        right as f64 / n.max(1) as f64 * 100.0
    );
    for (name, rule) in alternative_rules() {
        let (right, n) = run.traceback(&rule);
        line += &format!("; {name} {:.1}%", right as f64 / n.max(1) as f64 * 100.0);
    }
    line
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
/// than the same attack blind to the detector (λ = 0).
pub fn adaptive_beats_blind_attacks(
    label: &str,
    net: &Network,
    defence: &dyn advcomp_defence::Defence,
) {
    let rates = evasion_rates(
        net,
        defence,
        &test(100),
        &[
            ("ifgsm", serde_json::json!({})),
            (
                "adaptive_pgd",
                serde_json::json!({ "detector_weight": 0.0 }),
            ),
            ("adaptive_pgd", serde_json::json!({})),
        ],
    );
    eprintln!(
        "{label} white box, fooled and undetected: ifgsm {:.2}, adaptive_pgd without the penalty {:.2}, with it {:.2}",
        rates[0], rates[1], rates[2]
    );
    assert!(
        rates[2] > rates[0] && rates[2] > rates[1],
        "{label}: {rates:?}"
    );
}
