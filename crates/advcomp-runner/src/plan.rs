//! A resolved scenario compiled into a plan: a DAG of steps, each keyed by
//! a content hash of everything that determines its result.

use std::collections::BTreeMap;

use advcomp_scenario::{Origin, Resolved};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::hash::content_hash;

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepKind {
    /// Train a model from scratch.
    Train {
        /// Model instance id.
        model: String,
        /// Canonical architecture.
        arch: String,
        /// Training parameters.
        params: Map<String, Value>,
    },
    /// Derive a model from its parent's checkpoint.
    Compress {
        /// Model instance id.
        model: String,
        /// `(op, method, params)` per step, in order.
        steps: Vec<(String, String, Map<String, Value>)>,
    },
    /// Classify the clean test images with a model.
    Evaluate {
        /// Model instance id.
        model: String,
    },
    /// Make adversarial samples on a model.
    Attack {
        /// Source model instance id.
        model: String,
        /// Attack instance id.
        attack: String,
        /// Registry name.
        name: String,
        /// Attack parameters.
        params: Map<String, Value>,
        /// Test images attacked.
        images: usize,
        /// Images per batch.
        batch_size: usize,
    },
    /// Classify an attack's adversarial samples with another model.
    Apply {
        /// Target model instance id.
        model: String,
        /// Attack instance id.
        attack: String,
        /// Source model instance id.
        source: String,
    },
}

/// One step of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    /// Human-readable label (`attack fgsm on base`).
    pub label: String,
    /// What it does.
    pub kind: StepKind,
    /// Indices of the steps whose outputs it reads.
    pub deps: Vec<usize>,
    /// Content hash of its inputs: its configuration, its dependencies'
    /// hashes, the seed, the data, the backend and the advcomp version.
    pub key: String,
}

/// What every step's hash includes besides its own configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// The scenario's seed.
    pub seed: u64,
    /// Fingerprint of the dataset files.
    pub data_fingerprint: String,
    /// Training images used (after `train_images`).
    pub train_images: usize,
    /// Test images used (after `test_images`).
    pub test_images: usize,
    /// The resolved backend.
    pub backend: String,
    /// advcomp's version.
    pub advcomp_version: String,
}

/// The whole plan, in an order where every step follows its dependencies.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The steps.
    pub steps: Vec<PlanStep>,
}

impl Plan {
    /// Compiles `resolved` into steps: each model needed by a transfer is
    /// trained or derived (parents first) and evaluated; each (source,
    /// attack) pair is attacked once; each (source, attack, target) triple
    /// is applied once. Models no transfer needs are skipped.
    pub fn compile(resolved: &Resolved, env: &Environment) -> Plan {
        let mut plan = Plan { steps: Vec::new() };
        let mut model_step: BTreeMap<&str, usize> = BTreeMap::new();
        let mut eval_step: BTreeMap<&str, usize> = BTreeMap::new();
        let needed = needed_models(resolved);
        for m in resolved.models.iter().filter(|m| needed.contains(&m.id)) {
            let (kind, deps) = match &m.origin {
                Origin::Trained { arch, params, .. } => (
                    StepKind::Train {
                        model: m.id.clone(),
                        arch: arch.clone(),
                        params: params.clone(),
                    },
                    vec![],
                ),
                Origin::Derived { parent, steps } => (
                    StepKind::Compress {
                        model: m.id.clone(),
                        steps: steps
                            .iter()
                            .map(|s| {
                                (
                                    s.op.keyword().to_string(),
                                    s.method.clone(),
                                    s.params.clone(),
                                )
                            })
                            .collect(),
                    },
                    vec![model_step[parent.as_str()]],
                ),
            };
            let label = match &kind {
                StepKind::Train { .. } => format!("train {}", m.id),
                _ => format!("compress {}", m.id),
            };
            let i = plan.push(label, kind, deps, env);
            model_step.insert(&m.id, i);
            let e = plan.push(
                format!("evaluate {}", m.id),
                StepKind::Evaluate {
                    model: m.id.clone(),
                },
                vec![i],
                env,
            );
            eval_step.insert(&m.id, e);
        }
        let attacks: BTreeMap<&str, _> = resolved
            .attacks
            .iter()
            .map(|a| (a.id.as_str(), a))
            .collect();
        let mut attack_step: BTreeMap<(String, String), usize> = BTreeMap::new();
        for t in &resolved.transfers {
            for a in &t.attacks {
                let attack = attacks[a.as_str()];
                let images = attack
                    .images
                    .unwrap_or(env.test_images)
                    .min(env.test_images);
                let batch_size = attack.batch_size.unwrap_or(resolved.settings.batch_size);
                for s in &t.sources {
                    let key = (s.clone(), a.clone());
                    let ai = match attack_step.get(&key) {
                        Some(&i) => i,
                        None => {
                            let i = plan.push(
                                format!("attack {a} on {s}"),
                                StepKind::Attack {
                                    model: s.clone(),
                                    attack: a.clone(),
                                    name: attack.attack.clone(),
                                    params: attack.params.clone(),
                                    images,
                                    batch_size,
                                },
                                vec![model_step[s.as_str()], eval_step[s.as_str()]],
                                env,
                            );
                            attack_step.insert(key, i);
                            i
                        }
                    };
                    for target in &t.targets {
                        if target == s || plan.has_apply(target, a, s) {
                            continue;
                        }
                        plan.push(
                            format!("apply {a} from {s} to {target}"),
                            StepKind::Apply {
                                model: target.clone(),
                                attack: a.clone(),
                                source: s.clone(),
                            },
                            vec![ai, model_step[target.as_str()], eval_step[target.as_str()]],
                            env,
                        );
                    }
                }
            }
        }
        plan
    }

    fn has_apply(&self, target: &str, attack: &str, source: &str) -> bool {
        self.steps.iter().any(|s| {
            matches!(&s.kind, StepKind::Apply { model, attack: a, source: src }
                if model == target && a == attack && src == source)
        })
    }

    fn push(
        &mut self,
        label: String,
        kind: StepKind,
        deps: Vec<usize>,
        env: &Environment,
    ) -> usize {
        let dep_keys: Vec<&str> = deps.iter().map(|&d| self.steps[d].key.as_str()).collect();
        // Ids and labels are names, not inputs: two scenarios that declare
        // the same model under different names share its cache entry.
        let key = content_hash(&json!({
            "step": strip_names(&kind),
            "deps": dep_keys,
            "env": env,
        }));
        self.steps.push(PlanStep {
            label,
            kind,
            deps,
            key,
        });
        self.steps.len() - 1
    }
}

/// The step's configuration without instance names.
fn strip_names(kind: &StepKind) -> Value {
    let mut v = serde_json::to_value(kind).expect("steps serialise");
    if let Some(map) = v.as_object_mut() {
        for name in ["model", "attack", "source"] {
            map.remove(name);
        }
    }
    v
}

/// Every model a transfer uses, with all its ancestors.
fn needed_models(resolved: &Resolved) -> Vec<String> {
    let mut needed: Vec<String> = resolved
        .transfers
        .iter()
        .flat_map(|t| t.sources.iter().chain(&t.targets).cloned())
        .collect();
    let mut i = 0;
    while i < needed.len() {
        if let Some(m) = resolved.models.iter().find(|m| m.id == needed[i])
            && let Origin::Derived { parent, .. } = &m.origin
            && !needed.contains(parent)
        {
            needed.push(parent.clone());
        }
        i += 1;
    }
    needed
}
