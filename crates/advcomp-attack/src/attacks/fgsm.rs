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

use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::{Device, Int};
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, AttackError, AttackOutput, Norm};
use crate::context::prepare;
use crate::registry::{self, AttackConfig, ParamDoc, ParamError, Registration, check};

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
    fn validate(&self) -> Result<(), ParamError> {
        check::within("epsilon", self.epsilon, 0.0, 1.0)
    }
}

/// The FGSM attack.
#[derive(Debug, Clone)]
pub struct Fgsm {
    config: FgsmConfig,
}

impl Fgsm {
    /// FGSM with `config`.
    pub fn new(config: FgsmConfig) -> Self {
        Self { config }
    }
}

impl Attack for Fgsm {
    fn name(&self) -> &str {
        "fgsm"
    }

    fn norm(&self) -> Norm {
        Norm::Linf
    }

    fn epsilon(&self) -> Option<f64> {
        Some(self.config.epsilon)
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
        let goal = p.goal.clone();
        let (_, gradient) = p
            .context
            .gradient(p.images.clone(), |logits| goal.loss(logits).sum());
        let adversarial = p.images + gradient.sign().mul_scalar(self.config.epsilon as f32);
        Ok(p.context.finish(adversarial, &p.goal))
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
        params: &[ParamDoc { name: "epsilon", doc: "L-infinity budget in [0,1] pixel units" }],
        defaults: registry::defaults_of::<FgsmConfig>,
        canonical: registry::canonical_of::<FgsmConfig>,
        version: 1,
        build: |p| Ok(Box::new(Fgsm::new(registry::parse(p)?))),
    }
}
