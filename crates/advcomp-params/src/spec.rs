//! [`Param`] and [`ParamType`]: one parameter's declaration.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One parameter of a component: what a user may write, and what it means.
///
/// Declared in `const` lists next to the component's configuration struct
/// (`Param::new("epsilon", ParamType::UNIT, "L-infinity budget")`). The
/// same value is serialised into the catalogue snapshot and read back there,
/// which is why the strings are `&'static str` (a snapshot is read once per
/// process and its strings live as long; see [`leak`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Param {
    /// The key in the parameter map (`"epsilon"`).
    pub name: &'static str,
    /// What it means, with its unit; one line.
    pub doc: &'static str,
    /// Its type and allowed range.
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Whether `null` is accepted (meaning "computed from the others", as
    /// the doc says).
    #[serde(default, skip_serializing_if = "is_false")]
    pub nullable: bool,
    /// Whether the value is a secret (a defence's passphrase): no error
    /// message quotes it, and the scenario checker replaces it by a
    /// stand-in before anything else sees it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
}

/// [`Param`] as a snapshot holds it; see [`leak`].
#[derive(Deserialize)]
struct ParamRepr {
    name: String,
    doc: String,
    #[serde(rename = "type")]
    ty: ParamType,
    #[serde(default)]
    nullable: bool,
    #[serde(default)]
    secret: bool,
}

impl From<ParamRepr> for Param {
    fn from(r: ParamRepr) -> Self {
        Param {
            name: leak(r.name),
            doc: leak(r.doc),
            ty: r.ty,
            nullable: r.nullable,
            secret: r.secret,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Param {
    /// A parameter of type `ty`.
    pub const fn new(name: &'static str, ty: ParamType, doc: &'static str) -> Self {
        Self {
            name,
            doc,
            ty,
            nullable: false,
            secret: false,
        }
    }

    /// The same parameter, also accepting `null`.
    pub const fn or_null(self) -> Self {
        Self {
            nullable: true,
            ..self
        }
    }

    /// The same parameter, whose value is a secret.
    pub const fn secret(self) -> Self {
        Self {
            secret: true,
            ..self
        }
    }
}

/// A parameter's type and range. Bounds are inclusive unless `open`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParamType {
    /// A whole number in `min..=max`.
    Int {
        /// Least value allowed.
        min: i64,
        /// Greatest value allowed (`None`: no bound).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    /// A finite number (whole numbers accepted) within the bounds.
    Number {
        /// Lower bound, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Whether the lower bound itself is excluded.
        #[serde(default, skip_serializing_if = "is_false")]
        min_open: bool,
        /// Upper bound, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        /// Whether the upper bound itself is excluded.
        #[serde(default, skip_serializing_if = "is_false")]
        max_open: bool,
    },
    /// `true` or `false`.
    Bool,
    /// One of a fixed set of words.
    Choice {
        /// The words allowed.
        choices: &'static [&'static str],
    },
    /// Any non-empty string (a passphrase, a component's name).
    Text,
    /// A list of non-empty strings (layer names). A scenario's list is a
    /// sweep, so such a parameter is set from Rust or the CLI, not `.scn`.
    TextList,
    /// A whole number in `min..=max`, or the word `auto`.
    IntOrAuto {
        /// Least value allowed.
        min: i64,
        /// Greatest value allowed.
        max: i64,
    },
}

impl ParamType {
    /// A count: a whole number ≥ 1.
    pub const COUNT: Self = Self::Int { min: 1, max: None };
    /// A whole number ≥ 0 (a seed, a number of epochs that may be 0).
    pub const NATURAL: Self = Self::Int { min: 0, max: None };
    /// A number > 0.
    pub const POSITIVE: Self = Self::Number {
        min: Some(0.0),
        min_open: true,
        max: None,
        max_open: false,
    };
    /// A number ≥ 0.
    pub const NON_NEGATIVE: Self = Self::Number {
        min: Some(0.0),
        min_open: false,
        max: None,
        max_open: false,
    };
    /// A number in `[0, 1]`.
    pub const UNIT: Self = Self::Number {
        min: Some(0.0),
        min_open: false,
        max: Some(1.0),
        max_open: false,
    };
    /// A number in `(0, 1]` (a share that cannot be empty).
    pub const SHARE: Self = Self::Number {
        min: Some(0.0),
        min_open: true,
        max: Some(1.0),
        max_open: false,
    };
    /// Any finite number.
    pub const REAL: Self = Self::Number {
        min: None,
        min_open: false,
        max: None,
        max_open: false,
    };

    /// A whole number in `min..=max`.
    pub const fn int(min: i64, max: i64) -> Self {
        Self::Int {
            min,
            max: Some(max),
        }
    }

    /// A number in `[min, max]`.
    pub const fn between(min: f64, max: f64) -> Self {
        Self::Number {
            min: Some(min),
            min_open: false,
            max: Some(max),
            max_open: false,
        }
    }

    /// A number in `(min, max]`.
    pub const fn above_to(min: f64, max: f64) -> Self {
        Self::Number {
            min: Some(min),
            min_open: true,
            max: Some(max),
            max_open: false,
        }
    }

    /// A number in `[min, max)`.
    pub const fn from_below(min: f64, max: f64) -> Self {
        Self::Number {
            min: Some(min),
            min_open: false,
            max: Some(max),
            max_open: true,
        }
    }

    /// A number in `(min, max)`.
    pub const fn strictly_between(min: f64, max: f64) -> Self {
        Self::Number {
            min: Some(min),
            min_open: true,
            max: Some(max),
            max_open: true,
        }
    }

    /// A number greater than `min`.
    pub const fn above(min: f64) -> Self {
        Self::Number {
            min: Some(min),
            min_open: true,
            max: None,
            max_open: false,
        }
    }

    /// A value of this type, inside its range: what a test writes for "any
    /// valid value" (every declared parameter must accept its example).
    pub fn example(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        match *self {
            ParamType::Int { min, max } => json!(max.map_or(min.max(1), |m| min.max(1).min(m))),
            ParamType::Number { min, max, .. } => json!(match (min, max) {
                (Some(lo), Some(hi)) => (lo + hi) / 2.0,
                (Some(lo), None) => lo + 1.0,
                (None, Some(hi)) => hi - 1.0,
                (None, None) => 0.5,
            }),
            ParamType::Bool => Value::Bool(true),
            ParamType::Choice { choices } => json!(choices.first().copied().unwrap_or("")),
            ParamType::Text => json!("example"),
            ParamType::TextList => json!(["example"]),
            ParamType::IntOrAuto { .. } => json!("auto"),
        }
    }

    /// One of `choices`.
    pub const fn choice(choices: &'static [&'static str]) -> Self {
        Self::Choice { choices }
    }
}

/// The type as a phrase: "a number in (0, 1]", "an integer ≥ 1", … Used in
/// error messages, `--list` and the docs.
impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParamType::Int { min, max: None } => write!(f, "an integer >= {min}"),
            ParamType::Int {
                min,
                max: Some(max),
            } => write!(f, "an integer in [{min}, {max}]"),
            ParamType::Number {
                min,
                min_open,
                max,
                max_open,
            } => {
                let low = if min_open { "(" } else { "[" };
                let high = if max_open { ")" } else { "]" };
                match (min, max) {
                    (None, None) => write!(f, "a number"),
                    (Some(lo), None) if min_open => write!(f, "a number > {lo}"),
                    (Some(lo), None) => write!(f, "a number >= {lo}"),
                    (None, Some(hi)) if max_open => write!(f, "a number < {hi}"),
                    (None, Some(hi)) => write!(f, "a number <= {hi}"),
                    (Some(lo), Some(hi)) => write!(f, "a number in {low}{lo}, {hi}{high}"),
                }
            }
            ParamType::Bool => write!(f, "`true` or `false`"),
            ParamType::Choice { choices } => {
                let quoted: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
                write!(f, "one of {}", quoted.join(", "))
            }
            ParamType::Text => write!(f, "a non-empty string"),
            ParamType::TextList => write!(f, "a list of names"),
            ParamType::IntOrAuto { min, max } => {
                write!(f, "an integer in [{min}, {max}] or `auto`")
            }
        }
    }
}

