//! The catalogue snapshot: the real registries' vocabulary (every
//! component's names, aliases and declared parameters) as JSON, so that
//! this crate's tests, and any tool that must not link the deep-learning
//! stack, check scenarios exactly as `advcomp run` does.
//!
//! `cargo xtask catalog` writes `crates/advcomp-scenario/catalog.json` from
//! the registries advcomp is built with (plugins included); a test of the
//! CLI crate fails when the file is out of date, and another requires the
//! snapshot and the real registries to give the same verdict on every
//! bad-corpus file and shipped scenario. Nothing here is written by hand.
//!
//! What the snapshot cannot carry are the rules *between* parameters that a
//! component checks in code after its declaration ("`key` or `key_seed`,
//! not both"); `advcomp check` with the real registries applies them.

use std::sync::OnceLock;

use advcomp_params::Param;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::{Catalog, CatalogError, Kind};

/// The whole vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogSnapshot {
    /// How to regenerate it (the file says so to whoever opens it).
    pub generated_by: String,
    /// Every component of every kind, in registry order.
    pub components: Vec<Component>,
    /// The words and seeded rules a `target` may name.
    pub target_rules: TargetRules,
}

/// One registered component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Its kind.
    pub kind: Kind,
    /// Its canonical name.
    pub name: String,
    /// One line: what it is (its registration's summary).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// Other names that find it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Its parameters, as the component declares them.
    pub params: Vec<Param>,
    /// An attack that accepts target labels.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub targeted: bool,
    /// Parameters it does not declare go to the attack named by its
    /// `attack` parameter (default `pgd`), as adversarial training does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forwards_to_attack: bool,
}

/// The target rules of the attack registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRules {
    /// Rule names (`next`, `least_likely`, …), matched case-insensitively
    /// with `-` and `_` alike.
    pub words: Vec<String>,
    /// Rules that also take a seed as `RULE:SEED` (`random:7`).
    pub seeded: Vec<String>,
}

impl CatalogSnapshot {
    /// The snapshot as JSON, the way `cargo xtask catalog` writes it.
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("a catalogue snapshot serialises to JSON");
        text.push('\n');
        text
    }

    /// The snapshot as the reference page `docs/catalogue.md`: one table
    /// of parameters per component, grouped by kind.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "# Catalogue\n\n\
             Every component advcomp is built with (plugins included) and every parameter it\n\
             takes, with its type and range. Written from the registries by\n\
             `cargo xtask catalog`; do not edit (a test fails when it is out of date).\n\
             Parameters left out take their defaults (`advcomp attack --list` shows an\n\
             attack's defaults).\n",
        );
        let kinds = [
            (Kind::Architecture, "Architectures (training parameters)"),
            (Kind::Attack, "Attacks"),
            (Kind::Prune, "Pruning"),
            (Kind::Quantise, "Quantisation"),
            (Kind::Finetune, "Fine-tuning"),
            (Kind::Defence, "Defences"),
        ];
        for (kind, title) in kinds {
            if !self.components.iter().any(|c| c.kind == kind) {
                continue;
            }
            out.push_str(&format!("\n## {title}\n"));
            for c in self.components.iter().filter(|c| c.kind == kind) {
                out.push_str(&format!("\n### `{}`\n\n", c.name));
                if let Some(first) = c.summary.chars().next() {
                    // Registries write summaries as lines of a listing;
                    // here each is a sentence.
                    let rest = &c.summary[first.len_utf8()..];
                    out.push_str(&format!(
                        "{}{}.\n\n",
                        first.to_uppercase(),
                        rest.trim_end_matches('.')
                    ));
                }
                let mut notes = Vec::new();
                if !c.aliases.is_empty() {
                    let quoted: Vec<String> = c.aliases.iter().map(|a| format!("`{a}`")).collect();
                    notes.push(format!("Also called {}.", quoted.join(", ")));
                }
                if c.targeted {
                    notes.push("Takes a `target`.".to_string());
                }
                if c.forwards_to_attack {
                    notes.push("Also takes its attack's parameters.".to_string());
                }
                if !notes.is_empty() {
                    out.push_str(&format!("{}\n\n", notes.join(" ")));
                }
                if c.params.is_empty() {
                    out.push_str("No parameters.\n");
                    continue;
                }
                out.push_str("| parameter | type | meaning |\n|---|---|---|\n");
                for p in &c.params {
                    let mut ty = p.ty.to_string();
                    if p.nullable {
                        ty.push_str(", or null");
                    }
                    let secret = if p.secret {
                        " (secret: never shown, logged or stored)"
                    } else {
                        ""
                    };
                    out.push_str(&format!(
                        "| `{}` | {} | {}{} |\n",
                        p.name,
                        ty.replace('|', "\\|"),
                        p.doc.replace('|', "\\|"),
                        secret
                    ));
                }
            }
        }
        out
    }

    /// Reads a snapshot written by [`CatalogSnapshot::to_json`].
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    fn find(&self, kind: Kind, name: &str) -> Option<&Component> {
        let key = normalize(kind, name);
        self.components.iter().find(|c| {
            c.kind == kind
                && (normalize(kind, &c.name) == key
                    || c.aliases.iter().any(|a| normalize(kind, a) == key))
        })
    }
}

