//! A plugin input detector with its threshold ([`CalibratedDetector`]):
//! built from its registration, calibrated on clean images at a
//! false-positive rate, recorded in and read back from checkpoints, and run
//! over batches into [`Detection`]s.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use advcomp_data::Dataset;
use advcomp_models::{Classifier, Sidecar};
use burn::Tensor;
use burn::tensor::Device;
use serde_json::{Map, Value, json};

use crate::defence::Detection;
use crate::persist::DefenceError;
use crate::registry::{self, Build, DETECTOR_PARAMS, InputDetector, ParamError, Registration};

/// The sidecar `extra` key under which an input detector is recorded
/// (beside, not instead of, a keyed defence's `extra["defence"]`).
pub const EXTRA_KEY: &str = "detector";

/// Images per scoring batch.
const BATCH: usize = 500;

/// Default share of clean images flagged: Xu, Evans & Qi's choice for
/// feature squeezing (5% on legitimate examples).
pub const DEFAULT_FALSE_POSITIVE_RATE: f64 = 0.05;

/// Default number of clean training images that set the threshold.
pub const DEFAULT_CALIBRATION_IMAGES: usize = 1000;

/// A plugin input detector, its calibration settings and, once calibrated,
/// its threshold: a sample is flagged when its score is above it.
#[derive(Clone)]
pub struct CalibratedDetector {
    registration: &'static Registration,
    detector: Arc<dyn InputDetector>,
    /// Share of clean calibration images allowed above the threshold.
    pub false_positive_rate: f64,
    /// Clean training images that set the threshold.
    pub calibration_images: usize,
    threshold: Option<f32>,
}

impl CalibratedDetector {
    /// The detector `name` (canonical or alias) from `params`, checked
    /// against its declaration; not yet calibrated.
    pub fn build(name: &str, params: &Map<String, Value>) -> Result<Self, ParamError> {
        let registration = registry::find(name)
            .ok_or_else(|| ParamError::invalid("defence", format!("unknown defence `{name}`")))?;
        let Build::Detector(build) = registration.build else {
            return Err(ParamError::invalid(
                "defence",
                format!("`{}` is not an input detector", registration.name),
            ));
        };
        advcomp_params::check(&registration.params(), params)?;
        let mut own = params.clone();
        let false_positive_rate = match own.remove("false_positive_rate") {
            Some(v) => v.as_f64().ok_or_else(|| {
                ParamError::invalid("false_positive_rate", format!("must be a number, got {v}"))
            })?,
            None => DEFAULT_FALSE_POSITIVE_RATE,
        };
        let calibration_images = match own.remove("calibration_images") {
            Some(v) => v.as_u64().ok_or_else(|| {
                ParamError::invalid("calibration_images", format!("must be a count, got {v}"))
            })? as usize,
            None => DEFAULT_CALIBRATION_IMAGES,
        };
        Ok(Self {
            registration,
            detector: Arc::from(build(&own)?),
            false_positive_rate,
            calibration_images,
            threshold: None,
        })
    }

