//! The numbers a run produced, computed from the cached artifacts. The
//! transfer metric's counting rule is [`crate::transfer`].

use std::collections::BTreeMap;

use advcomp_attack::NormStats;
use advcomp_compress::CompressionReport;
use advcomp_scenario::Resolved;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifacts::{self, StepRecord};
use crate::cache::{Cache, STEP_RECORD, read_json};
use crate::error::RunError;
use crate::execute::{find_dir, model_dir};
use crate::plan::{Plan, StepKind};
use crate::transfer::{Counts, Sample};

/// Where the numbers came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The scenario file as given.
    pub scenario: String,
    /// SHA-256 of its bytes.
    pub scenario_sha256: String,
    /// advcomp's version.
    pub advcomp_version: String,
    /// The git commit advcomp was built from.
    pub git_commit: String,
    /// The resolved backend.
    pub backend: String,
    /// The scenario seed.
    pub seed: u64,
    /// Dataset name.
    pub dataset: String,
    /// Fingerprint of the dataset files.
    pub data_fingerprint: String,
    /// Training images used.
    pub train_images: usize,
    /// Test images used.
    pub test_images: usize,
}

/// One model variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// Instance id.
    pub id: String,
    /// Declaration name.
    pub decl: String,
    /// Sweep values that picked this instance.
    pub sweep: BTreeMap<String, Value>,
    /// Clean test accuracy on the scenario's test subset.
    pub accuracy: f64,
    /// Every axis the linked compressors declare, measured on this model
    /// (`density`, `weight_bits`, `act_bits`, a plugin's own; the
    /// uncompressed value where nothing compressed it): see
    /// [`advcomp_compress::axis`].
    pub axes: BTreeMap<String, f64>,
    /// The axes its compression steps vary (empty: not compressed).
    /// Quantisation alone can zero weights too, so a density below 1 does
    /// not say that a model was pruned; this does.
    pub varies: Vec<String>,
    /// Its defence (own or inherited from a defended ancestor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defence: Option<ModelDefence>,
}

impl ModelResult {
    /// Its value on the axis `name` (`None`: no linked compressor declares
    /// that axis).
    pub fn axis(&self, name: &str) -> Option<f64> {
        self.axes.get(name).copied()
    }

    /// Whether its compression varies the axis `name`.
    pub fn varies(&self, name: &str) -> bool {
        self.varies.iter().any(|v| v == name)
    }

    /// Whether nothing compressed it.
    pub fn uncompressed(&self) -> bool {
        self.varies.is_empty()
    }
}

/// A model's defence and what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDefence {
    /// Canonical defence name.
    pub defence: String,
    /// The key's public id (keyed defences).
    pub key_id: Option<String>,
    /// Whether it has a run-time detector.
    pub detects: bool,
    /// The model it was applied to (this model, or a defended ancestor
    /// whose detector this compressed variant keeps).
    pub applied_to: String,
    /// Share of the clean test images the detector flags.
    pub false_positive_rate: Option<f64>,
    /// Clean accuracy of the unkeyed twin (the same fine-tune without the
    /// defence); only for the model the defence was applied to.
    pub twin_accuracy: Option<f64>,
    /// `twin_accuracy − accuracy`, in points of accuracy (0–1 scale).
    pub accuracy_cost: Option<f64>,
}

/// One attack on one model (white box).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhiteBox {
    /// Attack instance id.
    pub attack: String,
    /// The target rule of a targeted attack (`success_rate` then counts
    /// the images that reached their target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Model attacked.
    pub model: String,
    /// Images attacked.
    pub images: usize,
    /// Success rate over the images the model classified correctly.
    pub success_rate: f64,
    /// The model's accuracy on the adversarial images.
    pub accuracy_under_attack: f64,
    /// L0 of successful perturbations.
    pub l0: NormStats,
    /// L2 of successful perturbations.
    pub l2: NormStats,
    /// L∞ of successful perturbations.
    pub linf: NormStats,
    /// Gradient evaluations per image.
    pub gradients_per_image: f64,
    /// Model queries per image (forward passes, gradient ones included;
    /// what a label-only attacker's budget counts).
    #[serde(default)]
    pub queries_per_image: f64,
    /// Share of the successful samples the model's own detector flags
    /// (defended models; only adaptive attacks such as `adaptive_pgd` know
    /// the detector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_rate: Option<f64>,
    /// Share of the images the model classified correctly that the attack
    /// turned into successful samples its own detector does not flag
    /// (defended models): what gets past the defence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evasion_rate: Option<f64>,
}

