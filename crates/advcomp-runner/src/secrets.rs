//! Keeping defence passphrases out of everything a run writes or prints.
//!
//! A scenario may sweep keys (`defend taboo { key: ["a", "b"] }`); the
//! scenario language then names the instances `keyed[key=a]`. Before the
//! runner uses a resolved scenario, [`redact_ids`] renames such instances
//! after the key's public id (`keyed[key=#3fa2…]`), and [`public_view`] is
//! the copy written to `plan.json`: every `key` parameter replaced by its
//! `key_id`. Seeds (`key_seed`) are not secrets and stay as written.

use std::collections::BTreeMap;

use advcomp_defence::Key;
use advcomp_scenario::expand::id_value;
use advcomp_scenario::{Origin, Resolved, Step};
use serde_json::{Map, Value};

/// The public stand-in for a passphrase in ids and records.
fn stand_in(passphrase: &str) -> String {
    format!("#{}", Key::from_passphrase(passphrase).id())
}

/// Renames every model instance whose id shows a swept passphrase.
pub fn redact_ids(resolved: &mut Resolved) {
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    for m in &mut resolved.models {
        let mut id = m.id.clone();
        for (name, value) in m.sweep.iter_mut() {
            if name != "key" {
                continue;
            }
            let Value::String(p) = value else { continue };
            let public = stand_in(p);
            id = id.replace(
                &format!("key={}", id_value(&Value::String(p.clone()))),
                &format!("key={public}"),
            );
            *value = Value::String(public);
        }
        if id != m.id {
            renamed.insert(m.id.clone(), id.clone());
            m.id = id;
        }
    }
    if renamed.is_empty() {
        return;
    }
    let rename = |id: &mut String| {
        if let Some(new) = renamed.get(id.as_str()) {
            *id = new.clone();
        }
    };
    for m in &mut resolved.models {
        if let Origin::Derived { parent, .. } = &mut m.origin {
            rename(parent);
        }
    }
    for t in &mut resolved.transfers {
        t.sources.iter_mut().for_each(rename);
        t.targets.iter_mut().for_each(rename);
    }
}

fn public_params(params: &mut Map<String, Value>) {
    if let Some(Value::String(p)) = params.remove("key") {
        params.insert(
            "key_id".into(),
            Value::String(Key::from_passphrase(&p).id()),
        );
    }
}

fn public_step(step: &mut Step) {
    if step.method != "finetune" {
        public_params(&mut step.params);
    }
}

/// A copy of `resolved` without passphrases (for `plan.json`).
pub fn public_view(resolved: &Resolved) -> Resolved {
    let mut out = resolved.clone();
    for m in &mut out.models {
        match &mut m.origin {
            Origin::Trained { defence, .. } => {
                if let Some(d) = defence {
                    public_step(d);
                }
            }
            Origin::Derived { steps, .. } => steps.iter_mut().for_each(public_step),
        }
    }
    out
}
