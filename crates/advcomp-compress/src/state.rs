//! What a compressed model carries besides its weights: which weights are
//! pruned and which fixed-point formats apply.

use std::collections::BTreeMap;

use advcomp_models::{LayerKind, Network, ParamKind};
use serde::{Deserialize, Serialize};

use crate::config::{PruneConfig, QuantConfig, Step};
use crate::fixed_point::FixedPoint;
use crate::mask::Masks;
use crate::projection::ProjectionStep;
use crate::registry::CompressorKind;

/// The compression applied to a network so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompressionState {
    /// The latest pruning, if any.
    pub pruning: Option<Pruning>,
    /// The latest quantisation, if any.
    pub quant: Option<Quantisation>,
    /// Plugin compressors in force, at most one per kind: a step of a kind
    /// replaces the earlier one of that kind, built-in or plugin. Left out
    /// of the sidecar when empty, so sidecars without plugins read and write
    /// as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projections: Vec<ProjectionStep>,
}

/// Why a loaded [`CompressionState`] does not fit its network, or is out of
/// the ranges the CLI and the scenario language enforce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct StateError {
    /// The field at fault, as a path (`quant.act_formats.relu1.frac`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn state_error(field: impl Into<String>, message: impl Into<String>) -> StateError {
    StateError {
        field: field.into(),
        message: message.into(),
    }
}

impl CompressionState {
    /// Whether any compressor is in force (a pruning, a quantisation or a
    /// plugin projection).
    pub fn is_compressed(&self) -> bool {
        self.pruning.is_some() || self.quant.is_some() || !self.projections.is_empty()
    }

    /// Records that a step of `kind` now holds: the earlier compressor of
    /// that kind, built-in or plugin, no longer applies (its effect on the
    /// weights stays where it was baked in).
    pub fn replace(&mut self, kind: CompressorKind) {
        match kind {
            CompressorKind::Prune => self.pruning = None,
            CompressorKind::Quantise => self.quant = None,
        }
        self.projections.retain(|p| p.kind() != kind);
    }

    /// Checks a state read from a checkpoint against `network` (the
    /// weights it was loaded with): the step configurations by
    /// [`Step::validate`], every format by [`FixedPoint::check`], formats
    /// only for parameters and ReLU layers the network has, and with the
    /// widths their configuration asks for.
    ///
    /// A sidecar is only as trustworthy as whoever wrote it; without this a
    /// format such as `{"bits": 0, "frac": 5000}` makes every logit NaN
    /// and every attack "succeed". Masks need no check: they are not
    /// stored but rebuilt from the weights ([`Pruning::restore_masks`]).
    pub fn validate(&self, network: &Network) -> Result<(), StateError> {
        let config_error = |prefix: &str, e: advcomp_params::ParamError| {
            let field = e
                .field()
                .map_or(prefix.to_string(), |f| format!("{prefix}.{f}"));
            let message = match e {
                advcomp_params::ParamError::Invalid { message, .. } => message,
                other => other.to_string(),
            };
            state_error(field, message)
        };
        if let Some(p) = &self.pruning {
            Step::Prune(p.config.clone())
                .validate()
                .map_err(|e| config_error("pruning.config", e))?;
        }
        let Some(q) = &self.quant else {
            return Ok(());
        };
        Step::Quantise(q.config.clone())
            .validate()
            .map_err(|e| config_error("quant.config", e))?;
        let params: Vec<String> = network.param_infos().into_iter().map(|i| i.name).collect();
        for (name, format) in &q.weight_formats {
            let field = format!("quant.weight_formats.{name}");
            if !params.contains(name) {
                return Err(state_error(
                    field,
                    format!(
                        "the {} network has no parameter `{name}` (it has {})",
                        network.architecture(),
                        params.join(", ")
                    ),
                ));
            }
            check_format(&field, *format, q.config.weight_bits, "weight_bits")?;
        }
        let relus: Vec<&str> = network
            .layer_infos()
            .iter()
            .filter(|l| l.kind == LayerKind::Relu)
            .map(|l| l.name.as_str())
            .collect();
        for (name, format) in &q.act_formats {
            let field = format!("quant.act_formats.{name}");
            let Some(bits) = q.config.act_bits else {
                return Err(state_error(
                    field,
                    "activation formats are given, but quant.config.act_bits is null (activations in float)",
                ));
            };
            if !relus.contains(&name.as_str()) {
                return Err(state_error(
                    field,
                    format!(
                        "the {} network has no ReLU layer `{name}` (it has {})",
                        network.architecture(),
                        relus.join(", ")
                    ),
                ));
            }
            check_format(&field, *format, bits, "act_bits")?;
        }
        Ok(())
    }
}

/// `format` is valid and `bits` wide, as `config_field` asks.
fn check_format(
    field: &str,
    format: FixedPoint,
    bits: u8,
    config_field: &str,
) -> Result<(), StateError> {
    format
        .check()
        .map_err(|(part, message)| state_error(format!("{field}.{part}"), message))?;
    if format.bits != bits {
        return Err(state_error(
            format!("{field}.bits"),
            format!(
                "is {}, but quant.config.{config_field} is {bits}",
                format.bits
            ),
        ));
    }
    Ok(())
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
    /// DNS with `alpha`: optimiser steps taken under surgery so far, the
    /// clock of the update probability ([`crate::dns::update_probability`]).
    #[serde(skip)]
    pub iterations: u64,
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
