//! N:M structured sparsity, as a pruning plugin.
//!
//! `prune nm { n: 2, m: 4 }`: in every group of `m` consecutive weights
//! along a layer's input dimension, the `n` of largest magnitude are kept
//! and the rest are zero — NVIDIA's 2:4 sparsity, which Ampere tensor cores
//! run at twice the dense rate (Mishra et al., Accelerating Sparse Deep
//! Neural Networks, arXiv:2104.08378, 2021). The pattern is chosen again in
//! every forward pass of fine-tuning from the float weights, with the
//! gradient passed straight through to all of them: Zhou et al.'s SR-STE
//! (Learning N:M Fine-grained Structured Sparse Neural Networks From
//! Scratch, ICLR 2021) without its decay term on the pruned weights.
//!
//! The groups run along the input dimension because that is the one the
//! hardware reduces over: a convolution's input channels at each output
//! channel and kernel position (`[out, in, kh, kw]`), a fully connected
//! layer's inputs at each output (`[in, out]`). A last group shorter than
//! `m` (an input dimension that `m` does not divide) keeps `min(n, len)`
//! weights; a layer with one input channel (LeNet-5's conv1) is therefore
//! left dense at 2:4. Ties in magnitude keep the earlier weight, so the
//! projection is deterministic, and projecting projected weights gives them
//! back unchanged. Biases stay dense.
//!
//! This crate uses only advcomp's public plugin API: it is registered by
//! [`advcomp_compress::inventory::submit!`] and linked by `advcomp-plugins`.

use advcomp_compress::axis::DENSITY;
use advcomp_compress::registry::{
    Build, CompressorKind, Param, ParamError, ParamType, Projection, Registration,
};
use advcomp_models::{ParamInfo, ParamKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `prune nm`'s parameters, declared once.
pub const NM_PARAMS: &[Param] = &[
    Param::new(
        "n",
        ParamType::COUNT,
        "weights kept in each group (default 2); fewer than m",
    ),
    Param::new(
        "m",
        ParamType::int(2, 64),
        "weights per group along the input dimension (default 4)",
    ),
];

/// N:M sparsity as configured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NmSparsity {
    /// Weights kept per group.
    pub n: usize,
    /// Weights per group.
    pub m: usize,
}

impl Default for NmSparsity {
    /// 2:4, the pattern sparse tensor cores run.
    fn default() -> Self {
        Self { n: 2, m: 4 }
    }
}

impl NmSparsity {
    /// The weights of `shape` (a [`ParamInfo::shape`]) as lines along the
    /// input dimension: the flat index where each line starts (one per
    /// output and kernel position), the step between a line's weights, and
    /// its length.
    fn lines(shape: &[usize]) -> (Vec<usize>, usize, usize) {
        match *shape {
            // Convolution `[out, in, kh, kw]`: input channels are `kh·kw`
            // apart.
            [out, cin, kh, kw] => {
                let plane = kh * kw;
                let starts = (0..out)
                    .flat_map(|o| (0..plane).map(move |p| o * cin * plane + p))
                    .collect();
                (starts, plane, cin)
            }
            // Fully connected `[in, out]`: inputs are `out` apart.
            [cin, out] => ((0..out).collect(), out, cin),
            // Anything else: consecutive values.
            _ => (vec![0], 1, shape.iter().product()),
        }
    }

    /// `values` (a weight tensor of `shape`, flattened) with all but the
    /// `n` largest magnitudes of each group of `m` set to zero.
    pub fn sparsify(&self, shape: &[usize], values: &[f32]) -> Vec<f32> {
        let mut out = values.to_vec();
        if values.len() != shape.iter().product::<usize>() {
            // Not the tensor the shape describes: left alone, for
            // `unflat` to refuse loudly.
            return out;
        }
        // No allocation per line or group: this runs on every weight tensor
        // in every forward pass of fine-tuning (100,000 groups in LeNet-5's
        // fc1).
        let mut order: Vec<usize> = Vec::with_capacity(self.m);
        let (starts, stride, len) = Self::lines(shape);
        for start in starts {
            for first in (0..len).step_by(self.m) {
                order.clear();
                order.extend((first..len.min(first + self.m)).map(|i| start + i * stride));
                // Largest magnitude first; a stable sort keeps the earlier
                // of equal weights.
                order.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()));
                for &i in order.iter().skip(self.n) {
                    out[i] = 0.0;
                }
            }
        }
        out
    }
}

