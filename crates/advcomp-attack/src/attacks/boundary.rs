//! The Boundary attack, L2, label-only.
//!
//! Brendel, Rauber & Bethge, *Decision-Based Adversarial Attacks: Reliable
//! Attacks Against Black-Box Machine Learning Models*, ICLR 2018
//! (arXiv:1712.04248), as Foolbox 3's `BoundaryAttack` runs it, batched.
//! From an adversarial starting point ([`decision::start`]), each step draws
//! a Gaussian direction, keeps its part orthogonal to the line to the clean
//! image, scales it to `spherical_step · dist`, projects the candidate back
//! onto the sphere of radius `dist` around the clean image (an orthogonal
//! step), then moves it towards the clean image by `source_step · dist`. The
//! candidate replaces the current point when it is still adversarial. Every
//! `update_every` steps each sample adapts its two step sizes from its
//! recent success rates: the orthogonal step grows (× `step_adaptation`)
//! when more than half of its orthogonal candidates were adversarial and
//! shrinks otherwise; the source step grows when more than a quarter of the
//! full candidates were, and shrinks otherwise. A step costs two queries per
//! image (the orthogonal candidate, for the statistics, and the full one);
//! the attack stops when the next step would exceed `max_queries`.
//!
//! Defaults (Foolbox's): steps of 0.01 for both, adaptation 1.5, statistics
//! over the last 10 steps (Foolbox keeps 100 for the orthogonal rate and 30
//! for the full one; one window here), a budget of 10,000 queries per image.

use burn::Tensor;
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, AttackError, Norm};
use crate::attacks::decision::{self, is_adversarial};
use crate::context::AttackContext;
use crate::goal::Goal;
use crate::ops::{self, AttackRng};
use crate::registry::{self, AttackConfig, Param, ParamType, Registration};

/// Boundary attack hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoundaryConfig {
    /// Label queries per image, the starting point's included. Default 10,000.
    pub max_queries: usize,
    /// Initial orthogonal step, as a share of the distance. Default 0.01.
    pub spherical_step: f64,
    /// Initial step towards the clean image, as a share of the distance.
    /// Default 0.01.
    pub source_step: f64,
    /// Factor by which the step sizes grow or shrink. Default 1.5.
    pub step_adaptation: f64,
    /// Steps between step-size updates. Default 10.
    pub update_every: usize,
    /// Random images tried per sample for a starting point. Default 100.
    pub init_tries: usize,
    /// Seeds the starting points and the directions. Default 0.
    pub seed: u64,
}

impl Default for BoundaryConfig {
    fn default() -> Self {
        Self {
            max_queries: 10_000,
            spherical_step: 0.01,
            source_step: 0.01,
            step_adaptation: 1.5,
            update_every: 10,
            init_tries: 100,
            seed: 0,
        }
    }
}

impl AttackConfig for BoundaryConfig {
    const PARAMS: &'static [Param] = &[
        decision::MAX_QUERIES,
        Param::new(
            "spherical_step",
            ParamType::POSITIVE,
            "initial orthogonal step, as a share of the distance to the clean image",
        ),
        Param::new(
            "source_step",
            ParamType::SHARE,
            "initial step towards the clean image, as a share of the distance",
        ),
        Param::new(
            "step_adaptation",
            ParamType::above(1.0),
            "factor (> 1) by which the steps grow or shrink",
        ),
        Param::new(
            "update_every",
            ParamType::COUNT,
            "steps between step-size updates",
        ),
        decision::INIT_TRIES,
        decision::SEED,
    ];
}

/// The Boundary attack (L2).
#[derive(Debug, Clone)]
pub struct Boundary {
    config: BoundaryConfig,
}

impl Boundary {
    /// The Boundary attack with `config`.
    pub fn new(config: BoundaryConfig) -> Self {
        Self { config }
    }
}

