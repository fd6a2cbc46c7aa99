//! A keyed defence on a compressed copy of the model it was trained with.
//!
//! Pruning and quantisation move the activations a keyed detector checks,
//! so the parent's thresholds flag a different share of clean inputs on the
//! copy: with its parent's bounds, a Taboo Trap pruned to density 0.1 and
//! fine-tuned flagged 4.5–9.7 % of clean digits instead of about 2 %
//! (`docs/defences.md`). [`recalibrate`] sets them again.
//!
//! It multiplies every threshold by one factor: how far the copy's clean
//! scores moved from the parent's, read at the [`QUANTILE`]-th percentile
//! of each one's scores on the same clean images. Two simpler rules fail
//! (measured in the keyed test scenario, `crates/advcomp-runner/tests/defences.rs`,
//! quick models, density 0.5; test-digit false positives with the parent's
//! thresholds 22 % and 21 %):
//!
//! - learning the thresholds afresh at the configured percentile: the key
//!   chose the watched units and hardening trained the network against the
//!   *first* thresholds, pushing its activations below them; fresh ones sit
//!   on the lowered activations and flagged 47 % and 45 %;
//! - matching the parent's flag rate on the calibration images: at the
//!   default percentile (100) the parent flags none of them, so the rule
//!   sets the thresholds at the copy's largest score, which the training
//!   images reach and test images exceed: 55 % and 60 %.

use advcomp_data::Dataset;
use advcomp_models::{LayerHook, Network};
use burn::tensor::Device;

use crate::defence::{Defence, Detector, percentile};

/// Images per detection batch.
const BATCH: usize = 500;

/// The percentile of clean scores at which the copy's shift is read: in
/// the upper tail, where the flags are, but not the maximum, which one
/// image decides.
pub const QUANTILE: f64 = 99.0;

/// What [`recalibrate`] did, measured on the calibration images.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recalibration {
    /// The parent's score at [`QUANTILE`].
    pub parent_score: f32,
    /// The copy's score at [`QUANTILE`], with the parent's thresholds.
    pub copy_score: f32,
    /// The factor every threshold was multiplied by (their ratio).
    pub factor: f32,
    /// The share of the images the parent flags.
    pub parent_rate: f64,
    /// The share the copy flagged with the parent's thresholds.
    pub rate_before: f64,
    /// The share it flags with its own.
    pub rate_after: f64,
}

/// A network as deployed: its weights and its compression's activation
/// hook (`&NoHook` for an uncompressed one).
pub type Deployed<'a> = (&'a Network, &'a dyn LayerHook);

/// Scales `defence`'s thresholds for `copy`, a compressed copy of
/// `parent`, by how far the copy's scores on the clean `data` moved: the
/// ratio of the two models' [`QUANTILE`]-th percentile scores. A copy whose
/// watched activations are the parent's times `s` gets thresholds times
/// `s` and flags exactly what the parent flags. The thresholds stay as
/// they are when either score is not a positive finite number (nothing
/// watched is active).
pub fn recalibrate(
    defence: &mut dyn Defence,
    parent: Deployed<'_>,
    copy: Deployed<'_>,
    data: &Dataset,
    device: &Device,
) -> Recalibration {
    let (parent_flags, mut parent_scores) = scores(defence, parent, data, device);
    let (copy_flags, mut copy_scores) = scores(defence, copy, data, device);
    let parent_score = percentile(&mut parent_scores, QUANTILE);
    let copy_score = percentile(&mut copy_scores, QUANTILE);
    let ratio = copy_score / parent_score;
    let factor = if ratio.is_finite() && ratio > 0.0 {
        ratio
    } else {
        1.0
    };
    let n = data.len().max(1) as f64;
    let mut done = Recalibration {
        parent_score,
        copy_score,
        factor,
        parent_rate: parent_flags as f64 / n,
        rate_before: copy_flags as f64 / n,
        rate_after: copy_flags as f64 / n,
    };
    if factor != 1.0 {
        defence.scale_thresholds(factor);
        done.rate_after = scores(defence, copy, data, device).0 as f64 / n;
    }
    done
}

/// How many of `data` the defence flags on `model`, and every sample's score.
fn scores(
    defence: &dyn Defence,
    (network, hook): Deployed<'_>,
    data: &Dataset,
    device: &Device,
) -> (usize, Vec<f32>) {
    let plain = device.clone().without_autodiff();
    let detector = Detector::new(defence);
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut flagged = 0;
    let mut scores = Vec::with_capacity(data.len());
    for chunk in rows.chunks(BATCH) {
        let images = advcomp_train::batch::images(data, chunk, &plain);
        let d = detector.detect_hooked(network, images, hook);
        flagged += d.flag.iter().filter(|&&f| f).count();
        scores.extend(d.score);
    }
    (flagged, scores)
}
