//! Secrets: defence passphrases taken out of a scenario before anything
//! else sees it.
//!
//! Redacting by name after the fact misses the names a scenario invents
//! (`sitatapatra.key`, `key#2` when two blocks of one lineage sweep a key),
//! so secrets are concealed at the source instead: [`conceal`] runs on the
//! syntax tree before checking, replaces every parameter value the
//! [`Catalog`] declares secret by its public stand-in (`#3fa2…`, from
//! [`Catalog::conceal`]) and keeps the value in [`Secrets`]. Diagnostics,
//! instance ids, sweep maps, the resolved plan, cache keys and reports are
//! then built from stand-ins only; the runner asks [`Secrets::reveal`] for a
//! passphrase at the one place that derives a key from it.
//!
//! [`Secret`] and [`Secrets`] have no `Display` and no `Serialize`, and
//! their `Debug` prints no secret, so they cannot be written by accident.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value as Json};

use crate::ast::{Params, Scenario, StageOp, StatementKind, ValueKind};
use crate::catalog::{Catalog, Kind};

/// One secret value (a passphrase). Only [`Secret::expose`] gives it out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the key derivation that needs it. Never
    /// format, log or store the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The secrets of one scenario, by public stand-in.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(BTreeMap<String, Secret>);

impl Secrets {
    /// The secret behind `stand_in`, if `stand_in` is one of this
    /// scenario's stand-ins.
    pub fn reveal(&self, stand_in: &str) -> Option<&Secret> {
        self.0.get(stand_in)
    }

    /// How many distinct secrets the scenario holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the scenario holds no secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `params` with every stand-in string value replaced by its secret:
    /// the parameters as the user wrote them, for the component that
    /// derives a key. The result holds secrets: keep it local.
    pub fn revealed(&self, params: &Map<String, Json>) -> Map<String, Json> {
        params
            .iter()
            .map(|(k, v)| {
                let v = match v.as_str().and_then(|s| self.reveal(s)) {
                    Some(secret) => Json::String(secret.expose().to_string()),
                    None => v.clone(),
                };
                (k.clone(), v)
            })
            .collect()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Replaces, in `ast`, every value the catalogue declares secret by its
/// stand-in, and returns the secrets. Values that are not non-empty strings
/// are left for the checker to refuse (its message then quotes no secret).
pub fn conceal(ast: &mut Scenario, catalog: &dyn Catalog) -> Secrets {
    let mut secrets = Secrets::default();
    for st in &mut ast.statements {
        match &mut st.kind {
            StatementKind::Model(m) => {
                conceal_block(
                    catalog,
                    Kind::Architecture,
                    &m.arch.name,
                    &mut m.params,
                    &mut secrets,
                );
                if let Some(d) = &mut m.defence {
                    conceal_block(
                        catalog,
                        Kind::Defence,
                        &d.name.name,
                        &mut d.params,
                        &mut secrets,
                    );
                }
            }
            StatementKind::Variant(v) => {
                for s in &mut v.steps {
                    let kind = match s.op {
                        StageOp::Prune => Kind::Prune,
                        StageOp::Quantise => Kind::Quantise,
                        StageOp::Finetune => Kind::Finetune,
                        StageOp::Defend => Kind::Defence,
                    };
                    let name = s
                        .method
                        .as_ref()
                        .map_or("finetune", |m| m.name.as_str())
                        .to_string();
                    conceal_block(catalog, kind, &name, &mut s.params, &mut secrets);
                }
            }
            StatementKind::Attack(a) => {
                conceal_block(
                    catalog,
                    Kind::Attack,
                    &a.attack.name,
                    &mut a.params,
                    &mut secrets,
                );
            }
            _ => {}
        }
    }
    // A claim may select an instance by its passphrase
    // (`keyed[key="k1"]`): the selector gets the stand-in the instance id
    // has. Done after every block, since a claim may precede the model.
    for st in &mut ast.statements {
        let StatementKind::Expect(e) = &mut st.kind else {
            continue;
        };
        for r in e.references_mut() {
            for sel in &mut r.selector {
                if let ValueKind::Str(v) = &mut sel.value.kind
                    && let Some((stand_in, _)) = secrets.0.iter().find(|(_, s)| s.0 == *v)
                {
                    *v = stand_in.clone();
                }
            }
        }
    }
    secrets
}

/// Every reference of a claim, mutably.
fn conceal_block(
    catalog: &dyn Catalog,
    kind: Kind,
    name: &str,
    params: &mut Params,
    secrets: &mut Secrets,
) {
    let Some(canonical) = catalog.resolve(kind, name) else {
        return;
    };
    for p in &mut params.entries {
        let values: Vec<&mut ValueKind> = match &mut p.value.kind {
            ValueKind::List(items) => items.iter_mut().map(|v| &mut v.kind).collect(),
            other => vec![other],
        };
        for v in values {
            let ValueKind::Str(s) = v else { continue };
            if s.is_empty() {
                continue;
            }
            if let Some(stand_in) = catalog.conceal(kind, &canonical, &p.name.name, s) {
                let secret = Secret(std::mem::replace(s, stand_in.clone()));
                secrets.0.insert(stand_in, secret);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_formats_a_secret() {
        let mut s = Secrets::default();
        s.0.insert("#ab".into(), Secret("hunter2".into()));
        assert_eq!(format!("{s:?}"), r##"{"#ab"}"##);
        assert_eq!(s.reveal("#ab").map(Secret::expose), Some("hunter2"));
        assert!(!format!("{:?}", s.reveal("#ab")).contains("hunter2"));
        let mut params = Map::new();
        params.insert("key".into(), Json::from("#ab"));
        params.insert("epochs".into(), Json::from(2));
        let r = s.revealed(&params);
        assert_eq!(r["key"], "hunter2");
        assert_eq!(r["epochs"], 2);
    }
}