/// One (attack, source, target) cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferResult {
    /// Attack instance id.
    pub attack: String,
    /// Model the samples were made on.
    pub source: String,
    /// Model they were applied to.
    pub target: String,
    /// Samples eligible for the transfer metric.
    pub eligible: usize,
    /// Of those, how many the target misclassifies.
    pub transferred: usize,
    /// `transferred / eligible` (`None` when nothing is eligible).
    pub transfer_rate: Option<f64>,
    /// The target's accuracy on the whole adversarial set.
    pub target_accuracy: f64,
    /// Of the eligible samples, how many the target's detector flags
    /// (defended targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected: Option<usize>,
    /// `detected / eligible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_rate: Option<f64>,
    /// Of the eligible samples, how many fool the target and pass its
    /// detector: what still transfers when the target is defended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaded: Option<usize>,
    /// `evaded / eligible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evasion_rate: Option<f64>,
    /// Targeted attacks: of the eligible samples (which reached their
    /// target on the source), how many the target model also classifies
    /// as that same target class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeted_transferred: Option<usize>,
    /// `targeted_transferred / eligible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeted_transfer_rate: Option<f64>,
}

/// Transfer pooled over the (source, target) pairs of one kind, per attack:
/// the "with and without keys" comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyedSummary {
    /// Attack instance id.
    pub attack: String,
    /// `unkeyed` (neither model is defended), `different keys (D)`,
    /// `same key (D)` (e.g. a compressed variant of the source; D the
    /// defence of both), `to a model trained with (D)` (a target defended
    /// without a detector, e.g. adversarial training), `to a model guarded
    /// by (D)` (a target behind an unkeyed input detector, e.g. feature
    /// squeezing), `ensemble of other keys (D)` or `mixed`.
    pub pairs_kind: String,
    /// Pairs pooled.
    pub pairs: usize,
    /// Eligible samples over those pairs.
    pub eligible: usize,
    /// Of those, fooling the target.
    pub transferred: usize,
    /// `transferred / eligible`.
    pub transfer_rate: Option<f64>,
    /// Of those, flagged by the target (`None` without detectors).
    pub detection_rate: Option<f64>,
    /// Of those, fooling the target unflagged (`None` without detectors).
    pub evasion_rate: Option<f64>,
}

/// Which key an attack's samples came from, judged by every keyed model
/// that checked them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracebackResult {
    /// Attack instance id.
    pub attack: String,
    /// The model the samples were made on.
    pub source: String,
    /// The suspects, one per key (the source first).
    pub suspects: Vec<String>,
    /// Samples that fool the source (made from images it classifies
    /// correctly).
    pub samples: usize,
    /// Of those, flagged by at least one suspect.
    pub detected: usize,
    /// Of those, attributed to the source's key.
    pub traced: usize,
    /// `traced / detected`.
    pub accuracy: Option<f64>,
    /// What guessing achieves: `1 / suspects`.
    pub chance: f64,
}

/// Timing of one step (as computed, not as read from the cache).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Step label.
    pub step: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Where the numbers came from.
    pub provenance: Provenance,
    /// Every model variant used.
    pub models: Vec<ModelResult>,
    /// Every attack on every source model.
    pub whitebox: Vec<WhiteBox>,
    /// Every transfer cell.
    pub transfers: Vec<TransferResult>,
    /// Transfer pooled by kind of pair (keyed or not), per attack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyed: Vec<KeyedSummary>,
    /// Traceback per (attack, keyed source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traceback: Vec<TracebackResult>,
    /// The scenario's `expect` claims, judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<crate::claims::ClaimResult>,
    /// Per-step wall time when computed.
    pub timings: Vec<Timing>,
}

