//! The deployed-model stack: a network with its compression (masks
//! baked in, fake-quant as a hook) and its run-time detectors (a keyed
//! defence, a plugin input detector, or both), as every step that reads a
//! model sees it; and [`redeploy`], which puts a parent's detectors back on
//! a compressed copy with their thresholds learnt again on it.

use std::path::Path;

use advcomp_compress::CompressedModel;
use advcomp_data::Dataset;
use advcomp_defence::{CalibratedDetector, Defence, Detection, Detector, Guarded, Key};
use advcomp_models::{Classifier, Ensemble, checkpoint::Sidecar};
use burn::tensor::Device;

use crate::artifacts::DetectionRecord;
use crate::cache::Cache;
use crate::error::RunError;
use crate::plan::{Plan, PlanStep, StepKind};

/// Images per detection batch.
const EVAL_BATCH: usize = 500;

/// The sidecar `extra` key under which [`redeploy`] records what setting a
/// keyed defence's thresholds again on a compressed copy did.
pub const RECALIBRATION: &str = "recalibration";

/// A model as the steps use it: the deployed network (with its
/// compression) and, for a defended one, its keyed defence's detector, its
/// plugin input detector, or both.
pub(crate) struct Loaded {
    model: CompressedModel,
    defence: Option<Box<dyn Defence>>,
    detector: Option<CalibratedDetector>,
}

impl Loaded {
    /// The model as attacks see it: with a defence, a [`Guarded`] model
    /// whose logits are the deployed network's and whose detector adaptive
    /// attacks can differentiate ([`Classifier::screen`]); others ignore it.
    pub(crate) fn classifier(&self) -> Box<dyn Classifier + '_> {
        match self.defence.as_deref() {
            Some(defence) => {
                let guarded = Guarded::new(&self.model.network, defence);
                let hook = self.model.hook();
                Box::new(if hook.is_identity() {
                    guarded
                } else {
                    guarded.with_hook(hook)
                })
            }
            None => Box::new(&self.model),
        }
    }

    /// Whether the model has a run-time detector.
    pub(crate) fn detects(&self) -> bool {
        self.defence.is_some() || self.detector.is_some()
    }

    /// Runs the detectors over `images` (`[n, c, h, w]` host values) in
    /// batches; `None` for a model without one. With both a keyed defence
    /// and an input detector, a sample is flagged when either flags it and
    /// its score is the larger of the two.
    pub(crate) fn detect(
        &self,
        images: &[f32],
        dims: [usize; 4],
        device: &Device,
    ) -> Option<DetectionRecord> {
        if !self.detects() {
            return None;
        }
        let keyed = self.defence.as_deref().map(Detector::new);
        let per: usize = dims[1..].iter().product();
        let mut out = DetectionRecord::default();
        for chunk in images.chunks(EVAL_BATCH * per) {
            let x = burn::Tensor::<1>::from_floats(chunk, device).reshape([
                chunk.len() / per,
                dims[1],
                dims[2],
                dims[3],
            ]);
            let by_key = keyed
                .as_ref()
                .map(|d| d.detect_hooked(&self.model.network, x.clone(), self.model.hook()));
            let by_input = self.detector.as_ref().map(|d| d.detect(&self.model, x));
            let d = match (by_key, by_input) {
                (Some(a), Some(b)) => either(a, b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => unreachable!("detects() said there is a detector"),
            };
            out.flag.extend(d.flag);
            out.score.extend(d.score);
            out.confidence.extend(d.confidence);
            out.predicted.extend(d.predicted.iter().map(|&p| p as u8));
        }
        Some(out)
    }
}

/// Two detectors' verdicts on the same samples of the same model: flagged
/// by either, scored by the worse.
fn either(a: Detection, b: Detection) -> Detection {
    Detection {
        flag: a.flag.iter().zip(&b.flag).map(|(x, y)| *x || *y).collect(),
        score: a
            .score
            .iter()
            .zip(&b.score)
            .map(|(x, y)| x.max(*y))
            .collect(),
        predicted: a.predicted,
        confidence: a.confidence,
    }
}

/// A model a step reads: one deployed network, or an ensemble of them.
pub(crate) enum Deployed {
    One(Box<Loaded>),
    Ensemble(Vec<Loaded>),
}

impl Deployed {
    /// The model as attacks and evaluations see it (see
    /// [`Loaded::classifier`]; an ensemble averages its members' logits).
    pub(crate) fn classifier(&self) -> Result<Box<dyn Classifier + '_>, RunError> {
        match self {
            Deployed::One(loaded) => Ok(loaded.classifier()),
            Deployed::Ensemble(members) => {
                let members = members.iter().map(Loaded::classifier).collect();
                Ensemble::new(members)
                    .map(|e| Box::new(e) as Box<dyn Classifier>)
                    .ok_or_else(|| {
                        RunError::Executor(
                            "an ensemble needs members that agree on the number of classes".into(),
                        )
                    })
            }
        }
    }

    /// Runs the detector (see [`Loaded::detect`]); an ensemble, which is
    /// not deployed behind a detector, has none.
    pub(crate) fn detect(
        &self,
        images: &[f32],
        dims: [usize; 4],
        device: &Device,
    ) -> Option<DetectionRecord> {
        match self {
            Deployed::One(loaded) => loaded.detect(images, dims, device),
            Deployed::Ensemble(_) => None,
        }
    }
}

