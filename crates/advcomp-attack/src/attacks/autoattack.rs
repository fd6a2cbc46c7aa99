//! AutoAttack: robust accuracy as the worst case over a fixed ensemble of
//! parameter-free attacks.
//!
//! Croce & Hein, *Reliable Evaluation of Adversarial Robustness with an
//! Ensemble of Diverse Parameter-free Attacks*, ICML 2020
//! (arXiv:2003.01690), L∞ "standard" version, in its order and budgets:
//!
//! 1. APGD-CE, 100 iterations ([`Apgd`] with the cross-entropy);
//! 2. APGD-T: APGD on the targeted DLR loss, 100 iterations, once for each
//!    of the 9 classes the clean image's logits rank highest after its
//!    label;
//! 3. FAB-T — **not implemented** (FAB is not in advcomp yet), so this
//!    composite is AutoAttack's standard version without its third part;
//! 4. Square, 5,000 queries (the `square` plugin, found through the
//!    registry; the composite refuses to run without it).
//!
//! Each part attacks only the images no earlier part has fooled, and an
//! image counts as fooled (success: misclassified, untargeted) when any
//! part fools it: the robust accuracy is the per-image worst case. Images
//! the model already misclassifies are not attacked. Every part's model
//! calls count in the run's counters.

use burn::Tensor;
use burn::tensor::{Bool, Int};
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, AttackError, Norm};
use crate::attacks::apgd::{Apgd, ApgdConfig, ApgdLoss};
use crate::context::AttackContext;
use crate::goal::Goal;
use crate::ops;
use crate::registry::{self, AttackConfig, Param, ParamType, Registration};

/// AutoAttack hyper-parameters (the standard version's by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoAttackConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Iterations of each APGD run. Default 100.
    pub steps: usize,
    /// Target classes of APGD-T. Default 9.
    pub target_classes: usize,
    /// Queries per image of Square. Default 5,000.
    pub square_queries: usize,
    /// Seeds every part. Default 0.
    pub seed: u64,
}

impl Default for AutoAttackConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            steps: 100,
            target_classes: 9,
            square_queries: 5000,
            seed: 0,
        }
    }
}

impl AttackConfig for AutoAttackConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        Param::new("steps", ParamType::COUNT, "iterations of each APGD run"),
        Param::new(
            "target_classes",
            ParamType::COUNT,
            "target classes of APGD-T (the highest-ranked after the label)",
        ),
        Param::new(
            "square_queries",
            ParamType::COUNT,
            "queries per image of the Square part",
        ),
        Param::new("seed", ParamType::NATURAL, "seeds every part"),
    ];
}

/// The AutoAttack composite.
#[derive(Debug, Clone)]
pub struct AutoAttack {
    config: AutoAttackConfig,
}

impl AutoAttack {
    /// AutoAttack with `config`.
    pub fn new(config: AutoAttackConfig) -> Self {
        Self { config }
    }

    /// Runs `part` on the images not yet `fooled` (aiming at `targets`
    /// when given) and records the ones it misclassifies.
    fn part(
        &self,
        context: &mut AttackContext<'_>,
        images: &Tensor<4>,
        goal: &Goal,
        state: &mut (Tensor<4>, Tensor<1, Bool>),
        part: &dyn Attack,
        targets: Option<&dyn Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1, Int>>,
    ) -> Result<(), AttackError> {
        let (adversarial, fooled) = state;
        let Some(rows) = ops::true_indices(fooled.clone().bool_not()) else {
            return Ok(());
        };
        let n = images.dims()[0];
        let x = images.clone().select(0, rows.clone());
        let remaining = goal.select(rows.clone());
        let aimed = match targets {
            Some(pick) => {
                let logits = context.logits_uncounted(x.clone());
                let t = pick(logits, remaining.labels());
                Goal::new(remaining.labels(), Some(t), goal.num_classes())
            }
            None => remaining.clone(),
        };
        let out = part.perturb(context, &x, &aimed)?;
        let out = ops::clip_linf(out, x, self.config.epsilon as f32).clamp(0.0, 1.0);
        let hit = remaining.achieved(context.logits(out.clone()));
        let hit_all = ops::scatter_mask(n, rows.clone(), hit.clone());
        let placed = ops::scatter_rows(n, rows, out);
        *adversarial = ops::where_samples(hit_all.clone(), placed, adversarial.clone());
        *fooled = fooled.clone().bool_or(hit_all);
        Ok(())
    }
}

