//! LeNet-5 as in the pruning literature (Han et al. 2015, Guo et al. 2016).

use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{Initializer, LinearConfig};
use burn::tensor::Device;

use super::Registration;
use crate::layer::{Flatten, Layer, Normalize};

/// conv 20@5×5 → max-pool 2 → conv 50@5×5 → max-pool 2 → fc 500 → fc 10,
/// for 1×28×28 inputs; 431,080 parameters. Mayo's dropout (0.5) before fc1
/// is left out: it cost accuracy on the bundled data (98.05 % against
/// 98.20 % in the README's training, see `docs/architecture.md`).
pub const REGISTRATION: Registration = Registration {
    name: "lenet5",
    summary: "LeNet-5: conv 20@5x5, pool, conv 50@5x5, pool, fc 500, fc 10 (1x28x28)",
    paper: "Han et al. 2015 and Guo et al. 2016 (the Caffe LeNet-5 of the pruning literature)",
    dataset: "mnist",
    input_shape: [1, 28, 28],
    num_classes: 10,
    version: 1,
    layers,
};

/// The MNIST training pixels' mean and standard deviation.
const MEAN: f32 = 0.1307;
const STD: f32 = 0.3081;

/// The layers, with zero weights.
///
/// The pruning literature's Caffe LeNet-5 has a ReLU only after fc1; we also
/// put one after each convolution, as modern re-implementations do: it trains
/// faster and gives the activation-based defences non-negative activations.
fn layers(device: &Device) -> Vec<(String, Layer)> {
    let zero = Initializer::Zeros;
    let pool = || Layer::MaxPool(MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init());
    let conv = |cin, cout| {
        Layer::Conv(
            Conv2dConfig::new([cin, cout], [5, 5])
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
    let normalize = Normalize {
        mean: vec![MEAN],
        std: vec![STD],
    };
    [
        ("normalize", Layer::Normalize(normalize)),
        ("conv1", conv(1, 20)),
        ("relu1", Layer::relu()),
        ("pool1", pool()),
        ("conv2", conv(20, 50)),
        ("relu2", Layer::relu()),
        ("pool2", pool()),
        ("flatten", Layer::Flatten(Flatten {})),
        ("fc1", linear(50 * 4 * 4, 500)),
        ("relu3", Layer::relu()),
        ("fc2", linear(500, 10)),
    ]
    .into_iter()
    .map(|(name, layer)| (name.to_string(), layer))
    .collect()
}
