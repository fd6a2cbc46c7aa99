//! Fast Gradient Sign Method.
//!
//! Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial
//! Examples*, ICLR 2015 (arXiv:1412.6572):
//! `x' = clip[0,1](x + ε · sign(∇ₓ J(x, y)))`, one gradient step; targeted:
//! `x' = clip(x − ε · sign(∇ₓ J(x, t)))` (Kurakin et al. 2017).
//!
//! Default ε = 0.3, the MNIST L∞ budget of Madry et al. (2018) that every L∞
//! attack here shares so that their defaults are comparable. (Goodfellow et
//! al. used ε = 0.25 on MNIST and 0.1 on CIFAR-10; pass `epsilon` for those.)

use serde::{Deserialize, Serialize};

use crate::attack::Norm;
use crate::iterative::{Direction, GradientIteration, IterativeAttack};
use crate::registry::{self, AttackConfig, Param, Registration};

/// FGSM hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FgsmConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
}

impl Default for FgsmConfig {
    fn default() -> Self {
        Self { epsilon: 0.3 }
    }
}

impl AttackConfig for FgsmConfig {
    const PARAMS: &'static [Param] = &[registry::LINF_EPSILON];
}

impl FgsmConfig {
    /// FGSM as the engine runs it: one signed-gradient step of size ε from
    /// the clean image.
    pub fn engine(&self) -> GradientIteration {
        GradientIteration::new(Norm::Linf, self.epsilon, self.epsilon, 1, Direction::Sign)
    }
}

inventory::submit! {
    Registration {
        name: "fgsm",
        aliases: &[],
        norm: Norm::Linf,
        targeted: true,
        summary: "one signed-gradient step of size epsilon",
        paper: "Goodfellow, Shlens & Szegedy, Explaining and Harnessing Adversarial Examples, ICLR 2015",
        params: FgsmConfig::PARAMS,
        defaults: registry::defaults_of::<FgsmConfig>,
        canonical: registry::canonical_of::<FgsmConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("fgsm", registry::parse::<FgsmConfig>(p)?.engine()))),
    }
}