impl Projection for NmSparsity {
    fn config(&self) -> Value {
        serde_json::to_value(self).expect("a struct of numbers serialises")
    }
    fn applies_to(&self, param: &ParamInfo) -> bool {
        param.kind == ParamKind::Weight
    }
    fn project(&self, param: &ParamInfo, values: &[f32]) -> Vec<f32> {
        self.sparsify(&param.shape, values)
    }
    /// Kept weights stay in float.
    fn bits(&self) -> u8 {
        32
    }
}

/// Builds `prune nm` from a map the registry has checked against
/// [`NM_PARAMS`]; `n` must be below `m` (keeping all of a group prunes
/// nothing).
fn build(params: &Map<String, Value>) -> Result<Box<dyn Projection>, ParamError> {
    let config: NmSparsity = serde_json::from_value(Value::Object(params.clone()))
        .map_err(|e| ParamError::rule(e.to_string()))?;
    if config.n >= config.m {
        return Err(ParamError::invalid(
            "n",
            format!(
                "must be below m ({}): {} of every {} prunes nothing",
                config.m, config.n, config.m
            ),
        ));
    }
    Ok(Box::new(config))
}

advcomp_compress::inventory::submit! {
    Registration {
        kind: CompressorKind::Prune,
        name: "nm",
        summary: "N:M structured sparsity: the n largest of every m weights along the input dimension (2:4 by default), trained with the straight-through estimator",
        paper: "Mishra et al., Accelerating Sparse Deep Neural Networks, arXiv:2104.08378, 2021; Zhou et al., Learning N:M Fine-grained Structured Sparse Neural Networks From Scratch, ICLR 2021",
        params: NM_PARAMS,
        axes: &[DENSITY],
        version: 1,
        build: Build::Projection(build),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fully_connected_layer_keeps_the_largest_two_of_each_four_inputs() {
        // [in = 4, out = 2]: output 0 sees 1, -4, 3, 2; output 1 sees
        // 5, 0.5, -0.5, 6.
        let values = [1.0, 5.0, -4.0, 0.5, 3.0, -0.5, 2.0, 6.0];
        let out = NmSparsity::default().sparsify(&[4, 2], &values);
        assert_eq!(out, [0.0, 5.0, -4.0, 0.0, 3.0, 0.0, 0.0, 6.0]);
    }

    #[test]
    fn a_convolution_groups_its_input_channels_at_each_kernel_position() {
        // [out = 1, in = 4, 1, 2]: position 0 sees 1, 2, 3, 4 (flat 0, 2,
        // 4, 6); position 1 sees 8, 7, 6, 5.
        let values = [1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0];
        let out = NmSparsity { n: 1, m: 4 }.sparsify(&[1, 4, 1, 2], &values);
        assert_eq!(out, [0.0, 8.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0]);
    }

    #[test]
    fn a_short_last_group_ties_and_a_second_projection() {
        // Six inputs at 2:4: a group of four, then one of two (both kept).
        // Equal magnitudes keep the earlier weight.
        let values = [1.0, -1.0, 1.0, 1.0, 9.0, 8.0];
        let nm = NmSparsity::default();
        let out = nm.sparsify(&[6, 1], &values);
        assert_eq!(out, [1.0, -1.0, 0.0, 0.0, 9.0, 8.0]);
        assert_eq!(nm.sparsify(&[6, 1], &out), out);
    }

    #[test]
    fn n_must_be_below_m() {
        let mut params = Map::new();
        params.insert("n".into(), 4.into());
        let err = build(&params).unwrap_err();
        assert_eq!(err.field(), Some("n"), "{err}");
    }
}
