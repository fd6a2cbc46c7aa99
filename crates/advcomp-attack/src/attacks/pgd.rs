//! Projected Gradient Descent with a random start, L∞ and L2.
//!
//! Madry, Makelov, Schmidt, Tsipras & Vladu, *Towards Deep Learning Models
//! Resistant to Adversarial Attacks*, ICLR 2018 (arXiv:1706.06083):
//! start at a uniform random point of the ε-ball around `x`, then repeat
//! `x ← Π_{B(x,ε)}(x + α · step(∇ₓ J))`, projecting back into the ball and
//! `[0,1]` after every step. L∞ steps by `sign(∇)`; L2 steps by `∇ / ‖∇‖₂`
//! and projects by rescaling. Targeted: descend `J(x, t)`.
//!
//! L∞ defaults are the paper's MNIST values (§5, Appendix C): ε = 0.3,
//! α = 0.01, 40 steps, random start. The paper fixes no L2 MNIST setting;
//! the L2 defaults here are ε = 2.0 and 40 steps of α = 2.5 ε / steps (the
//! step rule of Madry et al.'s robustness library), random start uniform in
//! the L2 ball.

use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::{Device, Int};
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, AttackError, AttackOutput, Norm};
use crate::context::prepare;
use crate::ops::{self, AttackRng};
use crate::registry::{self, AttackConfig, ParamDoc, ParamError, Registration, check};

/// PGD L∞ hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PgdConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Step size α. Default 0.01.
    pub step_size: f64,
    /// Iterations. Default 40.
    pub steps: usize,
    /// Start from a uniform random point of the ε-ball. Default true.
    pub random_start: bool,
    /// Seeds the random start. Default 0.
    pub seed: u64,
}

impl Default for PgdConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            step_size: 0.01,
            steps: 40,
            random_start: true,
            seed: 0,
        }
    }
}

impl AttackConfig for PgdConfig {
    fn validate(&self) -> Result<(), ParamError> {
        check::within("epsilon", self.epsilon, 0.0, 1.0)?;
        check::positive("step_size", self.step_size)?;
        check::at_least_one("steps", self.steps)
    }
}

/// PGD L2 hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PgdL2Config {
    /// L2 budget in `[0,1]` pixel units. Default 2.0.
    pub epsilon: f64,
    /// Step size α; `None` (default) means `2.5 · ε / steps`.
    pub step_size: Option<f64>,
    /// Iterations. Default 40.
    pub steps: usize,
    /// Start from a uniform random point of the ε-ball. Default true.
    pub random_start: bool,
    /// Seeds the random start. Default 0.
    pub seed: u64,
}

impl Default for PgdL2Config {
    fn default() -> Self {
        Self {
            epsilon: 2.0,
            step_size: None,
            steps: 40,
            random_start: true,
            seed: 0,
        }
    }
}

impl PgdL2Config {
    /// The step size this configuration uses.
    pub fn alpha(&self) -> f64 {
        self.step_size
            .unwrap_or(2.5 * self.epsilon / self.steps.max(1) as f64)
    }
}

impl AttackConfig for PgdL2Config {
    fn validate(&self) -> Result<(), ParamError> {
        check::non_negative("epsilon", self.epsilon)?;
        if let Some(alpha) = self.step_size {
            check::positive("step_size", alpha)?;
        }
        check::at_least_one("steps", self.steps)
    }
}

/// IFGM hyper-parameters: the iterative L2 fast gradient method, one of
/// the three attacks of Zhao et al. (SysML 2019), i.e. Kurakin et al.'s
/// basic iterative method with L2-normalised steps and no random start.
/// Defaults are PGD L2's budget (ε = 2.0, 40 steps of `2.5 · ε / steps`)
/// without its random start; the paper's own budget is not recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IfgmConfig {
    /// L2 budget in `[0,1]` pixel units. Default 2.0.
    pub epsilon: f64,
    /// Step size α; `None` (default) means `2.5 · ε / steps`.
    pub step_size: Option<f64>,
    /// Iterations. Default 40.
    pub steps: usize,
}

impl Default for IfgmConfig {
    fn default() -> Self {
        let pgd = PgdL2Config::default();
        Self {
            epsilon: pgd.epsilon,
            step_size: pgd.step_size,
            steps: pgd.steps,
        }
    }
}

impl AttackConfig for IfgmConfig {
    fn validate(&self) -> Result<(), ParamError> {
        self.as_pgd().validate()
    }
}

impl IfgmConfig {
    /// The same attack as a PGD L2 configuration without a random start.
    pub fn as_pgd(&self) -> PgdL2Config {
        PgdL2Config {
            epsilon: self.epsilon,
            step_size: self.step_size,
            steps: self.steps,
            random_start: false,
            seed: 0,
        }
    }
}

/// PGD, L∞ ([`PgdConfig`]) or L2 ([`PgdL2Config`]); IFGM ([`IfgmConfig`])
/// is PGD L2 started at the clean image.
#[derive(Debug, Clone)]
pub struct Pgd {
    name: &'static str,
    norm: Norm,
    epsilon: f64,
    step_size: f64,
    steps: usize,
    random_start: bool,
    seed: u64,
}

impl Pgd {
    /// L∞ PGD.
    pub fn linf(c: PgdConfig) -> Self {
        Self {
            name: "pgd",
            norm: Norm::Linf,
            epsilon: c.epsilon,
            step_size: c.step_size,
            steps: c.steps,
            random_start: c.random_start,
            seed: c.seed,
        }
    }

