//! The two architectures of the study and their layer lists.

use std::fmt;
use std::str::FromStr;

use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{Initializer, LinearConfig, PaddingConfig2d};
use burn::tensor::Device;

use crate::layer::{Flatten, Layer, Normalize};

/// Layers are built with zero weights and filled from the network's seed.
const ZERO: Initializer = Initializer::Zeros;

/// A network architecture by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// LeNet-5 as in the pruning literature (Han et al. 2015, Guo et al. 2016):
    /// conv 20@5×5 → max-pool 2 → conv 50@5×5 → max-pool 2 → fc 500 → fc 10,
    /// for 1×28×28 inputs. 431,080 parameters.
    Lenet5,
    /// CifarNet (the TF-slim CIFAR-10 network used by Zhao et al.):
    /// conv 64@5×5 → max-pool 3/2 → conv 64@5×5 → max-pool 3/2 → fc 384 → fc 192 → fc 10,
    /// for 3×32×32 inputs.
    Cifarnet,
}

/// The name given is not an architecture.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown model `{0}`; known models: lenet5, cifarnet")]
pub struct UnknownArchitecture(pub String);

impl Architecture {
    /// Every architecture.
    pub const ALL: [Architecture; 2] = [Architecture::Lenet5, Architecture::Cifarnet];

    /// The name used on the command line, in `.scn` files and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Lenet5 => "lenet5",
            Architecture::Cifarnet => "cifarnet",
        }
    }

    /// Input shape `[channels, height, width]`.
    pub fn input_shape(self) -> [usize; 3] {
        match self {
            Architecture::Lenet5 => [1, 28, 28],
            Architecture::Cifarnet => [3, 32, 32],
        }
    }

    /// Number of output classes.
    pub fn num_classes(self) -> usize {
        10
    }

    /// Per-channel mean and standard deviation of the training pixels.
    ///
    /// Normalisation is the model's first layer, so attacks see `[0,1]` pixels
    /// and their ε means what the papers mean.
    pub fn normalization(self) -> (Vec<f32>, Vec<f32>) {
        match self {
            Architecture::Lenet5 => (vec![0.1307], vec![0.3081]),
            Architecture::Cifarnet => (vec![0.4914, 0.4822, 0.4465], vec![0.2470, 0.2435, 0.2616]),
        }
    }

    /// The named layers on `device`, with zero weights: [`Network::new`](crate::Network::new)
    /// fills them from its seed.
    ///
    /// The pruning literature's Caffe LeNet-5 has a ReLU only after fc1; we also
    /// put one after each convolution, as modern re-implementations do: it trains
    /// faster and gives the activation-based defences non-negative activations.
    pub fn layers(self, device: &Device) -> Vec<(String, Layer)> {
        let (mean, std) = self.normalization();
        let mut layers: Vec<(&str, Layer)> =
            vec![("normalize", Layer::Normalize(Normalize { mean, std }))];
        match self {
            Architecture::Lenet5 => {
                let pool =
                    || Layer::MaxPool(MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init());
                layers.extend([
                    (
                        "conv1",
                        Layer::Conv(
                            Conv2dConfig::new([1, 20], [5, 5])
                                .with_initializer(ZERO)
                                .init(device),
                        ),
                    ),
                    ("relu1", Layer::relu()),
                    ("pool1", pool()),
                    (
                        "conv2",
                        Layer::Conv(
                            Conv2dConfig::new([20, 50], [5, 5])
                                .with_initializer(ZERO)
                                .init(device),
                        ),
                    ),
                    ("relu2", Layer::relu()),
                    ("pool2", pool()),
                    ("flatten", Layer::Flatten(Flatten {})),
                    (
                        "fc1",
                        Layer::Linear(
                            LinearConfig::new(50 * 4 * 4, 500)
                                .with_initializer(ZERO)
                                .init(device),
                        ),
                    ),
                    ("relu3", Layer::relu()),
                    (
                        "fc2",
                        Layer::Linear(
                            LinearConfig::new(500, 10)
                                .with_initializer(ZERO)
                                .init(device),
                        ),
                    ),
                ]);
            }
            Architecture::Cifarnet => {
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
                            .with_initializer(ZERO)
                            .init(device),
                    )
                };
                layers.extend([
                    ("conv1", conv(3)),
                    ("relu1", Layer::relu()),
                    ("pool1", pool()),
                    ("conv2", conv(64)),
                    ("relu2", Layer::relu()),
                    ("pool2", pool()),
                    ("flatten", Layer::Flatten(Flatten {})),
                    (
                        "fc1",
                        Layer::Linear(
                            LinearConfig::new(64 * 8 * 8, 384)
                                .with_initializer(ZERO)
                                .init(device),
                        ),
                    ),
                    ("relu3", Layer::relu()),
                    (
                        "fc2",
                        Layer::Linear(
                            LinearConfig::new(384, 192)
                                .with_initializer(ZERO)
                                .init(device),
                        ),
                    ),
                    ("relu4", Layer::relu()),
                    (
                        "fc3",
                        Layer::Linear(
                            LinearConfig::new(192, 10)
                                .with_initializer(ZERO)
                                .init(device),
                        ),
                    ),
                ]);
            }
        }
        layers
            .into_iter()
            .map(|(n, l)| (n.to_string(), l))
            .collect()
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = UnknownArchitecture;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.to_ascii_lowercase().replace(['-', '_'], "");
        Self::ALL
            .into_iter()
            .find(|a| a.name() == wanted)
            .ok_or_else(|| UnknownArchitecture(s.to_string()))
    }
}
