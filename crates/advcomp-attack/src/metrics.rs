//! What an attack achieved: success, accuracy under attack and perturbation
//! norms, per sample and aggregated.
//!
//! Definitions (the study's, arXiv:1810.00208):
//! - *success rate* — the share of samples whose adversarial meets the goal
//!   (the attack's success mask: misclassified, or for a targeted attack
//!   classified as its target), over all samples;
//! - *success rate on correct* — the same, over the samples the model
//!   classified correctly before the attack (a sample that is already
//!   misclassified needs no attack);
//! - *accuracy under attack* — the share of adversarial samples still
//!   classified as their true label;
//! - *norms* — L0 (features changed by more than
//!   [`L0_TOLERANCE`](crate::ops::L0_TOLERANCE)), L2 and L∞ of
//!   `adversarial − clean` in `[0,1]` pixel units, mean and median over the
//!   samples that were classified correctly and then attacked successfully;
//! - *cost* — gradient evaluations and model queries ([`Counters`]), total
//!   and per sample.
//!
//! Per-sample values are computed batched (one host read per quantity) and
//! can be accumulated over batches with [`SampleMetrics::extend`].

use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::{Bool, Int};
use serde::{Deserialize, Serialize};

use crate::attack::{AttackOutput, Counters};
use crate::context::classify;
use crate::ops;

/// Per-sample results, on the host, in batch order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleMetrics {
    /// The clean image was classified as its label.
    pub clean_correct: Vec<bool>,
    /// The adversarial image is still classified as its label.
    pub adversarial_correct: Vec<bool>,
    /// The attack's success mask.
    pub success: Vec<bool>,
    /// L0 of the perturbation (features changed).
    pub l0: Vec<f32>,
    /// L2 of the perturbation.
    pub l2: Vec<f32>,
    /// L∞ of the perturbation.
    pub linf: Vec<f32>,
    /// The class each sample was aimed at, for a targeted attack (empty
    /// when untargeted; `success` then means the target was reached).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<u32>,
}

/// Mean and median of a norm over the counted samples (`None` when no
/// sample counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NormStats {
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Median (mean of the two middle values for an even count).
    pub median: Option<f64>,
}

impl NormStats {
    /// The statistics of `values`.
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Self {
            mean: Some(sorted.iter().sum::<f64>() / n as f64),
            median: Some(median),
        }
    }
}

/// Aggregate results of an attack over a set of samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackSummary {
    /// Samples attacked.
    pub samples: usize,
    /// Samples classified correctly before the attack.
    pub clean_correct: usize,
    /// Samples whose adversarial meets the goal.
    pub successes: usize,
    /// Clean-correct samples whose adversarial meets the goal (the ones the
    /// norm statistics are over).
    pub successes_on_correct: usize,
    /// Accuracy on the clean samples.
    pub clean_accuracy: f64,
    /// Accuracy on the adversarial samples.
    pub accuracy_under_attack: f64,
    /// `successes / samples`.
    pub success_rate: f64,
    /// `successes_on_correct / clean_correct` (`None` when nothing was correct).
    pub success_rate_on_correct: Option<f64>,
    /// L0 (features changed) over successful clean-correct samples.
    pub l0: NormStats,
    /// L2 over successful clean-correct samples.
    pub l2: NormStats,
    /// L∞ over successful clean-correct samples.
    pub linf: NormStats,
    /// Input gradients computed in total.
    pub gradient_evaluations: u64,
    /// Images passed through the model in total.
    pub model_queries: u64,
    /// Gradient evaluations per sample.
    pub gradient_evaluations_per_sample: f64,
    /// Model queries per sample.
    pub model_queries_per_sample: f64,
}

impl SampleMetrics {
    /// Per-sample metrics from tensors: clean and adversarial predictions,
    /// labels, the success mask and the perturbation `adversarial − clean`.
    pub fn from_tensors(
        clean_predictions: Tensor<1, Int>,
        adversarial_predictions: Tensor<1, Int>,
        labels: Tensor<1, Int>,
        success: Tensor<1, Bool>,
        perturbation: Tensor<4>,
    ) -> Self {
        Self {
            clean_correct: ops::host_bool(clean_predictions.equal(labels.clone())),
            adversarial_correct: ops::host_bool(adversarial_predictions.equal(labels)),
            success: ops::host_bool(success),
            l0: ops::host_f32(ops::l0_norm(perturbation.clone())),
            l2: ops::host_f32(ops::l2_norm(perturbation.clone())),
            linf: ops::host_f32(ops::linf_norm(perturbation)),
            targets: Vec::new(),
        }
    }

