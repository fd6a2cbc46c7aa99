//! Traceback from cached detections: for samples made on a keyed model,
//! which key do the keyed models that checked them point to?
//!
//! The suspects of an (attack, source) pair are the source and every target
//! its samples were applied to that has a keyed detector of the same
//! defence, one per key. Each suspect's detection of every sample is
//! already cached (the source's in its attack record, the targets' in their
//! apply steps), so the verdict is [`advcomp_defence::attribute`] over those
//! rows: the same rule as the library's live `traceback`.

use advcomp_defence::{Evidence, attribute};

use crate::artifacts::{self, DetectionRecord};
use crate::cache::Cache;
use crate::error::RunError;
use crate::plan::{Plan, StepKind};
use crate::results::{ModelResult, TracebackResult, rate};

/// Traceback per (attack, keyed source), in plan order.
pub fn gather(
    plan: &Plan,
    cache: &Cache,
    models: &[ModelResult],
    test_images: usize,
) -> Result<Vec<TracebackResult>, RunError> {
    let keyed = |id: &str| {
        models
            .iter()
            .find(|m| m.id == id)
            .and_then(|m| m.defence.as_ref())
            .filter(|d| d.detects)
            .and_then(|d| Some((d.defence.clone(), d.key_id.clone()?)))
    };
    let mut out = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let StepKind::Attack {
            model: source,
            attack,
            ..
        } = &step.kind
        else {
            continue;
        };
        let Some((defence, source_key)) = keyed(source) else {
            continue;
        };
        let record = artifacts::read_attack(&cache.dir(&step.key), test_images)?;
        let n = record.rows.len();
        let Some(own) = record.detection.filter(|d| d.has_len(n)) else {
            continue;
        };
        let mut suspects: Vec<(String, String, DetectionRecord)> =
            vec![(source.clone(), source_key, own)];
        for apply in &plan.steps {
            let StepKind::Apply { model: target, .. } = &apply.kind else {
                continue;
            };
            if apply.deps[0] != i {
                continue;
            }
            let Some((d, key)) = keyed(target) else {
                continue;
            };
            if d != defence || suspects.iter().any(|(_, k, _)| *k == key) {
                continue;
            }
            let predictions = artifacts::read_predictions(&cache.dir(&apply.key), n)?;
            if let Some(det) = predictions.detection.filter(|d| d.has_len(n)) {
                suspects.push((target.clone(), key, det));
            }
        }
        if suspects.len() < 2 {
            continue;
        }
        let (mut samples, mut detected, mut traced) = (0usize, 0usize, 0usize);
        for k in 0..n {
            if !(record.metrics.success[k] && record.metrics.clean_correct[k]) {
                continue;
            }
            samples += 1;
            let evidence: Vec<Evidence> = suspects.iter().map(|(_, _, d)| d.evidence(k)).collect();
            if let Some(who) = attribute(&evidence) {
                detected += 1;
                traced += usize::from(who == 0);
            }
        }
        out.push(TracebackResult {
            attack: attack.clone(),
            source: source.clone(),
            chance: 1.0 / suspects.len() as f64,
            suspects: suspects.into_iter().map(|(id, _, _)| id).collect(),
            samples,
            detected,
            traced,
            accuracy: rate(traced, detected),
        });
    }
    Ok(out)
}