/// How the registries match names: ignoring case and surrounding blanks;
/// attacks with `-` and `_` alike, architectures with both left out
/// (`LeNet-5` is `lenet5`).
fn normalize(kind: Kind, name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match kind {
        Kind::Attack => lower.replace('-', "_"),
        Kind::Architecture => lower.replace(['-', '_'], ""),
        _ => lower,
    }
}

/// The snapshot shipped with this crate (`catalog.json`), read once.
pub fn shipped() -> &'static CatalogSnapshot {
    static SHIPPED: OnceLock<CatalogSnapshot> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        CatalogSnapshot::from_json(include_str!("../catalog.json"))
            .expect("crates/advcomp-scenario/catalog.json is written by `cargo xtask catalog`")
    })
}

/// The shipped snapshot as a [`Catalog`], for tests and burn-free tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotCatalog;

impl Catalog for SnapshotCatalog {
    fn names(&self, kind: Kind) -> Vec<String> {
        shipped().names(kind)
    }
    fn resolve(&self, kind: Kind, name: &str) -> Option<String> {
        shipped().resolve(kind, name)
    }
    fn check(
        &self,
        kind: Kind,
        name: &str,
        params: &Map<String, Value>,
    ) -> Result<(), CatalogError> {
        shipped().check(kind, name, params)
    }
    fn check_target(&self, name: &str, value: &Value) -> Result<(), CatalogError> {
        shipped().check_target(name, value)
    }
    fn conceal(&self, kind: Kind, name: &str, param: &str, value: &str) -> Option<String> {
        shipped().conceal(kind, name, param, value)
    }
}

