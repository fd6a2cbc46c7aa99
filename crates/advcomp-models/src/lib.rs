//! The networks advcomp studies, as open layer lists, registered by name
//! ([`architecture`]: the study's three and any plugin's).
//!
//! Compressors, attacks and defences all need to reach inside a model without
//! the models crate knowing about them. So a [`Network`] is a named list of
//! [`Layer`]s rather than a hand-written `forward`:
//!
//! - [`params`]: every weight tensor can be read and rewritten by name
//!   (`conv1.weight`), keeping its parameter id so optimiser state survives
//!   (pruning masks, quantised weights).
//! - [`hook`]: a [`LayerHook`] is called after every layer and may replace the
//!   activation (activation quantisation, Taboo Trap bounds, Sitatapatra guards)
//!   or each parameter as the forward pass uses it (straight-through weight
//!   quantisation); [`ActivationRecorder`] reads named intermediate activations.
//! - [`classifier`]: the [`Classifier`] trait is all an attack sees: logits of
//!   `[0,1]`-pixel images, differentiable through whatever hooks are installed.
//! - [`checkpoint`]: weights (burnpack) plus a JSON sidecar, written atomically
//!   and verified on load.

pub mod activation;
pub mod architecture;
pub mod checkpoint;
pub mod classifier;
pub mod conv;
pub mod hook;
mod init;
pub mod layer;
pub mod network;
pub mod params;

/// The registries' `inventory`, so a plugin crate can call
/// `advcomp_models::inventory::submit!` without depending on `inventory`
/// itself.
pub use inventory;

pub use activation::Activation;
pub use architecture::{Architecture, UnknownArchitecture};
pub use checkpoint::{Checkpoint, CheckpointError, Sidecar};
pub use classifier::{Classifier, Ensemble, Screened};
pub use hook::{ActivationRecorder, HookChain, LayerHook, LayerInfo, NoHook};
pub use layer::{Layer, LayerKind};
pub use network::Network;
pub use params::{ParamInfo, ParamKind};
