//! Traceback: which of several keyed models an adversarial sample was
//! crafted on.
//!
//! Every suspect model checks the sample with its own detector; the
//! evidence per suspect is its [`Detection`] row. [`attribute`] is the rule
//! that turns the evidence into a verdict; it is a pure function so that the
//! scenario runner can apply it to detections it computed (and cached) one
//! model at a time, and get the same answer as [`traceback`].

use advcomp_models::Network;
use burn::Tensor;

use crate::defence::{Defence, Detection, Detector};

/// What one suspect model's detector says about one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// The suspect's detector flags the sample.
    pub flagged: bool,
    /// The worst violation ratio ([`Detection::score`]).
    pub score: f32,
    /// The suspect's softmax probability of its own prediction
    /// ([`Detection::confidence`]).
    pub confidence: f32,
}

impl Evidence {
    /// Row `i` of `detection`.
    pub fn of(detection: &Detection, i: usize) -> Self {
        Self {
            flagged: detection.flag[i],
            score: detection.score[i],
            confidence: detection.confidence[i],
        }
    }
}

/// The index of the suspect the sample was most likely crafted on, or
/// `None` when no suspect flags it (nothing to trace).
///
/// A flagged sample is attributed to the suspect whose constraints it
/// violates most (largest score): a white-box sample is made with gradients
/// through its source model's own activations, so it disturbs that model's
/// monitored units hardest.
pub fn attribute(evidence: &[Evidence]) -> Option<usize> {
    if !evidence.iter().any(|e| e.flagged) {
        return None;
    }
    evidence
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
        .map(|(k, _)| k)
}

/// One keyed model taking part in a traceback.
#[derive(Clone, Copy)]
pub struct Suspect<'a> {
    /// The model's public key id.
    pub key_id: &'a str,
    /// The (defence-trained) network.
    pub network: &'a Network,
    /// Its defence.
    pub defence: &'a dyn Defence,
}

/// For each image, the index in `models` of the key it was most likely
/// crafted on ([`attribute`]), or `None` when no model flags it. Every model
/// checks the batch: one forward pass and one host read each.
pub fn traceback(models: &[Suspect<'_>], images: Tensor<4>) -> Vec<Option<usize>> {
    let detections: Vec<Detection> = models
        .iter()
        .map(|m| Detector::new(m.defence).detect(m.network, images.clone()))
        .collect();
    let n = images.dims()[0];
    (0..n)
        .map(|i| {
            let evidence: Vec<Evidence> = detections.iter().map(|d| Evidence::of(d, i)).collect();
            attribute(&evidence)
        })
        .collect()
}
