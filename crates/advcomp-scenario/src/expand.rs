//! Sweep expansion: every list value in a declaration's parameter blocks is
//! an axis; the declaration expands to the cartesian product of its axes
//! (and, for a variant, of its parent's instances).
//!
//! Order is deterministic: parent instances first (in their order), then
//! axes in declaration order with the first axis varying slowest, values in
//! list order. Ids are `name[key=value,...]` with inherited keys first.

use serde_json::{Map, Number, Value as Json};

use crate::ast::{Params, Value, ValueKind};

/// Most instances one declaration may expand to (parent instances
/// included): past this a typo (`[0.1, ...]` pasted twice) would silently
/// schedule days of work.
pub const MAX_INSTANCES: usize = 10_000;

/// One parameter block of a declaration and the label that qualifies its
/// sweep keys when two blocks sweep a parameter of the same name.
pub struct Block<'a> {
    /// `lenet5`, `magnitude`, `finetune`, `taboo`, ...
    pub label: &'a str,
    /// The block.
    pub params: &'a Params,
}

/// One list-valued parameter.
#[derive(Debug, Clone)]
pub struct Axis {
    /// The key in instance ids and in `sweep` maps (unique per instance).
    pub key: String,
    /// Which block.
    pub block: usize,
    /// Which entry of the block.
    pub entry: usize,
    /// How many values.
    pub len: usize,
}

/// The axes of `blocks`, keyed uniquely against `taken` (inherited keys):
/// the parameter's name, else `label.name`, else `name#2`, `name#3`, ...
pub fn axes(blocks: &[Block<'_>], taken: &[String]) -> Vec<Axis> {
    let mut used: Vec<String> = taken.to_vec();
    let mut out = Vec::new();
    for (b, block) in blocks.iter().enumerate() {
        for (e, p) in block.params.entries.iter().enumerate() {
            let ValueKind::List(items) = &p.value.kind else {
                continue;
            };
            let name = &p.name.name;
            let mut key = name.clone();
            if used.contains(&key) {
                key = format!("{}.{name}", block.label);
            }
            let mut n = 2;
            while used.contains(&key) {
                key = format!("{name}#{n}");
                n += 1;
            }
            used.push(key.clone());
            out.push(Axis {
                key,
                block: b,
                entry: e,
                len: items.len(),
            });
        }
    }
    out
}

/// The product of `lens`, or `None` past [`MAX_INSTANCES`] (or on overflow).
pub fn count(lens: impl IntoIterator<Item = usize>) -> Option<usize> {
    lens.into_iter().try_fold(1usize, |acc, n| {
        acc.checked_mul(n).filter(|&p| p <= MAX_INSTANCES)
    })
}

/// Every choice of one index per axis, first axis slowest. Empty axes give
/// no combination; no axes give one (the empty choice).
pub fn combinations(lens: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for &n in lens {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..n).map(move |i| {
                    let mut c = prefix.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    out
}

/// Block `b` with each of its list entries replaced by the chosen element
/// (`choice[k]` for axis `k`), as a JSON map.
pub fn concrete(params: &Params, b: usize, axes: &[Axis], choice: &[usize]) -> Map<String, Json> {
    let mut map = Map::new();
    for (e, p) in params.entries.iter().enumerate() {
        let value = match &p.value.kind {
            ValueKind::List(items) => {
                let k = axes.iter().position(|a| a.block == b && a.entry == e);
                match k.and_then(|k| items.get(choice.get(k).copied().unwrap_or(0))) {
                    Some(item) => json(item),
                    None => continue,
                }
            }
            _ => json(&p.value),
        };
        map.insert(p.name.name.clone(), value);
    }
    map
}

/// The chosen value of each axis, keyed for ids and `sweep` maps.
pub fn sweep_values(blocks: &[Block<'_>], axes: &[Axis], choice: &[usize]) -> Vec<(String, Json)> {
    axes.iter()
        .zip(choice)
        .filter_map(|(a, &i)| {
            let p = blocks.get(a.block)?.params.entries.get(a.entry)?;
            let ValueKind::List(items) = &p.value.kind else {
                return None;
            };
            Some((a.key.clone(), json(items.get(i)?)))
        })
        .collect()
}

/// A value as JSON: words become strings, floats stay floats.
pub fn json(v: &Value) -> Json {
    match &v.kind {
        ValueKind::Int(i) => Json::from(*i),
        ValueKind::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ValueKind::Str(s) | ValueKind::Word(s) => Json::String(s.clone()),
        ValueKind::Bool(b) => Json::Bool(*b),
        ValueKind::List(items) => Json::Array(items.iter().map(json).collect()),
    }
}

/// `name` alone, or `name[k=v,...]`: numbers in shortest round-trip form,
/// strings bare when they are plain words, else quoted.
pub fn instance_id(name: &str, sweep: &[(String, Json)]) -> String {
    if sweep.is_empty() {
        return name.to_string();
    }
    let parts: Vec<String> = sweep
        .iter()
        .map(|(k, v)| format!("{k}={}", id_value(v)))
        .collect();
    format!("{name}[{}]", parts.join(","))
}

/// How a swept value is written in an instance id: a plain word as is
/// (a secret's stand-in, `#3fa2…`, counts as one), anything else as JSON.
pub fn id_value(v: &Json) -> String {
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match v {
        Json::String(s) if plain(s.strip_prefix('#').unwrap_or(s)) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn combinations_put_the_first_axis_slowest() {
        assert_eq!(
            combinations(&[2, 2]),
            vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]
        );
        assert_eq!(combinations(&[]), vec![Vec::<usize>::new()]);
        assert!(combinations(&[3, 0]).is_empty());
    }

    #[test]
    fn ids_print_shortest_numbers_and_bare_words() {
        let sweep = vec![
            ("density".to_string(), json!(0.5)),
            ("bits".to_string(), json!(8)),
            ("lr".to_string(), json!(1e-3)),
            ("key".to_string(), json!("k 1")),
            ("opt".to_string(), json!("adam")),
        ];
        assert_eq!(
            instance_id("m", &sweep),
            r#"m[density=0.5,bits=8,lr=0.001,key="k 1",opt=adam]"#
        );
        assert_eq!(instance_id("m", &[]), "m");
    }

    #[test]
    fn counts_stop_at_the_limit() {
        assert_eq!(count([10, 10]), Some(100));
        assert_eq!(count([MAX_INSTANCES, 2]), None);
        assert_eq!(count([usize::MAX, usize::MAX]), None);
    }
}
