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
}

/// Predictions file name.
pub const PREDICTIONS: &str = "predictions.json";
/// Attack record file name.
pub const ATTACK: &str = "attack.json";
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
}

/// How long a step took when it was computed (`step.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
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

/// Reads the adversarial images, checking their size against `dims`.
pub fn read_images(dir: &Path, dims: [usize; 4]) -> Result<Vec<f32>, RunError> {
    let path = dir.join(ADVERSARIAL);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let want = dims.iter().product::<usize>() * 4;
    if bytes.len() != want {
        return Err(RunError::Corrupt {
            path,
            message: format!("{} bytes, expected {want} for images {dims:?}", bytes.len()),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Reads a step's predictions.
pub fn read_predictions(dir: &Path) -> Result<Predictions, RunError> {
    read_json(&dir.join(PREDICTIONS))
}

/// Reads an attack's record.
pub fn read_attack(dir: &Path) -> Result<AttackRecord, RunError> {
    read_json(&dir.join(ATTACK))
}

/// Writes a predictions file.
pub fn write_predictions(dir: &Path, p: &Predictions) -> Result<(), RunError> {
    write_json(&dir.join(PREDICTIONS), p)
}
