//! The numbers a run produced, computed from the cached artifacts.
//!
//! The transfer metric (defined in `docs/metrics.md`): for an attack, a
//! source S and a target T, among the attacked test samples that S and T
//! both classify correctly when clean and on which the attack succeeds
//! against S, the fraction that T misclassifies.

use std::collections::BTreeMap;

use advcomp_attack::NormStats;
use advcomp_compress::{CompressionReport, Step as CompressStep};
use advcomp_scenario::Resolved;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifacts::{self, StepRecord};
use crate::cache::{Cache, STEP_RECORD, read_json};
use crate::error::RunError;
use crate::execute::{find_dir, model_dir};
use crate::plan::{Plan, StepKind};

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
    /// Overall weight density (1 for an unpruned model).
    pub density: f64,
    /// Weight bitwidth (32: float).
    pub weight_bits: u8,
    /// Activation bitwidth (32: float).
    pub act_bits: u8,
    /// Whether a pruning step made it (quantisation alone can zero weights
    /// too, so `density < 1` does not say).
    pub pruned: bool,
    /// Whether a quantisation step made it.
    pub quantised: bool,
}

/// One attack on one model (white box).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhiteBox {
    /// Attack instance id.
    pub attack: String,
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
        let predictions = artifacts::read_predictions(&eval)?;
        let report_path = dir.join("report.json");
        let (density, weight_bits, act_bits, pruned, quantised) = if report_path.is_file() {
            let r: CompressionReport = read_json(&report_path)?;
            let wbits = r.layers.iter().map(|l| l.weight_bits).max().unwrap_or(32);
            let abits = r.layers.iter().map(|l| l.act_bits).min().unwrap_or(32);
            let has = |f: fn(&CompressStep) -> bool| r.steps.iter().any(f);
            (
                r.density,
                wbits,
                abits,
                has(|s| matches!(s, CompressStep::Prune(_))),
                has(|s| matches!(s, CompressStep::Quantise(_))),
            )
        } else {
            (1.0, 32, 32, false, false)
        };
        models.push(ModelResult {
            id: m.id.clone(),
            decl: m.decl.clone(),
            sweep: m.sweep.clone(),
            accuracy: predictions.accuracy,
            density,
            weight_bits,
            act_bits,
            pruned,
            quantised,
        });
    }

    let mut whitebox = Vec::new();
    let mut transfers = Vec::new();
    for step in &plan.steps {
        let StepKind::Attack { model, attack, .. } = &step.kind else {
            continue;
        };
        let record = artifacts::read_attack(&cache.dir(&step.key))?;
        let s = &record.summary;
        whitebox.push(WhiteBox {
            attack: attack.clone(),
            model: model.clone(),
            images: s.samples,
            success_rate: s.success_rate_on_correct.unwrap_or(0.0),
            accuracy_under_attack: s.accuracy_under_attack,
            l0: s.l0,
            l2: s.l2,
            linf: s.linf,
            gradients_per_image: s.gradient_evaluations_per_sample,
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
        let record = artifacts::read_attack(&attack_dir)?;
        let on_target = artifacts::read_predictions(&cache.dir(&step.key))?;
        let clean_target = artifacts::read_predictions(&cache.dir(&plan.steps[step.deps[2]].key))?;
        // A hand-edited or foreign cache entry must be an error, not an
        // index panic below.
        let n = record.rows.len();
        let consistent = record.metrics.clean_correct.len() == n
            && record.metrics.success.len() == n
            && on_target.predicted.len() == n
            && clean_target.predicted.len() == labels.len()
            && record.rows.iter().all(|&r| r < labels.len());
        if !consistent {
            return Err(RunError::Corrupt {
                path: cache.dir(&step.key).join(artifacts::PREDICTIONS),
                message: format!(
                    "its sizes do not match the attack in {} and the {} test images",
                    attack_dir.display(),
                    labels.len()
                ),
            });
        }
        let (mut eligible, mut transferred) = (0usize, 0usize);
        for (k, &row) in record.rows.iter().enumerate() {
            let y = labels[row];
            let ok = record.metrics.clean_correct[k]
                && clean_target.predicted[row] == y
                && record.metrics.success[k];
            if ok {
                eligible += 1;
                if on_target.predicted[k] != y {
                    transferred += 1;
                }
            }
        }
        transfers.push(TransferResult {
            attack: attack.clone(),
            source: source.clone(),
            target: target.clone(),
            eligible,
            transferred,
            transfer_rate: (eligible > 0).then(|| transferred as f64 / eligible as f64),
            target_accuracy: on_target.accuracy,
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
    Ok(Results {
        provenance,
        models,
        whitebox,
        transfers,
        timings,
    })
}
