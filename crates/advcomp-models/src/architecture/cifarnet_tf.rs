//! The earlier CifarNet of the TensorFlow CIFAR-10 tutorial (TF-slim's
//! `cifarnet`), which Mayo used until it replaced it in 2017-12, nine
//! months before the paper.

use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{Initializer, LinearConfig, PaddingConfig2d};
use burn::tensor::Device;

use super::Registration;
use crate::layer::{Flatten, Layer, Normalize};

/// conv 64@5×5 → max-pool 3/2 → conv 64@5×5 → max-pool 3/2 → fc 384 →
/// fc 192 → fc 10 (without the tutorial's local response normalisation),
/// for 3×32×32 inputs. Checkpoints of format version 1 named it `cifarnet`.
pub const REGISTRATION: Registration = Registration {
    name: "cifarnet-tf",
    summary: "the TF-tutorial CifarNet Mayo used before 2017-12: two 5x5 convs, fc 384, fc 192, fc 10 (3x32x32)",
    paper: "the TensorFlow CIFAR-10 tutorial (TF-slim cifarnet), without local response normalisation",
    dataset: "cifar10",
    input_shape: [3, 32, 32],
    num_classes: 10,
    version: 1,
    layers,
};

/// The layers, with zero weights.
fn layers(device: &Device) -> Vec<(String, Layer)> {
    let zero = Initializer::Zeros;
    let pool = || {
        Layer::MaxPool(
            MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
        )
    };
    let conv = |cin| {
        Layer::Conv(
            Conv2dConfig::new([cin, 64], [5, 5])
                .with_padding(PaddingConfig2d::Same)
                .with_initializer(zero.clone())
                .init(device),
        )
    };
    let linear = |din, dout| {
        Layer::Linear(
            LinearConfig::new(din, dout)
                .with_initializer(zero.clone())
                .init(device),
        )
    };
    // The CIFAR-10 training pixels' per-channel mean and standard deviation.
    let normalize = Normalize {
        mean: vec![0.4914, 0.4822, 0.4465],
        std: vec![0.2470, 0.2435, 0.2616],
    };
    [
        ("normalize", Layer::Normalize(normalize)),
        ("conv1", conv(3)),
        ("relu1", Layer::relu()),
        ("pool1", pool()),
        ("conv2", conv(64)),
        ("relu2", Layer::relu()),
        ("pool2", pool()),
        ("flatten", Layer::Flatten(Flatten {})),
        ("fc1", linear(64 * 8 * 8, 384)),
        ("relu3", Layer::relu()),
        ("fc2", linear(384, 192)),
        ("relu4", Layer::relu()),
        ("fc3", linear(192, 10)),
    ]
    .into_iter()
    .map(|(name, layer)| (name.to_string(), layer))
    .collect()
}
