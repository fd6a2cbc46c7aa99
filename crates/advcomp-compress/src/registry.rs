//! Compressors by kind and name, open to other crates.
//!
//! Every compressor submits one [`Registration`] with
//! [`inventory::submit!`](crate::inventory::submit): the built-in ones below
//! (magnitude, DNS and filter pruning; fixed and dynamic fixed point), plugin
//! crates in theirs. The scenario checker, the catalogue, `advcomp compress`
//! and cache keys all read a compressor's name, parameters and version from
//! its registration, so a plugin is found everywhere once its crate is
//! linked (see `docs/plugins.md`).
//!
//! The built-in compressors keep their own machinery in this crate (masks
//! that DNS splices back, formats re-estimated from data). A plugin is a
//! [`Projection`]: a function from a parameter's float values to its
//! compressed values, applied in every forward pass of fine-tuning with the
//! straight-through estimator and baked into the weights at the end. That
//! covers binary and ternary weights, codebooks, N:M sparsity and any other
//! rule that maps a tensor to its compressed form.

use std::fmt;

use advcomp_models::ParamInfo;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::axis::{ACT_BITS, Axis, DENSITY, WEIGHT_BITS};
use crate::config::{DNS_PARAMS, PRUNE_PARAMS, QUANT_PARAMS};

pub use advcomp_params::{Param, ParamError, ParamType, nearest};

/// The scenario language's keyword for a compression step: `prune` or
/// `quantise`. Fine-tuning is not a compressor: it trains under the
/// compressors in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressorKind {
    /// Removes weights (`prune NAME { … }`).
    Prune,
    /// Restricts weights (and activations) to few values
    /// (`quantise NAME { … }`).
    Quantise,
}

impl CompressorKind {
    /// Both kinds, in listing order.
    pub const ALL: [CompressorKind; 2] = [CompressorKind::Prune, CompressorKind::Quantise];

    /// The keyword: `"prune"` or `"quantise"`.
    pub fn keyword(self) -> &'static str {
        match self {
            CompressorKind::Prune => "prune",
            CompressorKind::Quantise => "quantise",
        }
    }

    /// The kind a scenario keyword names (`quantize` too), if any.
    pub fn from_keyword(op: &str) -> Option<Self> {
        match op {
            "prune" => Some(CompressorKind::Prune),
            "quantise" | "quantize" => Some(CompressorKind::Quantise),
            _ => None,
        }
    }
}

impl fmt::Display for CompressorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A plugin compressor as built from its parameters: a projection of each
/// parameter tensor onto the compressed set.
///
/// The framework owns everything else. During fine-tuning it applies
/// [`Projection::project`] to the float "shadow" weights in every forward
/// pass and passes the gradient straight through to them (Bengio et al.'s
/// straight-through estimator, as BinaryConnect and Ternary Weight Networks
/// train); at the end of the pipeline it bakes the projection into the
/// weights, so the deployed model stores only compressed values. Masks of an
/// earlier pruning are applied before the projection.
///
/// The projection works on host values (`&[f32]`): a plugin needs no burn
/// code, and a parameter is at most a few hundred thousand values, so the
/// copy costs little next to the convolutions it feeds.
pub trait Projection: fmt::Debug + Send + Sync {
    /// The parameters as this projection uses them, every default filled in
    /// (what cache keys hash and checkpoints record, and what
    /// [`Registration::build`] builds the same projection from).
    fn config(&self) -> Value;

    /// Whether `param` is projected (e.g. weights but not biases).
    fn applies_to(&self, param: &ParamInfo) -> bool;

    /// The compressed values of `param`, one per value of `values` (the
    /// parameter flattened, as [`advcomp_models::Network::params`] gives
    /// it). Must be deterministic.
    fn project(&self, param: &ParamInfo, values: &[f32]) -> Vec<f32>;

    /// Bits per stored value of a projected parameter, for the compression
    /// report's sizes (ternary: 2, binary: 1).
    fn bits(&self) -> u8;
}

/// A plugin's constructor: the projection from a checked parameter map.
pub type BuildProjection = fn(&Map<String, Value>) -> Result<Box<dyn Projection>, ParamError>;

/// How a registered compressor is made.
#[derive(Clone, Copy)]
pub enum Build {
    /// One of this crate's compressors: the pipeline runs it
    /// ([`crate::config::Step::Prune`], [`crate::config::Step::Quantise`]).
    Builtin,
    /// A plugin: builds the projection from a parameter map that
    /// [`advcomp_params::check`] has passed against the registration's
    /// `params`; missing parameters take their defaults.
    Projection(BuildProjection),
}

impl fmt::Debug for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Build::Builtin => f.write_str("Builtin"),
            Build::Projection(_) => f.write_str("Projection(..)"),
        }
    }
}