/// Gathers the results of a finished plan.
pub fn gather(
    resolved: &Resolved,
    plan: &Plan,
    cache: &Cache,
    provenance: Provenance,
    labels: &[u8],
) -> Result<Results, RunError> {
    let mut models = Vec::new();
    for m in &resolved.models {
        let Some(dir) = model_dir(plan, cache, &m.id) else {
            continue;
        };
        let eval = find_dir(
            plan,
            cache,
            |k| matches!(k, StepKind::Evaluate { model } if *model == m.id),
        )
        .expect("every model is evaluated");
        let predictions = artifacts::read_predictions(&eval, labels.len())?;
        let report_path = dir.join(crate::execute::REPORT);
        let report: Option<CompressionReport> = if report_path.is_file() {
            Some(read_json(&report_path)?)
        } else {
            None
        };
        let measured = advcomp_compress::axis::measure(report.as_ref());
        models.push(ModelResult {
            id: m.id.clone(),
            decl: m.decl.clone(),
            sweep: m.sweep.clone(),
            accuracy: predictions.accuracy,
            axes: measured.values,
            varies: measured.varies,
            defence: model_defence(
                plan,
                cache,
                &m.id,
                predictions.detection.as_ref(),
                predictions.accuracy,
            )?,
        });
    }

    let mut whitebox = Vec::new();
    let mut transfers = Vec::new();
    for step in &plan.steps {
        let StepKind::Attack {
            model,
            attack,
            target,
            ..
        } = &step.kind
        else {
            continue;
        };
        let record = artifacts::read_attack(&cache.dir(&step.key), labels.len())?;
        let s = &record.summary;
        whitebox.push(WhiteBox {
            attack: attack.clone(),
            target: target.clone(),
            model: model.clone(),
            images: s.samples,
            success_rate: s.success_rate_on_correct.unwrap_or(0.0),
            accuracy_under_attack: s.accuracy_under_attack,
            l0: s.l0,
            l2: s.l2,
            linf: s.linf,
            gradients_per_image: s.gradient_evaluations_per_sample,
            queries_per_image: s.model_queries_per_sample,
            detection_rate: own_detection(&record)
                .and_then(|(_, hits, flagged)| rate(flagged, hits)),
            evasion_rate: own_detection(&record)
                .and_then(|(correct, hits, flagged)| rate(hits - flagged, correct)),
        });
    }
    for step in &plan.steps {
        let StepKind::Apply {
            model: target,
            attack,
            source,
        } = &step.kind
        else {
            continue;
        };
        let attack_dir = cache.dir(&plan.steps[step.deps[0]].key);
        // Checked on read: sizes match the attack and the test images.
        let record = artifacts::read_attack(&attack_dir, labels.len())?;
        let on_target = artifacts::read_predictions(&cache.dir(&step.key), record.rows.len())?;
        let clean_target =
            artifacts::read_predictions(&cache.dir(&plan.steps[step.deps[2]].key), labels.len())?;
        let targets = &record.metrics.targets;
        let targeted = targets.len() == record.rows.len() && !targets.is_empty();
        let detection = on_target.detection.as_ref();
        let c = Counts::of(record.rows.iter().enumerate().map(|(k, &row)| Sample {
            label: labels[row],
            source_clean_correct: record.metrics.clean_correct[k],
            target_clean: clean_target.predicted[row],
            fooled_source: record.metrics.success[k],
            target_adversarial: on_target.predicted[k],
            flagged: detection.map(|d| d.flag[k]),
            aimed_at: targeted.then(|| targets[k]),
        }));
        let defended = detection.is_some();
        transfers.push(TransferResult {
            attack: attack.clone(),
            source: source.clone(),
            target: target.clone(),
            eligible: c.eligible,
            transferred: c.transferred,
            transfer_rate: rate(c.transferred, c.eligible),
            target_accuracy: on_target.accuracy,
            detected: defended.then_some(c.detected),
            detection_rate: defended.then(|| rate(c.detected, c.eligible)).flatten(),
            evaded: defended.then_some(c.evaded),
            evasion_rate: defended.then(|| rate(c.evaded, c.eligible)).flatten(),
            targeted_transferred: targeted.then_some(c.reached),
            targeted_transfer_rate: targeted.then(|| rate(c.reached, c.eligible)).flatten(),
        });
    }
    let mut timings = Vec::new();
    for step in &plan.steps {
        let r: StepRecord = read_json(&cache.dir(&step.key).join(STEP_RECORD))?;
        timings.push(Timing {
            step: step.label.clone(),
            seconds: r.seconds,
        });
    }
    let ensembles: BTreeMap<&str, &[String]> = resolved
        .models
        .iter()
        .filter_map(|m| match &m.origin {
            advcomp_scenario::Origin::Ensemble { members } => {
                Some((m.id.as_str(), members.as_slice()))
            }
            _ => None,
        })
        .collect();
    let keyed = keyed_summary(&models, &ensembles, &transfers);
    let traceback = crate::traceback::gather(plan, cache, &models, labels.len())?;
    let mut results = Results {
        provenance,
        models,
        whitebox,
        transfers,
        keyed,
        traceback,
        claims: Vec::new(),
        timings,
    };
    results.claims = crate::claims::judge(&resolved.claims, &results);
    Ok(results)
}

