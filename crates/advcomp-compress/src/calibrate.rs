//! Choosing fixed-point formats from weights and from activations on
//! training data.

use std::collections::BTreeMap;

use advcomp_data::Dataset;
use advcomp_models::{ActivationRecorder, LayerKind, Network};
use advcomp_train::batch;
use burn::module::Module;
use burn::tensor::Device;

use crate::config::{IntBits, QuantConfig, QuantMethod};
use crate::fixed_point::{FixedPoint, MagnitudeHistogram};

/// Images per calibration forward pass.
const BATCH: usize = 250;

/// The format of one tensor: Mayo's one split for every layer when the
/// integer bits are fixed, else the split its values call for (covering
/// them for `fixed`, within the overflow rate for `dynamic`).
fn rule(
    config: &QuantConfig,
    bits: u8,
    int_bits: IntBits,
    histogram: &MagnitudeHistogram,
) -> FixedPoint {
    match (config.method, int_bits) {
        (QuantMethod::Fixed, IntBits::Fixed(n)) => FixedPoint::with_integer_bits(bits, n),
        (QuantMethod::Fixed, IntBits::Auto) => FixedPoint::with_overflow_rate(bits, histogram, 0.0),
        (QuantMethod::Dynamic, _) => {
            FixedPoint::with_overflow_rate(bits, histogram, config.overflow_rate)
        }
    }
}

/// A format per parameter (weights and biases), from the parameter's own
/// values.
pub fn weight_formats(network: &Network, config: &QuantConfig) -> BTreeMap<String, FixedPoint> {
    network
        .params()
        .into_iter()
        .map(|(info, t)| {
            let host = t
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("float params");
            (
                info.name,
                rule(
                    config,
                    config.weight_bits,
                    config.weight_int_bits,
                    &MagnitudeHistogram::of(&host),
                ),
            )
        })
        .collect()
}

/// A format per ReLU layer, from its outputs on (at most)
/// `config.calibration_images` training images spread evenly over `train`
/// (the float network, with its current weights).
pub fn activation_formats(
    network: &Network,
    train: &Dataset,
    config: &QuantConfig,
    device: &Device,
) -> BTreeMap<String, FixedPoint> {
    let Some(bits) = config.act_bits else {
        return BTreeMap::new();
    };
    let relus: Vec<String> = network
        .layer_infos()
        .iter()
        .filter(|l| l.kind == LayerKind::Relu)
        .map(|l| l.name.clone())
        .collect();
    let device = device.clone().without_autodiff();
    let network = network.clone().valid().fork(&device);
    let rows = advcomp_train::job::spread(train.len(), config.calibration_images.min(train.len()));
    let mut histograms: BTreeMap<String, MagnitudeHistogram> = BTreeMap::new();
    for chunk in rows.chunks(BATCH) {
        let recorder = ActivationRecorder::only(relus.iter().cloned());
        let _ = network.forward_hooked(batch::images(train, chunk, &device), &recorder);
        for (name, activation) in recorder.take() {
            let host = activation
                .flatten()
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("float activations");
            histograms.entry(name).or_default().add(&host);
        }
    }
    histograms
        .into_iter()
        .map(|(name, h)| {
            let format = rule(config, bits, config.act_int_bits, &h);
            let format = if config.act_signed {
                format
            } else {
                format.unsigned()
            };
            (name, format)
        })
        .collect()
}
