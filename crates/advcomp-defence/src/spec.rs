//! A defence as a scenario names it: `defend taboo { key: "k", epochs: 2 }`.
//!
//! [`DefenceSpec::from_params`] checks a name and a flat parameter map (the
//! scenario language's block) and splits it into what the defence needs:
//! its key, its hardening fine-tune, and its own configuration. Errors name
//! the offending field, so the scenario checker can point at it.

use advcomp_models::Network;
use advcomp_params::{Param, ParamError, ParamType};
use serde_json::{Map, Value};

use crate::defence::Hardening;
use crate::input_detector::CalibratedDetector;
use crate::key::Key;
use crate::registry;
use crate::sitatapatra::{Sitatapatra, SitatapatraConfig};
use crate::taboo::{TabooConfig, TabooTrap};

/// Parameters every built-in defence takes: its hardening fine-tune.
pub(crate) const COMMON_PARAMS: &[Param] = &[
    Param::new(
        "epochs",
        ParamType::COUNT,
        "epochs of the hardening fine-tune",
    ),
    Param::new(
        "lr",
        ParamType::POSITIVE,
        "learning rate of the hardening fine-tune (constant)",
    ),
    Param::new(
        "seed",
        ParamType::NATURAL,
        "seed of the hardening fine-tune (default: the scenario's)",
    ),
];
/// Parameters of the keyed defences.
pub(crate) const KEYED_PARAMS: &[Param] = &[
    Param::new(
        "key",
        ParamType::Text,
        "the secret passphrase that keys the defence (never shown)",
    )
    .secret(),
    Param::new(
        "key_seed",
        ParamType::NATURAL,
        "instead of key: a key made from a seed (guessable; for experiments)",
    ),
];
/// Parameters of adversarial training besides the attack's own.
pub(crate) const ADVERSARIAL_PARAMS: &[Param] = &[
    Param::new(
        "attack",
        ParamType::Text,
        "the registered attack whose samples train the model (default pgd)",
    ),
    Param::new(
        "fraction",
        ParamType::SHARE,
        "share of each batch replaced by adversarial samples",
    ),
];

/// The names of the keyed defences' key parameters.
const KEYED: &[&str] = &["key", "key_seed"];

/// Every parameter the defence `name` declares, from its registration.
/// Adversarial training also takes its attack's parameters
/// ([`forwards_to_attack`]).
pub fn params_of(name: &str) -> Option<Vec<Param>> {
    registry::find(name).map(registry::Registration::params)
}

/// Whether the defence passes the parameters it does not declare to the
/// attack its `attack` parameter names (default `pgd`): adversarial
/// training does.
pub fn forwards_to_attack(name: &str) -> bool {
    registry::find(name).is_some_and(|r| r.forwards_to_attack)
}

/// Whether parameter `param` of the canonical defence `name` is a secret
/// (a passphrase) that must never be displayed, logged or stored: what its
/// declaration says ([`Param::secret`]).
pub fn is_secret(name: &str, param: &str) -> bool {
    params_of(name).is_some_and(|all| all.iter().any(|p| p.name == param && p.secret))
}

/// The other names of the defence `name` (`taboo_trap` for `taboo`).
pub fn aliases(name: &str) -> &'static [&'static str] {
    registry::find(name).map_or(&[], |r| r.aliases)
}

/// The canonical name of a defence, given its name or an alias in any case.
pub fn canonical(name: &str) -> Option<&'static str> {
    registry::find(name).map(|r| r.name)
}

/// Where a key comes from. The passphrase is a secret: [`KeySource`]'s
/// `Debug` prints only the key id.
#[derive(Clone, PartialEq)]
pub enum KeySource {
    /// `key: "passphrase"`.
    Passphrase(String),
    /// `key_seed: 7` (for experiments; seeds are guessable).
    Seed(u64),
}

impl KeySource {
    /// The key.
    pub fn key(&self) -> Key {
        match self {
            KeySource::Passphrase(p) => Key::from_passphrase(p),
            KeySource::Seed(s) => Key::from_seed(*s),
        }
    }
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySource({})", self.key().id())
    }
}

/// What a defence does, with its configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// The Taboo Trap.
    Taboo(TabooConfig),
    /// Sitatapatra-style keyed guards.
    Sitatapatra(SitatapatraConfig),
    /// Adversarial training with a registered attack (PGD by default).
    Adversarial {
        /// Registry name of the attack.
        attack: String,
        /// Its parameters.
        params: Map<String, Value>,
        /// Share of each batch replaced by adversarial examples.
        fraction: f64,
    },
    /// A plugin input detector (not yet calibrated): it trains nothing.
    Detector(CalibratedDetector),
}

