//! Iterative FGSM, a.k.a. the Basic Iterative Method (BIM).
//!
//! Kurakin, Goodfellow & Bengio, *Adversarial Examples in the Physical
//! World*, ICLR 2017 workshop (arXiv:1607.02533), §2.1:
//! `x₀ = x`, `x_{n+1} = Clip_{x,ε}(x_n + α · sign(∇ₓ J(x_n, y)))`, with
//! `α = 1` grey level (1/255 here, pixels being in `[0,1]`) and
//! `min(ε + 4, 1.25 ε)` iterations for ε in grey levels, i.e.
//! `⌊min(255 ε + 4, 1.25 · 255 ε)⌋` for ε in `[0,1]` units (truncated, as
//! torchattacks does). Targeted (their "iterative least-likely class"
//! method, with a chosen class): descend `J(x, t)` instead.
//!
//! Default ε = 0.3 (the MNIST L∞ budget shared by every L∞ attack here),
//! which gives 80 steps of 1/255.

use serde::{Deserialize, Serialize};

use crate::attack::Norm;
use crate::iterative::{Direction, GradientIteration, IterativeAttack};
use crate::registry::{self, AttackConfig, Param, ParamType, Registration};

/// I-FGSM / BIM hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IfgsmConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Step size α. Default 1/255 (one grey level, Kurakin et al.).
    pub step_size: f64,
    /// Iterations; `None` (default) means Kurakin et al.'s
    /// `⌊min(255 ε + 4, 1.25 · 255 ε)⌋` (at least 1).
    pub steps: Option<usize>,
}

impl Default for IfgsmConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            step_size: 1.0 / 255.0,
            steps: None,
        }
    }
}

impl IfgsmConfig {
    /// The number of iterations this configuration runs.
    pub fn iterations(&self) -> usize {
        self.steps.unwrap_or_else(|| {
            let grey = 255.0 * self.epsilon;
            ((grey + 4.0).min(1.25 * grey).floor() as usize).max(1)
        })
    }
}

impl IfgsmConfig {
    /// I-FGSM as the engine runs it: signed-gradient steps from the clean
    /// image, clipped to the L∞ ball after each.
    pub fn engine(&self) -> GradientIteration {
        GradientIteration::new(
            Norm::Linf,
            self.epsilon,
            self.step_size,
            self.iterations(),
            Direction::Sign,
        )
    }
}

impl AttackConfig for IfgsmConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        Param::new(
            "step_size",
            ParamType::POSITIVE,
            "step alpha per iteration (1/255 = one grey level)",
        ),
        Param::new(
            "steps",
            ParamType::COUNT,
            "iterations; null = floor(min(255*eps + 4, 1.25*255*eps))",
        )
        .or_null(),
    ];
}

inventory::submit! {
    Registration {
        name: "ifgsm",
        aliases: &["bim", "i_fgsm"],
        norm: Norm::Linf,
        targeted: true,
        summary: "iterated FGSM steps of one grey level, clipped to the epsilon-ball",
        paper: "Kurakin, Goodfellow & Bengio, Adversarial Examples in the Physical World, ICLR 2017 workshop",
        params: IfgsmConfig::PARAMS,
        defaults: registry::defaults_of::<IfgsmConfig>,
        canonical: registry::canonical_of::<IfgsmConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("ifgsm", registry::parse::<IfgsmConfig>(p)?.engine()))),
    }
}
