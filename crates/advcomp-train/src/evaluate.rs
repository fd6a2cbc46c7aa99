//! Accuracy, per-class accuracy and loss on a labelled set.

use advcomp_data::Dataset;
use advcomp_models::Classifier;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Device;

use crate::batch;

/// How well a classifier does on a dataset.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Images evaluated.
    pub total: usize,
    /// Images classified correctly.
    pub correct: usize,
    /// `correct / total`.
    pub accuracy: f64,
    /// Mean cross-entropy loss.
    pub loss: f64,
    /// Accuracy on the images of each true class (NaN-free: a class with no
    /// images scores 0 and has a count of 0 in `per_class_total`).
    pub per_class_accuracy: Vec<f64>,
    /// Images of each true class.
    pub per_class_total: Vec<usize>,
}

/// Evaluates `classifier` on all of `data`, `batch_size` images at a time.
///
/// Works on any device; call it with a model in validation mode (`valid()`)
/// on a plain device to skip building an autodiff graph.
pub fn evaluate(
    classifier: &dyn Classifier,
    data: &Dataset,
    device: &Device,
    batch_size: usize,
) -> Evaluation {
    let classes = classifier.num_classes();
    let mut per_class_total = vec![0usize; classes];
    let mut per_class_correct = vec![0usize; classes];
    let mut loss_sum = 0.0f64;
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let images = batch::images(data, chunk, device);
        let targets = batch::labels(data, chunk, device);
        let logits = classifier.logits(images);
        let loss = loss_fn
            .forward(logits.clone(), targets)
            .into_scalar::<f32>();
        loss_sum += f64::from(loss) * chunk.len() as f64;
        let predicted = logits
            .argmax(1)
            .into_data()
            .try_into_vec_as::<i64>()
            .expect("argmax yields integers");
        for (&i, &p) in chunk.iter().zip(&predicted) {
            let truth = usize::from(data.labels[i]);
            per_class_total[truth] += 1;
            if p as usize == truth {
                per_class_correct[truth] += 1;
            }
        }
    }
    let total = data.len();
    let correct = per_class_correct.iter().sum();
    Evaluation {
        total,
        correct,
        accuracy: ratio(correct, total),
        loss: if total == 0 {
            0.0
        } else {
            loss_sum / total as f64
        },
        per_class_accuracy: per_class_correct
            .iter()
            .zip(&per_class_total)
            .map(|(&c, &t)| ratio(c, t))
            .collect(),
        per_class_total,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
