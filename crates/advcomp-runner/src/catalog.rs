//! The scenario language's [`Catalog`] over the real registries: the attack
//! compressor and defence registries (plugins included) and the training
//! configuration; and their snapshot
//! ([`Registries::snapshot`]) that the scenario crate's tests use.

use advcomp_attack::RegistryError;
use advcomp_compress::CompressorKind;
use advcomp_compress::Step as CompressStep;
use advcomp_compress::config::FINETUNE_PARAMS;
use advcomp_models::Architecture;
use advcomp_scenario::snapshot::{Component, TargetRules};
use advcomp_scenario::{Catalog, CatalogError, CatalogSnapshot, Kind};
use advcomp_train::TrainConfig;
use serde_json::{Map, Value};

/// The registries advcomp was built with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Registries;

impl Registries {
    /// Every component of every kind with its declared parameters: what
    /// `cargo xtask catalog` writes to `crates/advcomp-scenario/catalog.json`.
    pub fn snapshot() -> CatalogSnapshot {
        let component =
            |kind, name: &str, summary: &str, params: &[advcomp_attack::Param]| Component {
                kind,
                name: name.to_string(),
                summary: summary.to_string(),
                aliases: Vec::new(),
                params: params.to_vec(),
                targeted: false,
                forwards_to_attack: false,
            };
        let mut components = Vec::new();
        for arch in Architecture::all() {
            components.push(component(
                Kind::Architecture,
                arch.name(),
                arch.registration().summary,
                TrainConfig::PARAMS,
            ));
        }
        for r in advcomp_attack::registrations() {
            let mut c = component(Kind::Attack, r.name, r.summary, r.params);
            c.aliases = r.aliases.iter().map(|a| a.to_string()).collect();
            c.targeted = r.targeted;
            components.push(c);
        }
        for r in advcomp_compress::registry::registrations() {
            components.push(component(
                scenario_kind(r.kind),
                r.name,
                r.summary,
                r.params,
            ));
        }
        components.push(component(
            Kind::Finetune,
            "finetune",
            "retrains a compressed model under its masks and grids",
            FINETUNE_PARAMS,
        ));
        for r in advcomp_defence::registry::registrations() {
            let mut c = component(Kind::Defence, r.name, r.summary, &r.params());
            c.aliases = r.aliases.iter().map(|a| a.to_string()).collect();
            c.forwards_to_attack = r.forwards_to_attack;
            components.push(c);
        }
        CatalogSnapshot {
            generated_by: "cargo xtask catalog (from the registries; do not edit)".into(),
            components,
            target_rules: TargetRules {
                words: advcomp_attack::target::RULE_WORDS
                    .iter()
                    .map(|w| w.to_string())
                    .collect(),
                seeded: advcomp_attack::target::SEEDED_RULES
                    .iter()
                    .map(|w| w.to_string())
                    .collect(),
            },
        }
    }
}

impl Catalog for Registries {
    fn names(&self, kind: Kind) -> Vec<String> {
        let list: Vec<String> = match kind {
            Kind::Architecture => Architecture::all()
                .iter()
                .map(|a| a.name().to_string())
                .collect(),
            Kind::Attack => advcomp_attack::registrations()
                .into_iter()
                .map(|r| r.name.to_string())
                .collect(),
            Kind::Prune => compressor_names(CompressorKind::Prune),
            Kind::Quantise => compressor_names(CompressorKind::Quantise),
            Kind::Finetune => vec!["finetune".into()],
            Kind::Defence => advcomp_defence::registry::names()
                .into_iter()
                .map(str::to_string)
                .collect(),
        };
        list
    }

    fn resolve(&self, kind: Kind, name: &str) -> Option<String> {
        match kind {
            Kind::Attack => advcomp_attack::find(name).ok().map(|r| r.name.to_string()),
            Kind::Architecture => name
                .parse::<Architecture>()
                .ok()
                .map(|a| a.name().to_string()),
            Kind::Defence => advcomp_defence::spec::canonical(name).map(str::to_string),
            _ => {
                let key = name.to_ascii_lowercase();
                self.names(kind).into_iter().find(|n| *n == key)
            }
        }
    }