    /// Measures an attack's `output` on `clean` images with true `labels`,
    /// classifying both batches with `model` (two forward passes, not part of
    /// the attack's counters).
    pub fn measure(
        model: &dyn Classifier,
        clean: Tensor<4>,
        labels: Tensor<1, Int>,
        output: &AttackOutput,
    ) -> Self {
        let device = output.adversarial.device();
        let clean = clean.without_autodiff().to_device(&device);
        let labels = labels.without_autodiff().to_device(&device);
        Self::from_tensors(
            classify(model, clean.clone()),
            classify(model, output.adversarial.clone()),
            labels,
            output.success.clone(),
            output.adversarial.clone() - clean,
        )
    }

    /// The same metrics, recording the `targets` (`[n]`) the attack aimed at.
    pub fn with_targets(mut self, targets: Tensor<1, Int>) -> Self {
        self.targets = ops::host_i64(targets)
            .into_iter()
            .map(|t| t as u32)
            .collect();
        self
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.success.len()
    }

    /// True when no sample was measured.
    pub fn is_empty(&self) -> bool {
        self.success.is_empty()
    }

    /// Appends the samples of another batch.
    pub fn extend(&mut self, other: SampleMetrics) {
        self.clean_correct.extend(other.clean_correct);
        self.adversarial_correct.extend(other.adversarial_correct);
        self.success.extend(other.success);
        self.l0.extend(other.l0);
        self.l2.extend(other.l2);
        self.linf.extend(other.linf);
        self.targets.extend(other.targets);
    }

    /// Per sample, whether it counts for the norm statistics: classified
    /// correctly before the attack and attacked successfully.
    pub fn counted(&self) -> Vec<bool> {
        self.clean_correct
            .iter()
            .zip(&self.success)
            .map(|(c, s)| *c && *s)
            .collect()
    }

    /// The aggregate over all samples, with the attack's total `counters`.
    pub fn summary(&self, counters: Counters) -> AttackSummary {
        let n = self.len();
        let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        let trues = |v: &[bool]| v.iter().filter(|b| **b).count();
        let counted = self.counted();
        let stats = |values: &[f32]| {
            let kept: Vec<f64> = values
                .iter()
                .zip(&counted)
                .filter(|(_, c)| **c)
                .map(|(v, _)| f64::from(*v))
                .collect();
            NormStats::of(&kept)
        };
        let clean_correct = trues(&self.clean_correct);
        let successes_on_correct = trues(&counted);
        AttackSummary {
            samples: n,
            clean_correct,
            successes: trues(&self.success),
            successes_on_correct,
            clean_accuracy: share(clean_correct),
            accuracy_under_attack: share(trues(&self.adversarial_correct)),
            success_rate: share(trues(&self.success)),
            success_rate_on_correct: (clean_correct > 0)
                .then(|| successes_on_correct as f64 / clean_correct as f64),
            l0: stats(&self.l0),
            l2: stats(&self.l2),
            linf: stats(&self.linf),
            gradient_evaluations: counters.gradient_evaluations,
            model_queries: counters.model_queries,
            gradient_evaluations_per_sample: counters.gradient_evaluations as f64 / n.max(1) as f64,
            model_queries_per_sample: counters.model_queries as f64 / n.max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(NormStats::of(&[3.0, 1.0, 2.0]).median, Some(2.0));
        assert_eq!(NormStats::of(&[4.0, 1.0, 2.0, 3.0]).median, Some(2.5));
        assert_eq!(NormStats::of(&[4.0, 1.0, 2.0, 3.0]).mean, Some(2.5));
        assert_eq!(NormStats::of(&[]), NormStats::default());
    }

    #[test]
    fn norms_count_only_correct_then_fooled_samples() {
        let m = SampleMetrics {
            clean_correct: vec![true, true, false, true],
            adversarial_correct: vec![false, true, false, false],
            success: vec![true, false, true, true],
            l0: vec![10.0, 0.0, 0.0, 20.0],
            l2: vec![1.0, 9.0, 0.0, 3.0],
            linf: vec![0.1, 0.9, 0.0, 0.3],
            targets: Vec::new(),
        };
        let s = m.summary(Counters {
            gradient_evaluations: 8,
            model_queries: 12,
        });
        assert_eq!(s.samples, 4);
        assert_eq!(s.clean_accuracy, 0.75);
        assert_eq!(s.accuracy_under_attack, 0.25);
        assert_eq!(s.success_rate, 0.75);
        assert_eq!(s.success_rate_on_correct, Some(2.0 / 3.0));
        assert_eq!(s.l2.mean, Some(2.0));
        assert_eq!(s.l0.median, Some(15.0));
        assert_eq!(s.gradient_evaluations_per_sample, 2.0);
        assert_eq!(s.model_queries_per_sample, 3.0);
    }
}