/// How a compressor is found and built. Submit one per compressor with
/// [`inventory::submit!`](crate::inventory::submit).
#[derive(Debug)]
pub struct Registration {
    /// `prune` or `quantise`.
    pub kind: CompressorKind,
    /// The registry name, lower case (`"magnitude"`, `"ternary"`); unique
    /// within its kind.
    pub name: &'static str,
    /// One line: what the compressor does.
    pub summary: &'static str,
    /// The paper it implements.
    pub paper: &'static str,
    /// Every parameter, in the order to list them.
    pub params: &'static [Param],
    /// What it varies, as results, reports and plots show it (pruning:
    /// [`DENSITY`](crate::axis::DENSITY); fixed point: the two bitwidths;
    /// a plugin may declare its own [`Axis`]).
    pub axes: &'static [Axis],
    /// The implementation's version, part of the cache key of every step
    /// that uses it. Bump it whenever a change makes the compressor compute
    /// different weights for the same parameters, so cached models made by
    /// the old code are rebuilt instead of served.
    pub version: u32,
    /// How it is made.
    pub build: Build,
}

inventory::collect!(Registration);

impl Registration {
    /// `prune magnitude`, as the scenario language writes it.
    pub fn title(&self) -> String {
        format!("{} {}", self.kind, self.name)
    }

    /// What is wrong with this registration, empty if nothing: parameters
    /// declared once each and documented, a summary and a paper, and for a
    /// plugin: its defaults build, and the configuration it reports has
    /// exactly the declared fields and builds the same projection again.
    /// Tests run it over every linked registration.
    pub fn declaration_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut declared: Vec<&str> = self.params.iter().map(|p| p.name).collect();
        declared.sort_unstable();
        if declared.windows(2).any(|w| w[0] == w[1]) {
            problems.push(format!("a parameter is declared twice: {declared:?}"));
        }
        for p in self.params.iter().filter(|p| p.doc.is_empty()) {
            problems.push(format!("`{}` has no doc", p.name));
        }
        if self.summary.is_empty() || self.paper.is_empty() {
            problems.push("no summary or no paper".into());
        }
        if self.name != self.name.to_ascii_lowercase() || self.name.is_empty() {
            problems.push(format!("the name `{}` is not lower case", self.name));
        }
        if self.axes.is_empty() {
            problems.push("declares no axis: reports could not tell its models apart".into());
        }
        for a in self.axes {
            let snake = !a.name.is_empty()
                && a.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !a.uncompressed.is_finite() {
                problems.push(format!(
                    "the axis `{}`'s uncompressed value is not finite",
                    a.name
                ));
            }
            if !snake || a.title.is_empty() {
                problems.push(format!(
                    "the axis `{}` needs a snake-case name and a title",
                    a.name
                ));
            }
        }
        if let Build::Projection(build) = self.build {
            match build(&Map::new()) {
                Err(e) => problems.push(format!("the defaults do not build: {e}")),
                Ok(p) => {
                    let config = p.config();
                    match config.as_object() {
                        None => problems.push(format!("the configuration is not a map: {config}")),
                        Some(map) => {
                            let mut fields: Vec<&str> = map.keys().map(String::as_str).collect();
                            fields.sort_unstable();
                            declared.dedup();
                            if fields != declared {
                                problems.push(format!(
                                    "declares {declared:?} but the configuration has {fields:?}"
                                ));
                            }
                            match build(map) {
                                Ok(again) if again.config() == config => {}
                                Ok(again) => problems.push(format!(
                                    "its configuration {config} builds one whose configuration is {}",
                                    again.config()
                                )),
                                Err(e) => problems
                                    .push(format!("its own configuration does not build: {e}")),
                            }
                        }
                    }
                }
            }
        }
        problems
    }
}

/// Why a compressor could not be found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// No compressor of this kind has this name.
    #[error("unknown compressor `{kind} {name}`{}; known: {kind} {}", did_you_mean(.suggestion), .known.join("|"))]
    Unknown {
        /// The step's kind.
        kind: CompressorKind,
        /// The name asked for.
        name: String,
        /// Every registered name of this kind, sorted.
        known: Vec<String>,
        /// The nearest known name, if one is close.
        suggestion: Option<String>,
    },
    /// Two linked crates registered the same kind and name.
    #[error("compressor `{kind} {name}` is registered more than once (by {}); unlink one of the crates", .by.join(" and "))]
    Duplicate {
        /// The step's kind.
        kind: CompressorKind,
        /// The contested name.
        name: String,
        /// The summaries of the registrations that claim it.
        by: Vec<String>,
    },
}

