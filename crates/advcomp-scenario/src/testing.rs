//! [`MockCatalog`]: a [`Catalog`] with the real vocabulary of advcomp's
//! registries (architectures, attacks, compressors, defences and their
//! parameters), for tests of this crate and of its callers that must not
//! build the deep-learning stack. It must agree with the real registries on
//! every name and alias and on the verdict (and error locations) of every
//! bad-corpus file and shipped scenario: `crates/advcomp-cli/tests/catalogs.rs`
//! holds it to them. The parameter rules are written again here, not
//! shared, which is why that test exists.

use serde_json::{Map, Value};

use crate::catalog::{Catalog, CatalogError, Kind};

/// The type and range of one parameter.
#[derive(Debug, Clone, Copy)]
enum Ty {
    /// An integer in `min..=max`.
    Int(i64, i64),
    /// A number (integers accepted) above `min` (`>` if `open`, else `>=`),
    /// at most `max`.
    Float { min: f64, open: bool, max: f64 },
    /// `true` / `false`.
    Bool,
    /// One of these strings (any string if empty).
    Str(&'static [&'static str]),
    /// An integer in `min..=max`, or the word `auto`.
    IntOrAuto(i64, i64),
}

const POS_INT: Ty = Ty::Int(1, i64::MAX);
const NAT: Ty = Ty::Int(0, i64::MAX);
const POS: Ty = Ty::Float {
    min: 0.0,
    open: true,
    max: f64::MAX,
};
const NONNEG: Ty = Ty::Float {
    min: 0.0,
    open: false,
    max: f64::MAX,
};
const UNIT: Ty = Ty::Float {
    min: 0.0,
    open: true,
    max: 1.0,
};
const BITS: Ty = Ty::Int(2, 16);
/// Any number (DNS's `alpha`).
const REAL: Ty = Ty::Float {
    min: f64::MIN,
    open: false,
    max: f64::MAX,
};
const ANY_STR: Ty = Ty::Str(&[]);

/// One entry of the catalog: canonical name, aliases, parameters.
struct Entry {
    kind: Kind,
    name: &'static str,
    aliases: &'static [&'static str],
    params: &'static [(&'static str, Ty)],
}

const TRAIN: &[(&str, Ty)] = &[
    ("epochs", POS_INT),
    ("batch_size", POS_INT),
    ("optimizer", Ty::Str(&["sgd", "adam"])),
    ("lr", POS),
    ("momentum", NONNEG),
    ("weight_decay", NONNEG),
    ("schedule", Ty::Str(&["constant", "cosine"])),
    ("seed", NAT),
];
const IFGSM: &[(&str, Ty)] = &[("epsilon", POS), ("step_size", POS), ("steps", POS_INT)];
const PGD: &[(&str, Ty)] = &[
    ("epsilon", POS),
    ("step_size", POS),
    ("steps", POS_INT),
    ("random_start", Ty::Bool),
    ("seed", NAT),
];
const IFGM: &[(&str, Ty)] = &[("epsilon", POS), ("step_size", POS), ("steps", POS_INT)];
const APGD: &[(&str, Ty)] = &[
    ("epsilon", POS),
    ("steps", POS_INT),
    (
        "rho",
        Ty::Float {
            min: 0.0,
            open: false,
            max: 1.0,
        },
    ),
    ("seed", NAT),
];
const DEEPFOOL: &[(&str, Ty)] = &[
    ("steps", POS_INT),
    ("overshoot", NONNEG),
    ("candidates", POS_INT),
];
const PRUNE: &[(&str, Ty)] = &[
    ("density", UNIT),
    ("scope", Ty::Str(&["layer", "global"])),
    ("schedule", Ty::Str(&["oneshot", "gradual"])),
];
/// Dynamic Network Surgery: `density`, or instead its threshold `alpha`
/// (any real number; the real catalogue refuses both or neither).
const DNS: &[(&str, Ty)] = &[
    ("density", UNIT),
    ("alpha", REAL),
    ("scope", Ty::Str(&["layer", "global"])),
    ("schedule", Ty::Str(&["oneshot", "gradual"])),
];
/// Integer bits of a fixed-point format, sign included, or `"auto"`.
const INT_BITS: Ty = Ty::IntOrAuto(-63, 65);
const QUANT: &[(&str, Ty)] = &[
    ("bits", BITS),
    ("weight_bits", BITS),
    ("act_bits", BITS),
    ("int_bits", INT_BITS),
    ("weight_int_bits", INT_BITS),
    ("act_int_bits", INT_BITS),
    ("frac_bits", Ty::Int(0, 16)),
    ("weight_frac_bits", Ty::Int(0, 16)),
    ("act_frac_bits", Ty::Int(0, 16)),
    ("act_signed", Ty::Bool),
];
const DEFENCE: &[(&str, Ty)] = &[
    ("key", ANY_STR),
    ("key_seed", NAT),
    ("epochs", NAT),
    ("lr", POS),
    ("seed", NAT),
    ("layers", ANY_STR),
    ("strength", NONNEG),
    ("slack", NONNEG),
    ("lambda", NONNEG),
    ("epsilon", POS),
    ("step_size", POS),
    ("steps", NAT),
    ("fraction", POS),
    (
        "percentile",
        Ty::Float {
            min: 0.0,
            open: true,
            max: 100.0,
        },
    ),
];

