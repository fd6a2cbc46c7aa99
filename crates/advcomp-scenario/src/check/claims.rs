//! Claims: `expect` statements checked and resolved into the numbers they
//! compare.
//!
//! Names are checked with the other references (`check_expect_names`:
//! the metric exists, its arguments have the right kinds). Once the
//! scenario has expanded, each metric is resolved against the instances
//! (`resolve_claim`):
//!
//! - a reference without a selector stands for every instance of its
//!   declaration; `pruned[density=0.1]` for those whose sweep values match;
//! - the instances of a metric's references combine where their shared
//!   sweep keys agree (a natural join: `transfer(base -> pruned, a)` with a
//!   swept `seed` on `base` pairs each pruned model with its own parent);
//! - sweep keys left free make the claim hold "for every value" — except
//!   seed keys (`seed`, `finetune.seed`, `seed#2`), whose values are draws
//!   of one measurement: they are averaged, with a confidence interval;
//! - every number must be one the run produces (a `transfer` statement
//!   makes it), else the claim is refused here rather than failing later.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value as Json;

use crate::ast::*;
use crate::expand;
use crate::resolved::{
    AttackInstance, Claim, ClaimKind, CompareCase, Lookup, Metric, ModelInstance, Origin, Side,
    Transfer, TrendPoint, TrendSeries,
};
use crate::span::Span;

use super::{Checker, Decl, suggest};

/// The options of a trend claim.
const TREND_PARAMS: &[&str] = &["tolerance"];

/// Whether sweep key `key` sweeps a seed: its values are repeated draws of
/// one measurement, averaged by a claim rather than quantified over.
pub fn is_seed_key(key: &str) -> bool {
    let base = key.split('#').next().unwrap_or(key);
    base == "seed" || base.ends_with(".seed")
}

/// What the run will produce, for checking that a claim's numbers exist.
pub(super) struct Produced<'r> {
    /// Model instances that are trained or derived, and evaluated.
    evaluated: HashSet<&'r str>,
    /// (source, attack) pairs attacked white box.
    attacked: HashSet<(&'r str, &'r str)>,
    /// (source, target, attack) triples of the transfer table.
    transferred: HashSet<(&'r str, &'r str, &'r str)>,
}

impl<'r> Produced<'r> {
    /// What `transfers` make, over `models`.
    pub(super) fn new(models: &'r [ModelInstance], transfers: &'r [Transfer]) -> Self {
        let mut attacked = HashSet::new();
        let mut transferred = HashSet::new();
        let mut queue: Vec<&str> = Vec::new();
        for t in transfers {
            for s in &t.sources {
                for a in &t.attacks {
                    attacked.insert((s.as_str(), a.as_str()));
                    for g in &t.targets {
                        transferred.insert((s.as_str(), g.as_str(), a.as_str()));
                    }
                }
            }
            queue.extend(t.sources.iter().chain(&t.targets).map(String::as_str));
        }
        let parents: HashMap<&str, &str> = models
            .iter()
            .filter_map(|m| match &m.origin {
                Origin::Derived { parent, .. } => Some((m.id.as_str(), parent.as_str())),
                Origin::Trained { .. } | Origin::Ensemble { .. } => None,
            })
            .collect();
        let mut evaluated = HashSet::new();
        while let Some(id) = queue.pop() {
            if evaluated.insert(id)
                && let Some(p) = parents.get(id)
            {
                queue.push(p);
            }
        }
        Produced {
            evaluated,
            attacked,
            transferred,
        }
    }
}

/// One instance a reference may stand for: its id and sweep values.
struct Candidate<'r> {
    id: &'r str,
    sweep: &'r BTreeMap<String, Json>,
}

/// One number a metric names, with the free sweep values it is at.
struct Point {
    /// Free sweep values that are not seeds.
    at: BTreeMap<String, Json>,
    lookup: Lookup,
}

/// A metric's points grouped by their free sweep values: one group per
/// combination, holding one draw per seed.
type Groups = Vec<(BTreeMap<String, Json>, Vec<Lookup>)>;

