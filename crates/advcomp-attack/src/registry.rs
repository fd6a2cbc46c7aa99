//! Attacks by name, open to other crates.
//!
//! Every attack submits one [`Registration`] with
//! [`inventory::submit!`](crate::inventory::submit) — the built-in ones in
//! their modules, plugin crates in theirs — and [`build`] finds it by name and
//! makes the attack from a JSON map of parameters. No advcomp crate needs
//! editing to add an attack; the plugin crate only has to be linked into the
//! binary (see `docs/plugins.md`).
//!
//! Names are matched case-insensitively with `-` and `_` interchangeable
//! (`PGD-L2` finds `pgd_l2`). An unknown name lists the known ones and
//! suggests the nearest by edit distance; an unknown or ill-typed parameter
//! names the field.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::attack::{Attack, Norm};

pub use advcomp_params::{Param, ParamError, ParamType, nearest};

/// The L∞ budget, as every L∞ attack declares it (the built-in ones and
/// plugins alike, so `--list` and the catalogue say it one way).
pub const LINF_EPSILON: Param = Param::new(
    "epsilon",
    ParamType::UNIT,
    "L-infinity budget in [0,1] pixel units",
);

/// A parameter with its default, as [`Registration::describe`] lists them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamListing {
    /// Field name.
    pub name: &'static str,
    /// What it means.
    pub doc: &'static str,
    /// Its type and range, as a phrase ("a number in (0, 1]").
    #[serde(rename = "type")]
    pub ty: String,
    /// The default value (`null` for "computed from the others", as documented).
    pub default: Value,
}

/// How an attack is found and built. Submit one per attack name with
/// [`inventory::submit!`](crate::inventory::submit).
#[derive(Debug)]
pub struct Registration {
    /// The registry name (lower case, `_` between words): `"pgd_l2"`.
    pub name: &'static str,
    /// Other names that find the same attack (`"bim"` for `"ifgsm"`).
    pub aliases: &'static [&'static str],
    /// The norm the attack bounds or minimises.
    pub norm: Norm,
    /// Whether it accepts target labels.
    pub targeted: bool,
    /// One line: what the attack does.
    pub summary: &'static str,
    /// The paper it implements.
    pub paper: &'static str,
    /// Every parameter, in the order to list them (usually
    /// [`AttackConfig::PARAMS`]).
    pub params: &'static [Param],
    /// The default parameters as a JSON map (usually [`defaults_of`]).
    pub defaults: fn() -> Value,
    /// Builds the attack from a JSON map of parameters; missing ones take
    /// their defaults (usually via [`parse`]).
    pub build: fn(&Value) -> Result<Box<dyn Attack>, ParamError>,
    /// The parameters as the attack will use them, every default filled in
    /// and every value in its type's canonical form (usually
    /// [`canonical_of`]): what a cache key hashes, so `fgsm {}` and
    /// `fgsm { epsilon: 0.1 }` (its default) are the same computation.
    pub canonical: fn(&Value) -> Result<Value, ParamError>,
    /// The implementation's version, part of every cache key of a step that
    /// uses the attack. Bump it whenever a change makes the attack compute
    /// different numbers for the same parameters, so cached results made by
    /// the old code are recomputed instead of served.
    pub version: u32,
}

inventory::collect!(Registration);

impl Registration {
    /// Each parameter with its documentation and default value.
    pub fn describe(&self) -> Vec<ParamListing> {
        let defaults = (self.defaults)();
        self.params
            .iter()
            .map(|p| ParamListing {
                name: p.name,
                doc: p.doc,
                ty: p.ty.to_string(),
                default: defaults.get(p.name).cloned().unwrap_or(Value::Null),
            })
            .collect()
    }

    /// Builds the attack from `params` (a JSON map or `null`).
    pub fn build(&self, params: &Value) -> Result<Box<dyn Attack>, RegistryError> {
        (self.build)(params).map_err(|source| RegistryError::Params {
            attack: self.name.to_string(),
            source,
        })
    }

