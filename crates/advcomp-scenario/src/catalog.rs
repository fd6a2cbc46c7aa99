//! What the front end must know about the registries, as a trait the
//! runner implements over the real ones (attack registry, compressors,
//! defences, training configurations). Keeping it a trait keeps this crate
//! free of burn and of every advcomp crate but the parameter declarations
//! (`advcomp-params`), and lets tests use the catalogue snapshot
//! ([`SnapshotCatalog`](crate::snapshot::SnapshotCatalog)).

use advcomp_params::ParamError;
use serde_json::{Map, Value};

/// The kinds of named thing a scenario refers to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A network architecture (`lenet5`); its parameters are training options.
    Architecture,
    /// An attack registry name (`fgsm`).
    Attack,
    /// A pruning method (`magnitude`).
    Prune,
    /// A quantisation method (`fixed`).
    Quantise,
    /// Fine-tuning; its one implicit name is `finetune`.
    Finetune,
    /// A keyed defence (`taboo`).
    Defence,
}

impl Kind {
    /// How the kind is called in messages ("architecture", "prune method").
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Architecture => "architecture",
            Kind::Attack => "attack",
            Kind::Prune => "prune method",
            Kind::Quantise => "quantise method",
            Kind::Finetune => "fine-tuning",
            Kind::Defence => "defence",
        }
    }
}

/// Why a parameter map was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CatalogError {
    /// The parameter at fault, if one is (the diagnostic then points at its value,
    /// or at its name when the parameter itself is unknown).
    pub field: Option<String>,
    /// What is wrong (`epsilon must be > 0`).
    pub message: String,
    /// The nearest valid name or value (`epsilon`), shown as "did you mean".
    pub suggestion: Option<String>,
    /// Whether `field` is not a parameter at all (the diagnostic then points
    /// at the parameter's name rather than its value).
    pub unknown_parameter: bool,
}

impl CatalogError {
    /// An error about parameter `field`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        CatalogError {
            field: Some(field.to_string()),
            message: message.into(),
            suggestion: None,
            unknown_parameter: false,
        }
    }

    /// `field` is not a parameter of this method.
    pub fn unknown_field(field: &str, message: impl Into<String>) -> Self {
        CatalogError {
            unknown_parameter: true,
            ..Self::field(field, message)
        }
    }

    /// An error about the whole map.
    pub fn general(message: impl Into<String>) -> Self {
        CatalogError {
            field: None,
            message: message.into(),
            suggestion: None,
            unknown_parameter: false,
        }
    }

    /// Adds a suggestion.
    pub fn suggest(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }
}

/// A declaration's verdict as the scenario checker reports it: an unknown
/// parameter points at its name, with the nearest declared one; a bad value
/// points at the value.
impl From<ParamError> for CatalogError {
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::Unknown {
                field,
                known,
                suggestion,
            } => {
                let err = CatalogError::unknown_field(
                    &field,
                    format!(
                        "unknown parameter `{field}`; known parameters: {}",
                        known.join(", ")
                    ),
                );
                match suggestion {
                    Some(s) => err.suggest(s),
                    None => err,
                }
            }
            ParamError::Invalid { field, message } => {
                let message = if message.contains(&format!("`{field}`")) {
                    message
                } else {
                    format!("`{field}` {message}")
                };
                CatalogError::field(&field, message)
            }
            other => CatalogError::general(other.to_string()),
        }
    }
}

/// The registries as the scenario front end sees them.
pub trait Catalog {
    /// Known names of this kind (for "unknown X; known: ..." and suggestions).
    /// `Finetune` has the one implicit name `"finetune"`.
    fn names(&self, kind: Kind) -> Vec<String>;

    /// The canonical name if `name` is known (aliases allowed, e.g. `"bim"` →
    /// `"ifgsm"`), else `None`.
    fn resolve(&self, kind: Kind, name: &str) -> Option<String>;

    /// Validates one concrete parameter map (after sweep expansion, so no
    /// lists) of the canonical `name`. The error's `field` names the parameter
    /// at fault so the diagnostic can point at it.
    fn check(
        &self,
        kind: Kind,
        name: &str,
        params: &Map<String, Value>,
    ) -> Result<(), CatalogError>;

    /// Checks the `target` run option of the canonical attack `name` (a
    /// rule such as `"next"`, or a class index): the attack must accept
    /// targets and the registry must know the rule. The default refuses
    /// every target, for a catalogue without targeted attacks.
    fn check_target(&self, name: &str, value: &Value) -> Result<(), CatalogError> {
        let _ = value;
        Err(CatalogError::field(
            "target",
            format!("attack `{name}` takes no target"),
        ))
    }

    /// If parameter `param` of the canonical `name` is a secret (a defence
    /// passphrase), the public stand-in that replaces `value` everywhere
    /// (ids, plans, caches, reports): a string derived from `value` that
    /// does not reveal it, unique per value. `None` for public parameters,
    /// the default. See [`crate::secret`].
    fn conceal(&self, kind: Kind, name: &str, param: &str, value: &str) -> Option<String> {
        let _ = (kind, name, param, value);
        None
    }
}
