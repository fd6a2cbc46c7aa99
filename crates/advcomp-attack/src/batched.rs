//! Running an attack over more images than fit in one batch.
//!
//! The CLI, the benchmarks and the scenario runner all attack a test set in
//! fixed-size batches and want the adversarial images, the per-sample
//! metrics and the summed cost back as one result. Batches are independent
//! (attacks never mix samples), so the result does not depend on the batch
//! size except through an attack's own random draws, which are seeded per
//! call.

use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::{Device, Int};

use crate::attack::{Attack, AttackError, Counters};
use crate::metrics::SampleMetrics;
use crate::target::TargetChoice;

/// The attack's result over a whole image set.
#[derive(Debug, Clone)]
pub struct BatchedOutput {
    /// Adversarial images, flattened `[n, c, h, w]` in row-major order.
    pub adversarial: Vec<f32>,
    /// Per-sample success, clean/adversarial correctness and norms.
    pub metrics: SampleMetrics,
    /// What every batch cost, summed.
    pub counters: Counters,
}

/// Attacks `images` (`[n, c, h, w]` in `[0,1]`) with true `labels` in
/// batches of `batch_size` (at least 1), aiming at the classes `target`
/// picks when given, calling `after_batch` with the number of images done
/// so far (for progress bars).
#[allow(clippy::too_many_arguments)]
pub fn run_batched(
    attack: &dyn Attack,
    model: &dyn Classifier,
    images: Tensor<4>,
    labels: Tensor<1, Int>,
    target: Option<TargetChoice>,
    batch_size: usize,
    device: &Device,
    after_batch: &mut dyn FnMut(usize),
) -> Result<BatchedOutput, AttackError> {
    let n = images.dims()[0];
    let batch_size = batch_size.max(1);
    let mut out = BatchedOutput {
        adversarial: Vec::new(),
        metrics: SampleMetrics::default(),
        counters: Counters::default(),
    };
    let mut start = 0;
    while start < n {
        let len = batch_size.min(n - start);
        let x = images.clone().narrow(0, start, len);
        let y = labels.clone().narrow(0, start, len);
        let targets = match target {
            Some(rule) => Some(
                rule.targets(model, x.clone(), y.clone(), start)
                    .map_err(|e| AttackError::BadInput {
                        attack: attack.name().to_string(),
                        message: e.to_string(),
                    })?,
            ),
            None => None,
        };
        let output = attack.run(model, x.clone(), y.clone(), targets.clone(), device)?;
        let mut metrics = SampleMetrics::measure(model, x, y, &output);
        if let Some(targets) = targets {
            metrics = metrics.with_targets(targets);
        }
        out.metrics.extend(metrics);
        out.counters += output.counters;
        out.adversarial
            .extend(crate::ops::host_f32(output.adversarial));
        start += len;
        after_batch(start);
    }
    Ok(out)
}
