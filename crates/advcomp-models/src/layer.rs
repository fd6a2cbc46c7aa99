//! One layer of a [`Network`](crate::Network).

use burn::Tensor;
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{Linear, Relu};
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;

/// A layer. The set is small on purpose: it is what LeNet-5 and the two
/// CifarNets need, and every compressor and defence must handle each variant.
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
    /// Per-image standardisation `(x - mean(x)) / max(std(x), 1/√n)` over
    /// each image's pixels and channels (TF's `per_image_standardization`).
    Standardize(Standardize),
    /// Batch normalisation of a convolution's output channels.
    BatchNorm(BatchNorm),
    /// Dropout (in training only).
    Dropout(Dropout),
    /// Global average pooling: `[b, c, h, w]` → `[b, c, 1, 1]`.
    AvgPool(GlobalAvgPool),
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
    /// [`Layer::Standardize`].
    Standardize,
    /// [`Layer::BatchNorm`].
    BatchNorm,
    /// [`Layer::Dropout`].
    Dropout,
    /// [`Layer::AvgPool`].
    AvgPool,
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

/// Per-image standardisation (no parameters): each image is shifted to mean
/// 0 and scaled to standard deviation 1 over all its pixels and channels,
/// the standard deviation floored at `1/√n` so a constant image stays finite.
#[derive(Module, Debug)]
pub struct Standardize {}

/// Global average pooling (no parameters).
#[derive(Module, Debug)]
pub struct GlobalAvgPool {}

/// Dropout: in training each activation is kept with probability `1 - prob`
/// and scaled by `1 / (1 - prob)`; in evaluation the identity.
///
/// The masks are drawn on the host from a ChaCha8 stream seeded by the
/// training step and the layer's position, never from the backend's global
/// RNG, so a training run is repeatable on any backend and thread (the
/// reason [`crate::init`] draws weights on the host too).
#[derive(Module, Debug)]
pub struct Dropout {
    /// Probability of zeroing an activation, in `[0, 1)`.
    pub prob: f64,
}

/// Batch normalisation (Ioffe & Szegedy 2015) of a convolution's output:
/// `y = γ·(x − μ)/√(σ² + ε) + β` per channel.
///
/// In training `μ`, `σ²` are the batch's statistics (biased variance) and
/// the running statistics move towards them:
/// `running ← decay·running + (1 − decay)·batch`. In evaluation `μ`, `σ²`
/// are the running statistics, and the layer is an affine map per channel
/// that [`Network::fold_batch_norm`](crate::Network::fold_batch_norm)
/// folds into the preceding convolution.
///
/// The running statistics are recorded with the weights (checkpoints carry
/// them) but are not trained: their parameters never require a gradient.
#[derive(Module, Debug)]
pub struct BatchNorm {
    /// Scale `γ`, `[channels]`, initially 1.
    pub gamma: Param<Tensor<1>>,
    /// Shift `β`, `[channels]`, initially 0.
    pub beta: Param<Tensor<1>>,
    /// Running mean, `[channels]`, initially 0.
    pub running_mean: Param<Tensor<1>>,
    /// Running (biased) variance, `[channels]`, initially 1.
    pub running_var: Param<Tensor<1>>,
    /// Weight of the old running statistics in each update (Mayo: 0.9997).
    pub decay: f64,
    /// `ε` added to the variance (Mayo: 0.001).
    pub epsilon: f64,
}

