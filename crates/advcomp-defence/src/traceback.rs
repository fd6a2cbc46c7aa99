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
    /// The class the suspect predicts ([`Detection::predicted`]).
    pub predicted: usize,
}

impl Evidence {
    /// Row `i` of `detection`.
    pub fn of(detection: &Detection, i: usize) -> Self {
        Self {
            flagged: detection.flag[i],
            score: detection.score[i],
            confidence: detection.confidence[i],
            predicted: detection.predicted[i],
        }
    }
}

/// The index of the suspect the sample was most likely crafted on, or
/// `None` when no suspect flags it (nothing to trace).
///
/// The rule, "the odd one out, else the most confident":
///
/// 1. if exactly one suspect predicts a class that no other suspect
///    predicts, it is blamed: a white-box sample fools its source by
///    construction, while independently trained models mostly keep the true
///    class or fall to different ones;
/// 2. otherwise the suspect most confident of its own prediction is blamed
///    (ties go to the first): an overshooting attack (FGSM, I-FGSM) drives
///    its source furthest towards a wrong class.
///
/// Measured on the cached detections of `scenarios/lenet5-keyed.scn` (four
/// independently trained Taboo-keyed LeNet-5s, `docs/defences.md`): FGSM
/// 51.5%, I-FGSM 87.2%, DeepFool 84.0%, C&W 88.8% of successful samples
/// traced (chance 25%). The most confident suspect alone reaches 52.4% and
/// 93.1% on the gradient-sign attacks but 0% on DeepFool and C&W, which
/// stop at the source's decision boundary and leave it the *least*
/// confident; the largest detector score stays at chance (25–39%): a
/// white-box sample disturbs every model's monitored units alike.
pub fn attribute(evidence: &[Evidence]) -> Option<usize> {
    if !evidence.iter().any(|e| e.flagged) {
        return None;
    }
    let shared = |e: &Evidence| {
        evidence
            .iter()
            .filter(|o| o.predicted == e.predicted)
            .count()
    };
    let mut lone = evidence
        .iter()
        .enumerate()
        .filter(|(_, e)| shared(e) == 1)
        .map(|(k, _)| k);
    if let (Some(k), None) = (lone.next(), lone.next()) {
        return Some(k);
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

    fn ev(flagged: bool, score: f32, confidence: f32, predicted: usize) -> Evidence {
        Evidence {
            flagged,
            score,
            confidence,
            predicted,
        }
    }

    #[test]
    fn nothing_flagged_is_not_traced() {
        assert_eq!(
            attribute(&[ev(false, 0.5, 0.9, 1), ev(false, 0.9, 0.2, 2)]),
            None
        );
        assert_eq!(attribute(&[]), None);
    }

    #[test]
    fn the_odd_one_out_is_blamed() {
        // Suspect 2 alone predicts 7; the others agree on 3.
        let e = [
            ev(true, 3.0, 0.99, 3),
            ev(false, 0.8, 0.97, 3),
            ev(true, 1.2, 0.6, 7),
        ];
        assert_eq!(attribute(&e), Some(2));
    }

    #[test]
    fn without_a_single_odd_one_the_most_confident_is_blamed() {
        // Two lone answers (5 and 8): no odd one out.
        let e = [
            ev(true, 3.0, 0.4, 3),
            ev(false, 0.8, 0.97, 5),
            ev(true, 1.2, 0.6, 3),
            ev(true, 1.2, 0.7, 8),
        ];
        assert_eq!(attribute(&e), Some(1));
        // All agree; ties go to the first suspect.
        assert_eq!(
            attribute(&[ev(true, 1.0, 0.5, 4), ev(true, 2.0, 0.5, 4)]),
            Some(0)
        );
    }
}
