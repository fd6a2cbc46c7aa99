//! What a compressed model carries besides its weights: which weights are
//! pruned and which fixed-point formats apply.

use std::collections::BTreeMap;

use advcomp_models::{Network, ParamKind};
use serde::{Deserialize, Serialize};

use crate::config::{PruneConfig, QuantConfig};
use crate::fixed_point::FixedPoint;
use crate::mask::Masks;

/// The compression applied to a network so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompressionState {
    /// The latest pruning, if any.
    pub pruning: Option<Pruning>,
    /// The latest quantisation, if any.
    pub quant: Option<Quantisation>,
}

/// A pruning and its masks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pruning {
    /// What was asked.
    pub config: PruneConfig,
    /// The masks. Not serialised: a saved model's pruned weights are exactly
    /// zero, and [`Pruning::restore_masks`] recovers the masks from them.
    #[serde(skip)]
    pub masks: Masks,
    /// Where the pruning stands.
    #[serde(skip)]
    pub phase: PrunePhase,
}

/// How far a pruning has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrunePhase {
    /// Masks final; masked weights are zero and stay zero.
    #[default]
    Fixed,
    /// Dynamic Network Surgery: masks change during fine-tuning and masked
    /// weights keep their values so they can be spliced back.
    Surgery,
    /// Gradual magnitude pruning waiting for (or in) its fine-tuning.
    Gradual,
}

impl Pruning {
    /// Rebuilds the masks of a loaded model: every weight that is exactly
    /// zero counts as pruned (filter pruning: biases too). A weight that
    /// quantisation rounded to zero is then treated as pruned by later
    /// fine-tuning, which changes nothing at inference.
    pub fn restore_masks(&mut self, network: &Network) {
        let with_bias = self.config.method == crate::config::PruneMethod::Filter;
        let keep = network
            .params()
            .into_iter()
            .filter(|(info, _)| info.kind == ParamKind::Weight || with_bias)
            .map(|(info, t)| {
                let host = t
                    .into_data()
                    .try_into_vec_as::<f32>()
                    .expect("float params");
                (info.name, host.iter().map(|v| *v != 0.0).collect())
            })
            .collect();
        self.masks = Masks { keep };
        self.phase = PrunePhase::Fixed;
    }
}

/// A quantisation and its formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantisation {
    /// What was asked.
    pub config: QuantConfig,
    /// Per parameter (`conv1.weight`, `conv1.bias`).
    pub weight_formats: BTreeMap<String, FixedPoint>,
    /// Per activation layer (`relu1`); empty when activations stay float.
    pub act_formats: BTreeMap<String, FixedPoint>,
}