impl BatchNorm {
    /// A batch norm of `channels` channels with `γ = 1`, `β = 0`, running
    /// mean 0 and variance 1.
    pub fn new(channels: usize, decay: f64, epsilon: f64, device: &burn::tensor::Device) -> Self {
        let ones = || Tensor::<1>::ones([channels], device);
        let zeros = || Tensor::<1>::zeros([channels], device);
        Self {
            gamma: Param::from_tensor(ones()),
            beta: Param::from_tensor(zeros()),
            running_mean: Param::from_tensor(zeros()).set_require_grad(false),
            running_var: Param::from_tensor(ones()).set_require_grad(false),
            decay,
            epsilon,
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.gamma.shape().dims::<1>()[0]
    }

    /// The per-channel affine map of evaluation mode, `y = scale·x + shift`:
    /// `scale = γ/√(var + ε)`, `shift = β − mean·scale`. Plain tensors (no
    /// autodiff), for folding.
    pub fn affine(&self) -> (Tensor<1>, Tensor<1>) {
        let gamma = self.gamma.val().without_autodiff();
        let beta = self.beta.val().without_autodiff();
        let mean = self.running_mean.val().without_autodiff();
        let var = self.running_var.val().without_autodiff();
        let scale = gamma / (var + self.epsilon).sqrt();
        let shift = beta - mean * scale.clone();
        (scale, shift)
    }

    /// Evaluation mode: normalised by the running statistics.
    fn forward_eval(&self, x: Tensor<4>) -> Tensor<4> {
        burn::tensor::module::batch_norm(
            x,
            self.gamma.val(),
            self.beta.val(),
            self.running_mean.val(),
            self.running_var.val(),
            self.epsilon,
        )
    }

    /// Training mode: normalised by the batch statistics, which update the
    /// running statistics (outside the autodiff graph).
    fn forward_train(&mut self, x: Tensor<4>) -> Tensor<4> {
        let out = burn::tensor::module::batch_norm_train(
            x,
            self.gamma.val(),
            self.beta.val(),
            self.epsilon,
        );
        let decay = self.decay;
        let update = |param: &mut Param<Tensor<1>>, batch: Tensor<1>| {
            let (id, old, mapper) = param.clone().consume();
            let autodiff = old.is_autodiff();
            let old = old.without_autodiff();
            let batch = batch.without_autodiff().to_device(&old.device());
            let mut new = old * decay + batch * (1.0 - decay);
            if autodiff {
                new = new.autodiff();
            }
            *param = Param::from_mapped_value(id, new, mapper);
        };
        update(&mut self.running_mean, out.mean);
        update(&mut self.running_var, out.variance);
        out.output
    }
}

impl Dropout {
    /// Training mode: zeroes activations with probability `prob` (masks
    /// from `seed` and `stream`, see [`Dropout`]) and scales the rest.
    fn forward_train<const D: usize>(&self, x: Tensor<D>, seed: u64, stream: u64) -> Tensor<D> {
        if self.prob <= 0.0 {
            return x;
        }
        let keep = 1.0 - self.prob;
        // Kept when a uniform u32 falls below keep·2^32.
        let threshold = (keep * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let scale = (1.0 / keep) as f32;
        let dims = x.dims();
        let n = dims.iter().product();
        let mask: Vec<f32> = (0..n)
            .map(|_| {
                if rng.random::<u32>() < threshold {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::<1>::from_data(TensorData::new(mask, [n]), &x.device());
        let mask: Tensor<D> = mask.reshape(dims);
        x * mask
    }
}

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
            Layer::Standardize(_) => LayerKind::Standardize,
            Layer::BatchNorm(_) => LayerKind::BatchNorm,
            Layer::Dropout(_) => LayerKind::Dropout,
            Layer::AvgPool(_) => LayerKind::AvgPool,
        }
    }

    /// Applies the layer. A rank mismatch (a convolution after the flatten
    /// layer) is a bug in the architecture table, never user input.
    pub(crate) fn forward(&self, x: Activation) -> Activation {
        match (self, x) {
            (Layer::Normalize(n), Activation::Spatial(x)) => Activation::Spatial(n.forward(x)),
            (Layer::Conv(c), Activation::Spatial(x)) => {
                Activation::Spatial(crate::conv::forward(c, x))
            }
            (Layer::MaxPool(p), Activation::Spatial(x)) => Activation::Spatial(p.forward(x)),
            (Layer::Flatten(_), Activation::Spatial(x)) => Activation::Flat(x.flatten(1, 3)),
            (Layer::Linear(l), Activation::Flat(x)) => Activation::Flat(l.forward(x)),
            (Layer::Relu(r), x) => x.map(|t| r.forward(t)),
            (Layer::Standardize(_), Activation::Spatial(x)) => Activation::Spatial(standardize(x)),
            (Layer::BatchNorm(bn), Activation::Spatial(x)) => {
                Activation::Spatial(bn.forward_eval(x))
            }
            (Layer::Dropout(_), x) => x,
            (Layer::AvgPool(_), Activation::Spatial(x)) => {
                Activation::Spatial(x.mean_dim(2).mean_dim(3))
            }
            (layer, x) => panic!(
                "architecture bug: {:?} layer cannot take an activation of shape {:?}",
                layer.kind(),
                x.dims()
            ),
        }
    }
}

/// `(x - mean) / max(std, 1/√n)` per image, over `n = c·h·w` values.
fn standardize(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let n = c * h * w;
    let flat = x.reshape([b, n]);
    let mean = flat.clone().mean_dim(1);
    let centred = flat - mean;
    // max(std, 1/√n) = √max(var, 1/n): clamping before the square root
    // keeps the gradient finite on a constant image.
    let var = centred.clone().square().mean_dim(1);
    let std = var.clamp_min(1.0 / n as f32).sqrt();
    (centred / std).reshape([b, c, h, w])
}

impl Layer {
    /// Applies the layer in training mode: batch norm normalises by the
    /// batch's statistics and updates its running statistics, dropout drops
    /// (masks from `seed` and the layer's `index`); every other layer is as
    /// in [`Layer::forward`].
    pub(crate) fn forward_train(&mut self, x: Activation, seed: u64, index: usize) -> Activation {
        match (self, x) {
            (Layer::BatchNorm(bn), Activation::Spatial(x)) => {
                Activation::Spatial(bn.forward_train(x))
            }
            (Layer::Dropout(d), Activation::Spatial(x)) => {
                Activation::Spatial(d.forward_train(x, seed, index as u64))
            }
            (Layer::Dropout(d), Activation::Flat(x)) => {
                Activation::Flat(d.forward_train(x, seed, index as u64))
            }
            (layer, x) => layer.forward(x),
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