/// For a defended model's own attack record: the images it classified
/// correctly, the successful samples among them, and how many of those its
/// detector flags; `None` without a detection record of the right length.
fn own_detection(record: &artifacts::AttackRecord) -> Option<(usize, usize, usize)> {
    let d = record.detection.as_ref()?;
    let n = record.rows.len();
    if !d.has_len(n) {
        return None;
    }
    let m = &record.metrics;
    let correct = (0..n).filter(|&k| m.clean_correct[k]).count();
    let hits: Vec<usize> = (0..n)
        .filter(|&k| m.success[k] && m.clean_correct[k])
        .collect();
    let flagged = hits.iter().filter(|&&k| d.flag[k]).count();
    Some((correct, hits.len(), flagged))
}

/// `part / whole`, or `None` when `whole` is 0.
pub fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The defence of model `id`: the nearest `defend` step in its lineage.
fn model_defence(
    plan: &Plan,
    cache: &Cache,
    id: &str,
    clean: Option<&artifacts::DetectionRecord>,
    accuracy: f64,
) -> Result<Option<ModelDefence>, RunError> {
    let Some(mut at) = plan.steps.iter().rposition(|s| {
        matches!(&s.kind, StepKind::Train { model, .. } | StepKind::Compress { model, .. } | StepKind::Defend { model, .. } if model == id)
    }) else {
        return Ok(None);
    };
    loop {
        let step = &plan.steps[at];
        match &step.kind {
            StepKind::Defend { model, .. } => {
                let record: artifacts::DefenceRecord =
                    read_json(&cache.dir(&step.key).join(artifacts::DEFENCE))?;
                let own = model == id;
                let false_positive_rate =
                    clean.and_then(|d| rate(d.flag.iter().filter(|&&f| f).count(), d.flag.len()));
                return Ok(Some(ModelDefence {
                    defence: record.defence,
                    key_id: record.key_id,
                    detects: record.detects,
                    applied_to: model.clone(),
                    false_positive_rate,
                    twin_accuracy: own.then_some(record.twin_accuracy),
                    accuracy_cost: own.then_some(record.twin_accuracy - accuracy),
                }));
            }
            StepKind::Compress { .. } => at = step.deps[0],
            _ => return Ok(None),
        }
    }
}

/// `d` when it is a keyed defence with a detector.
fn keyed(d: Option<&ModelDefence>) -> Option<&ModelDefence> {
    d.filter(|d| d.detects && d.key_id.is_some())
}

/// The kind of a (source, target) pair for the keyed comparison: its rank
/// in [`KINDS`] and, for defended pairs, the defence.
fn pair_kind(source: Option<&ModelDefence>, target: Option<&ModelDefence>) -> (usize, String) {
    match (keyed(source), keyed(target)) {
        (None, None) => match target {
            // An input detector without a key (a plugin such as feature
            // squeezing) guards the target; nothing about it was trained.
            Some(t) if t.detects => (6, t.defence.clone()),
            // Adversarial training and the like: a defended target without
            // a detector is its own comparison, not the unkeyed baseline.
            Some(t) => (3, t.defence.clone()),
            None => (0, String::new()),
        },
        (Some(a), Some(b)) if a.defence == b.defence => {
            let rank = if a.key_id == b.key_id { 2 } else { 1 };
            (rank, a.defence.clone())
        }
        _ => (4, String::new()),
    }
}

/// The kind of a pair whose source is an ensemble of `members`: "ensemble
/// of other keys (D)" when every member is keyed by the target's defence D
/// under a key other than the target's (an attacker who knows the method
/// but not the key), otherwise mixed.
fn ensemble_kind(
    members: &[Option<&ModelDefence>],
    target: Option<&ModelDefence>,
) -> (usize, String) {
    match keyed(target) {
        Some(t)
            if members.iter().all(|m| {
                keyed(*m).is_some_and(|m| m.defence == t.defence && m.key_id != t.key_id)
            }) =>
        {
            (5, t.defence.clone())
        }
        _ => (4, String::new()),
    }
}

