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

use serde::{Deserialize, Serialize};

use crate::attack::Norm;
use crate::iterative::{Direction, GradientIteration, IterativeAttack, Start};
use crate::registry::{self, AttackConfig, Param, ParamType, Registration};

/// `engine` started at a random point of its ball (seeded by `seed`) when
/// `random_start`, else at the clean image.
fn with_start(engine: GradientIteration, random_start: bool, seed: u64) -> GradientIteration {
    GradientIteration {
        start: if random_start {
            Start::Random
        } else {
            Start::Clean
        },
        seed,
        ..engine
    }
}

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

impl PgdConfig {
    /// L∞ PGD as the engine runs it: signed-gradient steps from a random
    /// start, clipped to the ball after each.
    pub fn engine(&self) -> GradientIteration {
        with_start(
            GradientIteration::new(
                Norm::Linf,
                self.epsilon,
                self.step_size,
                self.steps,
                Direction::Sign,
            ),
            self.random_start,
            self.seed,
        )
    }
}

/// Parameters PGD L2 and IFGM share (and, for `random_start`, PGD L∞).
const L2_EPSILON: Param = Param::new(
    "epsilon",
    ParamType::NON_NEGATIVE,
    "L2 budget in [0,1] pixel units",
);
const L2_STEP_SIZE: Param = Param::new(
    "step_size",
    ParamType::POSITIVE,
    "step alpha per iteration; null = 2.5 * epsilon / steps",
)
.or_null();
const RANDOM_START: Param = Param::new(
    "random_start",
    ParamType::Bool,
    "start from a uniform random point of the ball",
);

impl AttackConfig for PgdConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        Param::new("step_size", ParamType::POSITIVE, "step alpha per iteration"),
        Param::new("steps", ParamType::COUNT, "iterations"),
        RANDOM_START,
        Param::new("seed", ParamType::NATURAL, "seeds the random start"),
    ];
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

impl PgdL2Config {
    /// L2 PGD as the engine runs it: normalised-gradient steps from a
    /// random start, projected onto the ball after each.
    pub fn engine(&self) -> GradientIteration {
        with_start(
            GradientIteration::new(
                Norm::L2,
                self.epsilon,
                self.alpha(),
                self.steps,
                Direction::Normalised,
            ),
            self.random_start,
            self.seed,
        )
    }
}

impl AttackConfig for PgdL2Config {
    const PARAMS: &'static [Param] = &[
        L2_EPSILON,
        L2_STEP_SIZE,
        Param::new("steps", ParamType::COUNT, "iterations"),
        RANDOM_START,
        Param::new("seed", ParamType::NATURAL, "seeds the random start"),
    ];
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
    const PARAMS: &'static [Param] = &[
        L2_EPSILON,
        L2_STEP_SIZE,
        Param::new("steps", ParamType::COUNT, "iterations"),
    ];
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

inventory::submit! {
    Registration {
        name: "pgd",
        aliases: &["pgd_linf"],
        norm: Norm::Linf,
        targeted: true,
        summary: "projected signed-gradient ascent from a random start in the L-infinity ball",
        paper: "Madry, Makelov, Schmidt, Tsipras & Vladu, Towards Deep Learning Models Resistant to Adversarial Attacks, ICLR 2018",
        params: PgdConfig::PARAMS,
        defaults: registry::defaults_of::<PgdConfig>,
        canonical: registry::canonical_of::<PgdConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("pgd", registry::parse::<PgdConfig>(p)?.engine()))),
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
        params: PgdL2Config::PARAMS,
        defaults: registry::defaults_of::<PgdL2Config>,
        canonical: registry::canonical_of::<PgdL2Config>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("pgd_l2", registry::parse::<PgdL2Config>(p)?.engine()))),
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
        params: IfgmConfig::PARAMS,
        defaults: registry::defaults_of::<IfgmConfig>,
        canonical: registry::canonical_of::<IfgmConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("ifgm", registry::parse::<IfgmConfig>(p)?.as_pgd().engine()))),
    }
}