    /// The canonical name.
    pub fn name(&self) -> &'static str {
        self.registration.name
    }

    /// The registration's version.
    pub fn version(&self) -> u32 {
        self.registration.version
    }

    /// The threshold, once calibrated.
    pub fn threshold(&self) -> Option<f32> {
        self.threshold
    }

    /// What determines the detector's verdicts besides the model: its own
    /// configuration and the calibration settings (for cache keys).
    pub fn identity(&self) -> Value {
        json!({
            "detector": self.detector.config(),
            "false_positive_rate": self.false_positive_rate,
            "calibration_images": self.calibration_images,
        })
    }

    /// The scores of `images` (`[n, c, h, w]`) on `model`, in batches.
    fn scores(&self, model: &dyn Classifier, images: Tensor<4>) -> Vec<f32> {
        let n = images.dims()[0];
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let batch = images.clone().narrow(0, start, end - start);
            let s = self.detector.scores(model, batch).detach();
            out.extend(
                s.into_data()
                    .try_into_vec_as::<f32>()
                    .expect("float scores"),
            );
        }
        out
    }

    /// Sets the threshold from the first `calibration_images` images of
    /// `clean` (all of them if fewer): the smallest value that at most
    /// `false_positive_rate` of their scores exceed. Called when the
    /// defence is applied and again on every compressed variant, whose
    /// scores differ from its parent's.
    pub fn calibrate(&mut self, model: &dyn Classifier, clean: &Dataset, device: &Device) {
        let n = self.calibration_images.min(clean.len());
        let rows: Vec<usize> = (0..n).collect();
        let images = advcomp_train::batch::images(clean, &rows, device);
        let mut scores = self.scores(model, images);
        self.threshold = Some(threshold_at(&mut scores, self.false_positive_rate));
    }

    /// Scores, flags and predictions of `images` on `model`. Uncalibrated,
    /// nothing is flagged. `score` is the score relative to the threshold
    /// (above 1 is flagged), as the keyed detectors report theirs.
    pub fn detect(&self, model: &dyn Classifier, images: Tensor<4>) -> Detection {
        let batch = images.dims()[0];
        let logits = model.logits(images.clone()).detach();
        let predicted = logits.clone().argmax(1).reshape([batch]);
        let confidence = burn::tensor::activation::softmax(logits, 1)
            .max_dim(1)
            .reshape([batch]);
        let scores = self.scores(model, images);
        let threshold = self.threshold.unwrap_or(f32::INFINITY);
        Detection {
            flag: scores.iter().map(|&s| s > threshold).collect(),
            score: scores
                .iter()
                .map(|&s| s / threshold.max(f32::MIN_POSITIVE))
                .collect(),
            predicted: predicted
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .expect("int predictions")
                .into_iter()
                .map(|p| p as usize)
                .collect(),
            confidence: confidence
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("float confidences"),
        }
    }

    /// The record written under `extra["detector"]`.
    pub fn record(&self) -> Value {
        json!({
            "defence": self.name(),
            "config": self.detector.config(),
            "false_positive_rate": self.false_positive_rate,
            "calibration_images": self.calibration_images,
            "threshold": self.threshold,
        })
    }

    /// Records the detector in `sidecar`.
    pub fn save_into(&self, sidecar: &mut Sidecar) {
        sidecar.extra.insert(EXTRA_KEY.into(), self.record());
    }

    /// The detector recorded in `sidecar` (`None` when it records none),
    /// rebuilt through the registry; `dir` names the checkpoint in errors.
    /// A detector whose plugin is not linked fails with its name rather
    /// than loading unguarded.
    pub fn from_sidecar(sidecar: &Sidecar, dir: &Path) -> Result<Option<Self>, DefenceError> {
        let bad = |message: String| DefenceError::BadRecord {
            dir: dir.to_path_buf(),
            message: format!("(extra.{EXTRA_KEY}) {message}"),
        };
        let Some(entry) = sidecar.extra.get(EXTRA_KEY) else {
            return Ok(None);
        };
        let name = entry
            .get("defence")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing `defence` name".into()))?;
        let mut params = match entry.get("config") {
            Some(Value::Object(m)) => m.clone(),
            _ => return Err(bad("missing `config` map".into())),
        };
        for key in DETECTOR_PARAMS.iter().map(|p| p.name) {
            if let Some(v) = entry.get(key) {
                params.insert(key.into(), v.clone());
            }
        }
        let mut detector = Self::build(name, &params).map_err(|e| {
            bad(format!(
                "{e} (a detector recorded by a plugin crate this binary does not link?)"
            ))
        })?;
        detector.threshold = match entry.get("threshold") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .filter(|t| t.is_finite())
                    .ok_or_else(|| bad(format!("`threshold` must be a finite number, got {v}")))?
                    as f32,
            ),
        };
        Ok(Some(detector))
    }
}

/// The smallest of `scores` that at most `rate` of them exceed (0 for no
/// scores). Sorts `scores`.
pub fn threshold_at(scores: &mut [f32], rate: f64) -> f32 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.sort_by(f32::total_cmp);
    let allowed = (rate * scores.len() as f64).floor() as usize;
    scores[scores.len() - 1 - allowed.min(scores.len() - 1)]
}

impl fmt::Debug for CalibratedDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name(), self.record())
    }
}

impl PartialEq for CalibratedDetector {
    fn eq(&self, other: &Self) -> bool {
        self.record() == other.record()
    }
}

#[cfg(test)]
mod tests {
    use super::threshold_at;

    /// At most the rate's share of scores lies above the threshold, and the
    /// threshold is one of the scores.
    #[test]
    fn the_threshold_lets_through_at_most_the_rate() {
        let mut scores: Vec<f32> = (0..100).map(|i| i as f32).collect();
        assert_eq!(threshold_at(&mut scores, 0.05), 94.0);
        let above = scores.iter().filter(|s| **s > 94.0).count();
        assert_eq!(above, 5);
        assert_eq!(threshold_at(&mut [3.0, 1.0, 2.0], 0.0), 3.0);
        assert_eq!(threshold_at(&mut [3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(threshold_at(&mut [], 0.05), 0.0);
        // Ties: nothing above the threshold rather than more than asked.
        assert_eq!(threshold_at(&mut [1.0; 10], 0.3), 1.0);
    }
}