impl Method {
    /// The keyed defence this method builds for `network` under `key`, not
    /// yet hardened; `None` for adversarial training and input detectors,
    /// which are not keyed. The one place a keyed defence is chosen by
    /// method: the runner hardens whatever this returns.
    pub fn hardening(&self, key: Key, network: &Network) -> Option<Box<dyn Hardening>> {
        match self {
            Method::Taboo(config) => Some(Box::new(TabooTrap::new(key, config.clone(), network))),
            Method::Sitatapatra(config) => {
                Some(Box::new(Sitatapatra::new(key, config.clone(), network)))
            }
            Method::Adversarial { .. } | Method::Detector(_) => None,
        }
    }
}

/// A checked defence declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct DefenceSpec {
    /// Canonical name (one of [`registry::names`]).
    pub name: &'static str,
    /// What it does.
    pub method: Method,
    /// The key (keyed defences only).
    pub key: Option<KeySource>,
    /// Epochs of the hardening fine-tune. Default 2; 0 for an input
    /// detector, which trains nothing.
    pub epochs: usize,
    /// Learning rate of the hardening fine-tune (constant). Default 0.01.
    pub lr: f64,
    /// Seed of the hardening fine-tune (`None`: the scenario's).
    pub seed: Option<u64>,
}

impl DefenceSpec {
    /// Checks `params` for the defence `name`: first against its
    /// declaration ([`params_of`]), then the rules between parameters.
    pub fn from_params(name: &str, params: &Map<String, Value>) -> Result<Self, ParamError> {
        let registration = registry::find(name).ok_or_else(|| {
            ParamError::rule(format!(
                "unknown defence `{name}`; known: {}",
                registry::names().join(", ")
            ))
        })?;
        let name = registration.name;
        if registration.is_detector() {
            return Ok(DefenceSpec {
                name,
                method: Method::Detector(CalibratedDetector::build(name, params)?),
                key: None,
                epochs: 0,
                lr: 0.0,
                seed: None,
            });
        }
        let declared = params_of(name).unwrap_or_default();
        let mine: Map<String, Value> = params
            .iter()
            .filter(|(k, _)| !forwards_to_attack(name) || declared.iter().any(|p| p.name == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        advcomp_params::check(&declared, &mine)?;
        let mut spec = DefenceSpec {
            name,
            method: Method::Taboo(TabooConfig::default()),
            key: None,
            epochs: 2,
            lr: 0.01,
            seed: None,
        };
        let mut own = Map::new();
        for (field, value) in params {
            match field.as_str() {
                "epochs" => {
                    spec.epochs = value.as_u64().filter(|&e| e >= 1).ok_or_else(|| {
                        ParamError::invalid(
                            field,
                            format!("must be a positive integer, got {value}"),
                        )
                    })? as usize;
                }
                "lr" => {
                    spec.lr = value
                        .as_f64()
                        .filter(|&l| l > 0.0 && l.is_finite())
                        .ok_or_else(|| {
                            ParamError::invalid(
                                field,
                                format!("must be a positive number, got {value}"),
                            )
                        })?;
                }
                "seed" => {
                    spec.seed = Some(value.as_u64().ok_or_else(|| {
                        ParamError::invalid(
                            field,
                            format!("must be a non-negative integer, got {value}"),
                        )
                    })?);
                }
                "key" if name != "adversarial" => {
                    let p = value.as_str().filter(|p| !p.is_empty()).ok_or_else(|| {
                        ParamError::invalid(field, "must be a non-empty string (a passphrase)")
                    })?;
                    spec.set_key(field, KeySource::Passphrase(p.to_string()))?;
                }
                "key_seed" if name != "adversarial" => {
                    let s = value.as_u64().ok_or_else(|| {
                        ParamError::invalid(
                            field,
                            format!("must be a non-negative integer, got {value}"),
                        )
                    })?;
                    spec.set_key(field, KeySource::Seed(s))?;
                }
                _ => {
                    own.insert(field.clone(), value.clone());
                }
            }
        }
        spec.method = match name {
            "taboo" => Method::Taboo(advcomp_params::decode::<TabooConfig>(own)?),
            "sitatapatra" => Method::Sitatapatra(advcomp_params::decode::<SitatapatraConfig>(own)?),
            "adversarial" => adversarial(own)?,
            other => {
                return Err(ParamError::rule(format!(
                    "`{other}` is registered as built in, but advcomp-defence does not build it"
                )));
            }
        };
        if name != "adversarial" && spec.key.is_none() {
            return Err(ParamError::rule(format!(
                "`{name}` is a keyed defence: give `key: \"passphrase\"` or `key_seed: N`"
            )));
        }
        Ok(spec)
    }

    fn set_key(&mut self, field: &str, key: KeySource) -> Result<(), ParamError> {
        if self.key.is_some() {
            return Err(ParamError::invalid(
                field,
                "give either `key` or `key_seed`, not both",
            ));
        }
        self.key = Some(key);
        Ok(())
    }

    /// The key, if the defence is keyed.
    pub fn key(&self) -> Option<Key> {
        self.key.as_ref().map(KeySource::key)
    }

    /// Whether the defence has a run-time detector.
    pub fn detects(&self) -> bool {
        !matches!(self.method, Method::Adversarial { .. })
    }

    /// The implementation's version, part of the cache key of every
    /// `defend` step: its registration's
    /// ([`registry::Registration::version`]).
    pub fn version(&self) -> u32 {
        registry::find(self.name)
            .map(|r| r.version)
            .expect("a spec is built from a registration")
    }

    /// What determines this defence's result, for hashing: every setting
    /// with its default filled in, the key's public id (never the key),
    /// [`DefenceSpec::version`] and the training loop's
    /// [`advcomp_train::VERSION`] (every defence trains). An adversarial
    /// training's attack is represented by its registry identity.
    pub fn identity(&self) -> Value {
        let method = match &self.method {
            Method::Detector(detector) => {
                // Trains nothing: no training version, key or fine-tune.
                return serde_json::json!({
                    "defence": self.name,
                    "version": self.version(),
                    "method": detector.identity(),
                });
            }
            Method::Taboo(c) => serde_json::json!({ "taboo": c }),
            Method::Sitatapatra(c) => serde_json::json!({ "sitatapatra": c }),
            Method::Adversarial {
                attack,
                params,
                fraction,
            } => serde_json::json!({ "adversarial": {
                "attack": advcomp_attack::registry::identity(attack, &Value::Object(params.clone()))
                    .unwrap_or_else(|_| serde_json::json!({ "attack": attack, "params": params })),
                "fraction": fraction,
            }}),
        };
        serde_json::json!({
            "defence": self.name,
            "version": self.version(),
            "train_version": advcomp_train::VERSION,
            "method": method,
            "key_id": self.key().map(|k| k.id()),
            "epochs": self.epochs,
            "lr": self.lr,
            "seed": self.seed,
        })
    }

    /// Every parameter except the key, as given (for records and hashes;
    /// the key is represented by its id).
    pub fn public_params(params: &Map<String, Value>) -> Map<String, Value> {
        params
            .iter()
            .filter(|(k, _)| !KEYED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn adversarial(mut own: Map<String, Value>) -> Result<Method, ParamError> {
    let attack = match own.remove("attack") {
        None => "pgd".to_string(),
        Some(Value::String(s)) => s,
        Some(v) => {
            return Err(ParamError::invalid(
                "attack",
                format!("must be an attack name, got {v}"),
            ));
        }
    };
    let fraction = match own.remove("fraction") {
        None => 0.5,
        Some(v) => v
            .as_f64()
            .filter(|f| (0.0..=1.0).contains(f) && *f > 0.0)
            .ok_or_else(|| {
                ParamError::invalid("fraction", format!("must be in (0, 1], got {v}"))
            })?,
    };
    let registration = advcomp_attack::registry::find(&attack)
        .map_err(|e| ParamError::invalid("attack", e.to_string()))?;
    registration
        .build(&Value::Object(own.clone()))
        .map_err(|e| match e {
            advcomp_attack::RegistryError::Params { source, .. } => match source {
                advcomp_attack::ParamError::Unknown {
                    field,
                    known: theirs,
                    ..
                } => {
                    let mut known: Vec<String> = COMMON_PARAMS
                        .iter()
                        .chain(ADVERSARIAL_PARAMS)
                        .map(|p| p.name.to_string())
                        .collect();
                    known.extend(theirs.iter().map(|p| p.to_string()));
                    ParamError::Unknown {
                        suggestion: advcomp_params::nearest(
                            &field,
                            known.iter().map(String::as_str),
                        ),
                        field,
                        known,
                    }
                }
                other => other,
            },
            other => ParamError::rule(other.to_string()),
        })?;
    Ok(Method::Adversarial {
        attack: registration.name.to_string(),
        params: own,
        fraction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn taboo_takes_its_config_fields_and_a_key() {
        let s = DefenceSpec::from_params(
            "taboo",
            &map(json!({"key": "k", "slack": 0.1, "epochs": 3})),
        )
        .unwrap();
        assert_eq!(s.name, "taboo");
        assert_eq!(s.epochs, 3);
        assert_eq!(s.key(), Some(Key::from_passphrase("k")));
        match s.method {
            Method::Taboo(c) => assert_eq!(c.slack, 0.1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            DefenceSpec::from_params("taboo", &map(json!({"key": "k", "slak": 0.1}))).unwrap_err();
        assert_eq!(e.field(), Some("slak"));
        assert!(
            matches!(&e, ParamError::Unknown { suggestion: Some(s), .. } if s == "slack"),
            "{e}"
        );
        let e = DefenceSpec::from_params("taboo", &map(json!({"key": "k", "slack": "big"})))
            .unwrap_err();
        assert_eq!(e.field(), Some("slack"));
        assert!(matches!(e, ParamError::Invalid { .. }), "{e}");
        let e = DefenceSpec::from_params("sitatapatra", &map(json!({}))).unwrap_err();
        assert!(matches!(e, ParamError::Rule { .. }), "{e}");
        assert!(e.to_string().contains("keyed defence"), "{e}");
        let e = DefenceSpec::from_params("taboo", &map(json!({"key": "k", "key_seed": 1})))
            .unwrap_err();
        assert_eq!(e.field(), Some("key_seed"));
        let e = DefenceSpec::from_params("adversarial", &map(json!({"epsilon": "x"}))).unwrap_err();
        assert_eq!(e.field(), Some("epsilon"));
        let e = DefenceSpec::from_params("adversarial", &map(json!({"key": "k"}))).unwrap_err();
        assert!(matches!(e, ParamError::Unknown { .. }), "{e}");
    }

    #[test]
    fn the_key_is_never_debug_printed() {
        let s = DefenceSpec::from_params("taboo", &map(json!({"key": "hunter2"}))).unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains(&Key::from_passphrase("hunter2").id()));
    }

    /// A passphrase that is not a valid one is refused without being
    /// quoted: the error names the field, never the value.
    #[test]
    fn a_bad_key_is_refused_without_being_shown() {
        for bad in [json!(987654321), json!(""), json!(["hunter2"])] {
            let e =
                DefenceSpec::from_params("taboo", &map(json!({ "key": bad.clone() }))).unwrap_err();
            assert_eq!(e.field(), Some("key"), "{bad}");
            for shown in ["987654321", "hunter2"] {
                assert!(!e.to_string().contains(shown), "{e}");
            }
        }
        assert!(is_secret("taboo", "key") && is_secret("Sitatapatra", "key"));
        assert!(!is_secret("taboo", "key_seed") && !is_secret("adversarial", "key"));
    }

    /// Each keyed defence declares exactly its configuration's fields, so
    /// `config` never meets a declared name the struct lacks.
    #[test]
    fn declarations_are_the_configurations_fields() {
        fn fields<T: Default + serde::Serialize>() -> Vec<String> {
            let mut all: Vec<String> = serde_json::to_value(T::default())
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            all.sort();
            all
        }
        fn names(params: &[Param]) -> Vec<String> {
            let mut all: Vec<String> = params.iter().map(|p| p.name.to_string()).collect();
            all.sort();
            all
        }
        assert_eq!(
            names(crate::TabooConfig::PARAMS),
            fields::<crate::TabooConfig>()
        );
        assert_eq!(
            names(crate::SitatapatraConfig::PARAMS),
            fields::<crate::SitatapatraConfig>()
        );
        // The defaults pass their own declarations.
        for (params, defaults) in [
            (
                crate::TabooConfig::PARAMS,
                serde_json::to_value(crate::TabooConfig::default()).unwrap(),
            ),
            (
                crate::SitatapatraConfig::PARAMS,
                serde_json::to_value(crate::SitatapatraConfig::default()).unwrap(),
            ),
        ] {
            advcomp_params::check(params, defaults.as_object().unwrap()).unwrap();
        }
    }

    #[test]
    fn adversarial_training_defaults_to_pgd() {
        let s = DefenceSpec::from_params("adversarial", &map(json!({"epsilon": 0.1}))).unwrap();
        assert!(!s.detects());
        assert!(s.key.is_none());
        match s.method {
            Method::Adversarial {
                attack, fraction, ..
            } => {
                assert_eq!(attack, "pgd");
                assert_eq!(fraction, 0.5);
            }
            other => panic!("{other:?}"),
        }
    }
}
