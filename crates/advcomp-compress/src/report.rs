//! The compression report: per layer what is left and at what precision,
//! Distiller-style, plus accuracy before and after.

use std::fmt::Write as _;

use advcomp_models::{LayerKind, ParamKind};
use serde::{Deserialize, Serialize};

use crate::config::Step;
use crate::model::CompressedModel;
use crate::registry::CompressorKind;

/// One parametrised layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// Layer name (`conv1`).
    pub layer: String,
    /// Weight shape.
    pub shape: Vec<usize>,
    /// Weights (biases excluded).
    pub weights: usize,
    /// Non-zero weights.
    pub nonzeros: usize,
    /// `nonzeros / weights`.
    pub density: f64,
    /// Weight format (`Q2.6`), when quantised.
    pub weight_format: Option<String>,
    /// Weight bitwidth (32 = float).
    pub weight_bits: u8,
    /// Bias format, when quantised.
    pub bias_format: Option<String>,
    /// Format of the ReLU that follows the layer, when quantised.
    pub act_format: Option<String>,
    /// Activation bitwidth (32 = float).
    pub act_bits: u8,
}

/// Test accuracy along the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// The model the pipeline started from.
    pub original: f64,
    /// Compressed, before any fine-tuning step.
    pub compressed: f64,
    /// After the whole pipeline (equal to `compressed` with no fine-tuning).
    pub finetuned: f64,
}

/// What a pipeline produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressionReport {
    /// The steps, as run.
    pub steps: Vec<Step>,
    /// Per parametrised layer, in forward order.
    pub layers: Vec<LayerReport>,
    /// All weights (biases excluded).
    pub weights: usize,
    /// Non-zero weights.
    pub nonzeros: usize,
    /// Overall weight density.
    pub density: f64,
    /// Dense storage of all parameters (weights and biases) in bits at their
    /// bitwidths (32 for float).
    pub size_bits: u64,
    /// Storage of the non-zero parameters only, in bits (sparse storage
    /// without index overhead, a lower bound).
    pub nonzero_size_bits: u64,
    /// Test accuracy.
    pub accuracy: Accuracy,
    /// Test images the accuracies are measured on.
    pub test_images: usize,
}

impl CompressionReport {
    /// Measures `model` (after `steps`) with the given accuracies.
    pub fn measure(
        model: &CompressedModel,
        steps: &[Step],
        accuracy: Accuracy,
        test_images: usize,
    ) -> Self {
        let quant = model.state.quant.as_ref();
        let mut layers: Vec<LayerReport> = Vec::new();
        let (mut size_bits, mut nonzero_size_bits) = (0u64, 0u64);
        for (info, t) in model.network.params() {
            let host = t
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("float params");
            let nonzeros = host.iter().filter(|v| **v != 0.0).count();
            let format = quant
                .and_then(|q| q.weight_formats.get(&info.name))
                .copied();
            // A plugin quantiser stores its values in its own bits; a
            // plugin pruning keeps them float.
            let projected = model
                .state
                .projections
                .iter()
                .find(|p| p.kind() == CompressorKind::Quantise && p.applies_to(&info));
            let bits = match (projected, format) {
                (Some(p), _) => p.bits(),
                (None, Some(f)) => f.bits,
                (None, None) => 32,
            };
            let format_name = match projected {
                Some(p) => Some(p.name().to_string()),
                None => format.map(|f| f.notation()),
            };
            size_bits += host.len() as u64 * u64::from(bits);
            nonzero_size_bits += nonzeros as u64 * u64::from(bits);
            match info.kind {
                ParamKind::Weight => layers.push(LayerReport {
                    layer: info.layer.clone(),
                    shape: info.shape.clone(),
                    weights: host.len(),
                    nonzeros,
                    density: ratio(nonzeros, host.len()),
                    weight_format: format_name,
                    weight_bits: bits,
                    bias_format: None,
                    act_format: None,
                    act_bits: 32,
                }),
                ParamKind::Bias => {
                    if let Some(row) = layers.iter_mut().rev().find(|r| r.layer == info.layer) {
                        row.bias_format = format_name;
                    }
                }
            }
        }
        // Each ReLU's format belongs to the parametrised layer before it.
        let mut last: Option<String> = None;
        for l in model.network.layer_infos() {
            if l.kind.has_params() {
                last = Some(l.name.clone());
            } else if l.kind == LayerKind::Relu
                && let (Some(layer), Some(f)) =
                    (&last, quant.and_then(|q| q.act_formats.get(&l.name)))
                && let Some(row) = layers.iter_mut().find(|r| &r.layer == layer)
            {
                row.act_format = Some(f.notation());
                row.act_bits = f.bits;
            }
        }
        let weights = layers.iter().map(|l| l.weights).sum();
        let nonzeros = layers.iter().map(|l| l.nonzeros).sum();
        Self {
            steps: steps.to_vec(),
            layers,
            weights,
            nonzeros,
            density: ratio(nonzeros, weights),
            size_bits,
            nonzero_size_bits,
            accuracy,
            test_images,
        }
    }

    /// A plain-text per-layer table in the spirit of Distiller's sparsity
    /// summary, followed by totals and accuracy.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:>9} {:>9} {:>8} {:>6} {:>8} {:>8} {:>6} {:>8}",
            "layer",
            "shape",
            "weights",
            "nonzero",
            "density",
            "w bits",
            "w fmt",
            "b fmt",
            "a bits",
            "a fmt"
        );
        for l in &self.layers {
            let shape = l
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x");
            let _ = writeln!(
                out,
                "{:<8} {:<16} {:>9} {:>9} {:>8.4} {:>6} {:>8} {:>8} {:>6} {:>8}",
                l.layer,
                shape,
                l.weights,
                l.nonzeros,
                l.density,
                l.weight_bits,
                l.weight_format.as_deref().unwrap_or("float"),
                l.bias_format.as_deref().unwrap_or("float"),
                l.act_bits,
                l.act_format.as_deref().unwrap_or("float"),
            );
        }
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:>9} {:>9} {:>8.4}",
            "total", "", self.weights, self.nonzeros, self.density
        );
        let _ = writeln!(
            out,
            "size: {} bits dense, {} bits non-zero ({:.1} KiB / {:.1} KiB)",
            self.size_bits,
            self.nonzero_size_bits,
            self.size_bits as f64 / 8192.0,
            self.nonzero_size_bits as f64 / 8192.0
        );
        let _ = writeln!(
            out,
            "accuracy on {} test images: original {:.4}, compressed {:.4}, fine-tuned {:.4}",
            self.test_images,
            self.accuracy.original,
            self.accuracy.compressed,
            self.accuracy.finetuned
        );
        out
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