fn keyed_summary(
    models: &[ModelResult],
    ensembles: &BTreeMap<&str, &[String]>,
    transfers: &[TransferResult],
) -> Vec<KeyedSummary> {
    if !models.iter().any(|m| m.defence.is_some()) {
        return Vec::new();
    }
    let defence = |id: &str| {
        models
            .iter()
            .find(|m| m.id == id)
            .and_then(|m| m.defence.as_ref())
    };
    // (attack, kind) -> (pairs, eligible, transferred, checked, detected, evaded)
    let mut pooled: BTreeMap<(String, (usize, String)), [usize; 6]> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for t in transfers {
        if !order.contains(&t.attack) {
            order.push(t.attack.clone());
        }
        let kind = match ensembles.get(t.source.as_str()) {
            Some(members) => {
                let members: Vec<_> = members.iter().map(|m| defence(m)).collect();
                ensemble_kind(&members, defence(&t.target))
            }
            None => pair_kind(defence(&t.source), defence(&t.target)),
        };
        let c = pooled.entry((t.attack.clone(), kind)).or_default();
        c[0] += 1;
        c[1] += t.eligible;
        c[2] += t.transferred;
        if let (Some(d), Some(e)) = (t.detected, t.evaded) {
            c[3] += t.eligible;
            c[4] += d;
            c[5] += e;
        }
    }
    let mut out = Vec::new();
    for attack in order {
        for ((a, (rank, defence)), c) in &pooled {
            if *a != attack {
                continue;
            }
            let name = match defence.as_str() {
                "" => KINDS[*rank].to_string(),
                d => format!("{} ({d})", KINDS[*rank]),
            };
            out.push(KeyedSummary {
                attack: attack.clone(),
                pairs_kind: name,
                pairs: c[0],
                eligible: c[1],
                transferred: c[2],
                transfer_rate: rate(c[2], c[1]),
                detection_rate: rate(c[4], c[3]),
                evasion_rate: rate(c[5], c[3]),
            });
        }
    }
    out
}

const KINDS: [&str; 7] = [
    "unkeyed",
    "different keys",
    "same key",
    "to a model trained with",
    "mixed",
    "ensemble of other keys",
    "to a model guarded by",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed_by(defence: &str, key: &str) -> ModelDefence {
        ModelDefence {
            defence: defence.into(),
            key_id: Some(key.into()),
            detects: true,
            applied_to: String::new(),
            false_positive_rate: None,
            twin_accuracy: None,
            accuracy_cost: None,
        }
    }

    #[test]
    fn an_ensemble_of_other_keys_of_the_targets_defence_is_its_own_kind() {
        let (a, b, c) = (
            keyed_by("taboo", "a"),
            keyed_by("taboo", "b"),
            keyed_by("taboo", "c"),
        );
        let other = keyed_by("sitatapatra", "b");
        let kind = |members: &[Option<&ModelDefence>], target| {
            let (rank, defence) = ensemble_kind(members, target);
            format!("{} {defence}", KINDS[rank]).trim().to_string()
        };
        assert_eq!(
            kind(&[Some(&a), Some(&b)], Some(&c)),
            "ensemble of other keys taboo"
        );
        // The target's own key among the members, an unkeyed member, a
        // member of another defence, an unkeyed target: mixed.
        assert_eq!(kind(&[Some(&a), Some(&c)], Some(&c)), "mixed");
        assert_eq!(kind(&[Some(&a), None], Some(&c)), "mixed");
        assert_eq!(kind(&[Some(&a), Some(&other)], Some(&c)), "mixed");
        assert_eq!(kind(&[Some(&a), Some(&b)], None), "mixed");
    }

    #[test]
    fn a_target_behind_an_unkeyed_detector_is_guarded_not_trained() {
        let kind = |source: Option<&ModelDefence>, target| {
            let (rank, defence) = pair_kind(source, target);
            format!("{} {defence}", KINDS[rank]).trim().to_string()
        };
        let squeeze = ModelDefence {
            key_id: None,
            ..keyed_by("squeeze", "")
        };
        let adversarial = ModelDefence {
            key_id: None,
            detects: false,
            ..keyed_by("adversarial", "")
        };
        let taboo = keyed_by("taboo", "a");
        assert_eq!(kind(None, Some(&squeeze)), "to a model guarded by squeeze");
        assert_eq!(
            kind(Some(&squeeze), Some(&squeeze)),
            "to a model guarded by squeeze"
        );
        assert_eq!(
            kind(None, Some(&adversarial)),
            "to a model trained with adversarial"
        );
        assert_eq!(kind(Some(&squeeze), None), "unkeyed");
        assert_eq!(kind(Some(&taboo), Some(&squeeze)), "mixed");
        assert_eq!(kind(Some(&taboo), Some(&taboo)), "same key taboo");
    }
}