impl Attack for Boundary {
    fn name(&self) -> &str {
        "boundary"
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
        let dims = images.dims();
        let n = dims[0];
        let device = context.device().clone();
        let mut rng = AttackRng::new(c.seed);
        let (start, found) = decision::start(context, goal, images, &mut rng, c.init_tries, 25);
        let mut x = start;
        let mut spherical = Tensor::<1>::full([n], c.spherical_step, &device);
        let mut source = Tensor::<1>::full([n], c.source_step, &device);
        let mut spherical_hits = Tensor::<1>::zeros([n], &device);
        let mut full_hits = Tensor::<1>::zeros([n], &device);
        let budget = c.max_queries as u64;
        let mut step = 0;
        while context.counters().model_queries / n as u64 + 2 <= budget {
            step += 1;
            let towards_clean = images.clone() - x.clone();
            let distance = ops::l2_norm(towards_clean.clone());
            let unit = towards_clean.clone() / ops::per_sample(distance.clone().add_scalar(1e-12));
            // A Gaussian direction without its component along `unit`,
            // scaled to `spherical · distance`.
            let eta = rng.normal(dims, &device);
            let along = ops::per_sample(
                ops::flat(eta.clone() * unit.clone())
                    .sum_dim(1)
                    .reshape([n]),
            );
            let eta = eta - unit.clone() * along;
            let eta =
                ops::normalize_l2(eta) * ops::per_sample(spherical.clone() * distance.clone());
            // Back onto the sphere of radius `distance` around the clean image.
            let moved = x.clone() + eta;
            let offset = moved.clone() - images.clone();
            let on_sphere = images.clone()
                + offset.clone()
                    * ops::per_sample(distance.clone() / ops::l2_norm(offset).add_scalar(1e-12));
            let spherical_candidate = on_sphere.clone().clamp(0.0, 1.0);
            // Then towards the clean image.
            let back = images.clone() - on_sphere.clone();
            let back_norm = ops::l2_norm(back.clone()).add_scalar(1e-12);
            let candidate = (on_sphere
                + back * ops::per_sample(source.clone() * distance / back_norm))
            .clamp(0.0, 1.0);

            let spherical_ok = is_adversarial(context, goal, spherical_candidate);
            let ok = is_adversarial(context, goal, candidate.clone()).bool_and(found.clone());
            x = ops::where_samples(ok.clone(), candidate, x);
            spherical_hits = spherical_hits + spherical_ok.float();
            full_hits = full_hits + ok.float();

            if step % c.update_every == 0 {
                let k = c.update_every as f64;
                let a = c.step_adaptation;
                let grow_s = spherical_hits.clone().greater_elem(0.5 * k);
                spherical = spherical
                    .clone()
                    .mask_where(grow_s.clone(), spherical.clone().mul_scalar(a))
                    .mask_where(grow_s.bool_not(), spherical.div_scalar(a));
                let grow_f = full_hits.clone().greater_elem(0.25 * k);
                source = source
                    .clone()
                    .mask_where(grow_f.clone(), source.clone().mul_scalar(a))
                    .mask_where(grow_f.bool_not(), source.div_scalar(a));
                source = source.clamp_max(1.0);
                spherical_hits = spherical_hits.zeros_like();
                full_hits = full_hits.zeros_like();
            }
        }
        Ok(ops::where_samples(found, x, images.clone()))
    }
}

inventory::submit! {
    Registration {
        name: "boundary",
        aliases: &["boundary_attack"],
        norm: Norm::L2,
        targeted: true,
        summary: "label-only: a random walk along the decision boundary that shrinks the distance to the clean image, within a query budget",
        paper: "Brendel, Rauber & Bethge, Decision-Based Adversarial Attacks: Reliable Attacks Against Black-Box Machine Learning Models, ICLR 2018",
        params: BoundaryConfig::PARAMS,
        defaults: registry::defaults_of::<BoundaryConfig>,
        canonical: registry::canonical_of::<BoundaryConfig>,
        version: 1,
        build: |p| Ok(Box::new(Boundary::new(registry::parse(p)?))),
    }
}
