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
/// A flagged sample is attributed to the suspect that is most confident of
/// its own prediction (largest [`Evidence::confidence`]; ties go to the
/// first). A white-box attack drives its source model furthest towards a
/// wrong class, while the other (independently trained) models only feel
/// what transfers. Measured on MNIST LeNet-5 with four independently trained
/// keyed models (`docs/defences.md`), this beat the alternatives: the
/// largest detector score (a white-box sample disturbs every model's
/// monitored units alike, so it stays near chance), the most confident
/// *flagging* suspect, the score × confidence product and rank sums; mixing
/// in the score moved accuracy by less than its sampling error.
pub fn attribute(evidence: &[Evidence]) -> Option<usize> {
    if !evidence.iter().any(|e| e.flagged) {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for (k, e) in evidence.iter().enumerate() {
        if best.is_none_or(|(_, c)| e.confidence > c) {
            best = Some((k, e.confidence));
        }
    }
    best.map(|(k, _)| k)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(flagged: bool, score: f32, confidence: f32) -> Evidence {
        Evidence {
            flagged,
            score,
            confidence,
        }
    }

    #[test]
    fn nothing_flagged_is_not_traced() {
        assert_eq!(attribute(&[ev(false, 0.5, 0.9), ev(false, 0.9, 0.2)]), None);
        assert_eq!(attribute(&[]), None);
    }

    #[test]
    fn the_most_confident_suspect_is_blamed() {
        let e = [ev(true, 3.0, 0.4), ev(false, 0.8, 0.97), ev(true, 1.2, 0.6)];
        assert_eq!(attribute(&e), Some(1));
        // Ties go to the first suspect.
        assert_eq!(
            attribute(&[ev(true, 1.0, 0.5), ev(true, 2.0, 0.5)]),
            Some(0)
        );
    }
}
