//! The plumbing every attack shares: input checks, counted model calls,
//! input gradients, and the final re-classification.

use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::{Device, Int};

use crate::attack::{Attack, AttackError, AttackOutput, Counters};
use crate::goal::Goal;
use crate::ops;

/// A model seen by one attack run: every call is counted.
///
/// Tensors handed out are on the plain (non-autodiff) device; gradients are
/// taken by putting a copy of the input on the autodiff device, so the model
/// may live on either (its weights act as constants when they are plain).
pub struct AttackContext<'a> {
    model: &'a dyn Classifier,
    device: Device,
    counters: Counters,
}

/// Checked inputs of an attack run, ready to use.
pub struct Prepared<'a> {
    /// Counts the model calls of this run.
    pub context: AttackContext<'a>,
    /// The clean images, on the plain device.
    pub images: Tensor<4>,
    /// Labels and targets.
    pub goal: Goal,
}

/// Checks an attack's inputs and moves them to the plain version of `device`.
///
/// Refuses target labels for untargeted-only attacks, batch sizes that
/// disagree, class indices outside the model's classes and pixels outside
/// `[0,1]` (two host reads of min and max).
pub fn prepare<'a>(
    attack: &dyn Attack,
    model: &'a dyn Classifier,
    images: Tensor<4>,
    labels: Tensor<1, Int>,
    targets: Option<Tensor<1, Int>>,
    device: &Device,
) -> Result<Prepared<'a>, AttackError> {
    let name = attack.name().to_string();
    if targets.is_some() && !attack.supports_targeted() {
        return Err(AttackError::TargetsUnsupported { attack: name });
    }
    let bad = |message: String| AttackError::BadInput {
        attack: name.clone(),
        message,
    };
    let device = device.clone().without_autodiff();
    let images = images.without_autodiff().to_device(&device);
    let labels = labels.without_autodiff().to_device(&device);
    let targets = targets.map(|t| t.without_autodiff().to_device(&device));
    let n = images.dims()[0];
    let classes = model.num_classes();
    if n == 0 {
        return Err(bad("the batch is empty".into()));
    }
    check_classes(&labels, n, classes, "labels").map_err(bad)?;
    if let Some(targets) = &targets {
        check_classes(targets, n, classes, "targets").map_err(bad)?;
    }
    let min = images.clone().min().into_scalar::<f32>();
    let max = images.clone().max().into_scalar::<f32>();
    if !(min >= -1e-6 && max <= 1.0 + 1e-6) {
        return Err(AttackError::PixelRange {
            attack: name,
            min,
            max,
        });
    }
    Ok(Prepared {
        context: AttackContext::new(model, &device),
        images: images.clamp(0.0, 1.0),
        goal: Goal::new(labels, targets, classes),
    })
}

fn check_classes(
    classes: &Tensor<1, Int>,
    n: usize,
    num_classes: usize,
    what: &str,
) -> Result<(), String> {
    let len = classes.dims()[0];
    if len != n {
        return Err(format!("{len} {what} for a batch of {n} images"));
    }
    let min = classes.clone().min().into_scalar::<i64>();
    let max = classes.clone().max().into_scalar::<i64>();
    if min < 0 || max >= num_classes as i64 {
        return Err(format!(
            "{what} must be class indices in 0..{num_classes}, found values in [{min}, {max}]"
        ));
    }
    Ok(())
}

impl<'a> AttackContext<'a> {
    /// A context for `model`; new tensors go on the plain version of `device`.
    pub fn new(model: &'a dyn Classifier, device: &Device) -> Self {
        Self {
            model,
            device: device.clone().without_autodiff(),
            counters: Counters::default(),
        }
    }

    /// The model.
    pub fn model(&self) -> &'a dyn Classifier {
        self.model
    }

    /// The plain device new tensors go on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// What the run has cost so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Adds `n` model queries to the count (for attacks that call
    /// [`AttackContext::logits_uncounted`] and count only what they need).
    pub fn count_queries(&mut self, n: usize) {
        self.counters.model_queries += n as u64;
    }

    /// Logits of `x` without gradient tracking; counts one query per image.
    pub fn logits(&mut self, x: Tensor<4>) -> Tensor<2> {
        self.count_queries(x.dims()[0]);
        self.logits_uncounted(x)
    }

    /// Logits of `x` without gradient tracking, not counted.
    pub fn logits_uncounted(&self, x: Tensor<4>) -> Tensor<2> {
        self.model.logits(x.without_autodiff()).without_autodiff()
    }

    /// The input gradient of `loss(logits(x))`, a scalar (`[1]`) — usually
    /// the sum of per-sample losses, which gives every sample its own
    /// gradient. Returns the logits (plain) and the gradient `[n, c, h, w]`
    /// (plain). Counts one gradient evaluation and one query per image.
    pub fn gradient(
        &mut self,
        x: Tensor<4>,
        loss: impl FnOnce(Tensor<2>) -> Tensor<1>,
    ) -> (Tensor<2>, Tensor<4>) {
        let (gradient, logits) = self.gradient_of(x, |model, input| {
            let logits = model.logits(input);
            let plain = logits.clone().without_autodiff();
            (loss(logits), plain)
        });
        (logits, gradient)
    }

    /// The gradient of a scalar built by `f` from an autodiff copy of `leaf`
    /// (for attacks that optimise a variable the image is computed from, as
    /// C&W's tanh change of variables). `f` gets the model and the leaf and
    /// returns the scalar loss and whatever else it wants back (tensors in
    /// it should be made plain with `without_autodiff`). Counts one gradient
    /// evaluation and one query per row of `leaf`.
    pub fn gradient_of<T>(
        &mut self,
        leaf: Tensor<4>,
        f: impl FnOnce(&dyn Classifier, Tensor<4>) -> (Tensor<1>, T),
    ) -> (Tensor<4>, T) {
        let n = leaf.dims()[0] as u64;
        self.counters.gradient_evaluations += n;
        self.counters.model_queries += n;
        let leaf = leaf.without_autodiff().autodiff().require_grad();
        let (loss, extra) = f(self.model, leaf.clone());
        let grads = loss.backward();
        let gradient = leaf
            .grad(&grads)
            .unwrap_or_else(|| leaf.clone().without_autodiff().zeros_like());
        (gradient, extra)
    }

    /// Ends the run: clips `adversarial` to `[0,1]`, re-classifies it (one
    /// query per image) and returns it with the success mask and counters.
    pub fn finish(mut self, adversarial: Tensor<4>, goal: &Goal) -> AttackOutput {
        let adversarial = adversarial.without_autodiff().clamp(0.0, 1.0);
        let logits = self.logits(adversarial.clone());
        AttackOutput {
            success: goal.achieved(logits),
            adversarial,
            counters: self.counters,
        }
    }
}

/// The classes `model` predicts for `images`, `[n]`, outside any attack's
/// counters (for metrics and tests).
pub fn classify(model: &dyn Classifier, images: Tensor<4>) -> Tensor<1, Int> {
    ops::predictions(model.logits(images.without_autodiff()).without_autodiff())
}
