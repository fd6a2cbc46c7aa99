//! Adversarial attacks for advcomp, behind one calling convention.
//!
//! - [`attack`]: the [`Attack`] trait — Foolbox's single calling convention
//!   (`<dyn Attack>::run`, owned by the framework; an attack implements only
//!   [`Attack::perturb`]):
//!   a differentiable [`Classifier`](advcomp_models::Classifier) of `[0,1]`
//!   images, a batch, its labels, optional targets and the device in; the
//!   adversarial batch (clipped to `[0,1]`), a per-sample success mask and
//!   [`Counters`] out.
//! - [`registry`]: attacks by name (`"pgd"`, `"cw_l2"`, …), built from a
//!   JSON map of parameters. Other crates add attacks with
//!   [`inventory::submit!`] of a [`Registration`], without editing this one
//!   (see `docs/plugins.md`).
//! - [`attacks`]: the built-in attacks, one module each — FGSM, I-FGSM/BIM,
//!   IFGM, PGD (L∞, L2), MI-FGSM, the transfer-enhancing DI-, TI-, NI- and
//!   VMI-FGSM, APGD (CE, DLR), DeepFool (L2, L∞), Carlini & Wagner L2, JSMA.
//! - [`iterative`]: the gradient-iteration engine the FGSM family are
//!   configurations of (start, step rule, input diversity, gradient
//!   smoothing, variance tuning, projection).
//! - [`batched`]: an attack over a whole image set in fixed-size batches,
//!   with metrics and cost summed.
//! - [`metrics`]: success rate, accuracy under attack, perturbation norms
//!   and cost, per sample and aggregated.
//! - [`context`], [`goal`], [`ops`]: the plumbing attacks share (input
//!   checks, counted model calls, input gradients, success criteria, batched
//!   tensor helpers), public so that plugin attacks can use it too.

pub mod attack;
pub mod attacks;
pub mod batched;
pub mod context;
pub mod goal;
pub mod iterative;
pub mod metrics;
pub mod ops;
pub mod registry;
pub mod target;

pub use attack::{Attack, AttackError, AttackOutput, Counters, Norm, confine};
pub use batched::{BatchedOutput, run_batched};
pub use context::{AttackContext, Prepared, prepare};
pub use goal::Goal;
pub use iterative::{GradientIteration, IterativeAttack};
pub use metrics::{AttackSummary, NormStats, SampleMetrics};
pub use registry::{
    AttackConfig, Param, ParamError, ParamListing, ParamType, Registration, RegistryError, build,
    find, registrations,
};
pub use target::{TargetChoice, TargetError};

/// Re-exported so that plugin crates can register attacks with
/// `advcomp_attack::inventory::submit!` without depending on `inventory`
/// themselves.
pub use inventory;
