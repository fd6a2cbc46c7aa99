//! Momentum Iterative FGSM.
//!
//! Dong, Liao, Pang, Su, Zhu, Hu & Li, *Boosting Adversarial Attacks with
//! Momentum*, CVPR 2018 (arXiv:1710.06081), Algorithm 1:
//! `g_{t+1} = μ · g_t + ∇ₓJ(x_t, y) / ‖∇ₓJ(x_t, y)‖₁`,
//! `x_{t+1} = Clip_{x,ε}(x_t + α · sign(g_{t+1}))`, `α = ε / T`, `g₀ = 0`.
//! Targeted: descend `J(x, t)`.
//!
//! Defaults: decay μ = 1.0 and T = 10 iterations (the paper's), α = ε / T,
//! ε = 0.3 (the MNIST L∞ budget shared by every L∞ attack here; the paper's
//! ImageNet ε is 16/255).

use serde::{Deserialize, Serialize};

use crate::attack::Norm;
use crate::iterative::{Direction, GradientIteration, IterativeAttack};
use crate::registry::{self, AttackConfig, Param, ParamType, Registration};

/// MI-FGSM hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MifgsmConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Iterations T. Default 10.
    pub steps: usize,
    /// Momentum decay μ. Default 1.0.
    pub decay: f64,
    /// Step size α; `None` (default) means `ε / steps`.
    pub step_size: Option<f64>,
}

impl Default for MifgsmConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            steps: 10,
            decay: 1.0,
            step_size: None,
        }
    }
}

impl MifgsmConfig {
    /// MI-FGSM as the engine runs it: momentum steps from the clean image.
    pub fn engine(&self) -> GradientIteration {
        GradientIteration::new(
            Norm::Linf,
            self.epsilon,
            self.step_size.unwrap_or(self.epsilon / self.steps as f64),
            self.steps,
            Direction::Momentum { decay: self.decay },
        )
    }
}

impl AttackConfig for MifgsmConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        Param::new("steps", ParamType::COUNT, "iterations T"),
        Param::new("decay", ParamType::NON_NEGATIVE, "momentum decay factor mu"),
        Param::new(
            "step_size",
            ParamType::POSITIVE,
            "step alpha per iteration; null = epsilon / steps",
        )
        .or_null(),
    ];
}

inventory::submit! {
    Registration {
        name: "mifgsm",
        aliases: &["mi_fgsm"],
        norm: Norm::Linf,
        targeted: true,
        summary: "iterated FGSM with an L1-normalised gradient momentum",
        paper: "Dong, Liao, Pang, Su, Zhu, Hu & Li, Boosting Adversarial Attacks with Momentum, CVPR 2018",
        params: MifgsmConfig::PARAMS,
        defaults: registry::defaults_of::<MifgsmConfig>,
        canonical: registry::canonical_of::<MifgsmConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("mifgsm", registry::parse::<MifgsmConfig>(p)?.engine()))),
    }
}
