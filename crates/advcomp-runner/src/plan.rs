//! A resolved scenario compiled into a plan: a DAG of steps, each keyed by
//! a content hash of everything that determines its result.

use std::collections::{BTreeMap, HashMap, HashSet};

use advcomp_defence::{DefenceSpec, Key};
use advcomp_scenario::ast::StageOp;
use advcomp_scenario::{Origin, Resolved, Secrets, Stage};
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
        /// Whether the parent carries a keyed defence, whose thresholds
        /// the step learns again on the compressed copy
        /// ([`crate::deployed::redeploy`]); hashed only when true, so the
        /// keys of other compress steps are as they were.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keyed: bool,
    },
    /// Harden a model with a defence (a keyed one, or adversarial
    /// training): a fine-tune from the parent's weights.
    Defend {
        /// Model instance id (of the model this step makes or starts).
        model: String,
        /// Canonical defence name.
        defence: String,
        /// Its parameters without the key.
        params: Map<String, Value>,
        /// The key's public id (keyed defences).
        key_id: Option<String>,
        /// The parameters as the scenario resolved them: a passphrase is
        /// its stand-in ([`Plan::secrets`] reveals it). Not hashed: the key
        /// is hashed through `key_id`.
        #[serde(skip)]
        resolved_params: Map<String, Value>,
    },
    /// Combine models made by other steps (its dependencies, in order)
    /// into one: the mean of their logits. Computes nothing; its key
    /// hashes its members' keys.
    Ensemble {
        /// Model instance id.
        model: String,
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
        /// The target rule (`"next"`, …); `None`: untargeted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
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

impl StepKind {
    /// The kind's name, as serialised (`train`, `attack`, …).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Train { .. } => "train",
            StepKind::Compress { .. } => "compress",
            StepKind::Defend { .. } => "defend",
            StepKind::Ensemble { .. } => "ensemble",
            StepKind::Evaluate { .. } => "evaluate",
            StepKind::Attack { .. } => "attack",
            StepKind::Apply { .. } => "apply",
        }
    }
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
    /// The defence key of the model this step makes or reads (inherited
    /// from the nearest keyed ancestor). Never serialised.
    #[serde(skip)]
    pub secret: Option<Key>,
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
    /// The passphrases behind the stand-ins in `defend` steps.
    #[serde(skip)]
    pub secrets: Secrets,
}

