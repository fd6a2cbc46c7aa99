//! Feature squeezing (Xu, Evans & Qi, NDSS 2018) as a defence plugin:
//! `defend squeeze { bits: 1, median: 2 }`.
//!
//! Each input is squeezed two ways — its pixels reduced to `bits` bits, and
//! smoothed by a `median`×`median` median filter — and the model classifies
//! the original and both squeezed versions. The score of an input is the
//! larger L1 distance between the softmax of the original and that of a
//! squeezed version; an adversarial sample, tuned to the exact pixels,
//! tends to move more than a clean image does. The framework
//! ([`advcomp_defence::CalibratedDetector`]) sets the flagging threshold on
//! clean training images at a false-positive rate (the paper's 5% by
//! default) and sets it again on every compressed variant.
//!
//! The squeezers follow the authors' EvadeML-Zoo code: bit depth is
//! `rint(x · (2^b − 1)) / (2^b − 1)` (ties to even), and the median filter
//! is `scipy.ndimage.median_filter(x, size=(1, k, k, 1), mode="reflect")`:
//! per channel, the window at `(i, j)` covers rows and columns `i − k/2 …
//! i − k/2 + k − 1` (for `k = 2`: the pixel, the one above and the one to
//! its left), edges reflected, and of its `k²` values the one of rank
//! `k²/2` (for `k = 2` the third smallest). The paper's defaults for MNIST
//! are 1 bit and a 2×2 median, which are ours.
//!
//! This crate uses only advcomp's public plugin API: it is registered by
//! [`advcomp_defence::inventory::submit!`] and linked by `advcomp-plugins`.

use advcomp_defence::registry::{
    Build, DETECTOR_PARAMS, InputDetector, Param, ParamError, ParamType, Registration,
};
use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The parameters of `defend squeeze` besides [`DETECTOR_PARAMS`].
pub const SQUEEZE_PARAMS: &[Param] = &[
    Param::new(
        "bits",
        ParamType::int(1, 8),
        "bit depth the first squeezer reduces pixels to (MNIST: 1; 8 leaves 8-bit images as they are)",
    ),
    Param::new(
        "median",
        ParamType::int(0, 5),
        "window of the median-smoothing squeezer, median x median pixels (0: off)",
    ),
];

/// `defend squeeze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Squeeze {
    /// Bit depth of the first squeezer.
    #[serde(default = "one_bit")]
    pub bits: u32,
    /// Median window (0: no median squeezer).
    #[serde(default = "two_by_two")]
    pub median: usize,
}

fn one_bit() -> u32 {
    1
}

fn two_by_two() -> usize {
    2
}

/// `rint(x · (2^bits − 1)) / (2^bits − 1)`, ties to even.
pub fn reduce_bit_depth(values: &[f32], bits: u32) -> Vec<f32> {
    let levels = ((1u32 << bits) - 1) as f32;
    values
        .iter()
        .map(|v| (v * levels).round_ties_even() / levels)
        .collect()
}

/// scipy's `reflect` (half-sample symmetric) index into `0..n`.
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let mut i = i;
    loop {
        if i < 0 {
            i = -i - 1;
        } else if i >= n {
            i = 2 * n - i - 1;
        } else {
            return i as usize;
        }
    }
}

/// The `k`×`k` median filter of `images` (`[n, c, h, w]` flattened, row
/// major), per channel, as scipy computes it (see the crate docs).
pub fn median_filter(images: &[f32], dims: [usize; 4], k: usize) -> Vec<f32> {
    let [_, _, h, w] = dims;
    let plane = h * w;
    let half = (k / 2) as isize;
    let mut out = vec![0.0f32; images.len()];
    let mut window = Vec::with_capacity(k * k);
    for (src, dst) in images.chunks(plane).zip(out.chunks_mut(plane)) {
        for i in 0..h {
            for j in 0..w {
                window.clear();
                for di in 0..k as isize {
                    let r = reflect(i as isize - half + di, h);
                    for dj in 0..k as isize {
                        let c = reflect(j as isize - half + dj, w);
                        window.push(src[r * w + c]);
                    }
                }
                window.sort_by(f32::total_cmp);
                dst[i * w + j] = window[window.len() / 2];
            }
        }
    }
    out
}

