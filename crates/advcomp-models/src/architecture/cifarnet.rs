//! CifarNet as in Mayo (`models/cifarnet.yaml` since 2017-12), the network
//! of Zhao et al.

use burn::nn::conv::Conv2dConfig;
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::Device;

use super::Registration;
use crate::layer::{BatchNorm, Dropout, Flatten, GlobalAvgPool, Layer, Standardize};

/// Mayo's batch-norm decay (`running ← 0.9997·running + 0.0003·batch`).
pub const BATCH_NORM_DECAY: f64 = 0.9997;
/// Mayo's batch-norm `ε`.
pub const BATCH_NORM_EPSILON: f64 = 0.001;
/// Mayo's dropout probability (keep probability 0.5).
pub const DROPOUT: f64 = 0.5;

/// Per-image standardisation; eight 3×3 convolutions, each followed by
/// batch norm (decay 0.9997, ε 0.001) and ReLU — conv0 64 (valid) → conv1
/// 64 → conv2 128 stride 2 → conv3 128 → dropout 0.5 → conv4 128 → conv5
/// 192 stride 2 → conv6 192 → dropout 0.5 → conv7 192 — then global
/// average pooling and a 1×1 convolution to the 10 logits, for 3×32×32
/// inputs. The convolutions before a batch norm have no bias (β is their
/// bias), as in TF-slim. Version 2: until checkpoint format 2 the name
/// meant the TF-tutorial network, now [`super::cifarnet_tf`].
pub const REGISTRATION: Registration = Registration {
    name: "cifarnet",
    summary: "CifarNet as in Mayo: eight 3x3 convs with batch norm, global pooling, 1x1 conv to 10 (3x32x32)",
    paper: "Mayo's models/cifarnet.yaml (Zhao et al. 2019's network)",
    dataset: "cifar10",
    input_shape: [3, 32, 32],
    num_classes: 10,
    version: 2,
    layers,
};

/// The layers, with zero weights.
///
/// TF's `SAME` padding puts the odd pixel of a stride-2 convolution at the
/// bottom and right: conv2 (30×30 → 15×15) pads 0 above and left, 1 below
/// and right; conv5 (15×15 → 8×8) pads 1 on every side.
fn layers(device: &Device) -> Vec<(String, Layer)> {
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
            .with_initializer(Initializer::Zeros)
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
                .with_initializer(Initializer::Zeros)
                .init(device),
        ),
    ));
    layers.push(("flatten".to_string(), Layer::Flatten(Flatten {})));
    layers
}