impl Plan {
    /// Compiles `resolved` into steps: each model needed by a transfer is
    /// trained or derived (parents first) and evaluated; each (source,
    /// attack) pair is attacked once; each (source, attack, target) triple
    /// is applied once. Models no transfer needs are skipped.
    pub fn compile(resolved: &Resolved, env: &Environment) -> Plan {
        let mut plan = Plan {
            steps: Vec::new(),
            secrets: resolved.secrets.clone(),
        };
        let mut model_step: BTreeMap<&str, usize> = BTreeMap::new();
        let mut eval_step: BTreeMap<&str, usize> = BTreeMap::new();
        let needed = needed_models(resolved);
        for m in resolved
            .models
            .iter()
            .filter(|m| needed.contains(m.id.as_str()))
        {
            let last = match &m.origin {
                Origin::Trained {
                    arch,
                    params,
                    defence,
                } => {
                    let spec = defence
                        .as_ref()
                        .and_then(|d| spec_of(d, &resolved.secrets).ok());
                    let mut params = params.clone();
                    // A keyed model is trained independently: its
                    // initialisation and data order come from its key
                    // unless the scenario fixes `seed`.
                    if let Some(key) = spec.as_ref().and_then(DefenceSpec::key)
                        && !params.contains_key("seed")
                    {
                        params.insert("seed".into(), Value::from(key.seed("train/seed")));
                    }
                    let t = plan.push(
                        format!("train {}", m.id),
                        StepKind::Train {
                            model: m.id.clone(),
                            arch: arch.clone(),
                            params,
                        },
                        vec![],
                        None,
                    );
                    match defence {
                        Some(d) => plan.push_defend(&m.id, d, t, None),
                        None => t,
                    }
                }
                Origin::Derived { parent, steps } => {
                    let mut at = model_step[parent.as_str()];
                    let mut pending: Vec<&Stage> = Vec::new();
                    for step in steps {
                        if step.op == StageOp::Defend {
                            at = plan.push_compress(&m.id, &mut pending, at);
                            let inherited = plan.steps[at].secret.clone();
                            at = plan.push_defend(&m.id, step, at, inherited);
                        } else {
                            pending.push(step);
                        }
                    }
                    at = plan.push_compress(&m.id, &mut pending, at);
                    at
                }
                Origin::Ensemble { members } => plan.push(
                    format!("ensemble {}", m.id),
                    StepKind::Ensemble {
                        model: m.id.clone(),
                    },
                    members.iter().map(|id| model_step[id.as_str()]).collect(),
                    None,
                ),
            };
            model_step.insert(&m.id, last);
            let secret = plan.steps[last].secret.clone();
            let e = plan.push(
                format!("evaluate {}", m.id),
                StepKind::Evaluate {
                    model: m.id.clone(),
                },
                vec![last],
                secret,
            );
            eval_step.insert(&m.id, e);
        }
        let attacks: BTreeMap<&str, _> = resolved
            .attacks
            .iter()
            .map(|a| (a.id.as_str(), a))
            .collect();
        let mut attack_step: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut applied: HashSet<(&str, &str, &str)> = HashSet::new();
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
                                    target: attack.target.clone(),
                                },
                                vec![model_step[s.as_str()], eval_step[s.as_str()]],
                                plan.steps[model_step[s.as_str()]].secret.clone(),
                            );
                            attack_step.insert(key, i);
                            i
                        }
                    };
                    for target in &t.targets {
                        if target == s || !applied.insert((target, a, s)) {
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
                            plan.steps[model_step[target.as_str()]].secret.clone(),
                        );
                    }
                }
            }
        }
        plan.rekey(env, &identity);
        plan
    }

    /// Pushes one compress step for the `pending` compression steps on the
    /// model made by step `parent` (nothing when none are pending); returns
    /// the step that makes the result. The model keeps its parent's key.
    fn push_compress(&mut self, model: &str, pending: &mut Vec<&Stage>, parent: usize) -> usize {
        if pending.is_empty() {
            return parent;
        }
        let steps = pending
            .drain(..)
            .map(|s| {
                (
                    s.op.keyword().to_string(),
                    s.method.clone(),
                    s.params.clone(),
                )
            })
            .collect();
        let secret = self.steps[parent].secret.clone();
        self.push(
            format!("compress {model}"),
            StepKind::Compress {
                model: model.to_string(),
                steps,
                keyed: secret.is_some(),
            },
            vec![parent],
            secret,
        )
    }

    /// Pushes the `defend` step `d` on the model made by step `parent`; the
    /// result carries the defence's key, or `inherited` for an unkeyed one.
    fn push_defend(
        &mut self,
        model: &str,
        d: &Stage,
        parent: usize,
        inherited: Option<Key>,
    ) -> usize {
        let spec = spec_of(d, &self.secrets).ok();
        let key = spec.as_ref().and_then(DefenceSpec::key);
        let name = spec.as_ref().map_or(d.method.as_str(), |s| s.name);
        self.push(
            format!("defend {model} ({name})"),
            StepKind::Defend {
                model: model.to_string(),
                defence: name.to_string(),
                params: DefenceSpec::public_params(&d.params),
                key_id: key.as_ref().map(Key::id),
                resolved_params: d.params.clone(),
            },
            vec![parent],
            key.or(inherited),
        )
    }

    fn push(
        &mut self,
        label: String,
        kind: StepKind,
        deps: Vec<usize>,
        secret: Option<Key>,
    ) -> usize {
        self.steps.push(PlanStep {
            label,
            kind,
            deps,
            key: String::new(),
            secret,
        });
        self.steps.len() - 1
    }

    /// Sets every step's key, in order (dependencies come first): a hash
    /// of `identity` of the step, its dependencies' keys and `env`.
    fn rekey(
        &mut self,
        env: &Environment,
        identity: &dyn Fn(&StepKind, &Environment, &Secrets) -> Value,
    ) {
        for i in 0..self.steps.len() {
            let step = &self.steps[i];
            let dep_keys: Vec<&str> = step
                .deps
                .iter()
                .map(|&d| self.steps[d].key.as_str())
                .collect();
            let key = content_hash(&json!({
                "step": identity(&step.kind, env, &self.secrets),
                "deps": dep_keys,
                "env": env,
            }));
            self.steps[i].key = key;
        }
    }
}

/// The checked defence of a `defend` step, its passphrase revealed from
/// `secrets`.
pub fn spec_of(step: &Stage, secrets: &Secrets) -> Result<DefenceSpec, advcomp_params::ParamError> {
    DefenceSpec::from_params(&step.method, &secrets.revealed(&step.params))
}

