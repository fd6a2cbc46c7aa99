//! The `.scn` scenario language of advcomp: the front end that turns a
//! researcher's scenario file into a checked, sweep-expanded plan.
//!
//! Three calls make the whole API:
//!
//! - [`parse()`]`(source, file_name)`: text → [`Scenario`] (typed syntax tree
//!   with spans), or syntax [`Diagnostics`] with `file:line:col` and what was
//!   expected, in plain words.
//! - [`check()`]`(&scenario, &catalog)`: semantic checks (names, references,
//!   cycles, settings, and — through the injected [`Catalog`] — architectures,
//!   attacks, compressors, defences and their parameters) and sweep
//!   expansion into the serialisable [`Resolved`] plan.
//! - [`format()`]`(&scenario)`: the canonical printer behind `advcomp fmt`.
//!
//! Modules, in pipeline order:
//!
//! - [`grammar`]: the pest parser generated from `grammar/scenario.pest`.
//! - `lex`: a small scanner for what pest reports poorly (unclosed strings,
//!   deep nesting) and for where comments are.
//! - [`parse`](mod@parse): pest pairs → [`ast`], pest errors → diagnostics.
//! - [`ast`]: the syntax tree, [`span`]: byte ranges and `line:col`.
//! - [`check`](mod@check): names, references, cycles, settings, catalog checks.
//! - [`settings`]: the known settings, their types and defaults.
//! - [`expand`]: sweep lists → instances with stable ids.
//! - [`resolved`]: the plan the runner executes.
//! - [`format`](mod@format): the canonical printer.
//! - [`catalog`]: what the front end needs to know about the registries;
//!   [`snapshot`]: the real registries' vocabulary as JSON
//!   (`catalog.json`, written by `cargo xtask catalog`), for tests and
//!   burn-free tools.
//! - [`diagnostic`]: diagnostics, rendered with miette.
//!
//! The crate depends on no other advcomp crate but `advcomp-params` (the
//! parameter declarations, free of burn): the runner implements [`Catalog`]
//! over the real registries.

pub mod ast;
pub mod catalog;
pub mod check;
pub mod diagnostic;
pub mod expand;
pub mod format;
pub mod grammar;
mod lex;
pub mod parse;
pub mod resolved;
pub mod secret;
pub mod settings;
pub mod snapshot;
pub mod span;

pub use ast::Scenario;
pub use catalog::{Catalog, CatalogError, Kind};
pub use check::check;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use format::format;
pub use parse::parse;
pub use resolved::{AttackInstance, ModelInstance, Origin, Resolved, Settings, Stage, Transfer};
pub use secret::{Secret, Secrets};
pub use snapshot::{CatalogSnapshot, SnapshotCatalog};
pub use span::{SourceFile, Span};