/// The class ranked `k`-th (1-based) by each row of `logits` once its
/// label is left out, `[n]`.
fn ranked_target(logits: Tensor<2>, labels: Tensor<1, Int>, k: usize) -> Tensor<1, Int> {
    let [n, classes] = logits.dims();
    let mask = ops::class_mask(labels, classes);
    let others = logits.mask_fill(mask, f32::MIN);
    let order = others.argsort_descending(1);
    order.slice([0..n, k - 1..k]).reshape([n])
}

impl Attack for AutoAttack {
    fn name(&self) -> &str {
        "autoattack"
    }

    fn norm(&self) -> Norm {
        Norm::Linf
    }

    fn epsilon(&self) -> Option<f64> {
        Some(self.config.epsilon)
    }

    fn supports_targeted(&self) -> bool {
        false
    }

    fn perturb(
        &self,
        context: &mut AttackContext<'_>,
        images: &Tensor<4>,
        goal: &Goal,
    ) -> Result<Tensor<4>, AttackError> {
        let c = &self.config;
        let square = registry::build(
            "square",
            &serde_json::json!({
                "epsilon": c.epsilon,
                "max_queries": c.square_queries,
                "seed": c.seed,
            }),
        )
        .map_err(|e| AttackError::BadInput {
            attack: self.name().to_string(),
            message: format!("AutoAttack's last part is the `square` plugin attack: {e}"),
        })?;
        let apgd = |loss| {
            Apgd::new(
                loss,
                ApgdConfig {
                    epsilon: c.epsilon,
                    steps: c.steps,
                    rho: 0.75,
                    seed: c.seed,
                },
            )
        };
        let clean_fooled = goal.achieved(context.logits(images.clone()));
        let mut state = (images.clone(), clean_fooled);
        self.part(
            context,
            images,
            goal,
            &mut state,
            &apgd(ApgdLoss::CrossEntropy),
            None,
        )?;
        // APGD-T needs four classes for its loss.
        let targets = c.target_classes.min(goal.num_classes().saturating_sub(1));
        if goal.num_classes() >= 4 {
            let dlr = apgd(ApgdLoss::Dlr);
            for k in 1..=targets {
                let pick = move |logits: Tensor<2>, labels: Tensor<1, Int>| {
                    ranked_target(logits, labels, k)
                };
                self.part(context, images, goal, &mut state, &dlr, Some(&pick))?;
            }
        }
        self.part(context, images, goal, &mut state, square.as_ref(), None)?;
        Ok(state.0)
    }
}

inventory::submit! {
    Registration {
        name: "autoattack",
        aliases: &["auto_attack"],
        norm: Norm::Linf,
        targeted: false,
        summary: "AutoAttack's standard version without FAB-T: APGD-CE, APGD-T over 9 target classes, then Square, each on the images the earlier parts did not fool",
        paper: "Croce & Hein, Reliable Evaluation of Adversarial Robustness with an Ensemble of Diverse Parameter-free Attacks, ICML 2020",
        params: AutoAttackConfig::PARAMS,
        defaults: registry::defaults_of::<AutoAttackConfig>,
        canonical: registry::canonical_of::<AutoAttackConfig>,
        version: 1,
        build: |p| Ok(Box::new(AutoAttack::new(registry::parse(p)?))),
    }
}
