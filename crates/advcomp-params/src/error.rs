//! The one error type for a refused parameter map.

/// Why a parameter map was refused. Every variant names the field at fault
/// (except [`ParamError::NotAMap`]), so a scenario diagnostic can point at
/// it and the CLI can name it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// The map has a key the component does not know.
    #[error("unknown parameter `{field}`{}; known parameters: {}", did_you_mean(.suggestion), .known.join(", "))]
    Unknown {
        /// The key given.
        field: String,
        /// The component's parameters, in declaration order.
        known: Vec<String>,
        /// The nearest known parameter, if one is close.
        suggestion: Option<String>,
    },
    /// A value has the wrong type or is out of range, or conflicts with
    /// another parameter.
    #[error("parameter `{field}`: {message}")]
    Invalid {
        /// The parameter at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A rule of the component as a whole is broken, one no single field
    /// is to blame for (a keyed defence given neither `key` nor
    /// `key_seed`), checked after the declaration. A conflict that a field
    /// brings in (`key_seed` after `key`) is [`ParamError::Invalid`] on it.
    #[error("{message}")]
    Rule {
        /// What is wrong.
        message: String,
    },
    /// The parameters are not a map.
    #[error("parameters must be a map from names to values, got {found}")]
    NotAMap {
        /// What was given instead.
        found: String,
    },
}

impl ParamError {
    /// A bad value of `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ParamError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A broken rule of the component as a whole.
    pub fn rule(message: impl Into<String>) -> Self {
        ParamError::Rule {
            message: message.into(),
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ParamError::Unknown { field, .. } | ParamError::Invalid { field, .. } => Some(field),
            ParamError::Rule { .. } | ParamError::NotAMap { .. } => None,
        }
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}