/// Loads the model made by step `at` of `plan`: its checkpoint, or every
/// member's for an ensemble step, each with its own key.
pub(crate) fn load_at(
    plan: &Plan,
    cache: &Cache,
    at: usize,
    device: &Device,
) -> Result<Deployed, RunError> {
    let step = &plan.steps[at];
    let one = |s: &PlanStep| load_model(&cache.dir(&s.key), device, s.secret.as_ref());
    match &step.kind {
        StepKind::Ensemble { .. } => Ok(Deployed::Ensemble(
            step.deps
                .iter()
                .map(|&d| one(&plan.steps[d]))
                .collect::<Result<_, _>>()?,
        )),
        _ => Ok(Deployed::One(Box::new(one(step)?))),
    }
}

fn load_model(dir: &Path, device: &Device, secret: Option<&Key>) -> Result<Loaded, RunError> {
    let plain = device.clone().without_autodiff();
    let corrupt = |message: String| RunError::Corrupt {
        path: dir.to_path_buf(),
        message,
    };
    let (model, sidecar) =
        CompressedModel::load(dir, &plain).map_err(|e| corrupt(e.to_string()))?;
    let defence = match secret {
        Some(key) => {
            advcomp_defence::from_sidecar(&sidecar, key, dir).map_err(|e| corrupt(e.to_string()))?
        }
        None => None,
    };
    let detector =
        CalibratedDetector::from_sidecar(&sidecar, dir).map_err(|e| corrupt(e.to_string()))?;
    Ok(Loaded {
        model,
        defence,
        detector,
    })
}

/// Puts the run-time detectors recorded in `sidecar` (the parent's, which
/// a compressed copy inherits) on `model`, a compressed copy of `parent`,
/// and sets their thresholds again on it, because the scores of clean
/// images move with the weights. Both are set on clean `train` images
/// through the networks as deployed (masks baked in, activations
/// fake-quantised):
///
/// - a keyed defence's thresholds are scaled to flag as many of them on the
///   copy as on the parent ([`advcomp_defence::recalibrate`], which says why
///   a scale and not fresh percentiles); what it did is recorded in the
///   sidecar's `extra["recalibration"]`;
/// - a plugin input detector's threshold is set again at its
///   false-positive rate ([`CalibratedDetector::calibrate`]).
///
/// A keyed defence is rebuilt with `key`, which must be the one it was
/// trained with; without a key (a checkpoint compressed outside a
/// scenario) the copy is refused with [`DefenceError::KeyNeeded`] rather
/// than deployed with its parent's thresholds.
///
/// [`DefenceError::KeyNeeded`]: advcomp_defence::DefenceError::KeyNeeded
pub fn redeploy(
    parent: &CompressedModel,
    model: &CompressedModel,
    sidecar: &mut Sidecar,
    parent_dir: &Path,
    key: Option<&Key>,
    train: &Dataset,
    device: &Device,
) -> Result<(), advcomp_defence::DefenceError> {
    let plain = device.clone().without_autodiff();
    redeployable(sidecar, parent_dir, key)?;
    if let Some(key) = key
        && let Some(mut defence) = advcomp_defence::from_sidecar(sidecar, key, parent_dir)?
    {
        let done = advcomp_defence::recalibrate(
            defence.as_mut(),
            (&parent.network, parent.hook()),
            (&model.network, model.hook()),
            train,
            &plain,
        );
        sidecar.extra.insert(
            advcomp_defence::EXTRA_KEY.into(),
            advcomp_defence::persist::record(defence.as_ref()),
        );
        sidecar.extra.insert(
            RECALIBRATION.into(),
            serde_json::to_value(done).expect("a recalibration serialises"),
        );
    }
    if let Some(mut detector) = CalibratedDetector::from_sidecar(sidecar, parent_dir)? {
        detector.calibrate(model, train, &plain);
        detector.save_into(sidecar);
    }
    Ok(())
}

/// Whether a copy of the checkpoint whose sidecar this is can be
/// [`redeploy`]ed with `key`: fails with [`DefenceError::KeyNeeded`] when
/// it records a keyed defence and no key is given. Callers check before
/// compressing, so a refused copy costs nothing.
///
/// [`DefenceError::KeyNeeded`]: advcomp_defence::DefenceError::KeyNeeded
pub fn redeployable(
    sidecar: &Sidecar,
    dir: &Path,
    key: Option<&Key>,
) -> Result<(), advcomp_defence::DefenceError> {
    match (sidecar.extra.get(advcomp_defence::EXTRA_KEY), key) {
        (Some(entry), None) => {
            let field = |name: &str| {
                entry
                    .get(name)
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string()
            };
            Err(advcomp_defence::DefenceError::KeyNeeded {
                dir: dir.to_path_buf(),
                defence: field("defence"),
                key_id: field("key_id"),
            })
        }
        _ => Ok(()),
    }
}
