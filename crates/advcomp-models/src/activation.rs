//! Intermediate activations of either rank.

use burn::Tensor;

/// The output of a layer: feature maps (`[batch, channels, height, width]`)
/// before the flatten layer, feature vectors (`[batch, features]`) after it.
///
/// burn tensors carry their rank in the type, so a hook that works on any layer
/// receives this enum; most hooks are element-wise and use [`Activation::map`].
#[derive(Debug, Clone)]
pub enum Activation {
    /// `[batch, channels, height, width]`.
    Spatial(Tensor<4>),
    /// `[batch, features]`.
    Flat(Tensor<2>),
}

impl Activation {
    /// The shape as a vector of dimensions.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Activation::Spatial(t) => t.dims().to_vec(),
            Activation::Flat(t) => t.dims().to_vec(),
        }
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.dims()[0]
    }

    /// Applies an element-wise function whatever the rank, by viewing the
    /// activation as `[batch, n]` and restoring the shape afterwards.
    pub fn map(self, f: impl FnOnce(Tensor<2>) -> Tensor<2>) -> Activation {
        match self {
            Activation::Flat(t) => Activation::Flat(f(t)),
            Activation::Spatial(t) => {
                let [b, c, h, w] = t.dims();
                Activation::Spatial(f(t.reshape([b, c * h * w])).reshape([b, c, h, w]))
            }
        }
    }

    /// The activation viewed as `[batch, n]` (a reshape, differentiable).
    pub fn flatten(&self) -> Tensor<2> {
        match self {
            Activation::Flat(t) => t.clone(),
            Activation::Spatial(t) => {
                let [b, c, h, w] = t.dims();
                t.clone().reshape([b, c * h * w])
            }
        }
    }

    /// Per-channel view `[batch, channels, positions]`: feature maps keep their
    /// channels, feature vectors count each feature as a channel of one position.
    /// Per-channel defences (Sitatapatra guards) work on this view.
    pub fn channels(&self) -> Tensor<3> {
        match self {
            Activation::Flat(t) => {
                let [b, n] = t.dims();
                t.clone().reshape([b, n, 1])
            }
            Activation::Spatial(t) => {
                let [b, c, h, w] = t.dims();
                t.clone().reshape([b, c, h * w])
            }
        }
    }
}