impl From<RegistryError> for ParamError {
    /// The scenario language and the CLI report an unknown compressor
    /// against the method's name.
    fn from(e: RegistryError) -> Self {
        ParamError::invalid("method", e.to_string())
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// Every linked registration, sorted by kind and name.
pub fn registrations() -> Vec<&'static Registration> {
    let mut all: Vec<&'static Registration> = inventory::iter::<Registration>.into_iter().collect();
    all.sort_by_key(|r| (r.kind, r.name));
    all
}

/// The registered names of `kind`, sorted.
pub fn names(kind: CompressorKind) -> Vec<&'static str> {
    registrations()
        .into_iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.name)
        .collect()
}

/// The registration of `kind` called `name` (case-insensitive).
pub fn find(kind: CompressorKind, name: &str) -> Result<&'static Registration, RegistryError> {
    let key = name.trim().to_ascii_lowercase();
    let matches: Vec<&'static Registration> = registrations()
        .into_iter()
        .filter(|r| r.kind == kind && r.name == key)
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let known = names(kind);
            Err(RegistryError::Unknown {
                kind,
                name: name.to_string(),
                suggestion: nearest(name, known.iter().copied()),
                known: known.iter().map(|s| s.to_string()).collect(),
            })
        }
        many => Err(RegistryError::Duplicate {
            kind,
            name: name.to_string(),
            by: many.iter().map(|r| r.summary.to_string()).collect(),
        }),
    }
}

/// `(kind, name)` pairs registered more than once (should be empty; a test
/// checks it over every linked crate).
pub fn duplicates() -> Vec<String> {
    let all = registrations();
    let mut seen = Vec::new();
    for w in all.windows(2) {
        if w[0].kind == w[1].kind && w[0].name == w[1].name {
            seen.push(w[0].title());
        }
    }
    seen.dedup();
    let mut axes: Vec<&Axis> = Vec::new();
    for a in all.iter().flat_map(|r| r.axes) {
        match axes.iter().find(|b| b.name == a.name) {
            None => axes.push(a),
            Some(b) if *b == a => {}
            Some(_) => seen.push(format!("axis `{}` (declared differently)", a.name)),
        }
    }
    seen.dedup();
    seen
}

/// Every axis the linked compressors declare, each once (by name), in
/// registry order: prune kinds' first, then quantise kinds'. What the
/// report's model table has a column for.
pub fn axes() -> Vec<Axis> {
    let mut out: Vec<Axis> = Vec::new();
    for a in registrations().iter().flat_map(|r| r.axes) {
        if !out.iter().any(|b| b.name == a.name) {
            out.push(*a);
        }
    }
    out
}

inventory::submit! {
    Registration {
        kind: CompressorKind::Prune,
        name: "magnitude",
        summary: "fine-grained magnitude pruning, one-shot or on Zhu & Gupta's gradual schedule",
        paper: "Han, Pool, Tran & Dally, Learning both Weights and Connections, NIPS 2015",
        params: PRUNE_PARAMS,
        axes: &[DENSITY],
        version: 1,
        build: Build::Builtin,
    }
}

inventory::submit! {
    Registration {
        kind: CompressorKind::Prune,
        name: "dns",
        summary: "Dynamic Network Surgery: pruning and splicing during fine-tuning",
        paper: "Guo, Yao & Chen, Dynamic Network Surgery for Efficient DNNs, NIPS 2016",
        params: DNS_PARAMS,
        axes: &[DENSITY],
        version: 1,
        build: Build::Builtin,
    }
}

inventory::submit! {
    Registration {
        kind: CompressorKind::Prune,
        name: "filter",
        summary: "structured pruning of whole filters and neurons by L1 norm",
        paper: "Li, Kadav, Durdanovic, Samet & Graf, Pruning Filters for Efficient ConvNets, ICLR 2017",
        params: PRUNE_PARAMS,
        axes: &[DENSITY],
        version: 1,
        build: Build::Builtin,
    }
}

inventory::submit! {
    Registration {
        kind: CompressorKind::Quantise,
        name: "fixed",
        summary: "fixed point: per layer, the split that covers the observed range, chosen once",
        paper: "Zhao, Shumailov, Mullins & Anderson, To compress or not to compress, SysML 2019 (Mayo)",
        params: QUANT_PARAMS,
        axes: &[WEIGHT_BITS, ACT_BITS],
        version: 1,
        build: Build::Builtin,
    }
}

inventory::submit! {
    Registration {
        kind: CompressorKind::Quantise,
        name: "dynamic",
        summary: "dynamic fixed point: per layer, the finest split within an overflow rate, re-estimated every epoch",
        paper: "Courbariaux, Bengio & David, Training deep neural networks with low precision multiplications, 2014",
        params: QUANT_PARAMS,
        axes: &[WEIGHT_BITS, ACT_BITS],
        version: 1,
        build: Build::Builtin,
    }
}
