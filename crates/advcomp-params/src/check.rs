//! [`check`]: a parameter map against its declaration.

use serde_json::{Map, Value};

use crate::{Param, ParamError, ParamType};

/// Checks every key of `map` against `params`: the key must be declared
/// (else [`ParamError::Unknown`] with the nearest declared name) and its
/// value must have the declared type and lie in the declared range (else
/// [`ParamError::Invalid`] naming the field). Missing keys are fine: they
/// take the component's defaults. Rules between parameters ("`key` or
/// `key_seed`, not both") are the component's own, checked after this.
pub fn check(params: &[Param], map: &Map<String, Value>) -> Result<(), ParamError> {
    for (key, value) in map {
        let Some(param) = params.iter().find(|p| p.name == key) else {
            let known: Vec<String> = params.iter().map(|p| p.name.to_string()).collect();
            return Err(ParamError::Unknown {
                field: key.clone(),
                suggestion: nearest(key, params.iter().map(|p| p.name)),
                known,
            });
        };
        param.check(value)?;
    }
    Ok(())
}

impl Param {
    /// Checks one value of this parameter.
    pub fn check(&self, value: &Value) -> Result<(), ParamError> {
        if value.is_null() && self.nullable {
            return Ok(());
        }
        if fits(self.ty, value) {
            Ok(())
        } else {
            let mut message = if self.secret {
                format!(
                    "must be {} (the value given is secret and not shown)",
                    self.ty
                )
            } else {
                format!("must be {}, found {}", self.ty, describe(value))
            };
            if !self.secret
                && let (ParamType::Choice { choices }, Some(word)) = (self.ty, value.as_str())
                && let Some(best) = nearest(word, choices.iter().copied())
            {
                message.push_str(&format!(" (did you mean `{best}`?)"));
            }
            Err(ParamError::invalid(self.name, message))
        }
    }
}

fn fits(ty: ParamType, value: &Value) -> bool {
    match ty {
        ParamType::Int { min, max } => whole(value)
            .is_some_and(|i| i >= i128::from(min) && max.is_none_or(|m| i <= i128::from(m))),
        ParamType::Number {
            min,
            min_open,
            max,
            max_open,
        } => value.as_f64().is_some_and(|x| {
            x.is_finite()
                && min.is_none_or(|lo| if min_open { x > lo } else { x >= lo })
                && max.is_none_or(|hi| if max_open { x < hi } else { x <= hi })
        }),
        ParamType::Bool => value.is_boolean(),
        ParamType::Choice { choices } => value.as_str().is_some_and(|s| choices.contains(&s)),
        ParamType::Text => value.as_str().is_some_and(|s| !s.is_empty()),
        ParamType::TextList => value.as_array().is_some_and(|all| {
            all.iter()
                .all(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        }),
        ParamType::IntOrAuto { min, max } => {
            value.as_str() == Some("auto") || fits(ParamType::int(min, max), value)
        }
    }
}

/// A JSON number that is a whole number, widened so that `u64` values above
/// `i64::MAX` compare correctly.
fn whole(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

/// A value as an error message quotes it.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a map".into(),
    }
}

