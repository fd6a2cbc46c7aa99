//! HopSkipJump, L2, label-only.
//!
//! Chen, Jordan & Wainwright, *HopSkipJumpAttack: A Query-Efficient
//! Decision-Based Adversarial Attack*, IEEE S&P 2020 (arXiv:1904.02144),
//! Algorithm 2 with the L2 geometry of the authors' `hsja.py`. From an
//! adversarial starting point ([`decision::start`]), each iteration `t`
//!
//! 1. walks the current point back to the decision boundary by a binary
//!    search on the segment to the clean image (threshold `θ = γ / d^{3/2}`
//!    of the segment, `d` the number of pixels, γ = 1);
//! 2. estimates the boundary's normal there from `B_t = B₀ √t` label
//!    queries at random Gaussian directions of radius `δ_t = √d · θ · dist`
//!    (`0.1` at `t = 1`), with the mean answer as a baseline;
//! 3. steps along the estimate by `ξ_t = dist / √t`, halved until the step
//!    lands on an adversarial point (at most 25 halvings).
//!
//! It uses only the model's predicted class, and counts every query; it
//! stops once the next iteration would exceed `max_queries` per image. A
//! minimal-perturbation attack: there is no ε, and success is finding any
//! adversarial point (the L2 norms are its measure).
//!
//! Defaults (the paper's): B₀ = 100 and at most 10,000 evaluations per
//! estimate, γ = 1; a budget of 10,000 queries per image (Square's), and
//! up to 100 random starting images per sample. One difference: the
//! reference stops after a fixed number of iterations; a budget of queries
//! is what a label-only threat model fixes.

use burn::Tensor;
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, AttackError, Norm};
use crate::attacks::decision::{self, is_adversarial};
use crate::context::AttackContext;
use crate::goal::Goal;
use crate::ops::{self, AttackRng};
use crate::registry::{self, AttackConfig, Param, ParamType, Registration};

/// Rows per oracle call while estimating a gradient (memory bound).
const CHUNK: usize = 8192;

/// HopSkipJump hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HopSkipJumpConfig {
    /// Label queries per image, the starting point's included. Default 10,000.
    pub max_queries: usize,
    /// Evaluations of the first gradient estimate B₀. Default 100.
    pub initial_evaluations: usize,
    /// Most evaluations of one estimate. Default 10,000.
    pub max_evaluations: usize,
    /// γ of the binary-search threshold `θ = γ / d^{3/2}`. Default 1.
    pub gamma: f64,
    /// Random images tried per sample for a starting point. Default 100.
    pub init_tries: usize,
    /// Seeds the starting points and the directions. Default 0.
    pub seed: u64,
}

impl Default for HopSkipJumpConfig {
    fn default() -> Self {
        Self {
            max_queries: 10_000,
            initial_evaluations: 100,
            max_evaluations: 10_000,
            gamma: 1.0,
            init_tries: 100,
            seed: 0,
        }
    }
}

impl AttackConfig for HopSkipJumpConfig {
    const PARAMS: &'static [Param] = &[
        decision::MAX_QUERIES,
        Param::new(
            "initial_evaluations",
            ParamType::COUNT,
            "queries of the first gradient estimate B0 (the t-th uses B0 sqrt(t))",
        ),
        Param::new(
            "max_evaluations",
            ParamType::COUNT,
            "most queries of one gradient estimate",
        ),
        Param::new(
            "gamma",
            ParamType::POSITIVE,
            "binary-search threshold theta = gamma / d^1.5",
        ),
        decision::INIT_TRIES,
        decision::SEED,
    ];
}

/// The HopSkipJump attack (L2).
#[derive(Debug, Clone)]
pub struct HopSkipJump {
    config: HopSkipJumpConfig,
}

impl HopSkipJump {
    /// HopSkipJump with `config`.
    pub fn new(config: HopSkipJumpConfig) -> Self {
        Self { config }
    }
}

