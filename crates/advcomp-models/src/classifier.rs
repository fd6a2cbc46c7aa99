//! What an attack sees of a model.

use burn::Tensor;
use burn::tensor::Int;

use crate::hook::LayerHook;
use crate::network::Network;

/// A differentiable classifier of images in `[0,1]` pixel space.
///
/// Attacks are written against this trait alone, so they work unchanged on a
/// plain network, a pruned or quantised one ([`Hooked`] with a compressor's
/// hook) or one guarded by a defence. On an autodiff device, gradients flow
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

/// A network seen through a hook (a compressed or defended model).
#[derive(Clone, Copy)]
pub struct Hooked<'a> {
    /// The underlying network.
    pub network: &'a Network,
    /// What is inserted into its forward pass.
    pub hook: &'a dyn LayerHook,
}

impl<'a> Hooked<'a> {
    /// Wraps `network` with `hook`.
    pub fn new(network: &'a Network, hook: &'a dyn LayerHook) -> Self {
        Self { network, hook }
    }
}

impl Classifier for Hooked<'_> {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.network.forward_hooked(images, self.hook)
    }

    fn num_classes(&self) -> usize {
        self.network.num_classes()
    }
}