impl Squeeze {
    /// The squeezed versions of `images` (host values of shape `dims`).
    pub fn squeezed(&self, images: &[f32], dims: [usize; 4]) -> Vec<Vec<f32>> {
        let mut out = vec![reduce_bit_depth(images, self.bits)];
        if self.median > 0 {
            out.push(median_filter(images, dims, self.median));
        }
        out
    }
}

impl InputDetector for Squeeze {
    fn config(&self) -> Value {
        serde_json::to_value(self).expect("a struct of numbers serialises")
    }

    fn scores(&self, model: &dyn Classifier, images: Tensor<4>) -> Tensor<1> {
        let dims = images.dims();
        let device = images.device();
        let host = images
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float images");
        let original = softmax(model.logits(images), 1);
        let mut score: Option<Tensor<1>> = None;
        for squeezed in self.squeezed(&host, dims) {
            let x = Tensor::<1>::from_floats(squeezed.as_slice(), &device).reshape(dims);
            let distance = (original.clone() - softmax(model.logits(x), 1))
                .abs()
                .sum_dim(1)
                .reshape([dims[0]]);
            score = Some(match score {
                Some(s) => s.max_pair(distance),
                None => distance,
            });
        }
        score.expect("bit-depth reduction is always one squeezer")
    }
}

/// Builds `defend squeeze` from a map the registry has checked against
/// [`SQUEEZE_PARAMS`] (so only `bits` and `median` can be there, in range).
fn build(params: &Map<String, Value>) -> Result<Box<dyn InputDetector>, ParamError> {
    let squeeze: Squeeze = serde_json::from_value(Value::Object(params.clone()))
        .map_err(|e| ParamError::invalid("bits", e.to_string()))?;
    Ok(Box::new(squeeze))
}

advcomp_defence::inventory::submit! {
    Registration {
        name: "squeeze",
        aliases: &["feature_squeezing"],
        summary: "feature squeezing: flags inputs whose softmax moves when bit depth is reduced or a median filter applied (no key, no training)",
        paper: "Xu, Evans & Qi, Feature Squeezing: Detecting Adversarial Examples in Deep Neural Networks, NDSS 2018",
        params: &[DETECTOR_PARAMS, SQUEEZE_PARAMS],
        forwards_to_attack: false,
        version: 1,
        build: Build::Detector(build),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_depth_rounds_to_the_nearest_level_ties_to_even() {
        assert_eq!(
            reduce_bit_depth(&[0.0, 0.3, 0.5, 0.51, 1.0], 1),
            vec![0.0, 0.0, 0.0, 1.0, 1.0]
        );
        // 2 bits: levels 0, 1/3, 2/3, 1.
        let r = reduce_bit_depth(&[0.2, 0.5, 0.9], 2);
        assert_eq!(r, vec![1.0 / 3.0, 2.0 / 3.0, 1.0]);
    }

    /// A 2×2 median on a 2×2 image, worked by hand: the window at (i, j)
    /// is rows {i−1, i} × columns {j−1, j}, index −1 reflected to 0, and
    /// the value kept is the third smallest of four.
    #[test]
    fn a_two_by_two_median_is_scipys() {
        let (a, b, c, d) = (0.1f32, 0.4, 0.2, 0.3);
        let m = median_filter(&[a, b, c, d], [1, 1, 2, 2], 2);
        // (0,0): a a a a; (0,1): a b a b; (1,0): a a c c; (1,1): a b c d.
        assert_eq!(m, vec![a, b, c, d]);
        let m = median_filter(&[0.9, 0.0, 0.0, 0.0], [1, 1, 2, 2], 2);
        assert_eq!(m, vec![0.9, 0.9, 0.9, 0.0]);
    }

    /// A 3×3 median is the ordinary median of the pixel's neighbourhood,
    /// with edges reflected; channels are filtered apart.
    #[test]
    fn a_three_by_three_median_removes_an_isolated_pixel() {
        let mut img = [0.0f32; 25];
        img[12] = 1.0;
        let two_channels: Vec<f32> = img.iter().chain(&[0.5f32; 25]).copied().collect();
        let m = median_filter(&two_channels, [1, 2, 5, 5], 3);
        assert!(m[..25].iter().all(|v| *v == 0.0));
        assert!(m[25..].iter().all(|v| *v == 0.5));
    }

    #[test]
    fn reflect_is_half_sample_symmetric() {
        let r: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(r, vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
    }
}