/// The unit-L2 estimate of the boundary normal at each `boundary` point
/// from `evaluations` label queries at radius `delta` (per sample).
fn estimate(
    context: &mut AttackContext<'_>,
    goal: &Goal,
    boundary: &Tensor<4>,
    delta: &Tensor<1>,
    evaluations: usize,
    rng: &mut AttackRng,
) -> Tensor<4> {
    let [n, c, h, w] = boundary.dims();
    let device = context.device().clone();
    let per = (CHUNK / evaluations.max(1)).max(1);
    let mut parts = Vec::new();
    for start in (0..n).step_by(per) {
        let m = per.min(n - start);
        let rows =
            Tensor::<1, burn::tensor::Int>::arange(start as i64..(start + m) as i64, &device);
        let x = boundary.clone().select(0, rows.clone());
        let d = delta.clone().select(0, rows.clone());
        let goal_rows = goal.select(rows);
        // [m, B, c, h, w] flattened to [m·B, c, h, w].
        let directions = ops::normalize_l2(rng.normal([m * evaluations, c, h, w], &device));
        let centre =
            x.unsqueeze_dim::<5>(1)
                .repeat_dim(1, evaluations)
                .reshape([m * evaluations, c, h, w]);
        let radius = d
            .unsqueeze_dim::<2>(1)
            .repeat_dim(1, evaluations)
            .reshape([m * evaluations]);
        let perturbed =
            (centre.clone() + directions * ops::per_sample(radius.clone())).clamp(0.0, 1.0);
        let directions = (perturbed.clone() - centre) / ops::per_sample(radius);
        let goal_b = decision::repeated(&goal_rows, m, evaluations, context);
        let phi = is_adversarial(context, &goal_b, perturbed)
            .float()
            .mul_scalar(2.0)
            .sub_scalar(1.0)
            .reshape([m, evaluations]);
        let mean = phi.clone().mean_dim(1); // [m, 1]
        // With every answer the same, the baseline would cancel the signal.
        let uniform = mean.clone().abs().greater_equal_elem(1.0 - 1e-6).float();
        let centred = phi - mean * (uniform.neg().add_scalar(1.0));
        let weighted =
            directions.reshape([m, evaluations, c * h * w]) * centred.unsqueeze_dim::<3>(2);
        let g = weighted.mean_dim(1).reshape([m, c, h, w]);
        parts.push(ops::normalize_l2(g));
    }
    Tensor::cat(parts, 0)
}

impl Attack for HopSkipJump {
    fn name(&self) -> &str {
        "hop_skip_jump"
    }

    fn norm(&self) -> Norm {
        Norm::L2
    }

    fn epsilon(&self) -> Option<f64> {
        None
    }

    fn supports_targeted(&self) -> bool {
        true
    }

    fn perturb(
        &self,
        context: &mut AttackContext<'_>,
        images: &Tensor<4>,
        goal: &Goal,
    ) -> Result<Tensor<4>, AttackError> {
        let c = &self.config;
        let [n, ch, h, w] = images.dims();
        let d = (ch * h * w) as f64;
        let theta = c.gamma / d.powf(1.5);
        let search_steps = (1.0 / theta).log2().ceil().max(1.0) as usize;
        let mut rng = AttackRng::new(c.seed);
        let budget = c.max_queries as u64;
        let used = |context: &AttackContext<'_>| context.counters().model_queries / n as u64;

        let (start, found) =
            decision::start(context, goal, images, &mut rng, c.init_tries, search_steps);
        let mut x = start;
        let dist = |x: &Tensor<4>| ops::l2_norm(x.clone() - images.clone());
        for t in 1.. {
            let evaluations = ((c.initial_evaluations as f64) * (t as f64).sqrt()) as usize;
            let evaluations = evaluations.clamp(1, c.max_evaluations);
            // One iteration: the estimate, up to 25 step halvings and a
            // binary search.
            if used(context) + (evaluations + 25 + search_steps) as u64 > budget {
                break;
            }
            let distance = dist(&x);
            let delta = if t == 1 {
                distance.zeros_like().add_scalar(0.1)
            } else {
                distance.clone().mul_scalar(d.sqrt() * theta)
            };
            let direction = estimate(context, goal, &x, &delta, evaluations, &mut rng);
            let mut step = distance.div_scalar((t as f64).sqrt());
            let mut landed = Tensor::<1>::zeros([n], context.device()).greater_elem(0.5);
            let mut next = x.clone();
            for _ in 0..25 {
                let candidate =
                    (x.clone() + direction.clone() * ops::per_sample(step.clone())).clamp(0.0, 1.0);
                let hit = is_adversarial(context, goal, candidate.clone())
                    .bool_and(landed.clone().bool_not());
                next = ops::where_samples(hit.clone(), candidate, next);
                landed = landed.bool_or(hit);
                if ops::count(landed.clone()) == n {
                    break;
                }
                step = step
                    .clone()
                    .mask_where(landed.clone().bool_not(), step.div_scalar(2.0));
            }
            let active = found.clone().bool_and(landed);
            x = decision::towards(context, goal, images, &next, &active, search_steps);
        }
        Ok(ops::where_samples(found, x, images.clone()))
    }
}

inventory::submit! {
    Registration {
        name: "hop_skip_jump",
        aliases: &["hsj", "hopskipjump"],
        norm: Norm::L2,
        targeted: true,
        summary: "label-only: walks along the decision boundary with gradient directions estimated from predicted classes alone, within a query budget",
        paper: "Chen, Jordan & Wainwright, HopSkipJumpAttack: A Query-Efficient Decision-Based Adversarial Attack, IEEE S&P 2020",
        params: HopSkipJumpConfig::PARAMS,
        defaults: registry::defaults_of::<HopSkipJumpConfig>,
        canonical: registry::canonical_of::<HopSkipJumpConfig>,
        version: 1,
        build: |p| Ok(Box::new(HopSkipJump::new(registry::parse(p)?))),
    }
}
