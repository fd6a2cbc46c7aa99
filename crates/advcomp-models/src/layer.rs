//! One layer of a [`Network`](crate::Network).

use burn::Tensor;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{Linear, Relu};

use crate::activation::Activation;

/// A layer. The set is small on purpose: it is what LeNet-5 and CifarNet
/// need, and every compressor and defence must handle each variant.
#[derive(Module, Debug)]
pub enum Layer {
    /// Per-channel `(x - mean) / std`, so the network takes `[0,1]` pixels.
    Normalize(Normalize),
    /// 2-D convolution (weights `[out, in, kh, kw]`, bias `[out]`).
    Conv(Conv2d),
    /// Max pooling.
    MaxPool(MaxPool2d),
    /// `[b, c, h, w]` → `[b, c·h·w]`.
    Flatten(Flatten),
    /// Fully connected layer (weights `[in, out]`, bias `[out]`).
    Linear(Linear),
    /// Rectified linear unit.
    Relu(Relu),
}

/// What kind of layer a [`Layer`] is, without its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// [`Layer::Normalize`].
    Normalize,
    /// [`Layer::Conv`].
    Conv,
    /// [`Layer::MaxPool`].
    MaxPool,
    /// [`Layer::Flatten`].
    Flatten,
    /// [`Layer::Linear`].
    Linear,
    /// [`Layer::Relu`].
    Relu,
}

impl LayerKind {
    /// Whether the layer holds trainable parameters (and so can be pruned or quantised).
    pub fn has_params(self) -> bool {
        matches!(self, LayerKind::Conv | LayerKind::Linear)
    }
}

/// Input normalisation constants (not trained, not recorded as parameters).
#[derive(Module, Debug)]
pub struct Normalize {
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
}

/// Flattens feature maps into feature vectors.
#[derive(Module, Debug)]
pub struct Flatten {}

impl Layer {
    /// A ReLU layer.
    pub fn relu() -> Layer {
        Layer::Relu(Relu::new())
    }

    /// The kind of this layer.
    pub fn kind(&self) -> LayerKind {
        match self {
            Layer::Normalize(_) => LayerKind::Normalize,
            Layer::Conv(_) => LayerKind::Conv,
            Layer::MaxPool(_) => LayerKind::MaxPool,
            Layer::Flatten(_) => LayerKind::Flatten,
            Layer::Linear(_) => LayerKind::Linear,
            Layer::Relu(_) => LayerKind::Relu,
        }
    }

    /// Applies the layer. A rank mismatch (a convolution after the flatten
    /// layer) is a bug in the architecture table, never user input.
    pub(crate) fn forward(&self, x: Activation) -> Activation {
        match (self, x) {
            (Layer::Normalize(n), Activation::Spatial(x)) => Activation::Spatial(n.forward(x)),
            (Layer::Conv(c), Activation::Spatial(x)) => Activation::Spatial(c.forward(x)),
            (Layer::MaxPool(p), Activation::Spatial(x)) => Activation::Spatial(p.forward(x)),
            (Layer::Flatten(_), Activation::Spatial(x)) => Activation::Flat(x.flatten(1, 3)),
            (Layer::Linear(l), Activation::Flat(x)) => Activation::Flat(l.forward(x)),
            (Layer::Relu(r), x) => x.map(|t| r.forward(t)),
            (layer, x) => panic!(
                "architecture bug: {:?} layer cannot take an activation of shape {:?}",
                layer.kind(),
                x.dims()
            ),
        }
    }
}

impl Normalize {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let c = self.mean.len();
        let mean = Tensor::<1>::from_floats(self.mean.as_slice(), &device).reshape([1, c, 1, 1]);
        let std = Tensor::<1>::from_floats(self.std.as_slice(), &device).reshape([1, c, 1, 1]);
        (x - mean) / std
    }
}