    fn check(
        &self,
        kind: Kind,
        name: &str,
        params: &Map<String, Value>,
    ) -> Result<(), CatalogError> {
        match kind {
            Kind::Architecture => TrainConfig::from_params(params, 1)
                .map(|_| ())
                .map_err(CatalogError::from),
            Kind::Attack => advcomp_attack::build(name, &Value::Object(params.clone()))
                .map(|_| ())
                .map_err(attack_error),
            Kind::Prune | Kind::Quantise | Kind::Finetune => {
                let op = match kind {
                    Kind::Prune => "prune",
                    Kind::Quantise => "quantise",
                    _ => "finetune",
                };
                CompressStep::from_parts(op, name, params)
                    .map(|_| ())
                    .map_err(|e| match e {
                        advcomp_attack::ParamError::Invalid { field, message } => {
                            let written = written_field(&field, params);
                            CatalogError::from(advcomp_attack::ParamError::Invalid {
                                field: written,
                                message,
                            })
                        }
                        other => CatalogError::from(other),
                    })
            }
            Kind::Defence => advcomp_defence::DefenceSpec::from_params(name, params)
                .map(|_| ())
                .map_err(CatalogError::from),
        }
    }

    /// The attack registry decides: the attack must accept targets, and
    /// the rule must parse as an [`advcomp_attack::TargetChoice`].
    fn check_target(&self, name: &str, value: &Value) -> Result<(), CatalogError> {
        let registration =
            advcomp_attack::find(name).map_err(|e| CatalogError::general(e.to_string()))?;
        if !registration.targeted {
            return Err(CatalogError::field(
                "target",
                format!("attack `{name}` is untargeted only"),
            ));
        }
        target_choice(value)
            .map(|_| ())
            .map_err(|e| CatalogError::field("target", e))
    }

    /// A keyed defence's passphrase is secret; its stand-in is `#` and the
    /// key's public id, which is also what checkpoints record.
    fn conceal(&self, kind: Kind, name: &str, param: &str, value: &str) -> Option<String> {
        (kind == Kind::Defence && advcomp_defence::spec::is_secret(name, param))
            .then(|| format!("#{}", advcomp_defence::Key::from_passphrase(value).id()))
    }
}

/// The scenario language's kind of a compressor kind.
fn scenario_kind(kind: CompressorKind) -> Kind {
    match kind {
        CompressorKind::Prune => Kind::Prune,
        CompressorKind::Quantise => Kind::Quantise,
    }
}

/// The registered compressors of `kind`, plugins included.
fn compressor_names(kind: CompressorKind) -> Vec<String> {
    advcomp_compress::registry::names(kind)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The parameter the user wrote for `field`: a quantiser's `bits`,
/// `int_bits` and `frac_bits` set both `weight_…` and `act_…`, and an error
/// about either must point at the shorthand that is in the file.
fn written_field(field: &str, params: &Map<String, Value>) -> String {
    if !params.contains_key(field) {
        for prefix in ["weight_", "act_"] {
            if let Some(short) = field.strip_prefix(prefix)
                && params.contains_key(short)
            {
                return short.to_string();
            }
        }
    }
    field.to_string()
}

/// The target rule a scenario's `target` value names: a rule's name
/// (`"next"`, `"random:7"`) or a class index.
pub fn target_choice(value: &Value) -> Result<advcomp_attack::TargetChoice, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        other => {
            return Err(format!(
                "`target` must be a rule name or a class index, found {other}"
            ));
        }
    };
    text.parse()
        .map_err(|e: advcomp_attack::TargetError| e.to_string())
}

fn attack_error(e: RegistryError) -> CatalogError {
    match e {
        RegistryError::Params { source, .. } => CatalogError::from(source),
        other => CatalogError::general(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter `TrainConfig::PARAMS` declares is read by
    /// [`TrainConfig::from_params`], and an example value of it is accepted
    /// (with the schedule it belongs to).
    #[test]
    fn every_declared_training_parameter_is_read() {
        for p in TrainConfig::PARAMS {
            let mut params = Map::new();
            params.insert(p.name.to_string(), p.ty.example());
            if ["step_every", "gamma"].contains(&p.name) {
                params.insert("schedule".into(), Value::from("step"));
            }
            TrainConfig::from_params(&params, 1).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
        let mut params = Map::new();
        params.insert("lr".into(), Value::from(0.5));
        params.insert("seed".into(), Value::from(9));
        let config = TrainConfig::from_params(&params, 1).unwrap();
        assert_eq!((config.learning_rate, config.seed), (0.5, 9));
    }
}
