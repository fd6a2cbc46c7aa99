//! The architectures of the study and their layer lists.

use std::fmt;
use std::str::FromStr;

use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{Initializer, LinearConfig, PaddingConfig2d};
use burn::tensor::Device;

use crate::layer::{BatchNorm, Dropout, Flatten, GlobalAvgPool, Layer, Normalize, Standardize};

/// Layers are built with zero weights and filled from the network's seed.
const ZERO: Initializer = Initializer::Zeros;

/// Mayo's batch-norm decay (`running ← 0.9997·running + 0.0003·batch`).
pub const BATCH_NORM_DECAY: f64 = 0.9997;
/// Mayo's batch-norm `ε`.
pub const BATCH_NORM_EPSILON: f64 = 0.001;
/// Mayo's dropout probability (keep probability 0.5).
pub const DROPOUT: f64 = 0.5;

/// A network architecture by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// LeNet-5 as in the pruning literature (Han et al. 2015, Guo et al. 2016):
    /// conv 20@5×5 → max-pool 2 → conv 50@5×5 → max-pool 2 → fc 500 → fc 10,
    /// for 1×28×28 inputs. 431,080 parameters. Mayo's dropout (0.5) before
    /// fc1 is left out: it cost accuracy on the bundled data (98.05 % against
    /// 98.20 % in the README's training, see `docs/architecture.md`).
    Lenet5,
    /// CifarNet as in Mayo (`models/cifarnet.yaml` since 2017-12), the
    /// network of Zhao et al.: per-image standardisation; eight 3×3
    /// convolutions, each followed by batch norm (decay 0.9997, ε 0.001) and
    /// ReLU — conv0 64 (valid) → conv1 64 → conv2 128 stride 2 → conv3 128 →
    /// dropout 0.5 → conv4 128 → conv5 192 stride 2 → conv6 192 → dropout
    /// 0.5 → conv7 192 — then global average pooling and a 1×1 convolution to
    /// the 10 logits, for 3×32×32 inputs. The convolutions before a batch
    /// norm have no bias (β is their bias), as in TF-slim.
    Cifarnet,
    /// The earlier CifarNet of the TensorFlow CIFAR-10 tutorial (TF-slim's
    /// `cifarnet`), which Mayo used until it replaced it in 2017-12, nine
    /// months before the paper: conv 64@5×5 → max-pool 3/2 → conv 64@5×5 →
    /// max-pool 3/2 → fc 384 → fc 192 → fc 10 (without the tutorial's local
    /// response normalisation), for 3×32×32 inputs. Checkpoints of format
    /// version 1 named it `cifarnet`.
    #[serde(rename = "cifarnet-tf")]
    CifarnetTf,
}

/// The name given is not an architecture.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown model `{0}`; known models: lenet5, cifarnet, cifarnet-tf")]
pub struct UnknownArchitecture(pub String);

impl Architecture {
    /// Every architecture.
    pub const ALL: [Architecture; 3] = [
        Architecture::Lenet5,
        Architecture::Cifarnet,
        Architecture::CifarnetTf,
    ];

