//! What an attack sees of a model.

use burn::Tensor;
use burn::tensor::Int;

use crate::network::Network;

/// A differentiable classifier of images in `[0,1]` pixel space.
///
/// Attacks are written against this trait alone, so they work unchanged on a
/// plain network, a pruned or quantised one (`advcomp_compress`'s
/// `CompressedModel`: the network with its compressor's hook) or one guarded
/// by a defence (the runner's deployed model). On an autodiff device, gradients flow
/// from the logits back to the input.
pub trait Classifier {
    /// Logits `[batch, classes]` for images `[batch, c, h, w]` in `[0,1]`.
    fn logits(&self, images: Tensor<4>) -> Tensor<2>;

    /// Number of classes.
    fn num_classes(&self) -> usize;

    /// Predicted class per image, `[batch]`.
    fn predict(&self, images: Tensor<4>) -> Tensor<1, Int> {
        self.logits(images).argmax(1).squeeze_dim(1)
    }

    /// The logits together with a differentiable view of the model's
    /// run-time detector, for adaptive attacks that know it (and its key);
    /// `None` (the default) for a model without a detector.
    ///
    /// `headroom` (≥ 0) is the share of each threshold the penalty keeps
    /// free: it penalises every monitored quantity above
    /// `(1 − headroom) · threshold`, so a sample the penalty no longer
    /// touches is inside the detector's bounds with room to spare.
    fn screen(&self, images: Tensor<4>, headroom: f64) -> Option<Screened> {
        let _ = (images, headroom);
        None
    }
}

/// A reference classifies like what it points to (so a caller can hand
/// out either a borrowed model or a wrapper behind one `Box<dyn Classifier>`).
impl<T: Classifier + ?Sized> Classifier for &T {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        (**self).logits(images)
    }

    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }

    fn predict(&self, images: Tensor<4>) -> Tensor<1, Int> {
        (**self).predict(images)
    }

    fn screen(&self, images: Tensor<4>, headroom: f64) -> Option<Screened> {
        (**self).screen(images, headroom)
    }
}

/// Several classifiers as one: the mean of their logits, the ensemble of
/// Liu, Chen, Liu & Song, *Delving into Transferable Adversarial Examples
/// and Black-box Attacks*, ICLR 2017 (arXiv:1611.02770), whose samples
/// transfer better than a single model's. Screening sums the members'
/// detector penalties and takes the worst excess, so an adaptive attack
/// on an ensemble of keyed models must pass every member's detector.
pub struct Ensemble<'a> {
    members: Vec<Box<dyn Classifier + 'a>>,
}

impl<'a> Ensemble<'a> {
    /// The ensemble of `members`; `None` when there are none or they do
    /// not agree on the number of classes.
    pub fn new(members: Vec<Box<dyn Classifier + 'a>>) -> Option<Self> {
        let classes = members.first()?.num_classes();
        members
            .iter()
            .all(|m| m.num_classes() == classes)
            .then_some(Self { members })
    }
}

impl Classifier for Ensemble<'_> {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let n = self.members.len();
        let sum = self
            .members
            .iter()
            .map(|m| m.logits(images.clone()))
            .reduce(|a, b| a + b)
            .expect("an ensemble has members");
        sum.div_scalar(n as f64)
    }

    fn num_classes(&self) -> usize {
        self.members[0].num_classes()
    }

    fn screen(&self, images: Tensor<4>, headroom: f64) -> Option<Screened> {
        let screened: Vec<Option<Screened>> = self
            .members
            .iter()
            .map(|m| m.screen(images.clone(), headroom))
            .collect();
        if screened.iter().all(Option::is_none) {
            return None;
        }
        let n = self.members.len();
        let mut logits: Option<Tensor<2>> = None;
        let mut penalty: Option<Tensor<1>> = None;
        let mut excess: Option<Tensor<1>> = None;
        for (member, s) in self.members.iter().zip(screened) {
            let (l, p, e) = match s {
                Some(s) => (s.logits, Some(s.penalty), Some(s.excess)),
                None => (member.logits(images.clone()), None, None),
            };
            logits = Some(match logits {
                Some(sum) => sum + l,
                None => l,
            });
            if let Some(p) = p {
                penalty = Some(match penalty {
                    Some(sum) => sum + p,
                    None => p,
                });
            }
            if let Some(e) = e {
                excess = Some(match excess {
                    Some(worst) => worst.max_pair(e),
                    None => e,
                });
            }
        }
        Some(Screened {
            logits: logits?.div_scalar(n as f64),
            penalty: penalty?,
            excess: excess?,
        })
    }
}

/// A batch as a model with a run-time detector sees it (see
/// [`Classifier::screen`]). Every tensor carries the input's gradient graph.
#[derive(Debug, Clone)]
pub struct Screened {
    /// Logits `[batch, classes]`, the same as [`Classifier::logits`].
    pub logits: Tensor<2>,
    /// Per-sample sum of `relu(q − (1 − headroom) · τ)` over every
    /// monitored quantity `q` with threshold `τ`, `[batch]`: 0 when the
    /// sample is inside the bounds with the head-room asked.
    pub penalty: Tensor<1>,
    /// Per-sample worst `q − τ`, `[batch]`: the detector flags a sample
    /// exactly when this is `> 0`.
    pub excess: Tensor<1>,
}

impl Classifier for Network {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.architecture().num_classes()
    }
}
