//! [`decode`]: a checked parameter map into a component's typed
//! configuration.

use serde_json::{Map, Value};

use crate::ParamError;

/// The typed configuration `T` of `map`, a map [`check`](crate::check) has
/// passed (or one a component built from such a map, adding fields it
/// fixes itself): fields left out take `T`'s serde defaults. What can
/// still fail is a required field left out or a value serde refuses; the
/// error names the field, so attacks, compressors and defences report
/// these like every other parameter error.
pub fn decode<T: serde::de::DeserializeOwned>(map: Map<String, Value>) -> Result<T, ParamError> {
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // A missing field is reported at the map's root ("."); serde names
        // it in the message.
        let field = if path == "." {
            inner
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .unwrap_or(".")
                .to_string()
        } else {
            path
        };
        ParamError::invalid(&field, inner)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Config {
        density: f64,
        #[serde(default)]
        epochs: u32,
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_map_becomes_the_config_and_a_fault_names_its_field() {
        let c: Config = decode(map(json!({"density": 0.5}))).unwrap();
        assert_eq!(
            c,
            Config {
                density: 0.5,
                epochs: 0
            }
        );
        let missing = decode::<Config>(map(json!({"epochs": 2}))).unwrap_err();
        assert_eq!(missing.field(), Some("density"), "{missing}");
        let wrong = decode::<Config>(map(json!({"density": 0.5, "epochs": -1}))).unwrap_err();
        assert_eq!(wrong.field(), Some("epochs"), "{wrong}");
    }
}