impl Catalog for CatalogSnapshot {
    fn names(&self, kind: Kind) -> Vec<String> {
        self.components
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name.clone())
            .collect()
    }

    fn resolve(&self, kind: Kind, name: &str) -> Option<String> {
        self.find(kind, name).map(|c| c.name.clone())
    }

    fn check(
        &self,
        kind: Kind,
        name: &str,
        params: &Map<String, Value>,
    ) -> Result<(), CatalogError> {
        let Some(component) = self.find(kind, name) else {
            return Err(CatalogError::general(format!(
                "unknown {} `{name}`",
                kind.describe()
            )));
        };
        if !component.forwards_to_attack {
            return advcomp_params::check(&component.params, params).map_err(CatalogError::from);
        }
        let (own, forwarded): (Map<String, Value>, Map<String, Value>) = params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(k, _)| component.params.iter().any(|p| p.name == k));
        advcomp_params::check(&component.params, &own)?;
        let attack = own.get("attack").and_then(Value::as_str).unwrap_or("pgd");
        let Some(attack) = self.find(Kind::Attack, attack) else {
            return Err(CatalogError::field(
                "attack",
                format!("unknown attack `{attack}`"),
            ));
        };
        advcomp_params::check(&attack.params, &forwarded).map_err(|e| match e {
            advcomp_params::ParamError::Unknown {
                field,
                known,
                suggestion,
            } => {
                let mut all: Vec<String> = component
                    .params
                    .iter()
                    .map(|p| p.name.to_string())
                    .collect();
                all.extend(known);
                CatalogError::from(advcomp_params::ParamError::Unknown {
                    field,
                    known: all,
                    suggestion,
                })
            }
            other => CatalogError::from(other),
        })
    }

    fn check_target(&self, name: &str, value: &Value) -> Result<(), CatalogError> {
        let targeted = self.find(Kind::Attack, name).is_some_and(|c| c.targeted);
        if !targeted {
            return Err(CatalogError::field(
                "target",
                format!("attack `{name}` is untargeted only"),
            ));
        }
        let rules = &self.target_rules;
        let ok = match value {
            Value::Number(n) => n.is_u64(),
            Value::String(s) => {
                let s = normalize(Kind::Attack, s);
                rules.words.contains(&s)
                    || s.parse::<u64>().is_ok()
                    || s.split_once(':').is_some_and(|(rule, seed)| {
                        rules.seeded.iter().any(|r| *r == rule) && seed.parse::<u64>().is_ok()
                    })
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(CatalogError::field(
                "target",
                format!(
                    "unknown target {value}; expected one of {}, RULE:SEED for {}, or a class index",
                    rules.words.join(", "),
                    rules.seeded.join(", ")
                ),
            ))
        }
    }

    /// A secret's stand-in is `#` and an FNV-1a hash of the value: unique
    /// per value and revealing nothing, though not the key id the real
    /// catalogue shows (which needs the defence crate).
    fn conceal(&self, kind: Kind, name: &str, param: &str, value: &str) -> Option<String> {
        let component = self.find(kind, name)?;
        if !component.params.iter().any(|p| p.name == param && p.secret) {
            return None;
        }
        let hash = value.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Some(format!("#{hash:016x}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_shipped_snapshot_reads_and_round_trips() {
        let snapshot = shipped();
        assert!(snapshot.components.len() > 20);
        let again = CatalogSnapshot::from_json(&snapshot.to_json()).unwrap();
        assert_eq!(&again, snapshot);
    }

    #[test]
    fn aliases_resolve_to_canonical_names() {
        let c = SnapshotCatalog;
        assert_eq!(c.resolve(Kind::Attack, "bim").as_deref(), Some("ifgsm"));
        assert_eq!(c.resolve(Kind::Attack, "PGD-L2").as_deref(), Some("pgd_l2"));
        assert_eq!(c.resolve(Kind::Attack, "nope"), None);
        assert_eq!(c.names(Kind::Finetune), vec!["finetune"]);
    }

    #[test]
    fn parameters_are_checked_against_their_declarations() {
        let c = SnapshotCatalog;
        c.check(Kind::Attack, "fgsm", &map(json!({"epsilon": 0.1})))
            .unwrap();
        let e = c
            .check(Kind::Attack, "fgsm", &map(json!({"epsilon": -0.1})))
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("epsilon"));
        let e = c
            .check(Kind::Attack, "fgsm", &map(json!({"epsilom": 0.1})))
            .unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("epsilon"));
        assert!(e.unknown_parameter);
        for (kind, name, bad) in [
            (Kind::Quantise, "fixed", json!({"bits": 1})),
            (Kind::Quantise, "fixed", json!({"bits": 17})),
            (Kind::Prune, "magnitude", json!({"density": 1.5})),
            (Kind::Architecture, "lenet5", json!({"epochs": 1.5})),
        ] {
            assert!(
                c.check(kind, name, &map(bad.clone())).is_err(),
                "{name} {bad}"
            );
        }
    }

    #[test]
    fn adversarial_training_takes_its_attacks_parameters() {
        let c = SnapshotCatalog;
        c.check(
            Kind::Defence,
            "adversarial",
            &map(json!({"epsilon": 0.1, "steps": 3})),
        )
        .unwrap();
        c.check(
            Kind::Defence,
            "adversarial",
            &map(json!({"attack": "fgsm", "epsilon": 0.1})),
        )
        .unwrap();
        let e = c
            .check(
                Kind::Defence,
                "adversarial",
                &map(json!({"attack": "fgsm", "steps": 3})),
            )
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("steps"));
        assert!(e.message.contains("fraction"), "{}", e.message);
    }

    #[test]
    fn targets_follow_the_registry_rules() {
        let c = SnapshotCatalog;
        for ok in [
            json!("next"),
            json!("Least-Likely"),
            json!("random:7"),
            json!(3),
        ] {
            c.check_target("pgd", &ok).unwrap();
        }
        for bad in [json!("nxt"), json!("next:3"), json!(-1), json!(true)] {
            assert!(c.check_target("pgd", &bad).is_err(), "{bad}");
        }
        assert!(c.check_target("deepfool", &json!("next")).is_err());
    }

    #[test]
    fn only_declared_secrets_are_concealed() {
        let c = SnapshotCatalog;
        let a = c.conceal(Kind::Defence, "taboo", "key", "hunter2").unwrap();
        assert!(a.starts_with('#') && !a.contains("hunter2"));
        assert_ne!(Some(a), c.conceal(Kind::Defence, "taboo", "key", "hunter3"));
        assert_eq!(c.conceal(Kind::Defence, "taboo", "lambda", "1"), None);
        assert_eq!(c.conceal(Kind::Defence, "adversarial", "key", "x"), None);
    }
}
