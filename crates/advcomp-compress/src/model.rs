//! A compressed model as deployed: weights with masks and weight grids
//! baked in, plus the activation formats applied at inference.

use std::path::Path;

use advcomp_models::checkpoint::{self, Checkpoint};
use advcomp_models::{Classifier, Network, Sidecar};
use burn::Tensor;
use burn::tensor::Device;

use crate::error::CompressError;
use crate::hook::CompressHook;
use crate::report::CompressionReport;
use crate::state::CompressionState;

/// The sidecar `extra` key under which compression is recorded.
pub const EXTRA_KEY: &str = "compression";

/// A network and the compression it carries.
///
/// Invariant: `network` holds the deployed weights — batch norms folded
/// into their convolutions, pruned weights exactly zero, quantised weights on
/// their grids — so only activation quantisation happens in the forward pass. Attacks see it through [`Classifier`] and
/// get input gradients through the activation quantisers' straight-through
/// estimators.
#[derive(Debug, Clone)]
pub struct CompressedModel {
    /// The deployed weights.
    pub network: Network,
    /// What was done to them.
    pub state: CompressionState,
    hook: CompressHook,
}

impl CompressedModel {
    /// `network` under `state` (whose masks and weight grids must already be
    /// baked into `network`). Batch norms are folded into their
    /// convolutions ([`Network::fold_batch_norm`]; nothing to do for a
    /// network without, or already folded), so masks, weight formats and
    /// fine-tuning all work on the weights the deployed network uses.
    pub fn new(network: Network, state: CompressionState) -> Self {
        let network = network.fold_batch_norm();
        let hook = CompressHook {
            act_formats: state
                .quant
                .as_ref()
                .map(|q| q.act_formats.clone())
                .unwrap_or_default(),
            ..CompressHook::default()
        };
        Self {
            network,
            state,
            hook,
        }
    }

    /// A network with no compression.
    pub fn uncompressed(network: Network) -> Self {
        Self::new(network, CompressionState::default())
    }

    /// The inference hook (activation quantisation), for callers that chain
    /// it with other hooks (defences).
    pub fn hook(&self) -> &CompressHook {
        &self.hook
    }

    /// Loads a checkpoint written by [`CompressedModel::save`] or by the
    /// trainer (then uncompressed), with its sidecar.
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, Sidecar), CompressError> {
        let checkpoint = Checkpoint::load(dir, device)?;
        let sidecar_error = |field: String, message: String| CompressError::Sidecar {
            path: dir.join(checkpoint::SIDECAR_FILE),
            message: format!("extra.{EXTRA_KEY}.state{field}: {message}"),
        };
        let state = match checkpoint.sidecar.extra.get(EXTRA_KEY) {
            None => CompressionState::default(),
            Some(entry) => {
                let state = entry.get("state").cloned().unwrap_or_default();
                let state: CompressionState =
                    serde_path_to_error::deserialize(state).map_err(|e| {
                        let path = e.path().to_string();
                        let field = if path == "." {
                            String::new()
                        } else {
                            format!(".{path}")
                        };
                        sidecar_error(field, e.into_inner().to_string())
                    })?;
                // Loaded formats and configurations go through the same
                // ranges as the ones a user types.
                state
                    .validate(&checkpoint.network)
                    .map_err(|e| sidecar_error(format!(".{}", e.field), e.message))?;
                state
            }
        };
        let mut state = state;
        if let Some(p) = state.pruning.as_mut() {
            p.restore_masks(&checkpoint.network);
        }
        Ok((Self::new(checkpoint.network, state), checkpoint.sidecar))
    }

    /// Saves the model into `dir` with `sidecar` (provenance from the
    /// parent) extended by the compression state and `report`.
    pub fn save(
        &self,
        dir: &Path,
        mut sidecar: Sidecar,
        report: &CompressionReport,
    ) -> Result<Sidecar, CompressError> {
        sidecar.extra.insert(
            EXTRA_KEY.into(),
            serde_json::json!({ "state": self.state, "report": report }),
        );
        Ok(checkpoint::save(&self.network, &sidecar, dir)?)
    }
}

impl Classifier for CompressedModel {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        if self.hook.is_identity() {
            self.network.forward(images)
        } else {
            self.network.forward_hooked(images, &self.hook)
        }
    }

    fn num_classes(&self) -> usize {
        self.network.num_classes()
    }
}
