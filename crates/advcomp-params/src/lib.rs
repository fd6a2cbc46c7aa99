//! How a component (an attack, a compressor, a defence, a training
//! configuration) declares its parameters, once.
//!
//! A component lists one [`Param`] per parameter: its name, its
//! [`ParamType`] (with the allowed range), whether `null` is allowed, and a
//! one-line doc. Everything that needs to know the parameters reads that
//! list: [`check`] validates a parameter map against it (the same verdict and
//! message whether the map comes from `advcomp check`, `advcomp run` or the
//! CLI), `--list` and the docs print it, and the scenario crate's catalogue
//! snapshot (`cargo xtask catalog`) serialises it so that the scenario
//! checker can run without the deep-learning stack.
//!
//! The crate is deliberately tiny and free of burn: the scenario crate
//! depends on it.

mod check;
mod decode;
mod error;
mod spec;

pub use check::{check, nearest};
pub use decode::decode;
pub use error::ParamError;
pub use spec::{Param, ParamType};
