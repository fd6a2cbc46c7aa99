//! Shared helpers: which layers a defence may watch, keyed selections, and
//! small tensor conversions.

use advcomp_models::{ActivationRecorder, LayerKind, Network};
use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Int};
use rand::Rng;

use crate::key::Key;

/// The network's ReLU layers in forward order with their unit counts
/// (channels of feature maps, features of vectors), found with one forward
/// pass of a blank image.
pub fn relu_units(network: &Network) -> Vec<(String, usize)> {
    relu_shapes(network)
        .into_iter()
        .map(|(n, c, _)| (n, c))
        .collect()
}

/// The network's ReLU layers in forward order with their per-channel view
/// `(channels, positions)` (a feature vector has one position per feature).
pub fn relu_shapes(network: &Network) -> Vec<(String, usize, usize)> {
    let names: Vec<String> = network
        .layer_infos()
        .iter()
        .filter(|i| i.kind == LayerKind::Relu)
        .map(|i| i.name.clone())
        .collect();
    let network = network.valid();
    let device = network.device();
    let [c, h, w] = network.architecture().input_shape();
    let recorder = ActivationRecorder::only(names.iter().cloned());
    let _ = network.forward_hooked(Tensor::zeros([1, c, h, w], &device), &recorder);
    recorder
        .take()
        .into_iter()
        .map(|(name, a)| {
            let [_, c, p] = a.channels().dims();
            (name, c, p)
        })
        .collect()
}

/// Which of `layers` are selected: each independently with probability `p`,
/// at least one (drawn uniformly if none was), from the key's stream `purpose`.
pub fn select_layers(key: &Key, purpose: &str, layers: &[String], p: f64) -> Vec<String> {
    let mut rng = key.rng(purpose);
    let mut chosen: Vec<String> = layers
        .iter()
        .filter(|_| rng.random_bool(p.clamp(0.0, 1.0)))
        .cloned()
        .collect();
    if chosen.is_empty() && !layers.is_empty() {
        chosen.push(layers[rng.random_range(0..layers.len())].clone());
    }
    chosen
}

/// `round(fraction · n)` (at least 1) distinct indices of `0..n`, sorted,
/// from the key's stream `purpose`.
pub fn select_units(key: &Key, purpose: &str, n: usize, fraction: f64) -> Vec<usize> {
    let k = ((fraction.clamp(0.0, 1.0) * n as f64).round() as usize).clamp(1, n.max(1));
    let mut rng = key.rng(purpose);
    let mut idx = rand::seq::index::sample(&mut rng, n, k.min(n)).into_vec();
    idx.sort_unstable();
    idx
}

/// Indices as an `Int` tensor on `device`.
pub fn index_tensor(indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    Tensor::from_ints(v.as_slice(), device)
}

/// Values as a row `[1, n]` on `device`.
pub fn row(values: &[f32], device: &Device) -> Tensor<2> {
    Tensor::<1>::from_floats(values, device).reshape([1, values.len()])
}
