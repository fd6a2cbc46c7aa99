//! The one calling convention every attack follows.
//!
//! As in Foolbox, every attack is called the same way — a model, a batch of
//! `[0,1]` images, their true labels, optional target labels and the device —
//! and returns the adversarial batch, a per-sample success mask and what the
//! attack cost. That is what makes attacks interchangeable in a sweep.

use std::fmt;
use std::ops::{Add, AddAssign};

use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::{Bool, Device, Int};
use serde::{Deserialize, Serialize};

/// The norm an attack bounds or minimises its perturbation in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Number of input features changed (JSMA).
    L0,
    /// Euclidean length of the perturbation.
    L2,
    /// Largest change of any one feature.
    Linf,
}

impl Norm {
    /// The name used in reports and configurations: `l0`, `l2`, `linf`.
    pub fn name(self) -> &'static str {
        match self {
            Norm::L0 => "l0",
            Norm::L2 => "l2",
            Norm::Linf => "linf",
        }
    }
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an attack run cost, summed over the samples of the batch.
///
/// One forward pass over a batch of `m` images counts `m` queries; one
/// backward pass that yields the input gradient of `m` images counts `m`
/// gradient evaluations (and the forward pass it needs, `m` queries). An
/// attack that takes gradients of several outputs by replicating the batch
/// (DeepFool's candidate classes, JSMA's two Jacobian rows) counts every
/// replica. The final classification that computes the success mask is
/// included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counters {
    /// Input gradients computed.
    pub gradient_evaluations: u64,
    /// Images passed through the model.
    pub model_queries: u64,
}

impl Add for Counters {
    type Output = Counters;

    fn add(self, rhs: Counters) -> Counters {
        Counters {
            gradient_evaluations: self.gradient_evaluations + rhs.gradient_evaluations,
            model_queries: self.model_queries + rhs.model_queries,
        }
    }
}

impl AddAssign for Counters {
    fn add_assign(&mut self, rhs: Counters) {
        *self = *self + rhs;
    }
}

/// What an attack returns for a batch.
#[derive(Debug, Clone)]
pub struct AttackOutput {
    /// The adversarial images `[batch, c, h, w]`, clipped to `[0,1]`, on the
    /// plain (non-autodiff) version of the device the attack was given.
    /// Samples the attack could not change successfully are returned as the
    /// attack left them (for minimal-perturbation attacks: unchanged).
    pub adversarial: Tensor<4>,
    /// `[batch]`: whether re-classifying `adversarial` meets the goal — a
    /// class other than the true label (untargeted) or the target class
    /// (targeted). Samples the model already misclassified count as
    /// successes in the untargeted case, as in Foolbox; the metrics module
    /// separates them out.
    pub success: Tensor<1, Bool>,
    /// What the run cost.
    pub counters: Counters,
}

/// Why an attack refused to run. Raised before any work is done.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// Target labels were given to an attack that is only defined untargeted.
    #[error("attack `{attack}` is untargeted only; run it without target labels")]
    TargetsUnsupported {
        /// The attack's name.
        attack: String,
    },
    /// Labels, targets and images disagree about the batch size, or a class
    /// index is out of range.
    #[error("attack `{attack}`: {message}")]
    BadInput {
        /// The attack's name.
        attack: String,
        /// What is wrong.
        message: String,
    },
    /// Images are not in `[0,1]`.
    #[error(
        "attack `{attack}`: images must be in [0,1] pixel space, found values in [{min}, {max}]"
    )]
    PixelRange {
        /// The attack's name.
        attack: String,
        /// Smallest pixel value found.
        min: f32,
        /// Largest pixel value found.
        max: f32,
    },
}

/// An adversarial attack.
///
/// Implementations hold their (already validated) hyper-parameters and do the
/// work in [`Attack::run`]. Everything is batched: the success mask and all
/// per-sample bookkeeping are tensors; an attack reads the host only for
/// batch-wide decisions (stop when every sample is done).
///
/// The model must not mix samples within a batch (no batch normalisation in
/// training mode): attacks obtain per-sample input gradients from one
/// backward pass through the sum of per-sample losses.
pub trait Attack: Send + Sync + fmt::Debug {
    /// The registry name (`"pgd"`).
    fn name(&self) -> &str;

    /// The norm the perturbation is bounded or minimised in.
    fn norm(&self) -> Norm;

    /// The perturbation budget for bounded attacks (`None` for
    /// minimal-perturbation attacks such as DeepFool and C&W).
    fn epsilon(&self) -> Option<f64>;

    /// Whether the attack accepts target labels.
    fn supports_targeted(&self) -> bool;

    /// Attacks `images` (`[batch, c, h, w]` in `[0,1]`) with true `labels`
    /// (`[batch]`), aiming at `targets` (`[batch]`) when given.
    ///
    /// `model` must be differentiable for gradient attacks: any
    /// [`Classifier`] whose logits are built from burn tensor operations is
    /// (a plain `network.valid()` included: the attack puts the images on
    /// the autodiff version of `device` itself). New tensors are made on
    /// `device`; the output is on its plain version.
    fn run(
        &self,
        model: &dyn Classifier,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        targets: Option<Tensor<1, Int>>,
        device: &Device,
    ) -> Result<AttackOutput, AttackError>;
}
