//! The baseline: PGD adversarial training (Madry et al. 2018) as
//! [`TrainHooks`].
//!
//! Each training batch is replaced (wholly, or its first `fraction` of
//! images) by PGD adversarial examples made on the current weights, through
//! [`TrainHooks::transform_batch`]. The attack is built by name from the
//! attack registry, so any registered attack (`pgd`, `fgsm`, `ifgsm`, …) can
//! be used for adversarial training.

use advcomp_attack::{Attack, registry};
use advcomp_models::Network;
use advcomp_train::TrainHooks;
use burn::Tensor;
use burn::module::Module;
use burn::tensor::Int;

/// PGD (or any registered attack) adversarial training.
#[derive(Debug)]
pub struct AdversarialTraining {
    attack: Box<dyn Attack>,
    /// Share of each batch replaced by adversarial examples (1 = Madry's
    /// procedure; 0.5 = half clean, half adversarial).
    pub fraction: f64,
}

impl AdversarialTraining {
    /// PGD L∞ adversarial training with the registry's `pgd` parameters
    /// (`epsilon`, `step_size`, `steps`, `random_start`, `seed`; missing ones
    /// take their defaults), replacing whole batches.
    pub fn pgd(params: &serde_json::Value) -> Result<Self, registry::RegistryError> {
        Self::with_attack("pgd", params, 1.0)
    }

    /// Adversarial training with the registered attack `name`, replacing a
    /// `fraction` of each batch.
    pub fn with_attack(
        name: &str,
        params: &serde_json::Value,
        fraction: f64,
    ) -> Result<Self, registry::RegistryError> {
        Ok(Self {
            attack: registry::build(name, params)?,
            fraction: fraction.clamp(0.0, 1.0),
        })
    }

    /// The attack that makes the training examples.
    pub fn attack(&self) -> &dyn Attack {
        self.attack.as_ref()
    }
}

impl TrainHooks for AdversarialTraining {
    fn transform_batch(
        &mut self,
        network: &Network,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
    ) -> Tensor<4> {
        let b = images.dims()[0];
        let k = ((self.fraction * b as f64).round() as usize).min(b);
        if k == 0 {
            return images;
        }
        let plain = network.valid();
        let device = plain.device();
        let head = images.clone().narrow(0, 0, k);
        let head_labels = labels.narrow(0, 0, k);
        let adversarial = match self.attack.run(&plain, head, head_labels, None, &device) {
            Ok(out) => out.adversarial.to_device(&images.device()),
            Err(e) => {
                tracing::warn!(error = %e, "adversarial training: attack refused the batch; training on clean images");
                return images;
            }
        };
        if k == b {
            adversarial
        } else {
            Tensor::cat(vec![adversarial, images.narrow(0, k, b - k)], 0)
        }
    }
}
