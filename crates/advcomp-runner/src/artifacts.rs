//! What each step leaves in its cache directory.

use std::path::Path;

use advcomp_attack::{AttackSummary, Counters, SampleMetrics};
use serde::{Deserialize, Serialize};

use crate::cache::{read_json, write, write_json};
use crate::error::{RunError, io};

/// Clean predictions of a model (`predictions.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    /// Predicted class per image, in the order of the images classified.
    pub predicted: Vec<u8>,
    /// Share equal to the labels.
    pub accuracy: f64,
    /// What the model's detector said about each image (defended models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<DetectionRecord>,
}

/// A detector's per-image verdicts, in the order of the images checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectionRecord {
    /// Flagged.
    pub flag: Vec<bool>,
    /// Worst violation ratio (> 1: a violation).
    pub score: Vec<f32>,
    /// Softmax probability of the predicted class.
    pub confidence: Vec<f32>,
    /// Predicted class.
    pub predicted: Vec<u8>,
}

impl DetectionRecord {
    /// The traceback evidence of image `i`.
    pub fn evidence(&self, i: usize) -> advcomp_defence::Evidence {
        advcomp_defence::Evidence {
            flagged: self.flag[i],
            score: self.score[i],
            confidence: self.confidence[i],
            predicted: usize::from(self.predicted[i]),
        }
    }

    /// Whether every per-image list has `n` entries.
    pub fn has_len(&self, n: usize) -> bool {
        self.flag.len() == n
            && self.score.len() == n
            && self.confidence.len() == n
            && self.predicted.len() == n
    }
}

/// What a `defend` step made (`defence.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefenceRecord {
    /// Canonical defence name.
    pub defence: String,
    /// The key's public id (keyed defences).
    pub key_id: Option<String>,
    /// Whether it has a run-time detector.
    pub detects: bool,
    /// Hardening epochs.
    pub epochs: usize,
    /// Clean test accuracy after hardening.
    pub accuracy: f64,
    /// Clean test accuracy of the unkeyed twin: the parent fine-tuned for
    /// the same epochs without the defence.
    pub twin_accuracy: f64,
}

/// Predictions file name.
pub const PREDICTIONS: &str = "predictions.json";
/// Attack record file name.
pub const ATTACK: &str = "attack.json";
/// Defence record file name.
pub const DEFENCE: &str = "defence.json";
/// Adversarial images file name (raw little-endian f32).
pub const ADVERSARIAL: &str = "adversarial.f32";

/// An attack's record (`attack.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackRecord {
    /// Rows of the scenario's test subset that were attacked.
    pub rows: Vec<usize>,
    /// `[n, c, h, w]` of `adversarial.f32`.
    pub dims: [usize; 4],
    /// Per-sample results on the source model.
    pub metrics: SampleMetrics,
    /// What the attack cost.
    pub counters: Counters,
    /// The aggregate.
    pub summary: AttackSummary,
    /// The source model's own detector on the adversarial images
    /// (defended sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<DetectionRecord>,
}

/// How long a step took when it was computed (`step.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's key: an entry whose record names another key (copied or
    /// renamed by hand) is foreign, and [`crate::cache::Cache::has`] does
    /// not count it as finished.
    #[serde(default)]
    pub key: String,
    /// The step's label.
    pub label: String,
    /// Wall time when computed (not re-measured on cache hits).
    pub seconds: f64,
}

/// Writes the adversarial images.
pub fn write_images(dir: &Path, values: &[f32]) -> Result<(), RunError> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write(&dir.join(ADVERSARIAL), &bytes)
}

/// Reads the adversarial images of a record already checked by
/// [`read_attack`], checking that they are images of `shape` (`[c, h, w]`
/// of the scenario's test set) and that the file has exactly their size
/// before reading it.
pub fn read_images(dir: &Path, dims: [usize; 4], shape: [usize; 3]) -> Result<Vec<f32>, RunError> {
    let path = dir.join(ADVERSARIAL);
    let corrupt = |message: String| RunError::Corrupt {
        path: path.clone(),
        message,
    };
    if dims[1..] != shape {
        return Err(corrupt(format!(
            "images of shape {:?}, but the test images are {shape:?}",
            &dims[1..]
        )));
    }
    let want = dims
        .iter()
        .try_fold(4usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| corrupt(format!("impossible image dimensions {dims:?}")))?;
    let len = std::fs::metadata(&path)
        .map_err(|e| corrupt(e.to_string()))?
        .len();
    if len != want as u64 {
        return Err(corrupt(format!(
            "{len} bytes, expected {want} for images {dims:?}"
        )));
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    if bytes.len() != want {
        return Err(corrupt(format!(
            "{} bytes, expected {want} for images {dims:?}",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Reads a step's predictions of `n` images, checked: a hand-edited or
/// foreign entry is a [`RunError::Corrupt`] that names the file, never an
/// index panic further on.
pub fn read_predictions(dir: &Path, n: usize) -> Result<Predictions, RunError> {
    let path = dir.join(PREDICTIONS);
    let p: Predictions = read_json(&path)?;
    let problem = if p.predicted.len() != n {
        Some(format!("{} predictions, expected {n}", p.predicted.len()))
    } else if !(0.0..=1.0).contains(&p.accuracy) {
        Some(format!("accuracy {} is not in [0, 1]", p.accuracy))
    } else if p.detection.as_ref().is_some_and(|d| !d.has_len(n)) {
        Some(format!("detector verdicts are not {n} per list"))
    } else {
        None
    };
    match problem {
        Some(message) => Err(RunError::Corrupt { path, message }),
        None => Ok(p),
    }
}

/// Reads an attack's record, checked against the `test_images` of the
/// scenario: rows in range, one image per row, every per-sample list of
/// the same length.
pub fn read_attack(dir: &Path, test_images: usize) -> Result<AttackRecord, RunError> {
    let path = dir.join(ATTACK);
    let r: AttackRecord = read_json(&path)?;
    let n = r.rows.len();
    let m = &r.metrics;
    let lens = [
        m.clean_correct.len(),
        m.adversarial_correct.len(),
        m.success.len(),
        m.l0.len(),
        m.l2.len(),
        m.linf.len(),
    ];
    let problem = if let Some(bad) = r.rows.iter().find(|&&row| row >= test_images) {
        Some(format!(
            "row {bad} is out of range for {test_images} test images"
        ))
    } else if r.dims[0] != n {
        Some(format!("{} images for {n} rows", r.dims[0]))
    } else if lens.iter().any(|&l| l != n) {
        Some(format!(
            "per-sample metrics of lengths {lens:?} for {n} rows"
        ))
    } else if r.detection.as_ref().is_some_and(|d| !d.has_len(n)) {
        Some(format!("detector verdicts are not {n} per list"))
    } else {
        None
    };
    match problem {
        Some(message) => Err(RunError::Corrupt { path, message }),
        None => Ok(r),
    }
}

/// Writes a predictions file.
pub fn write_predictions(dir: &Path, p: &Predictions) -> Result<(), RunError> {
    write_json(&dir.join(PREDICTIONS), p)
}
