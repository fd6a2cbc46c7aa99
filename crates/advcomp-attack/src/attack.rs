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

use crate::context::{AttackContext, Prepared, prepare};
use crate::goal::Goal;
use crate::ops;

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
/// Implementations hold their (already validated) hyper-parameters and do
/// only their own work, in [`Attack::perturb`]. The framework owns the call
/// (`<dyn Attack>::run`, the one entry point): it checks the
/// inputs, counts every model call, confines the result to `[0,1]` and, for
/// a bounded attack, to its ε-ball, and re-classifies it for the success
/// mask. An attack therefore cannot forget a check, leave its budget or
/// report a success the model does not confirm.
///
/// Everything is batched: the success mask and all per-sample bookkeeping
/// are tensors; an attack reads the host only for batch-wide decisions
/// (stop when every sample is done).
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
    /// minimal-perturbation attacks such as DeepFool and C&W). The
    /// framework confines the output to this ball.
    fn epsilon(&self) -> Option<f64>;

    /// Whether the attack accepts target labels.
    fn supports_targeted(&self) -> bool;

    /// The attack's own work: the adversarial version of `images` (`[batch,
    /// c, h, w]`, checked to lie in `[0,1]`, on the plain device) for
    /// `goal`, computed through `context` so that every model call is
    /// counted. The result need not be clipped; the framework clips it.
    fn perturb(
        &self,
        context: &mut AttackContext<'_>,
        images: &Tensor<4>,
        goal: &Goal,
    ) -> Result<Tensor<4>, AttackError>;
}

impl dyn Attack + '_ {
    /// Attacks `images` (`[batch, c, h, w]` in `[0,1]`) with true `labels`
    /// (`[batch]`), aiming at `targets` (`[batch]`) when given.
    ///
    /// `model` must be differentiable for gradient attacks: any
    /// [`Classifier`] whose logits are built from burn tensor operations is
    /// (a plain `network.valid()` included: the attack puts the images on
    /// the autodiff version of `device` itself). New tensors are made on
    /// `device`; the output is on its plain version.
    ///
    /// This is the one entry point: inputs are checked ([`prepare`]), the
    /// attack's [`Attack::perturb`] runs, its result is confined to the
    /// attack's ball ([`confine`]) and to `[0,1]`, and re-classified.
    pub fn run(
        &self,
        model: &dyn Classifier,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        targets: Option<Tensor<1, Int>>,
        device: &Device,
    ) -> Result<AttackOutput, AttackError> {
        let Prepared {
            mut context,
            images,
            goal,
        } = prepare(self, model, images, labels, targets, device)?;
        let adversarial = self.perturb(&mut context, &images, &goal)?;
        let adversarial = confine(self, adversarial.without_autodiff(), &images);
        Ok(context.finish(adversarial, &goal))
    }
}

/// Relative slack of the L2 ball [`confine`] enforces: a projection
/// rescales to ε in float arithmetic, so a projected sample may measure
/// ε·(1 ± a few ulps); only samples beyond this are pulled back, and the
/// numbers of attacks that already project are left bit for bit as they
/// were.
pub const L2_SLACK: f32 = 1e-5;

/// `adversarial` confined to the ball of a bounded `attack` around
/// `origin`: clipped into the L∞ box (a no-op, bit for bit, on values
/// already inside it), or projected onto the L2 ball for samples whose
/// perturbation exceeds ε·(1 + [`L2_SLACK`]). Attacks without a budget are
/// returned as they are.
pub fn confine(attack: &dyn Attack, adversarial: Tensor<4>, origin: &Tensor<4>) -> Tensor<4> {
    let Some(epsilon) = attack.epsilon() else {
        return adversarial;
    };
    let epsilon = epsilon as f32;
    match attack.norm() {
        Norm::Linf => ops::clip_linf(adversarial, origin.clone(), epsilon),
        Norm::L2 => {
            let outside = ops::l2_norm(adversarial.clone() - origin.clone())
                .greater_elem(epsilon * (1.0 + L2_SLACK));
            let projected = ops::clip_l2(adversarial.clone(), origin.clone(), epsilon);
            ops::where_samples(outside, projected, adversarial)
        }
        Norm::L0 => adversarial,
    }
}