    /// What is wrong with this registration, empty if nothing: `params`
    /// must declare each field of the configuration exactly once, with a
    /// doc; the defaults must pass the declaration and build the attack; the
    /// summary and paper must be given. Tests run it over every linked
    /// registration (built-in ones in this crate, plugins in
    /// `advcomp-plugins`).
    pub fn declaration_problems(&self) -> Vec<String> {
        let defaults = (self.defaults)();
        let Some(map) = defaults.as_object() else {
            return vec![format!("the defaults are not a map: {defaults}")];
        };
        let mut problems = Vec::new();
        let mut declared: Vec<&str> = self.params.iter().map(|p| p.name).collect();
        declared.sort_unstable();
        if declared.windows(2).any(|w| w[0] == w[1]) {
            problems.push(format!("a parameter is declared twice: {declared:?}"));
        }
        declared.dedup();
        let mut fields: Vec<&str> = map.keys().map(String::as_str).collect();
        fields.sort_unstable();
        if declared != fields {
            problems.push(format!(
                "declares {declared:?} but the configuration has {fields:?}"
            ));
        }
        if let Err(e) = advcomp_params::check(self.params, map) {
            problems.push(format!("the defaults fail the declaration: {e}"));
        }
        for p in self.params.iter().filter(|p| p.doc.is_empty()) {
            problems.push(format!("`{}` has no doc", p.name));
        }
        if self.summary.is_empty() || self.paper.is_empty() {
            problems.push("no summary or no paper".into());
        }
        if let Err(e) = self.build(&defaults) {
            problems.push(format!("the defaults do not build: {e}"));
        }
        problems
    }

    fn answers_to(&self, key: &str) -> bool {
        normalize(self.name) == key || self.aliases.iter().any(|a| normalize(a) == key)
    }
}

/// Why an attack could not be found or built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// No attack has this name.
    #[error("unknown attack `{name}`{}; known attacks: {}", did_you_mean(.suggestion), .known.join(", "))]
    UnknownAttack {
        /// The name asked for.
        name: String,
        /// Every registered attack's name, sorted (aliases left out).
        known: Vec<String>,
        /// The nearest known name, if one is close.
        suggestion: Option<String>,
    },
    /// The attack exists but its parameters are wrong.
    #[error("attack `{attack}`: {source}")]
    Params {
        /// The attack's name.
        attack: String,
        /// What is wrong with the parameters.
        source: ParamError,
    },
    /// Two linked crates registered the same name.
    #[error("attack name `{name}` is registered more than once (by {}); unlink one of the crates", .by.join(" and "))]
    Duplicate {
        /// The contested name.
        name: String,
        /// The summaries of the registrations that claim it.
        by: Vec<String>,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// Attack names are matched case-insensitively, `-` and `_` alike.
fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

/// Every linked registration, sorted by name.
pub fn registrations() -> Vec<&'static Registration> {
    let mut all: Vec<&'static Registration> = inventory::iter::<Registration>.into_iter().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// Every name and alias that finds an attack, sorted.
pub fn known_names() -> Vec<String> {
    let mut names: Vec<String> = registrations()
        .iter()
        .flat_map(|r| std::iter::once(r.name).chain(r.aliases.iter().copied()))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The registration answering to `name` (or one of its aliases).
pub fn find(name: &str) -> Result<&'static Registration, RegistryError> {
    let key = normalize(name);
    let matches: Vec<&'static Registration> = registrations()
        .into_iter()
        .filter(|r| r.answers_to(&key))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let every = known_names();
            Err(RegistryError::UnknownAttack {
                name: name.to_string(),
                suggestion: nearest(name, every.iter().map(String::as_str)),
                known: registrations().iter().map(|r| r.name.to_string()).collect(),
            })
        }
        many => Err(RegistryError::Duplicate {
            name: name.to_string(),
            by: many
                .iter()
                .map(|r| format!("`{}`: {}", r.name, r.summary))
                .collect(),
        }),
    }
}

/// Builds the attack called `name` from `params` (a JSON map of parameter
/// names to values, or `null` for all defaults).
pub fn build(name: &str, params: &Value) -> Result<Box<dyn Attack>, RegistryError> {
    find(name)?.build(params)
}

/// What determines the numbers of attack `name` with `params`: its
/// canonical registry name, its [`Registration::version`] and its
/// [`Registration::canonical`] parameters, as one JSON value for hashing.
pub fn identity(name: &str, params: &Value) -> Result<Value, RegistryError> {
    let r = find(name)?;
    let config = (r.canonical)(params).map_err(|source| RegistryError::Params {
        attack: r.name.to_string(),
        source,
    })?;
    Ok(serde_json::json!({ "attack": r.name, "version": r.version, "config": config }))
}