    /// L2 PGD.
    pub fn l2(c: PgdL2Config) -> Self {
        Self {
            name: "pgd_l2",
            norm: Norm::L2,
            epsilon: c.epsilon,
            step_size: c.alpha(),
            steps: c.steps,
            random_start: c.random_start,
            seed: c.seed,
        }
    }

    /// IFGM: L2 PGD started at the clean image.
    pub fn ifgm(c: IfgmConfig) -> Self {
        Self {
            name: "ifgm",
            ..Self::l2(c.as_pgd())
        }
    }
}

impl Attack for Pgd {
    fn name(&self) -> &str {
        self.name
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn epsilon(&self) -> Option<f64> {
        Some(self.epsilon)
    }

    fn supports_targeted(&self) -> bool {
        true
    }

    fn run(
        &self,
        model: &dyn Classifier,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        targets: Option<Tensor<1, Int>>,
        device: &Device,
    ) -> Result<AttackOutput, AttackError> {
        let mut p = prepare(self, model, images, labels, targets, device)?;
        let epsilon = self.epsilon as f32;
        let alpha = self.step_size as f32;
        let origin = p.images.clone();
        let dims = origin.dims();
        let project = |x: Tensor<4>| match self.norm {
            Norm::L2 => ops::clip_l2(x, origin.clone(), epsilon),
            _ => ops::clip_linf(x, origin.clone(), epsilon),
        };
        let mut x = origin.clone();
        if self.random_start {
            let mut rng = AttackRng::new(self.seed);
            let device = p.context.device().clone();
            let start = match self.norm {
                Norm::L2 => rng.l2_ball(dims, epsilon, &device),
                _ => rng.uniform(dims, -epsilon, epsilon, &device),
            };
            x = project(x + start);
        }
        for _ in 0..self.steps {
            let goal = &p.goal;
            let (_, gradient) = p
                .context
                .gradient(x.clone(), |logits| goal.loss(logits).sum());
            let step = match self.norm {
                Norm::L2 => ops::normalize_l2(gradient),
                _ => gradient.sign(),
            };
            x = project(x + step.mul_scalar(alpha));
        }
        Ok(p.context.finish(x, &p.goal))
    }
}

inventory::submit! {
    Registration {
        name: "pgd",
        aliases: &["pgd_linf"],
        norm: Norm::Linf,
        targeted: true,
        summary: "projected signed-gradient ascent from a random start in the L-infinity ball",
        paper: "Madry, Makelov, Schmidt, Tsipras & Vladu, Towards Deep Learning Models Resistant to Adversarial Attacks, ICLR 2018",
        params: &[
            ParamDoc { name: "epsilon", doc: "L-infinity budget in [0,1] pixel units" },
            ParamDoc { name: "step_size", doc: "step alpha per iteration" },
            ParamDoc { name: "steps", doc: "iterations" },
            ParamDoc { name: "random_start", doc: "start from a uniform random point of the ball" },
            ParamDoc { name: "seed", doc: "seeds the random start" },
        ],
        defaults: registry::defaults_of::<PgdConfig>,
        canonical: registry::canonical_of::<PgdConfig>,
        version: 1,
        build: |p| Ok(Box::new(Pgd::linf(registry::parse(p)?))),
    }
}

inventory::submit! {
    Registration {
        name: "pgd_l2",
        aliases: &[],
        norm: Norm::L2,
        targeted: true,
        summary: "projected normalised-gradient ascent from a random start in the L2 ball",
        paper: "Madry, Makelov, Schmidt, Tsipras & Vladu, Towards Deep Learning Models Resistant to Adversarial Attacks, ICLR 2018",
        params: &[
            ParamDoc { name: "epsilon", doc: "L2 budget in [0,1] pixel units" },
            ParamDoc { name: "step_size", doc: "step alpha per iteration; null = 2.5 * epsilon / steps" },
            ParamDoc { name: "steps", doc: "iterations" },
            ParamDoc { name: "random_start", doc: "start from a uniform random point of the ball" },
            ParamDoc { name: "seed", doc: "seeds the random start" },
        ],
        defaults: registry::defaults_of::<PgdL2Config>,
        canonical: registry::canonical_of::<PgdL2Config>,
        version: 1,
        build: |p| Ok(Box::new(Pgd::l2(registry::parse(p)?))),
    }
}

inventory::submit! {
    Registration {
        name: "ifgm",
        aliases: &["ifgm_l2", "bim_l2"],
        norm: Norm::L2,
        targeted: true,
        summary: "iterative L2-normalised gradient steps from the clean image, projected into the L2 ball",
        paper: "Kurakin, Goodfellow & Bengio, Adversarial Examples in the Physical World, ICLR 2017 workshop (L2 variant, as used by Zhao et al., SysML 2019)",
        params: &[
            ParamDoc { name: "epsilon", doc: "L2 budget in [0,1] pixel units" },
            ParamDoc { name: "step_size", doc: "step alpha per iteration; null = 2.5 * epsilon / steps" },
            ParamDoc { name: "steps", doc: "iterations" },
        ],
        defaults: registry::defaults_of::<IfgmConfig>,
        canonical: registry::canonical_of::<IfgmConfig>,
        version: 1,
        build: |p| Ok(Box::new(Pgd::ifgm(registry::parse(p)?))),
    }
}