    /// The name used on the command line, in `.scn` files and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Lenet5 => "lenet5",
            Architecture::Cifarnet => "cifarnet",
            Architecture::CifarnetTf => "cifarnet-tf",
        }
    }

    /// Which definition of the network a name stands for: 2 for `cifarnet`,
    /// whose name meant the TF-tutorial network (now `cifarnet-tf`) before
    /// it became Mayo's; 1 for the others. Cache keys of trained models
    /// include it, so a model trained under the old meaning is never reused.
    pub fn revision(self) -> u32 {
        match self {
            Architecture::Cifarnet => 2,
            Architecture::Lenet5 | Architecture::CifarnetTf => 1,
        }
    }

    /// Whether the network has batch-norm layers (to fold before
    /// compression, see [`Network::fold_batch_norm`](crate::Network::fold_batch_norm)).
    pub fn has_batch_norm(self) -> bool {
        self == Architecture::Cifarnet
    }

    /// Input shape `[channels, height, width]`.
    pub fn input_shape(self) -> [usize; 3] {
        match self {
            Architecture::Lenet5 => [1, 28, 28],
            Architecture::Cifarnet | Architecture::CifarnetTf => [3, 32, 32],
        }
    }

    /// Number of output classes.
    pub fn num_classes(self) -> usize {
        10
    }

    /// Per-channel mean and standard deviation of the training pixels.
    ///
    /// Normalisation is the model's first layer, so attacks see `[0,1]` pixels
    /// and their ε means what the papers mean. Mayo's CifarNet instead
    /// standardises each image by its own statistics (its first layer is a
    /// [`Layer::Standardize`]); these are the CIFAR-10 statistics all the same.
    pub fn normalization(self) -> (Vec<f32>, Vec<f32>) {
        match self {
            Architecture::Lenet5 => (vec![0.1307], vec![0.3081]),
            Architecture::Cifarnet | Architecture::CifarnetTf => {
                (vec![0.4914, 0.4822, 0.4465], vec![0.2470, 0.2435, 0.2616])
            }
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
            // Starts with its own first layer (per-image standardisation).
            Architecture::Cifarnet => return mayo_cifarnet(device),
            Architecture::CifarnetTf => {
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

/// Mayo's CifarNet's layers (see [`Architecture::Cifarnet`]).
///
/// TF's `SAME` padding puts the odd pixel of a stride-2 convolution at the
/// bottom and right: conv2 (30×30 → 15×15) pads 0 above and left, 1 below
/// and right; conv5 (15×15 → 8×8) pads 1 on every side.
fn mayo_cifarnet(device: &Device) -> Vec<(String, Layer)> {
    let mut layers = vec![("normalize".to_string(), Layer::Standardize(Standardize {}))];
    // (output channels, stride, padding (top, left, bottom, right), dropout after)
    let convs: [(usize, usize, [usize; 4], bool); 8] = [
        (64, 1, [0, 0, 0, 0], false),
        (64, 1, [1, 1, 1, 1], false),
        (128, 2, [0, 0, 1, 1], false),
        (128, 1, [1, 1, 1, 1], true),
        (128, 1, [1, 1, 1, 1], false),
        (192, 2, [1, 1, 1, 1], false),
        (192, 1, [1, 1, 1, 1], true),
        (192, 1, [1, 1, 1, 1], false),
    ];
    let mut cin = 3;
    for (i, (cout, stride, [t, l, b, r], dropout)) in convs.into_iter().enumerate() {
        let conv = Conv2dConfig::new([cin, cout], [3, 3])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(t, l, b, r))
            .with_bias(false)
            .with_initializer(ZERO)
            .init(device);
        layers.push((format!("conv{i}"), Layer::Conv(conv)));
        layers.push((
            format!("bn{i}"),
            Layer::BatchNorm(BatchNorm::new(
                cout,
                BATCH_NORM_DECAY,
                BATCH_NORM_EPSILON,
                device,
            )),
        ));
        layers.push((format!("relu{i}"), Layer::relu()));
        if dropout {
            layers.push((
                format!("dropout{i}"),
                Layer::Dropout(Dropout { prob: DROPOUT }),
            ));
        }
        cin = cout;
    }
    layers.push(("pool".to_string(), Layer::AvgPool(GlobalAvgPool {})));
    layers.push((
        "logits".to_string(),
        Layer::Conv(
            Conv2dConfig::new([cin, 10], [1, 1])
                .with_initializer(ZERO)
                .init(device),
        ),
    ));
    layers.push(("flatten".to_string(), Layer::Flatten(Flatten {})));
    layers
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = UnknownArchitecture;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let canonical = |s: &str| s.to_ascii_lowercase().replace(['-', '_'], "");
        let wanted = canonical(s);
        Self::ALL
            .into_iter()
            .find(|a| canonical(a.name()) == wanted)
            .ok_or_else(|| UnknownArchitecture(s.to_string()))
    }
}