/// Names or aliases claimed by more than one registration (should be empty;
/// [`find`] refuses such names).
pub fn duplicates() -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in registrations() {
        for name in std::iter::once(r.name).chain(r.aliases.iter().copied()) {
            *seen.entry(normalize(name)).or_default() += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| name)
        .collect()
}

/// A configuration struct an attack is built from.
///
/// Implement it on a `#[serde(default, deny_unknown_fields)]` struct whose
/// `Default` holds the paper's values, and declare its fields once in
/// [`AttackConfig::PARAMS`]; [`parse`] checks a parameter map against the
/// declaration, fills the struct and calls [`AttackConfig::validate`].
pub trait AttackConfig: Serialize + DeserializeOwned + Default {
    /// Every field, with its type, range and doc: the one declaration that
    /// `advcomp check`, `advcomp attack --list`, the catalogue snapshot and
    /// the docs read. A test holds it to the struct's fields.
    const PARAMS: &'static [Param];

    /// Checks what [`AttackConfig::PARAMS`] cannot say: rules between
    /// fields. Errors name a field ([`ParamError::invalid`]).
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
}

/// The defaults of `C` as a JSON map (for [`Registration::defaults`]).
pub fn defaults_of<C: AttackConfig>() -> Value {
    serde_json::to_value(C::default()).expect("attack configurations serialise to JSON")
}

/// `params` as `C` will be built from them, defaults filled in (for
/// [`Registration::canonical`]).
pub fn canonical_of<C: AttackConfig>(params: &Value) -> Result<Value, ParamError> {
    Ok(serde_json::to_value(parse::<C>(params)?).expect("attack configurations serialise to JSON"))
}

/// Fills `C` from `params` (a JSON map or `null`): missing fields take their
/// defaults; unknown keys, ill-typed values and out-of-range values are
/// errors that name the field.
pub fn parse<C: AttackConfig>(params: &Value) -> Result<C, ParamError> {
    let map = match params {
        Value::Null => return validated(C::default()),
        Value::Object(map) => map,
        other => {
            return Err(ParamError::NotAMap {
                found: describe_value(other),
            });
        }
    };
    advcomp_params::check(C::PARAMS, map)?;
    validated(advcomp_params::decode(map.clone())?)
}

fn validated<C: AttackConfig>(config: C) -> Result<C, ParamError> {
    config.validate()?;
    Ok(config)
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a map".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct TwoFields {
        epsilon: f64,
        steps: usize,
    }

    // The defaults are 0 and 0.
    impl AttackConfig for TwoFields {
        const PARAMS: &'static [Param] = &[
            Param::new("epsilon", ParamType::UNIT, "budget"),
            Param::new("steps", ParamType::NATURAL, "iterations"),
        ];
    }

    fn registration(params: &'static [Param]) -> Registration {
        Registration {
            name: "two_fields",
            aliases: &[],
            norm: Norm::Linf,
            targeted: false,
            summary: "a test configuration",
            paper: "none",
            params,
            defaults: defaults_of::<TwoFields>,
            canonical: canonical_of::<TwoFields>,
            build: |p| {
                parse::<TwoFields>(p)?;
                Ok(Box::new(crate::IterativeAttack::new(
                    "two_fields",
                    crate::attacks::FgsmConfig::default().engine(),
                )))
            },
            version: 1,
        }
    }

    /// The check every linked registration is held to finds each kind of
    /// mistake: a field left undeclared, a name declared twice, a default
    /// outside its declared range.
    #[test]
    fn declaration_problems_are_found() {
        const MISSING: &[Param] = &[Param::new("epsilon", ParamType::UNIT, "budget")];
        const TWICE: &[Param] = &[
            Param::new("epsilon", ParamType::UNIT, "budget"),
            Param::new("steps", ParamType::NATURAL, "iterations"),
            Param::new("steps", ParamType::NATURAL, "iterations"),
        ];
        const DEFAULT_OUT_OF_RANGE: &[Param] = &[
            Param::new("epsilon", ParamType::SHARE, "budget"),
            Param::new("steps", ParamType::NATURAL, "iterations"),
        ];
        assert!(
            registration(TwoFields::PARAMS)
                .declaration_problems()
                .is_empty()
        );
        for (params, expected) in [
            (MISSING, "but the configuration has"),
            (TWICE, "declared twice"),
            (DEFAULT_OUT_OF_RANGE, "the defaults fail the declaration"),
        ] {
            let problems = registration(params).declaration_problems();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }
}