impl<'a> Checker<'a> {
    /// Name-level checks of an `expect`: metrics exist, arguments have the
    /// right kinds and count, references are declared.
    pub(super) fn check_expect_names(
        &mut self,
        e: &ExpectDecl,
        by_name: &HashMap<&'a str, Decl<'a>>,
        decls: &[Decl<'a>],
    ) {
        if let ExpectDecl::Compare {
            left: Operand::Number(_),
            right: Operand::Number(_),
            op_span,
            ..
        } = e
        {
            let d = self
                .error(*op_span, "a claim compares two numbers")
                .label("nothing here comes from the results")
                .help("name a metric on one side, e.g. `expect success(base, fgsm) > 0.5`");
            self.diags.push(d);
        }
        for m in e.metrics() {
            self.check_metric_names(m, by_name, decls);
        }
        if let ExpectDecl::Trend { params, .. } = e {
            for p in &params.entries {
                if !TREND_PARAMS.contains(&p.name.name.as_str()) {
                    let d = self
                        .error(
                            p.name.span,
                            format!("unknown option `{}` of a trend claim", p.name.name),
                        )
                        .label("not an option")
                        .help(match suggest(&p.name.name, TREND_PARAMS.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("options: {}", TREND_PARAMS.join(", ")),
                        });
                    self.diags.push(d);
                    continue;
                }
                let ok = match p.value.kind {
                    ValueKind::Int(i) => i >= 0,
                    ValueKind::Float(f) => f >= 0.0,
                    _ => false,
                };
                if !ok {
                    let d = self
                        .error(
                            p.value.span,
                            format!(
                                "`tolerance` must be a number >= 0, got {}",
                                p.value.kind.quote()
                            ),
                        )
                        .label("not a tolerance")
                        .help("the largest step against the trend that is forgiven, e.g. `{ tolerance: 0.02 }`");
                    self.diags.push(d);
                }
            }
        }
    }

    fn check_metric_names(
        &mut self,
        m: &MetricCall,
        by_name: &HashMap<&'a str, Decl<'a>>,
        decls: &[Decl<'a>],
    ) {
        let Some(metric) = Metric::ALL.into_iter().find(|x| x.name() == m.name.name) else {
            let names = Metric::ALL.map(Metric::name);
            let d = self
                .error(m.name.span, format!("unknown metric `{}`", m.name.name))
                .label("not a metric")
                .help(match suggest(&m.name.name, names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("metrics: {}", names.join(", ")),
                });
            self.diags.push(d);
            return;
        };
        let wanted = 1 + usize::from(metric.takes_attack());
        if m.args.len() != wanted {
            let d = self
                .error(
                    m.span,
                    format!(
                        "`{}` takes {wanted} argument{}, got {}",
                        metric.name(),
                        if wanted == 1 { "" } else { "s" },
                        m.args.len()
                    ),
                )
                .label("wrong number of arguments")
                .help(format!("it is written `{}`", metric.signature()));
            self.diags.push(d);
            return;
        }
        let models: Vec<&str> = decls
            .iter()
            .filter(|d| d.is_model())
            .map(|d| d.name().name.as_str())
            .collect();
        let attacks: Vec<&str> = decls
            .iter()
            .filter(|d| !d.is_model())
            .map(|d| d.name().name.as_str())
            .collect();
        match (&m.args[0], metric.takes_pair()) {
            (MetricArg::Pair(s, t), true) => {
                self.check_reference(&s.name, true, by_name, &models, None);
                self.check_reference(&t.name, true, by_name, &models, None);
            }
            (MetricArg::One(r), false) => {
                self.check_reference(&r.name, true, by_name, &models, None)
            }
            (arg, pair) => {
                let d = self
                    .error(
                        arg.span(),
                        if pair {
                            format!("`{}` needs a `source -> target` pair", metric.name())
                        } else {
                            format!("`{}` is of one model, not a pair", metric.name())
                        },
                    )
                    .label(if pair {
                        "expected `source -> target`"
                    } else {
                        "expected one model"
                    })
                    .help(format!("it is written `{}`", metric.signature()));
                self.diags.push(d);
            }
        }
        if metric.takes_attack() {
            match &m.args[1] {
                MetricArg::One(r) => self.check_reference(&r.name, false, by_name, &attacks, None),
                MetricArg::Pair(..) => {
                    let d = self
                        .error(m.args[1].span(), "expected an attack, not a pair of models")
                        .label("expected an attack")
                        .help(format!("it is written `{}`", metric.signature()));
                    self.diags.push(d);
                }
            }
        }
    }

    /// Resolves a sound claim against the expanded scenario. `None` (with
    /// diagnostics) when it names instances or numbers the run lacks.
    pub(super) fn resolve_claim(
        &mut self,
        e: &ExpectDecl,
        span: Span,
        models: &[ModelInstance],
        attacks: &[AttackInstance],
        produced: &Produced<'_>,
    ) -> Option<Claim> {
        let mut text = String::new();
        crate::format::claim(&mut text, e);
        let line = self.src.line_col(span.start).0;
        let kind = match e {
            ExpectDecl::Compare {
                left,
                op,
                op_span,
                right,
            } => {
                let l = self.side(left, models, attacks, produced)?;
                let r = self.side(right, models, attacks, produced)?;
                let cases = self.join_sides(l, r, *op_span)?;
                ClaimKind::Compare { op: *op, cases }
            }
            ExpectDecl::Trend {
                metric,
                direction,
                axis,
                params,
                ..
            } => {
                let groups = self.groups(metric, models, attacks, produced)?;
                let series = self.series(metric, groups, axis)?;
                let tolerance = params
                    .get("tolerance")
                    .and_then(|p| match p.value.kind {
                        ValueKind::Int(i) => Some(i as f64),
                        ValueKind::Float(f) => Some(f),
                        _ => None,
                    })
                    .unwrap_or(0.0);
                ClaimKind::Trend {
                    direction: *direction,
                    axis: axis.name.clone(),
                    tolerance,
                    series,
                }
            }
        };
        Some(Claim { text, line, kind })
    }

    /// A side of a comparison: a number, or a metric's groups.
    fn side(
        &mut self,
        o: &Operand,
        models: &[ModelInstance],
        attacks: &[AttackInstance],
        produced: &Produced<'_>,
    ) -> Option<Result<f64, Groups>> {
        match o {
            Operand::Number(v) => Some(Ok(match v.kind {
                ValueKind::Int(i) => i as f64,
                ValueKind::Float(f) => f,
                _ => 0.0,
            })),
            Operand::Metric(m) => self.groups(m, models, attacks, produced).map(Err),
        }
    }

    /// Pairs the groups of the two sides where their shared sweep keys
    /// agree.
    fn join_sides(
        &mut self,
        left: Result<f64, Groups>,
        right: Result<f64, Groups>,
        op_span: Span,
    ) -> Option<Vec<CompareCase>> {
        let case = |at: &BTreeMap<String, Json>, l: Side, r: Side| CompareCase {
            at: at.clone(),
            left: l,
            right: r,
        };
        let cases: Vec<CompareCase> = match (&left, &right) {
            (Ok(a), Ok(b)) => vec![case(&BTreeMap::new(), Side::Number(*a), Side::Number(*b))],
            (Ok(a), Err(g)) => g
                .iter()
                .map(|(at, d)| case(at, Side::Number(*a), Side::Draws(d.clone())))
                .collect(),
            (Err(g), Ok(b)) => g
                .iter()
                .map(|(at, d)| case(at, Side::Draws(d.clone()), Side::Number(*b)))
                .collect(),
            (Err(gl), Err(gr)) => {
                let mut out = Vec::new();
                for (al, dl) in gl {
                    for (ar, dr) in gr {
                        if let Some(at) = merge(al, ar) {
                            out.push(case(&at, Side::Draws(dl.clone()), Side::Draws(dr.clone())));
                        }
                    }
                }
                if out.is_empty() {
                    let d = self
                        .error(op_span, "the two sides share no sweep point")
                        .label("nothing to compare")
                        .help(format!(
                            "sweep keys of the same name must have a value in common: the left side is at {}, the right at {}",
                            describe_points(gl),
                            describe_points(gr)
                        ));
                    self.diags.push(d);
                    return None;
                }
                out
            }
        };
        Some(cases)
    }

    /// The trend's series: the groups ordered along `axis`, one series per
    /// combination of the other free keys.
    fn series(&mut self, m: &MetricCall, groups: Groups, axis: &Ident) -> Option<Vec<TrendSeries>> {
        let keys: Vec<&String> = groups.first().map(|g| g.0.keys().collect())?;
        if !keys.contains(&&axis.name) {
            let mut d = self
                .error(
                    axis.span,
                    format!("`{}` does not vary along `{}`", text_of(m), axis.name),
                )
                .label("not a free sweep key of the metric");
            d = d.help(if is_seed_key(&axis.name) {
                "a claim averages over seeds (they are draws, not an axis): order by another sweep key".to_string()
            } else if keys.is_empty() {
                "it names single instances: drop a selector (`pruned` rather than `pruned[density=0.1]`) or sweep a parameter".to_string()
            } else {
                match suggest(&axis.name, keys.iter().map(|k| k.as_str())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "it varies along {}",
                        keys.iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            });
            self.diags.push(d);
            return None;
        }
        let mut series: Vec<TrendSeries> = Vec::new();
        for (at, draws) in groups {
            let mut rest = at.clone();
            let Some(x) = rest.remove(&axis.name).and_then(|v| v.as_f64()) else {
                let d = self
                    .error(
                        axis.span,
                        format!("sweep key `{}` is not numeric", axis.name),
                    )
                    .label("a trend needs numbers to order by")
                    .help(format!(
                        "its value {} is not a number",
                        at.get(&axis.name)
                            .map_or_else(String::new, expand::id_value)
                    ));
                self.diags.push(d);
                return None;
            };
            let point = TrendPoint { x, draws };
            match series.iter_mut().find(|s| s.at == rest) {
                Some(s) => s.points.push(point),
                None => series.push(TrendSeries {
                    at: rest,
                    points: vec![point],
                }),
            }
        }
        for s in &mut series {
            s.points.sort_by(|a, b| a.x.total_cmp(&b.x));
            if s.points.len() < 2 {
                let d = self
                    .error(axis.span, format!("only one value of `{}`", axis.name))
                    .label("a trend needs two points or more")
                    .help("sweep the parameter over two values or more");
                self.diags.push(d);
                return None;
            }
        }
        Some(series)
    }

    /// The metric's numbers, grouped by free sweep values (seeds apart).
    fn groups(
        &mut self,
        m: &MetricCall,
        models: &[ModelInstance],
        attacks: &[AttackInstance],
        produced: &Produced<'_>,
    ) -> Option<Groups> {
        let metric = Metric::ALL.into_iter().find(|x| x.name() == m.name.name)?;
        // The references, in order: model(s), then the attack.
        let mut refs: Vec<(&Reference, bool)> = Vec::new();
        match &m.args[0] {
            MetricArg::Pair(s, t) => {
                refs.push((s, true));
                refs.push((t, true));
            }
            MetricArg::One(r) => refs.push((r, true)),
        }
        if let Some(MetricArg::One(a)) = m.args.get(1) {
            refs.push((a, false));
        }
        let mut chosen: Vec<Vec<Candidate<'_>>> = Vec::new();
        let mut selected: HashSet<&str> = HashSet::new();
        for (r, model) in &refs {
            let instances: Vec<(&str, &str, &BTreeMap<String, Json>)> = if *model {
                models
                    .iter()
                    .map(|i| (&*i.decl, &*i.id, &i.sweep))
                    .collect()
            } else {
                attacks
                    .iter()
                    .map(|i| (&*i.decl, &*i.id, &i.sweep))
                    .collect()
            };
            let all: Vec<Candidate<'_>> = instances
                .into_iter()
                .filter(|(decl, _, _)| *decl == r.name.name)
                .map(|(_, id, sweep)| Candidate { id, sweep })
                .collect();
            chosen.push(self.select(r, all)?);
            selected.extend(r.selector.iter().map(|s| s.key.name.as_str()));
        }
        // The product of the candidates, joined on shared sweep keys.
        let mut combos: Vec<(Vec<&str>, BTreeMap<String, Json>)> =
            vec![(Vec::new(), BTreeMap::new())];
        for list in &chosen {
            let mut next = Vec::new();
            for (ids, sweep) in &combos {
                for c in list {
                    if let Some(merged) = merge(sweep, c.sweep) {
                        let mut ids = ids.clone();
                        ids.push(c.id);
                        next.push((ids, merged));
                    }
                }
            }
            combos = next;
        }
        if combos.is_empty() {
            let d = self
                .error(m.span, format!("`{}` names no pair of instances", text_of(m)))
                .label("its references share a sweep key with no value in common")
                .help("sweep keys of the same name are matched by value: select values that exist on both sides");
            self.diags.push(d);
            return None;
        }
        let mut points = Vec::new();
        for (ids, sweep) in combos {
            let (model, target, attack) = match (metric.takes_pair(), metric.takes_attack()) {
                (true, _) => (ids[0], Some(ids[1]), Some(ids[2])),
                (false, true) => (ids[0], None, Some(ids[1])),
                (false, false) => (ids[0], None, None),
            };
            let exists = match (target, attack) {
                (Some(t), Some(a)) => produced.transferred.contains(&(model, t, a)),
                (None, Some(a)) => produced.attacked.contains(&(model, a)),
                _ => produced.evaluated.contains(model),
            };
            if !exists {
                self.missing(m, metric, model, target, attack);
                return None;
            }
            let (seeds, at): (BTreeMap<_, _>, BTreeMap<_, _>) = sweep
                .into_iter()
                .filter(|(k, _)| !selected.contains(k.as_str()))
                .partition(|(k, _)| is_seed_key(k));
            points.push(Point {
                at,
                lookup: Lookup {
                    metric,
                    model: model.to_string(),
                    target: target.map(str::to_string),
                    attack: attack.map(str::to_string),
                    seeds,
                },
            });
        }
        let mut groups: Groups = Vec::new();
        for p in points {
            match groups.iter_mut().find(|g| g.0 == p.at) {
                Some(g) => g.1.push(p.lookup),
                None => groups.push((p.at, vec![p.lookup])),
            }
        }
        Some(groups)
    }

    /// The candidates whose sweep values match `r`'s selector.
    fn select<'r>(&mut self, r: &Reference, all: Vec<Candidate<'r>>) -> Option<Vec<Candidate<'r>>> {
        let keys: Vec<&str> = all
            .first()
            .map(|c| c.sweep.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut out = all;
        for s in &r.selector {
            if !keys.contains(&s.key.name.as_str()) {
                let mut d = self
                    .error(
                        s.key.span,
                        format!("`{}` has no sweep key `{}`", r.name.name, s.key.name),
                    )
                    .label("not swept");
                d = d.help(if keys.is_empty() {
                    format!("`{}` sweeps nothing: drop the selector", r.name.name)
                } else {
                    match suggest(&s.key.name, keys.iter().copied()) {
                        Some(k) => format!("did you mean `{k}`?"),
                        None => format!("its sweep keys: {}", keys.join(", ")),
                    }
                });
                self.diags.push(d);
                return None;
            }
            let want = expand::json(&s.value);
            let values: Vec<String> = dedup_values(&out, &s.key.name);
            out.retain(|c| {
                c.sweep
                    .get(&s.key.name)
                    .is_some_and(|v| same_value(v, &want))
            });
            if out.is_empty() {
                let d = self
                    .error(
                        s.value.span,
                        format!(
                            "no instance of `{}` has {} = {}",
                            r.name.name,
                            s.key.name,
                            // A string that matched no instance may be a
                            // mistyped passphrase (a matching one was
                            // concealed): it is never quoted.
                            if want.is_string() {
                                "the string given".to_string()
                            } else {
                                expand::id_value(&want)
                            }
                        ),
                    )
                    .label("no such sweep value")
                    .help(format!(
                        "{} takes the values {}{}",
                        s.key.name,
                        values.join(", "),
                        if r.selector.len() > 1 {
                            " (with the selector's other values)"
                        } else {
                            ""
                        }
                    ));
                self.diags.push(d);
                return None;
            }
        }
        Some(out)
    }

    fn missing(
        &mut self,
        m: &MetricCall,
        metric: Metric,
        model: &str,
        target: Option<&str>,
        attack: Option<&str>,
    ) {
        let (message, help) = match (target, attack) {
            (Some(t), Some(a)) => (
                format!("no `transfer` statement tries samples made on `{model}` with `{a}` on `{t}`"),
                "add a `transfer` statement with that source, target and attack".to_string(),
            ),
            (None, Some(a)) => (
                format!("`{model}` is not attacked with `{a}`"),
                format!(
                    "`{}` is measured on the sources of a `transfer` statement: add one with `{model}` as a source and `{a}` among its attacks",
                    metric.name()
                ),
            ),
            _ => (
                format!("`{model}` is not built by this scenario"),
                "only models a `transfer` statement uses (and their parents) are built and evaluated".to_string(),
            ),
        };
        let d = self
            .error(m.span, message)
            .label("the run makes no such number")
            .help(help);
        self.diags.push(d);
    }
}

/// `a` and `b` merged, or `None` when a shared key has different values.
fn merge(a: &BTreeMap<String, Json>, b: &BTreeMap<String, Json>) -> Option<BTreeMap<String, Json>> {
    let mut out = a.clone();
    for (k, v) in b {
        match out.get(k) {
            Some(w) if !same_value(v, w) => return None,
            Some(_) => {}
            None => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Some(out)
}

/// Equal as the language means it: numbers by value (`8` is `8.0`).
fn same_value(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn dedup_values(list: &[Candidate<'_>], key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in list {
        if let Some(v) = c.sweep.get(key) {
            let s = expand::id_value(v);
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

fn describe_points(groups: &Groups) -> String {
    let points: Vec<String> = groups
        .iter()
        .take(4)
        .map(|(at, _)| {
            let kv: Vec<String> = at
                .iter()
                .map(|(k, v)| format!("{k}={}", expand::id_value(v)))
                .collect();
            format!("[{}]", kv.join(","))
        })
        .collect();
    let more = if groups.len() > 4 { ", …" } else { "" };
    format!("{}{more}", points.join(", "))
}

fn text_of(m: &MetricCall) -> String {
    let mut s = String::new();
    crate::format::metric(&mut s, m);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_keys_are_recognised_in_every_form() {
        for k in ["seed", "finetune.seed", "seed#2", "lenet5.seed"] {
            assert!(is_seed_key(k), "{k}");
        }
        for k in ["density", "seeds", "reseed", "seed_bits"] {
            assert!(!is_seed_key(k), "{k}");
        }
    }

    #[test]
    fn numbers_match_by_value_and_conflicts_refuse_a_merge() {
        let a: BTreeMap<String, Json> = [("bits".to_string(), Json::from(8))].into();
        let b: BTreeMap<String, Json> = [("bits".to_string(), Json::from(8.0))].into();
        let c: BTreeMap<String, Json> = [("bits".to_string(), Json::from(4))].into();
        assert_eq!(merge(&a, &b), Some(a.clone()));
        assert_eq!(merge(&a, &c), None);
    }
}