const ENTRIES: &[Entry] = &[
    Entry {
        kind: Kind::Architecture,
        name: "lenet5",
        aliases: &[],
        params: TRAIN,
    },
    Entry {
        kind: Kind::Architecture,
        name: "cifarnet",
        aliases: &[],
        params: TRAIN,
    },
    Entry {
        kind: Kind::Architecture,
        name: "cifarnet-tf",
        aliases: &["cifarnet_tf", "cifarnettf"],
        params: TRAIN,
    },
    Entry {
        kind: Kind::Attack,
        name: "fgsm",
        aliases: &[],
        params: &[("epsilon", POS)],
    },
    Entry {
        kind: Kind::Attack,
        name: "ifgsm",
        aliases: &["bim", "i_fgsm"],
        params: IFGSM,
    },
    Entry {
        kind: Kind::Attack,
        name: "pgd",
        aliases: &["pgd_linf"],
        params: PGD,
    },
    Entry {
        kind: Kind::Attack,
        name: "pgd_l2",
        aliases: &[],
        params: PGD,
    },
    Entry {
        kind: Kind::Attack,
        name: "ifgm",
        aliases: &["ifgm_l2", "bim_l2"],
        params: IFGM,
    },
    Entry {
        kind: Kind::Attack,
        name: "mifgsm",
        aliases: &["mi_fgsm"],
        params: &[
            ("epsilon", POS),
            ("steps", POS_INT),
            ("decay", NONNEG),
            ("step_size", POS),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "difgsm",
        aliases: &["di_fgsm", "di2_fgsm"],
        params: &[
            ("epsilon", POS),
            ("steps", POS_INT),
            ("step_size", POS),
            ("decay", NONNEG),
            (
                "probability",
                Ty::Float {
                    min: 0.0,
                    open: false,
                    max: 1.0,
                },
            ),
            ("resize_rate", UNIT),
            ("seed", NAT),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "tifgsm",
        aliases: &["ti_fgsm"],
        params: &[
            ("epsilon", POS),
            ("steps", POS_INT),
            ("step_size", POS),
            ("decay", NONNEG),
            ("kernel_size", Ty::Int(1, 63)),
            ("nsig", POS),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "nifgsm",
        aliases: &["ni_fgsm"],
        params: &[
            ("epsilon", POS),
            ("steps", POS_INT),
            ("step_size", POS),
            ("decay", NONNEG),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "vmifgsm",
        aliases: &["vmi_fgsm"],
        params: &[
            ("epsilon", POS),
            ("steps", POS_INT),
            ("step_size", POS),
            ("decay", NONNEG),
            ("samples", POS_INT),
            ("bound", POS),
            ("seed", NAT),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "apgd_ce",
        aliases: &["apgd"],
        params: APGD,
    },
    Entry {
        kind: Kind::Attack,
        name: "apgd_dlr",
        aliases: &["apgd_t"],
        params: APGD,
    },
    Entry {
        kind: Kind::Attack,
        name: "adaptive_pgd",
        aliases: &[],
        params: &[
            ("epsilon", POS),
            ("step_size", POS),
            ("steps", POS_INT),
            ("detector_weight", NONNEG),
            ("headroom", NONNEG),
            ("confidence", NONNEG),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "autoattack",
        aliases: &["auto_attack"],
        params: &[
            ("epsilon", POS),
            ("steps", POS_INT),
            ("target_classes", POS_INT),
            ("square_queries", POS_INT),
            ("seed", NAT),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "hop_skip_jump",
        aliases: &["hsj", "hopskipjump"],
        params: &[
            ("max_queries", POS_INT),
            ("initial_evaluations", POS_INT),
            ("max_evaluations", POS_INT),
            ("gamma", POS),
            ("init_tries", POS_INT),
            ("seed", NAT),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "boundary",
        aliases: &["boundary_attack"],
        params: &[
            ("max_queries", POS_INT),
            ("spherical_step", POS),
            ("source_step", POS),
            ("step_adaptation", POS),
            ("update_every", POS_INT),
            ("init_tries", POS_INT),
            ("seed", NAT),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "deepfool",
        aliases: &["deepfool_l2"],
        params: DEEPFOOL,
    },
    Entry {
        kind: Kind::Attack,
        name: "deepfool_linf",
        aliases: &[],
        params: DEEPFOOL,
    },
    Entry {
        kind: Kind::Attack,
        name: "cw_l2",
        aliases: &["cw", "carlini_wagner"],
        params: &[
            ("confidence", NONNEG),
            ("learning_rate", POS),
            ("binary_search_steps", POS_INT),
            ("initial_const", POS),
            ("max_iterations", POS_INT),
            ("abort_early", Ty::Bool),
        ],
    },
    Entry {
        kind: Kind::Attack,
        name: "jsma",
        aliases: &[],
        params: &[("theta", POS), ("gamma", UNIT)],
    },
    Entry {
        kind: Kind::Attack,
        name: "square",
        aliases: &["square_linf"],
        params: &[
            ("epsilon", POS),
            ("max_queries", POS_INT),
            ("p_init", UNIT),
            ("seed", NAT),
        ],
    },
    Entry {
        kind: Kind::Prune,
        name: "magnitude",
        aliases: &[],
        params: PRUNE,
    },
    Entry {
        kind: Kind::Prune,
        name: "dns",
        aliases: &[],
        params: DNS,
    },
    Entry {
        kind: Kind::Prune,
        name: "filter",
        aliases: &[],
        params: PRUNE,
    },
    Entry {
        kind: Kind::Quantise,
        name: "fixed",
        aliases: &[],
        params: QUANT,
    },
    Entry {
        kind: Kind::Quantise,
        name: "dynamic",
        aliases: &[],
        params: QUANT,
    },
    Entry {
        kind: Kind::Finetune,
        name: "finetune",
        aliases: &[],
        params: &[
            ("epochs", NAT),
            ("lr", POS),
            ("batch_size", POS_INT),
            ("seed", NAT),
        ],
    },
    Entry {
        kind: Kind::Defence,
        name: "taboo",
        aliases: &[],
        params: DEFENCE,
    },
    Entry {
        kind: Kind::Defence,
        name: "sitatapatra",
        aliases: &[],
        params: DEFENCE,
    },
    Entry {
        kind: Kind::Defence,
        name: "adversarial",
        aliases: &[],
        params: DEFENCE,
    },
];

/// A catalog of advcomp's vocabulary with no registry behind it.
#[derive(Debug, Clone, Copy, Default)]
pub struct MockCatalog;

fn entry(kind: Kind, name: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.kind == kind && e.name == name)
}

impl Catalog for MockCatalog {
    fn names(&self, kind: Kind) -> Vec<String> {
        ENTRIES
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.name.to_string())
            .collect()
    }

    /// Names match as the registries match them: ignoring case, and for
    /// attacks with `-` and `_` interchangeable.
    fn resolve(&self, kind: Kind, name: &str) -> Option<String> {
        let key = if kind == Kind::Attack {
            name.to_ascii_lowercase().replace('-', "_")
        } else {
            name.to_ascii_lowercase()
        };
        let key = key.as_str();
        ENTRIES
            .iter()
            .find(|e| e.kind == kind && (e.name == key || e.aliases.contains(&key)))
            .map(|e| e.name.to_string())
    }

    /// Every attack but DeepFool takes targets; the rules are the
    /// registry's (`next`, `random`, `random:SEED`, `least_likely`, a class
    /// index).
    fn check_target(&self, name: &str, value: &Value) -> Result<(), CatalogError> {
        if name.starts_with("deepfool") {
            return Err(CatalogError::field(
                "target",
                format!("attack `{name}` is untargeted only"),
            ));
        }
        let ok = match value {
            Value::Number(n) => n.is_u64(),
            Value::String(s) => {
                let s = s.trim().to_ascii_lowercase().replace('-', "_");
                matches!(s.as_str(), "next" | "random" | "least_likely" | "ll")
                    || s.strip_prefix("random:")
                        .is_some_and(|seed| seed.parse::<u64>().is_ok())
                    || s.parse::<u64>().is_ok()
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(CatalogError::field(
                "target",
                format!(
                    "unknown target {value}; expected `next`, `random`, `random:SEED`, `least_likely` or a class index"
                ),
            ))
        }
    }

    /// Keyed defences' `key` is secret; its stand-in is `#` and an FNV-1a
    /// hash (the real catalogue uses the key's id).
    fn conceal(&self, kind: Kind, name: &str, param: &str, value: &str) -> Option<String> {
        if kind != Kind::Defence || name == "adversarial" || param != "key" {
            return None;
        }
        let hash = value.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Some(format!("#{hash:016x}"))
    }

    fn check(
        &self,
        kind: Kind,
        name: &str,
        params: &Map<String, Value>,
    ) -> Result<(), CatalogError> {
        let Some(entry) = entry(kind, name) else {
            return Err(CatalogError::general(format!(
                "unknown {} `{name}`",
                kind.describe()
            )));
        };
        for (key, value) in params {
            let Some(&(_, ty)) = entry.params.iter().find(|(n, _)| n == key) else {
                let known: Vec<&str> = entry.params.iter().map(|(n, _)| *n).collect();
                let message = if known.is_empty() {
                    format!("`{name}` takes no parameters, found `{key}`")
                } else {
                    format!(
                        "unknown parameter `{key}` for {} `{name}` (known: {})",
                        kind.describe(),
                        known.join(", ")
                    )
                };
                let mut err = CatalogError::unknown_field(key, message);
                if let Some(best) = nearest(key, &known) {
                    err = err.suggest(best);
                }
                return Err(err);
            };
            check_value(key, ty, value)?;
        }
        Ok(())
    }
}

fn nearest(key: &str, known: &[&str]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.to_string())
}

fn check_value(key: &str, ty: Ty, value: &Value) -> Result<(), CatalogError> {
    let err = |m: String| Err(CatalogError::field(key, m));
    match ty {
        Ty::IntOrAuto(_, _) if value.as_str() == Some("auto") => {}
        Ty::IntOrAuto(min, max) => return check_value(key, Ty::Int(min, max), value),
        Ty::Int(min, max) => match value.as_i64() {
            Some(i) if value.is_i64() || value.is_u64() => {
                if i < min || i > max {
                    return match (min, max) {
                        (_, i64::MAX) => err(format!("`{key}` must be at least {min}, found {i}")),
                        _ => err(format!(
                            "`{key}` must be between {min} and {max}, found {i}"
                        )),
                    };
                }
            }
            _ => {
                return err(format!(
                    "`{key}` must be an integer, found {}",
                    json_kind(value)
                ));
            }
        },
        Ty::Float { min, open, max } => {
            let Some(f) = value.as_f64() else {
                return err(format!(
                    "`{key}` must be a number, found {}",
                    json_kind(value)
                ));
            };
            let low_ok = if open { f > min } else { f >= min };
            if !low_ok || f > max {
                let low = if open {
                    format!("> {min}")
                } else {
                    format!(">= {min}")
                };
                let range = if max == f64::MAX {
                    low
                } else {
                    format!("{low} and <= {max}")
                };
                return err(format!("`{key}` must be {range}, found {f}"));
            }
        }
        Ty::Bool => {
            if !value.is_boolean() {
                return err(format!(
                    "`{key}` must be `true` or `false`, found {}",
                    json_kind(value)
                ));
            }
        }
        Ty::Str(choices) => {
            let Some(s) = value.as_str() else {
                return err(format!(
                    "`{key}` must be a string, found {}",
                    json_kind(value)
                ));
            };
            if !choices.is_empty() && !choices.contains(&s) {
                let mut e = CatalogError::field(
                    key,
                    format!("`{key}` must be one of {}, found `{s}`", choices.join(", ")),
                );
                if let Some(best) = nearest(s, choices) {
                    e = e.suggest(best);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a map".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn aliases_resolve_to_canonical_names() {
        assert_eq!(
            MockCatalog.resolve(Kind::Attack, "bim").as_deref(),
            Some("ifgsm")
        );
        assert_eq!(
            MockCatalog.resolve(Kind::Attack, "cw").as_deref(),
            Some("cw_l2")
        );
        assert_eq!(MockCatalog.resolve(Kind::Attack, "nope"), None);
        assert_eq!(MockCatalog.names(Kind::Finetune), vec!["finetune"]);
    }

    #[test]
    fn parameters_are_typed_and_ranged() {
        let c = MockCatalog;
        assert!(
            c.check(Kind::Attack, "fgsm", &map(json!({"epsilon": 0.1})))
                .is_ok()
        );
        assert!(
            c.check(Kind::Attack, "cw_l2", &map(json!({"initial_const": 1})))
                .is_ok()
        );
        let e = c
            .check(Kind::Attack, "fgsm", &map(json!({"epsilon": -0.1})))
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("epsilon"));
        let e = c
            .check(Kind::Attack, "fgsm", &map(json!({"epsilom": 0.1})))
            .unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("epsilon"));
        assert!(
            c.check(Kind::Quantise, "fixed", &map(json!({"bits": 1})))
                .is_err()
        );
        assert!(
            c.check(Kind::Quantise, "fixed", &map(json!({"bits": 17})))
                .is_err()
        );
        assert!(
            c.check(Kind::Prune, "magnitude", &map(json!({"density": 1.5})))
                .is_err()
        );
        assert!(
            c.check(Kind::Architecture, "lenet5", &map(json!({"epochs": 1.5})))
                .is_err()
        );
    }

    #[test]
    fn dns_takes_alpha_as_the_real_catalogue_does() {
        let c = MockCatalog;
        for alpha in [json!(-0.1), json!(1), json!(1.5)] {
            assert!(
                c.check(Kind::Prune, "dns", &map(json!({"alpha": alpha})))
                    .is_ok()
            );
        }
        let e = c
            .check(Kind::Prune, "dns", &map(json!({"alpha": "high"})))
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("alpha"));
        let e = c
            .check(Kind::Prune, "magnitude", &map(json!({"alpha": 0.5})))
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("alpha"));
    }
}
