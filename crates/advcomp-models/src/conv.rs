//! The forward pass of a convolution layer.
//!
//! burn-flex runs a convolution as im2col tiles of a few output positions,
//! each multiplied by the weights in a product of its own. A first layer
//! (one to four input channels, e.g. LeNet-5's conv1: 1 → 20, 5×5) has
//! products over only `c·kh·kw` = 25–75 terms, and there the per-tile
//! overhead dominates: one im2col matrix for the whole batch and one
//! product is 1.3–2.3× faster (`cargo xtask bench-ops`, the first table;
//! `docs/performance.md`). The matrix is built in burn-flex's own column
//! order (kh, kw, c), every sum has fewer terms than `gemm`'s smallest
//! k-block (512), and the bias is added after the product, as burn-flex
//! adds it: each output is the same sum in the same order, so the results
//! are **bit-identical** to burn's `conv2d`, which
//! `tests::the_batched_path_is_bit_identical` checks on every shape class
//! it takes.
//!
//! It is taken only where that was measured and holds:
//! - on burn-flex, outside autodiff (evaluation, and the forward passes
//!   that score attacks). Under autodiff its backward would go through
//!   burn's `unfold` (a loop over windows, slower than burn-flex's
//!   backward) and the weight gradient would be summed in another order,
//!   changing every trained number; training and attack gradients keep
//!   burn's `conv2d`;
//! - for one to four input channels and more than 16 output channels:
//!   with more input channels burn-flex's tiles were as fast or faster
//!   (LeNet-5's conv2, 20 → 50: 55–65 ms against 64–75 at batch 500), and
//!   with at most 16 output channels burn-flex takes a direct path of its
//!   own, summed in another order;
//! - for groups 1, dilation 1, and `Valid`, `Explicit` or stride-1 `Same`
//!   padding.

use burn::Tensor;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::ops::PadMode;

/// Input channels up to which a convolution takes the batched path
/// (burn-flex's own small-channel threshold).
const MAX_CHANNELS_IN: usize = 4;
/// Output channels above which it does (at or below it burn-flex uses a
/// direct path with another summation order).
const MIN_CHANNELS_OUT: usize = 17;

/// `conv.forward(x)`, through one batched im2col product where that is
/// faster and bit-identical (see the module documentation).
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match batched_padding(conv, &x) {
        Some(padding) => batched(conv, x, padding),
        None => conv.forward(x),
    }
}

/// Whether `conv` on `x` takes the batched path (for benchmarks and tests).
pub fn takes_batched_path(conv: &Conv2d, x: &Tensor<4>) -> bool {
    batched_padding(conv, x).is_some()
}

/// The padding `(top, bottom, left, right)` when `conv` on `x` takes the
/// batched path, `None` when it keeps burn's.
fn batched_padding(conv: &Conv2d, x: &Tensor<4>) -> Option<(usize, usize, usize, usize)> {
    let weight = conv.weight.val();
    let [channels_out, channels_in, kh, kw] = weight.dims();
    let [_, _, height, width] = x.dims();
    let eligible = advcomp_backend::is_flex(&x.device())
        && !x.is_autodiff()
        && !weight.is_autodiff()
        && conv.groups == 1
        && conv.dilation == [1, 1]
        && (1..=MAX_CHANNELS_IN).contains(&channels_in)
        && channels_out >= MIN_CHANNELS_OUT;
    if !eligible {
        return None;
    }
    let padding = match &conv.padding {
        PaddingConfig2d::Valid => (0, 0, 0, 0),
        PaddingConfig2d::Explicit(top, left, bottom, right) => (*top, *bottom, *left, *right),
        PaddingConfig2d::Same if conv.stride == [1, 1] => {
            // burn's rule at stride 1: k − 1 in all, the smaller half first.
            (
                (kh - 1) / 2,
                kh - 1 - (kh - 1) / 2,
                (kw - 1) / 2,
                kw - 1 - (kw - 1) / 2,
            )
        }
        PaddingConfig2d::Same => return None,
    };
    let (top, bottom, left, right) = padding;
    // A kernel larger than the padded input is burn's to report.
    (height + top + bottom >= kh && width + left + right >= kw).then_some(padding)
}

