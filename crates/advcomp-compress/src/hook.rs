//! The forward-pass hook that makes a network behave compressed.

use std::collections::BTreeMap;

use advcomp_models::{Activation, LayerHook, LayerInfo, LayerKind, ParamInfo};
use burn::Tensor;

use crate::fixed_point::{FixedPoint, fake_quant};
use crate::mask::mask_tensor;
use crate::projection::ProjectionStep;

/// Inserts compression into the forward pass.
///
/// - Surgery masks (DNS): the layer uses `W ⊙ T` while the gradient reaches
///   every `W` unchanged (Guo et al.'s update), so pruned weights can grow
///   back.
/// - Weight formats: each parameter is fake-quantised as it is used (the
///   stored float "shadow" weights are what the optimiser updates).
/// - Activation formats: the output of each listed ReLU is fake-quantised.
/// - Projections (plugin compressors): each parameter they apply to is
///   projected as it is used, with the straight-through estimator
///   ([`ProjectionStep::project`]), pruning kinds before quantising ones.
///
/// A finished model has its masks and weight grids baked into the stored
/// weights, so at inference only the activation formats remain.
#[derive(Debug, Clone, Default)]
pub struct CompressHook {
    /// DNS masks by parameter name.
    pub surgery: BTreeMap<String, Vec<bool>>,
    /// Weight formats by parameter name.
    pub weight_formats: BTreeMap<String, FixedPoint>,
    /// Activation formats by ReLU layer name.
    pub act_formats: BTreeMap<String, FixedPoint>,
    /// Plugin compressors, in the order they apply.
    pub projections: Vec<ProjectionStep>,
}

impl CompressHook {
    /// Whether the hook changes nothing.
    pub fn is_identity(&self) -> bool {
        self.surgery.is_empty()
            && self.weight_formats.is_empty()
            && self.act_formats.is_empty()
            && self.projections.is_empty()
    }
}

impl LayerHook for CompressHook {
    fn after(&self, layer: &LayerInfo, activation: Activation) -> Activation {
        match (layer.kind, self.act_formats.get(&layer.name)) {
            (LayerKind::Relu, Some(&format)) => activation.map(|t| fake_quant(t, format)),
            _ => activation,
        }
    }

    fn transforms_params(&self) -> bool {
        !self.surgery.is_empty() || !self.weight_formats.is_empty() || !self.projections.is_empty()
    }

    fn param(&self, param: &ParamInfo, value: Tensor<1>) -> Tensor<1> {
        let mut value = value;
        if let Some(mask) = self.surgery.get(&param.name) {
            let masked = value.clone() * mask_tensor(mask, &value);
            value = if value.is_tracked() {
                // value W ⊙ T, gradient to W as if unmasked.
                masked.detach() + value.clone() - value.detach()
            } else {
                masked
            };
        }
        if let Some(&format) = self.weight_formats.get(&param.name) {
            value = fake_quant(value, format);
        }
        for projection in &self.projections {
            value = projection.project(param, value);
        }
        value
    }
}
