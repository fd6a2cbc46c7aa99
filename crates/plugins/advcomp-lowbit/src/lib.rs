//! Ternary and binary weights, as a compressor plugin.
//!
//! - `quantise ternary { threshold: 0.7 }`: Ternary Weight Networks (Li,
//!   Zhang & Liu, 2016). Per layer, weights with `|w| > Δ`, `Δ = threshold ·
//!   mean|W|`, become `±α` with `α` the mean magnitude of those weights (the
//!   paper's closed-form optimum for that pattern); the others become 0.
//! - `quantise binary`: Binary Weight Networks (Rastegari, Ordonez, Redmon
//!   & Farhadi, XNOR-Net, ECCV 2016). Per layer, `w ↦ sign(w) · mean|W|`.
//!   A weight that is exactly zero (pruned) stays zero.
//!
//! Both project the weights of every convolution and fully connected layer;
//! biases stay in float, as in both papers (they are under 1% of LeNet-5's
//! parameters). advcomp's framework does the rest
//! ([`advcomp_compress::ProjectionStep`]): during `finetune` the forward pass
//! sees the projected weights and the gradient passes straight through to
//! the float ones, and at the end the projection is baked in.
//!
//! This crate uses only advcomp's public plugin API: it is registered by
//! [`advcomp_compress::inventory::submit!`] and linked by `advcomp-plugins`.

use advcomp_compress::axis::WEIGHT_BITS;
use advcomp_compress::registry::{
    Build, CompressorKind, Param, ParamError, ParamType, Projection, Registration,
};
use advcomp_models::{ParamInfo, ParamKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// TWN's threshold factor: `Δ = 0.7 · mean|W|` approximates the optimal
/// threshold for Gaussian and uniform weights (Li et al., §2.2).
pub const TWN_THRESHOLD: f64 = 0.7;

/// The parameters of `quantise ternary`.
pub const TERNARY_PARAMS: &[Param] = &[Param::new(
    "threshold",
    ParamType::above_to(0.0, 2.0),
    "weights with |w| > threshold * mean|W| (per layer) become +-alpha, the rest 0 (TWN: 0.7)",
)];

/// `quantise ternary`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ternary {
    /// The threshold factor.
    #[serde(default = "twn_threshold")]
    pub threshold: f64,
}

fn twn_threshold() -> f64 {
    TWN_THRESHOLD
}

/// `quantise binary` (no parameters).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binary {}

/// Whether a parameter is projected: weights, not biases.
fn is_weight(param: &ParamInfo) -> bool {
    param.kind == ParamKind::Weight
}

/// The mean of `values` in `f64` (summed in order, so deterministic).
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0f64, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

impl Ternary {
    /// TWN's projection of one layer's weights.
    pub fn ternarise(&self, values: &[f32]) -> Vec<f32> {
        let delta = self.threshold * mean(values.iter().map(|v| f64::from(v.abs())));
        let kept = |v: f32| f64::from(v.abs()) > delta;
        let alpha = mean(
            values
                .iter()
                .filter(|v| kept(**v))
                .map(|v| f64::from(v.abs())),
        ) as f32;
        values
            .iter()
            .map(|&v| if kept(v) { alpha.copysign(v) } else { 0.0 })
            .collect()
    }
}

impl Binary {
    /// BWN's projection of one layer's weights.
    pub fn binarise(values: &[f32]) -> Vec<f32> {
        let alpha = mean(values.iter().map(|v| f64::from(v.abs()))) as f32;
        values
            .iter()
            .map(|&v| if v == 0.0 { 0.0 } else { alpha.copysign(v) })
            .collect()
    }
}

impl Projection for Ternary {
    fn config(&self) -> Value {
        serde_json::to_value(self).expect("a struct of numbers serialises")
    }
    fn applies_to(&self, param: &ParamInfo) -> bool {
        is_weight(param)
    }
    fn project(&self, _param: &ParamInfo, values: &[f32]) -> Vec<f32> {
        self.ternarise(values)
    }
    fn bits(&self) -> u8 {
        2
    }
}

impl Projection for Binary {
    fn config(&self) -> Value {
        serde_json::to_value(self).expect("an empty struct serialises")
    }
    fn applies_to(&self, param: &ParamInfo) -> bool {
        is_weight(param)
    }
    fn project(&self, _param: &ParamInfo, values: &[f32]) -> Vec<f32> {
        Self::binarise(values)
    }
    fn bits(&self) -> u8 {
        1
    }
}

/// Builds `quantise ternary` from a map the registry has checked against
/// [`TERNARY_PARAMS`] (so only `threshold` can be there, in range).
fn build_ternary(params: &Map<String, Value>) -> Result<Box<dyn Projection>, ParamError> {
    let ternary: Ternary = serde_json::from_value(Value::Object(params.clone()))
        .map_err(|e| ParamError::invalid("threshold", e.to_string()))?;
    Ok(Box::new(ternary))
}

/// Builds `quantise binary`, which has no parameters (the registry refuses
/// any).
fn build_binary(_params: &Map<String, Value>) -> Result<Box<dyn Projection>, ParamError> {
    Ok(Box::new(Binary {}))
}

advcomp_compress::inventory::submit! {
    Registration {
        kind: CompressorKind::Quantise,
        name: "ternary",
        summary: "ternary weights {-a, 0, +a} per layer (TWN), trained with the straight-through estimator",
        paper: "Li, Zhang & Liu, Ternary Weight Networks, arXiv:1605.04711, 2016",
        params: TERNARY_PARAMS,
        axes: &[WEIGHT_BITS],
        version: 1,
        build: Build::Projection(build_ternary),
    }
}

advcomp_compress::inventory::submit! {
    Registration {
        kind: CompressorKind::Quantise,
        name: "binary",
        summary: "binary weights {-a, +a} per layer, a = mean|W| (BWN), trained with the straight-through estimator",
        paper: "Rastegari, Ordonez, Redmon & Farhadi, XNOR-Net, ECCV 2016",
        params: &[],
        axes: &[WEIGHT_BITS],
        version: 1,
        build: Build::Projection(build_binary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-checked layer: mean|W| = 0.5, Δ = 0.35; kept 0.9, -0.6, 0.4
    /// (mean 0.6333…); 0.1 and 0.0 cut.
    #[test]
    fn ternary_matches_a_hand_computation() {
        let w = [0.9f32, -0.6, 0.1, 0.4, 0.0, -0.0];
        let t = Ternary { threshold: 0.7 }.ternarise(&w);
        let a = ((0.9f64 + 0.6 + 0.4) / 3.0) as f32;
        assert_eq!(t, vec![a, -a, 0.0, a, 0.0, 0.0]);
    }

    #[test]
    fn binary_matches_a_hand_computation() {
        let w = [0.5f32, -1.5, 0.0, 2.0];
        let a = 1.0f32; // (0.5 + 1.5 + 0 + 2) / 4
        assert_eq!(Binary::binarise(&w), vec![a, -a, 0.0, a]);
    }

    /// A layer of zeros (fully pruned) stays zeros: no division by zero.
    #[test]
    fn all_zero_layers_stay_zero() {
        let w = [0.0f32; 8];
        assert_eq!(Ternary { threshold: 0.7 }.ternarise(&w), w.to_vec());
        assert_eq!(Binary::binarise(&w), w.to_vec());
    }
}