/// The convolution as one product: `[n·oh·ow, kh·kw·c] × [kh·kw·c, o]`.
fn batched(conv: &Conv2d, x: Tensor<4>, padding: (usize, usize, usize, usize)) -> Tensor<4> {
    let (top, bottom, left, right) = padding;
    let weight = conv.weight.val();
    let [channels_out, channels_in, kh, kw] = weight.dims();
    let [sh, sw] = conv.stride;
    let x = if padding == (0, 0, 0, 0) {
        x
    } else {
        x.pad((left, right, top, bottom), PadMode::Constant(0.0))
    };
    let [n, _, _, _] = x.dims();
    // Windows as a view, [n, c, oh, ow, kh, kw]; the reshape after the
    // permutation is the one copy: the im2col matrix, rows (n, oh, ow),
    // columns (kh, kw, c).
    let windows: Tensor<5> = x.unfold(2, kh, sh);
    let windows: Tensor<6> = windows.unfold(3, kw, sw);
    let [_, _, oh, ow, _, _] = windows.dims();
    let columns = windows
        .permute([0, 2, 3, 4, 5, 1])
        .reshape([n * oh * ow, kh * kw * channels_in]);
    let weight = weight
        .permute([2, 3, 1, 0])
        .reshape([kh * kw * channels_in, channels_out]);
    let mut out = columns.matmul(weight);
    if let Some(bias) = &conv.bias {
        out = out + bias.val().reshape([1, channels_out]);
    }
    out.reshape([n, oh, ow, channels_out]).permute([0, 3, 1, 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution};

    fn device() -> Device {
        advcomp_backend::device(advcomp_backend::BackendKind::Flex).expect("flex is compiled in")
    }

    /// The first layers of the three shipped architectures and the edges of
    /// the rule: bias or none, stride 2, explicit asymmetric and `Same`
    /// padding, one and four input channels, 17 output channels.
    fn cases(device: &Device) -> Vec<(Conv2d, [usize; 4])> {
        let conv = |cin, cout, k| Conv2dConfig::new([cin, cout], [k, k]);
        vec![
            (conv(1, 20, 5).init(device), [7, 1, 28, 28]),
            (conv(3, 64, 3).with_bias(false).init(device), [3, 3, 32, 32]),
            (
                conv(3, 64, 5)
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
                [2, 3, 32, 32],
            ),
            (
                conv(4, 17, 3)
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
                    .init(device),
                [5, 4, 15, 15],
            ),
            (
                conv(2, 32, 4)
                    .with_padding(PaddingConfig2d::Explicit(2, 1, 0, 3))
                    .init(device),
                [3, 2, 9, 11],
            ),
        ]
    }

    #[test]
    fn the_batched_path_is_bit_identical() {
        let device = device();
        for (conv, shape) in cases(&device) {
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            assert!(
                batched_padding(&conv, &x).is_some(),
                "{shape:?} should take the batched path"
            );
            let ours = forward(&conv, x.clone()).into_data();
            let burns = conv.forward(x).into_data();
            assert_eq!(ours.shape(), burns.shape(), "{shape:?}");
            let ours = ours.try_to_vec::<f32>().expect("f32");
            let burns = burns.try_to_vec::<f32>().expect("f32");
            let differing = ours
                .iter()
                .zip(&burns)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differing, 0, "{shape:?}: {differing} outputs differ");
        }
    }

    #[test]
    fn autodiff_more_channels_and_same_with_stride_keep_burns_path() {
        let device = device();
        let x = Tensor::<4>::zeros([2, 1, 12, 12], &device);
        let first = Conv2dConfig::new([1, 20], [5, 5]).init(&device);
        assert!(batched_padding(&first, &x).is_some());
        let autodiff = Tensor::<4>::zeros([2, 1, 12, 12], &device.clone().autodiff());
        assert!(batched_padding(&first, &autodiff).is_none());
        let wide = Conv2dConfig::new([5, 20], [5, 5]).init(&device);
        assert!(batched_padding(&wide, &Tensor::zeros([2, 5, 12, 12], &device)).is_none());
        let narrow = Conv2dConfig::new([1, 16], [5, 5]).init(&device);
        assert!(batched_padding(&narrow, &x).is_none());
        let strided_same = Conv2dConfig::new([1, 20], [5, 5])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Same)
            .init(&device);
        assert!(batched_padding(&strided_same, &x).is_none());
    }
}