/// The nearest of `candidates` to `given` by edit distance, if it is close
/// enough to be a plausible typo (at most 2 edits, or a third of the name).
/// Names are compared case-insensitively with `-` and `_` alike.
pub fn nearest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let normalize = |s: &str| s.trim().to_ascii_lowercase().replace('-', "_");
    let given = normalize(given);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&given, &normalize(c)), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PARAMS: &[Param] = &[
        Param::new("epsilon", ParamType::SHARE, "budget"),
        Param::new("steps", ParamType::COUNT, "iterations"),
        Param::new("step_size", ParamType::POSITIVE, "step").or_null(),
        Param::new("random_start", ParamType::Bool, "random start"),
        Param::new("scope", ParamType::choice(&["layer", "global"]), "scope"),
        Param::new(
            "int_bits",
            ParamType::IntOrAuto { min: -63, max: 65 },
            "bits",
        ),
        Param::new("seed", ParamType::NATURAL, "seed"),
        Param::new("rate", ParamType::from_below(0.0, 1.0), "rate"),
    ];

    fn run(v: Value) -> Result<(), ParamError> {
        check(PARAMS, v.as_object().unwrap())
    }

    #[test]
    fn accepts_values_in_range_and_absent_keys() {
        run(json!({})).unwrap();
        run(
            json!({"epsilon": 1, "steps": 3, "step_size": null, "random_start": true,
                   "scope": "global", "int_bits": "auto", "seed": u64::MAX}),
        )
        .unwrap();
        run(json!({"epsilon": 0.001, "int_bits": -2})).unwrap();
    }

    #[test]
    fn refuses_with_the_field_and_the_range() {
        for (bad, field, message) in [
            (
                json!({"epsilon": 0}),
                "epsilon",
                "must be a number in (0, 1], found `0`",
            ),
            (
                json!({"epsilon": 1.5}),
                "epsilon",
                "must be a number in (0, 1], found `1.5`",
            ),
            (
                json!({"epsilon": "x"}),
                "epsilon",
                "must be a number in (0, 1], found the string \"x\"",
            ),
            (
                json!({"steps": 2.5}),
                "steps",
                "must be an integer >= 1, found `2.5`",
            ),
            (
                json!({"steps": 0}),
                "steps",
                "must be an integer >= 1, found `0`",
            ),
            (
                json!({"seed": -1}),
                "seed",
                "must be an integer >= 0, found `-1`",
            ),
            (
                json!({"random_start": 1}),
                "random_start",
                "must be `true` or `false`, found `1`",
            ),
            (
                json!({"int_bits": 66}),
                "int_bits",
                "must be an integer in [-63, 65] or `auto`, found `66`",
            ),
            (
                json!({"scope": "globl"}),
                "scope",
                "must be one of `layer`, `global`, found the string \"globl\" (did you mean `global`?)",
            ),
            (
                json!({"steps": null}),
                "steps",
                "must be an integer >= 1, found null",
            ),
        ] {
            assert_eq!(
                run(bad.clone()),
                Err(ParamError::invalid(field, message)),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_type_accepts_its_example() {
        for p in PARAMS {
            p.check(&p.ty.example())
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
        for ty in [
            ParamType::REAL,
            ParamType::TextList,
            ParamType::strictly_between(0.0, 1.0),
        ] {
            assert!(fits(ty, &ty.example()), "{ty}");
        }
    }

    #[test]
    fn a_secret_value_is_never_quoted() {
        const SECRET: &[Param] = &[Param::new("key", ParamType::Text, "passphrase").secret()];
        for bad in [json!(12345), json!(""), json!(["hunter2"]), json!(true)] {
            let err =
                check(SECRET, json!({ "key": bad.clone() }).as_object().unwrap()).unwrap_err();
            assert_eq!(err.field(), Some("key"));
            let text = err.to_string();
            assert!(text.contains("secret and not shown"), "{text}");
            for shown in ["12345", "hunter2", "true"] {
                assert!(!text.contains(shown), "{text}");
            }
        }
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let err = run(json!({"epsilom": 0.1})).unwrap_err();
        assert_eq!(err.field(), Some("epsilom"));
        let ParamError::Unknown {
            suggestion, known, ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!(suggestion.as_deref(), Some("epsilon"));
        assert_eq!(known.len(), PARAMS.len());
        assert!(matches!(
            run(json!({"zzz": 1})),
            Err(ParamError::Unknown {
                suggestion: None,
                ..
            })
        ));
    }

    #[test]
    fn declarations_survive_a_json_round_trip() {
        let text = serde_json::to_string(PARAMS).unwrap();
        let back: Vec<Param> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, PARAMS);
    }
}
