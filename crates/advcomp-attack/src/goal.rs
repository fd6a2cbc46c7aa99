//! What counts as success: misclassification or a chosen target class.

use burn::Tensor;
use burn::tensor::{Bool, Int};

use crate::ops;

/// The adversary's goal for a batch: any class but the true label
/// (untargeted), or a given target class per sample (targeted).
#[derive(Debug, Clone)]
pub struct Goal {
    labels: Tensor<1, Int>,
    targets: Option<Tensor<1, Int>>,
    num_classes: usize,
}

impl Goal {
    /// The goal for true `labels` and optional `targets` (`[n]` each).
    pub fn new(
        labels: Tensor<1, Int>,
        targets: Option<Tensor<1, Int>>,
        num_classes: usize,
    ) -> Self {
        Self {
            labels,
            targets,
            num_classes,
        }
    }

    /// The goal for the samples at `indices` only.
    pub fn select(&self, indices: Tensor<1, Int>) -> Goal {
        Goal {
            labels: self.labels.clone().select(0, indices.clone()),
            targets: self.targets.clone().map(|t| t.select(0, indices)),
            num_classes: self.num_classes,
        }
    }

    /// Whether target classes were given.
    pub fn is_targeted(&self) -> bool {
        self.targets.is_some()
    }

    /// Number of classes of the model.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Batch size.
    pub fn len(&self) -> usize {
        self.labels.dims()[0]
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The true labels, `[n]`.
    pub fn labels(&self) -> Tensor<1, Int> {
        self.labels.clone()
    }

    /// The target classes, `[n]`, when targeted.
    pub fn targets(&self) -> Option<Tensor<1, Int>> {
        self.targets.clone()
    }

    /// The class the attack's loss is built around: the target when
    /// targeted, the true label otherwise.
    pub fn class(&self) -> Tensor<1, Int> {
        self.targets.clone().unwrap_or_else(|| self.labels.clone())
    }

    /// Per sample, whether `logits` meet the goal (argmax differs from the
    /// label, or equals the target), `[n]`.
    pub fn achieved(&self, logits: Tensor<2>) -> Tensor<1, Bool> {
        let predicted = ops::predictions(logits);
        match &self.targets {
            Some(targets) => predicted.equal(targets.clone()),
            None => predicted.not_equal(self.labels.clone()),
        }
    }

    /// The per-sample loss an attack *increases*, `[n]`: the cross-entropy
    /// of the true label (untargeted), or minus the cross-entropy of the
    /// target (targeted).
    pub fn loss(&self, logits: Tensor<2>) -> Tensor<1> {
        match &self.targets {
            Some(targets) => ops::cross_entropy(logits, targets.clone()).neg(),
            None => ops::cross_entropy(logits, self.labels.clone()),
        }
    }

    /// The per-sample logit margin an attack drives below zero, `[n]`:
    /// `Z_y − max_{j≠y} Z_j` for the true label `y` (untargeted), or
    /// `max_{j≠t} Z_j − Z_t` for the target `t` (targeted). The goal is met
    /// when the margin is negative (up to ties).
    pub fn margin(&self, logits: Tensor<2>) -> Tensor<1> {
        let class = self.class();
        let own = ops::pick(logits.clone(), class.clone());
        let other = ops::best_other(logits, class);
        if self.is_targeted() {
            other - own
        } else {
            own - other
        }
    }
}
