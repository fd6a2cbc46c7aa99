//! Instances: sweep expansion of sound declarations into the resolved
//! plan's model and attack instances, parents before children.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value as Json};

use crate::ast::*;
use crate::expand::{self, Axis, Block};
use crate::resolved::{AttackInstance, ModelInstance, Origin, Stage};

use super::{Checker, Decl, Inst};

impl<'a> Checker<'a> {
    /// Expands model or variant `d` (its parents first) into `models`.
    pub(super) fn expand_model(
        &mut self,
        d: Decl<'a>,
        by_name: &HashMap<&'a str, Decl<'a>>,
        canon: &HashMap<&'a str, Vec<String>>,
        instances: &mut HashMap<&'a str, Vec<Inst>>,
        models: &mut Vec<ModelInstance>,
    ) {
        let name = d.name();
        if instances.contains_key(name.name.as_str()) || !d.is_model() {
            return;
        }
        let Some(names) = canon.get(name.name.as_str()) else {
            return;
        };
        let mut out = Vec::new();
        match d {
            Decl::Model(m) => {
                let mut blocks = vec![Block {
                    label: &names[0],
                    params: &m.params,
                }];
                if let Some(def) = &m.defence {
                    blocks.push(Block {
                        label: &names[1],
                        params: &def.params,
                    });
                }
                let axes = expand::axes(&blocks, &[]);
                if !self.within_limit(name, 1, &axes) {
                    return;
                }
                for choice in expand::combinations(&lens(&axes)) {
                    let sweep = expand::sweep_values(&blocks, &axes, &choice);
                    let defence = m.defence.as_ref().map(|def| Stage {
                        op: StageOp::Defend,
                        method: names[1].clone(),
                        params: expand::concrete(&def.params, 1, &axes, &choice),
                    });
                    let origin = Origin::Trained {
                        arch: names[0].clone(),
                        params: expand::concrete(&m.params, 0, &axes, &choice),
                        defence,
                    };
                    out.push(self.instance(&name.name, sweep, origin, models));
                }
            }
            Decl::Variant(v) => {
                let Some(&parent) = by_name.get(v.parent.name.as_str()) else {
                    return;
                };
                self.expand_model(parent, by_name, canon, instances, models);
                let Some(parents) = instances.get(v.parent.name.as_str()) else {
                    return;
                };
                let blocks: Vec<Block<'_>> = v
                    .steps
                    .iter()
                    .zip(names)
                    .map(|(s, n)| Block {
                        label: n,
                        params: &s.params,
                    })
                    .collect();
                let taken: Vec<String> = parents
                    .first()
                    .map(|p| p.sweep.iter().map(|(k, _)| k.clone()).collect())
                    .unwrap_or_default();
                let axes = expand::axes(&blocks, &taken);
                if !self.within_limit(name, parents.len(), &axes) {
                    return;
                }
                let combos = expand::combinations(&lens(&axes));
                let parent_list: Vec<(String, Vec<(String, Json)>)> = parents
                    .iter()
                    .map(|p| (p.id.clone(), p.sweep.clone()))
                    .collect();
                for (parent_id, parent_sweep) in parent_list {
                    for choice in &combos {
                        let mut sweep = parent_sweep.clone();
                        sweep.extend(expand::sweep_values(&blocks, &axes, choice));
                        let steps = v
                            .steps
                            .iter()
                            .zip(names)
                            .enumerate()
                            .map(|(b, (s, n))| Stage {
                                op: s.op,
                                method: n.clone(),
                                params: expand::concrete(&s.params, b, &axes, choice),
                            })
                            .collect();
                        let origin = Origin::Derived {
                            parent: parent_id.clone(),
                            steps,
                        };
                        out.push(self.instance(&name.name, sweep, origin, models));
                    }
                }
            }
            Decl::Ensemble(e) => {
                let mut members: Vec<String> = Vec::new();
                for m in &e.members {
                    let Some(&decl) = by_name.get(m.name.as_str()) else {
                        return;
                    };
                    self.expand_model(decl, by_name, canon, instances, models);
                    for i in instances.get(m.name.as_str()).into_iter().flatten() {
                        if !members.contains(&i.id) {
                            members.push(i.id.clone());
                        }
                    }
                }
                let origin = Origin::Ensemble { members };
                out.push(self.instance(&name.name, Vec::new(), origin, models));
            }
            Decl::Attack(_) => {}
        }
        instances.insert(name.name.as_str(), out);
    }

    pub(super) fn instance(
        &mut self,
        decl: &str,
        sweep: Vec<(String, Json)>,
        origin: Origin,
        models: &mut Vec<ModelInstance>,
    ) -> Inst {
        let id = expand::instance_id(decl, &sweep);
        models.push(ModelInstance {
            id: id.clone(),
            decl: decl.to_string(),
            sweep: sweep.iter().cloned().collect::<BTreeMap<_, _>>(),
            origin,
        });
        Inst { id, sweep }
    }

    /// Whether `parents` × the axes stays within [`expand::MAX_INSTANCES`]
    /// (else a diagnostic at the declaration's name).
    pub(super) fn within_limit(&mut self, name: &Ident, parents: usize, axes: &[Axis]) -> bool {
        if expand::count(std::iter::once(parents).chain(axes.iter().map(|a| a.len))).is_some() {
            return true;
        }
        let d = self
            .error(
                name.span,
                format!(
                    "`{}` expands to more than {} instances",
                    name.name,
                    expand::MAX_INSTANCES
                ),
            )
            .label("too many sweep combinations")
            .help("sweeps multiply: split the declaration or shorten its lists");
        self.diags.push(d);
        false
    }

    pub(super) fn expand_attack(
        &mut self,
        a: &'a AttackDecl,
        canon: &HashMap<&'a str, Vec<String>>,
    ) -> Vec<AttackInstance> {
        let Some(names) = canon.get(a.name.name.as_str()) else {
            return vec![];
        };
        let blocks = [Block {
            label: &names[0],
            params: &a.params,
        }];
        let axes = expand::axes(&blocks, &[]);
        if !self.within_limit(&a.name, 1, &axes) {
            return vec![];
        }
        expand::combinations(&lens(&axes))
            .into_iter()
            .map(|choice| {
                let mut params: Map<String, Json> = expand::concrete(&a.params, 0, &axes, &choice);
                let mut take = |k: &str| {
                    params
                        .remove(k)
                        .and_then(|v| v.as_u64())
                        .and_then(|n| usize::try_from(n).ok())
                };
                let images = take("images");
                let batch_size = take("batch_size");
                let target = params.remove("target").map(|v| match v {
                    Json::String(s) => s,
                    other => other.to_string(),
                });
                let sweep = expand::sweep_values(&blocks, &axes, &choice);
                AttackInstance {
                    id: expand::instance_id(&a.name.name, &sweep),
                    decl: a.name.name.clone(),
                    attack: names[0].clone(),
                    params,
                    images,
                    batch_size,
                    target,
                    sweep: sweep.into_iter().collect(),
                }
            })
            .collect()
    }
}

fn lens(axes: &[Axis]) -> Vec<usize> {
    axes.iter().map(|a| a.len).collect()
}