/// Refuses what the runner cannot build: a `defend` step after a
/// compression step in a model's lineage (hardening fine-tunes all weights,
/// which would undo masks and grids). Names the model at fault.
pub fn validate(resolved: &Resolved) -> Result<(), String> {
    let by_id: BTreeMap<&str, _> = resolved.models.iter().map(|m| (m.id.as_str(), m)).collect();
    for m in &resolved.models {
        // The lineage's steps, oldest first.
        let mut chain: Vec<&Stage> = Vec::new();
        let mut cur = Some(m);
        while let Some(model) = cur {
            match &model.origin {
                Origin::Derived { parent, steps } => {
                    chain.splice(0..0, steps.iter());
                    cur = by_id.get(parent.as_str()).copied();
                }
                Origin::Trained { .. } | Origin::Ensemble { .. } => cur = None,
            }
        }
        let mut compressed = false;
        for s in chain {
            match s.op {
                StageOp::Prune | StageOp::Quantise => compressed = true,
                // An input detector trains nothing and a keyed defence
                // trains under the compression (masks and grids held), so
                // both may defend a compressed model; adversarial training
                // would craft its samples on the float network.
                StageOp::Defend
                    if compressed
                        && advcomp_defence::registry::find(&s.method)
                            .is_some_and(|r| r.name == "adversarial") =>
                {
                    return Err(format!(
                        "model `{}` (declared as `{}`): `defend {}` comes after a prune or quantise step in its lineage; adversarial training must come before compression (it would craft its samples on the uncompressed network); compressed variants of a defended model keep its defence",
                        m.id, m.decl, s.method
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// What determines a step's result besides its dependencies and the
/// environment: each component's configuration as it will run (every
/// default filled in, values in canonical form) and its version. Instance
/// ids and labels are names, not inputs, and parameters are not hashed as
/// spelled: two scenarios that declare the same model under other names or
/// spell a default out share its cache entry, and a component whose
/// version is bumped invalidates exactly the steps that use it
/// (`docs/scenario-language.md`, "Caching").
///
/// The scenario was checked, so every configuration parses; should one not,
/// its parameters as written stand in (a miss, never a wrong hit).
pub fn identity(kind: &StepKind, env: &Environment, secrets: &Secrets) -> Value {
    match kind {
        StepKind::Train { arch, params, .. } => {
            let mut id = json!({
                "kind": "train",
                "arch": arch,
                "version": advcomp_train::VERSION,
                "config": advcomp_train::TrainConfig::from_params(params, env.seed)
                    .map(|c| serde_json::to_value(c).expect("training configurations serialise"))
                    .unwrap_or_else(|_| Value::Object(params.clone())),
            });
            // A name whose network changed (`cifarnet` became Mayo's) keys
            // its models apart from those trained under the old meaning;
            // the others' keys are as they were.
            if let Some(revision) = arch
                .parse::<advcomp_models::Architecture>()
                .ok()
                .map(|a| a.revision())
                .filter(|&r| r > 1)
            {
                id["arch_revision"] = json!(revision);
            }
            id
        }
        StepKind::Compress { steps, keyed, .. } => {
            let mut id = json!({
                "kind": "compress",
                "steps": steps
                    .iter()
                    .map(|(op, method, params)| {
                        advcomp_compress::Step::from_parts(op, method, params)
                            .map(|s| s.identity())
                            .unwrap_or_else(|_| json!([op, method, params]))
                    })
                    .collect::<Vec<_>>(),
            });
            // Version 1 of the rule that a keyed defence's thresholds are
            // learnt again on the compressed copy (before it, the copy kept
            // its parent's): cached copies made under the old rule miss.
            if *keyed {
                id["keyed_recalibration"] = json!(1);
            }
            id
        }
        StepKind::Defend {
            defence,
            params,
            key_id,
            resolved_params,
            ..
        } => json!({
            "kind": "defend",
            "defence": DefenceSpec::from_params(defence, &secrets.revealed(resolved_params))
                .map(|spec| spec.identity())
                .unwrap_or_else(|_| json!({ "defence": defence, "params": params, "key_id": key_id })),
        }),
        StepKind::Attack {
            name,
            params,
            images,
            batch_size,
            target,
            ..
        } => {
            let mut key = json!({
                "kind": "attack",
                "attack": advcomp_attack::registry::identity(name, &Value::Object(params.clone()))
                    .unwrap_or_else(|_| json!({ "attack": name, "params": params })),
                "images": images,
                "batch_size": batch_size,
            });
            // Only a targeted attack hashes its rule (canonical, so
            // "Next" and "next" are one computation): untargeted keys stay
            // as they were.
            if let Some(target) = target {
                let canonical = crate::catalog::target_choice(&Value::String(target.clone()))
                    .map_or_else(|_| target.clone(), |t| t.to_string());
                key["target"] = Value::String(canonical);
            }
            key
        }
        StepKind::Ensemble { .. } => json!({ "kind": "ensemble", "combine": "mean_logits" }),
        StepKind::Evaluate { .. } => json!({ "kind": "evaluate" }),
        StepKind::Apply { .. } => json!({ "kind": "apply" }),
    }
}

/// Every model a transfer uses, with all its ancestors.
fn needed_models(resolved: &Resolved) -> HashSet<&str> {
    let by_id: HashMap<&str, _> = resolved.models.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut needed: HashSet<&str> = HashSet::new();
    let mut queue: Vec<&str> = resolved
        .transfers
        .iter()
        .flat_map(|t| t.sources.iter().chain(&t.targets).map(String::as_str))
        .collect();
    while let Some(id) = queue.pop() {
        if !needed.insert(id) {
            continue;
        }
        match by_id.get(id).map(|m| &m.origin) {
            Some(Origin::Derived { parent, .. }) => queue.push(parent),
            Some(Origin::Ensemble { members }) => queue.extend(members.iter().map(String::as_str)),
            _ => {}
        }
    }
    needed
}

/// Most steps a plan may have unless the caller raises the limit
/// (`advcomp run --max-steps`): a transfer statement pairing two sweeps of
/// a thousand instances is a million steps, days of work that a typo can
/// ask for.
pub const DEFAULT_MAX_STEPS: usize = 100_000;

/// A plan over its step limit: how big it would be and which transfer
/// statement multiplies the most.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the plan would have more than {limit} steps (up to {estimate}): transfer statement {transfer} (`{sources} -> {targets}`) alone pairs {n_sources} source instances x {n_attacks} attack instances x {n_targets} target instances; shorten those sweeps, split the transfer, or raise the limit with --max-steps"
)]
pub struct TooLarge {
    /// Model steps plus sources x attacks x targets of every transfer
    /// statement (shared pairs counted once per statement).
    pub estimate: usize,
    /// The limit.
    pub limit: usize,
    /// 1-based index of the largest transfer statement.
    pub transfer: usize,
    /// Its source declarations.
    pub sources: String,
    /// Its target declarations.
    pub targets: String,
    /// Its source instances.
    pub n_sources: usize,
    /// Its attack instances.
    pub n_attacks: usize,
    /// Its target instances.
    pub n_targets: usize,
}

/// How many steps [`Plan::compile`] would make of `resolved`, or
/// [`TooLarge`] past `limit`. Counting stops just past the limit, so this
/// costs O(min(steps, limit)) whatever the scenario asks for.
pub fn check_size(resolved: &Resolved, limit: usize) -> Result<usize, TooLarge> {
    let needed = needed_models(resolved);
    let mut model_steps = 0usize;
    for m in resolved
        .models
        .iter()
        .filter(|m| needed.contains(m.id.as_str()))
    {
        model_steps += 1 + match &m.origin {
            Origin::Trained { defence, .. } => 1 + usize::from(defence.is_some()),
            Origin::Ensemble { .. } => 1,
            // As `compile` groups them: one step per defence and one per
            // run of compression steps between defences.
            Origin::Derived { steps, .. } => {
                let (mut n, mut pending) = (0, false);
                for s in steps {
                    if s.op == StageOp::Defend {
                        n += usize::from(pending) + 1;
                        pending = false;
                    } else {
                        pending = true;
                    }
                }
                n + usize::from(pending)
            }
        };
    }
    let mut steps = model_steps;
    let mut attacks: HashSet<(&str, &str)> = HashSet::new();
    let mut applies: HashSet<(&str, &str, &str)> = HashSet::new();
    'count: for t in &resolved.transfers {
        for a in &t.attacks {
            for s in &t.sources {
                steps += usize::from(attacks.insert((s, a)));
                for target in t.targets.iter().filter(|&t| t != s) {
                    steps += usize::from(applies.insert((target, a, s)));
                    if steps > limit {
                        break 'count;
                    }
                }
            }
        }
    }
    if steps <= limit {
        return Ok(steps);
    }
    let decls = |ids: &[String]| {
        let mut names: Vec<&str> = Vec::new();
        for id in ids {
            let decl = id.split('[').next().unwrap_or(id);
            if !names.contains(&decl) {
                names.push(decl);
            }
        }
        match names.as_slice() {
            [one] => one.to_string(),
            many => format!("{{{}}}", many.join(", ")),
        }
    };
    let (i, t) = resolved
        .transfers
        .iter()
        .enumerate()
        .max_by_key(|(_, t)| {
            t.sources
                .len()
                .saturating_mul(t.attacks.len())
                .saturating_mul(t.targets.len())
        })
        .expect("a plan over its limit has a transfer");
    Err(TooLarge {
        estimate: resolved.transfers.iter().fold(model_steps, |n, t| {
            n.saturating_add(
                t.sources
                    .len()
                    .saturating_mul(t.attacks.len())
                    .saturating_mul(t.targets.len()),
            )
        }),
        limit,
        transfer: i + 1,
        sources: decls(&t.sources),
        targets: decls(&t.targets),
        n_sources: t.sources.len(),
        n_attacks: t.attacks.len(),
        n_targets: t.targets.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            seed: 1,
            data_fingerprint: "x".into(),
            train_images: 100,
            test_images: 100,
            backend: "flex".into(),
            advcomp_version: "test".into(),
        }
    }

    fn resolve(text: &str) -> Resolved {
        let ast = advcomp_scenario::parse(text, "t.scn").unwrap();
        advcomp_scenario::check(&ast, &crate::Registries).unwrap()
    }

    /// Bumping one component's version changes the keys of exactly the
    /// steps that use it and of the steps that read their results.
    #[test]
    fn a_version_bump_invalidates_exactly_the_steps_that_use_the_component() {
        let resolved = resolve(
            "model base = lenet5 { epochs: 1 }\n\
             variant small = base | prune magnitude { density: 0.5 }\n\
             attack f = fgsm {}\nattack d = deepfool {}\n\
             transfer base -> small using all\ntransfer small -> base using f\n",
        );
        let before = Plan::compile(&resolved, &env());
        let mut after = before.clone();
        let bumped = |kind: &StepKind, env: &Environment, secrets: &Secrets| {
            let mut v = identity(kind, env, secrets);
            if v["attack"]["attack"] == "fgsm" {
                v["attack"]["version"] = json!(2);
            }
            v
        };
        after.rekey(&env(), &bumped);
        let mut changed = 0;
        for (b, a) in before.steps.iter().zip(&after.steps) {
            let uses_fgsm = match &b.kind {
                StepKind::Attack { name, .. } => name == "fgsm",
                StepKind::Apply { attack, .. } => attack == "f",
                _ => false,
            };
            assert_eq!(a.key != b.key, uses_fgsm, "{}", b.label);
            changed += usize::from(uses_fgsm);
        }
        assert_eq!(changed, 4, "two fgsm attacks and their two applies");
    }

    /// A compress step whose parent carries a keyed defence hashes the
    /// version of the rule that sets the defence's thresholds again on the
    /// copy; one whose parent carries none keeps the key it always had.
    #[test]
    fn only_compress_steps_under_a_keyed_defence_hash_the_recalibration_rule() {
        let resolved = resolve(
            "model plain = lenet5 { epochs: 1 }\n\
             model keyed = lenet5 { epochs: 1 } defend taboo { key_seed: 1 }\n\
             variant plain_small = plain | prune magnitude { density: 0.5 }\n\
             variant keyed_small = keyed | prune magnitude { density: 0.5 }\n\
             attack f = fgsm {}\ntransfer plain -> plain_small, keyed_small using f\n",
        );
        let plan = Plan::compile(&resolved, &env());
        let compress: Vec<(&str, Value)> = plan
            .steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Compress { .. }))
            .map(|s| (s.label.as_str(), identity(&s.kind, &env(), &plan.secrets)))
            .collect();
        assert_eq!(compress.len(), 2);
        for (label, id) in compress {
            let keyed = label.contains("keyed_small");
            assert_eq!(
                id.get("keyed_recalibration").is_some(),
                keyed,
                "{label}: {id}"
            );
            assert_eq!(id["steps"].as_array().map(Vec::len), Some(1), "{label}");
        }
    }
}
