//! Compressors for advcomp: pruning and fixed-point quantisation, simulated
//! in float so that compressed models still fine-tune and still give
//! attacks their input gradients.
//!
//! - [`registry`]: every compressor by kind and name, built-in or from a
//!   plugin crate ([`registry::Registration`], submitted with
//!   [`inventory`]); a plugin is a [`registry::Projection`] of the weights,
//!   run by [`projection::ProjectionStep`].
//! - [`axis`]: what each compressor varies (density, bitwidths, a
//!   plugin's own), measured on every model for results, reports and plots.
//! - [`config`]: the steps a user asks for — [`PruneConfig`] (magnitude,
//!   Dynamic Network Surgery, L1 filter pruning), [`QuantConfig`] (fixed and
//!   dynamic fixed point, weights and activations), [`FinetuneConfig`] — as
//!   serde structures with documented defaults.
//! - [`pipeline`]: [`compress`] runs a list of steps on a model; steps
//!   compose (prune, then quantise, then fine-tune under both).
//! - [`model`]: [`CompressedModel`], the deployed result (masks and weight
//!   grids baked into the weights, activation quantisers in the forward
//!   pass), a [`Classifier`](advcomp_models::Classifier) attacks can use;
//!   saved as an ordinary checkpoint with the compression in its sidecar.
//! - [`report`]: the per-layer [`CompressionReport`].
//! - [`fixed_point`], [`mask`], [`dns`], [`calibrate`], [`hook`],
//!   [`finetune`], [`state`]: formats and the straight-through fake
//!   quantiser, pruning masks, Dynamic Network Surgery's threshold rule,
//!   format selection from data, the forward hook, training under
//!   constraints, and the state a model carries.

pub mod axis;
pub mod calibrate;
pub mod config;
pub mod dns;
pub mod error;
pub mod finetune;
pub mod fixed_point;
pub mod hook;
pub mod mask;
pub mod model;
pub mod pipeline;
pub mod projection;
pub mod registry;
pub mod report;
pub mod state;

pub use advcomp_params::ParamError;
pub use config::{
    FinetuneConfig, IntBits, PruneConfig, PruneMethod, PruneTarget, QuantConfig, QuantMethod,
    Schedule, Scope, Step,
};
pub use error::CompressError;
pub use fixed_point::{FixedPoint, fake_quant};
pub use model::CompressedModel;
pub use pipeline::{Compressed, Context, compress};
pub use projection::ProjectionStep;
pub use registry::{CompressorKind, Projection, Registration};
pub use report::CompressionReport;
pub use state::CompressionState;

/// Re-exported so plugin crates register compressors with
/// `advcomp_compress::inventory::submit!` without depending on `inventory`
/// themselves.
pub use inventory;
