//! Keyed defences against adversarial samples, and a baseline.
//!
//! - [`defence`]: the [`Defence`] trait — a training penalty built from
//!   recorded activations ([`DefenceTraining`] makes it
//!   [`TrainHooks`](advcomp_train::TrainHooks)) and a run-time check run as a
//!   forward hook ([`Detector`]: per-sample flag and score, one host read).
//! - [`guarded`]: [`Guarded`], a defended model whose detector an attacker
//!   who knows the key can differentiate (adaptive attacks).
//! - [`key`]: [`Key`], 32 bytes derived by SHA-256 from a passphrase or seed;
//!   only its [`Key::id`] is ever printed or recorded.
//! - [`taboo`]: the Taboo Trap (keyed activation bounds).
//! - [`sitatapatra`]: keyed guard checksums after Sitatapatra.
//! - [`traceback`]: which keyed model a sample was crafted on.
//! - [`registry`]: every defence by name, built-in or from a plugin crate
//!   ([`registry::Registration`], submitted with [`inventory`]); a plugin
//!   is a [`registry::InputDetector`], calibrated and run by
//!   [`input_detector::CalibratedDetector`].
//! - [`spec`]: a defence as a scenario names it (`defend taboo { key: … }`),
//!   checked field by field.
//! - [`adversarial`]: PGD adversarial training (Madry et al.) as the
//!   unkeyed baseline.
//! - [`recalibrate`]: a keyed defence's thresholds set again on a
//!   compressed copy, to its parent's false-positive rate.
//! - [`persist`]: defended checkpoints (`extra["defence"]` in the sidecar;
//!   the key is re-supplied at load time and checked against its id).
//!
//! See `docs/defences.md` for defaults, measurements and what is left out.

pub mod adversarial;
pub mod defence;
pub mod guarded;
pub mod input_detector;
pub mod key;
pub mod persist;
pub mod recalibrate;
pub mod registry;
pub mod sitatapatra;
pub mod spec;
pub mod taboo;
pub mod traceback;
mod units;

pub use advcomp_params::ParamError;
pub use adversarial::AdversarialTraining;
pub use defence::{
    Defence, DefenceTraining, DefendedModel, Detection, Detector, Fit, Hardening, LayerCheck,
    collect_stats, column_percentiles, percentile, plain_fit,
};
pub use guarded::Guarded;
pub use input_detector::CalibratedDetector;
pub use key::Key;
pub use persist::{DefenceError, EXTRA_KEY, from_sidecar, save};
pub use recalibrate::{Recalibration, recalibrate};
pub use registry::{InputDetector, Registration};
pub use sitatapatra::{Sitatapatra, SitatapatraConfig};
pub use spec::{DefenceSpec, KeySource};
pub use taboo::{TabooConfig, TabooTrap};
pub use traceback::{Evidence, Suspect, attribute, traceback};

/// Re-exported so plugin crates register defences with
/// `advcomp_defence::inventory::submit!` without depending on `inventory`
/// themselves.
pub use inventory;
