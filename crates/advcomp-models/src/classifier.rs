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