/// [`ParamType`] as a snapshot holds it: the same shape, owned strings.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TypeRepr {
    Int {
        min: i64,
        #[serde(default)]
        max: Option<i64>,
    },
    Number {
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        min_open: bool,
        #[serde(default)]
        max: Option<f64>,
        #[serde(default)]
        max_open: bool,
    },
    Bool,
    Choice {
        choices: Vec<String>,
    },
    Text,
    TextList,
    IntOrAuto {
        min: i64,
        max: i64,
    },
}

impl From<TypeRepr> for ParamType {
    fn from(r: TypeRepr) -> Self {
        match r {
            TypeRepr::Int { min, max } => ParamType::Int { min, max },
            TypeRepr::Number {
                min,
                min_open,
                max,
                max_open,
            } => ParamType::Number {
                min,
                min_open,
                max,
                max_open,
            },
            TypeRepr::Bool => ParamType::Bool,
            TypeRepr::Choice { choices } => {
                let leaked: Vec<&'static str> = choices.into_iter().map(leak).collect();
                ParamType::Choice {
                    choices: Box::leak(leaked.into_boxed_slice()),
                }
            }
            TypeRepr::Text => ParamType::Text,
            TypeRepr::TextList => ParamType::TextList,
            TypeRepr::IntOrAuto { min, max } => ParamType::IntOrAuto { min, max },
        }
    }
}

// Written out rather than derived: a derived `Deserialize` of a struct with
// `&'static str` fields borrows from the input for `'static`, which no
// snapshot read from a file can give.
impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ParamRepr::deserialize(d).map(Param::from)
    }
}

impl<'de> Deserialize<'de> for ParamType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TypeRepr::deserialize(d).map(ParamType::from)
    }
}

/// A string that lives for the rest of the process. Only catalogue
/// snapshots are deserialised, once per process, so what leaks is bounded
/// by the snapshot's size (tens of kilobytes).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
