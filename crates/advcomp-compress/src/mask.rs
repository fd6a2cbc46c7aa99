//! Pruning masks: which weights of each layer survive.
//!
//! Masks are computed on the host (a sort of a few hundred thousand
//! magnitudes is negligible next to a training step) and applied on the
//! device by element-wise multiplication, so a masked weight is exactly
//! `0.0`, not merely small.

use std::collections::BTreeMap;

use advcomp_models::{Network, ParamInfo, ParamKind};
use burn::Tensor;

/// Per-parameter keep masks, by parameter name (`conv1.weight`), in the
/// flattened order of [`Network::params`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Masks {
    /// `true` keeps the weight.
    pub keep: BTreeMap<String, Vec<bool>>,
}

impl Masks {
    /// Number of weights `count` out of `n` that a density keeps: rounded to
    /// the nearest integer, and at least one (a layer with no weight would
    /// disconnect the network).
    pub fn kept_count(density: f64, n: usize) -> usize {
        ((density * n as f64).round() as usize).clamp(1.min(n), n)
    }

    /// The mask of `name`, if the parameter is masked.
    pub fn get(&self, name: &str) -> Option<&[bool]> {
        self.keep.get(name).map(Vec::as_slice)
    }

    /// Multiplies every masked parameter of `network` by its mask.
    pub fn apply(&self, network: Network) -> Network {
        network.map_params(&mut |info, value| match self.get(&info.name) {
            Some(mask) => {
                let m = mask_tensor(mask, &value);
                value * m
            }
            None => value,
        })
    }
}

/// The mask as a 0/1 float tensor on `like`'s device.
pub fn mask_tensor(mask: &[bool], like: &Tensor<1>) -> Tensor<1> {
    let ones: Vec<f32> = mask.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
    Tensor::<1>::from_floats(ones.as_slice(), &like.device())
}

/// Keeps the `keep` largest magnitudes of `values` (ties broken by position,
/// so the count is exact and the choice deterministic).
pub fn top_magnitudes(values: &[f32], keep: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()).then(a.cmp(&b)));
    let mut mask = vec![false; values.len()];
    for &i in order.iter().take(keep) {
        mask[i] = true;
    }
    mask
}

/// Keeps exactly `keep` weights: those `prefer` marks first, by magnitude,
/// then the largest of the rest. Ends Dynamic Network Surgery at exactly the
/// requested density while disturbing its final masks as little as possible.
pub fn top_preferring(values: &[f32], prefer: &[bool], keep: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| {
        prefer[b]
            .cmp(&prefer[a])
            .then(values[b].abs().total_cmp(&values[a].abs()))
            .then(a.cmp(&b))
    });
    let mut mask = vec![false; values.len()];
    for &i in order.iter().take(keep) {
        mask[i] = true;
    }
    mask
}

/// Every weight (not bias) tensor of conv and linear layers, on the host.
pub fn weights(network: &Network) -> Vec<(ParamInfo, Vec<f32>)> {
    network
        .params()
        .into_iter()
        .filter(|(info, _)| info.kind == ParamKind::Weight)
        .map(|(info, t)| {
            let host = t
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("weights are float");
            (info, host)
        })
        .collect()
}

/// Per layer, the largest magnitudes at `density`.
pub fn magnitude_per_layer(network: &Network, density: f64) -> Masks {
    let keep = weights(network)
        .into_iter()
        .map(|(info, w)| {
            let k = Masks::kept_count(density, w.len());
            (info.name, top_magnitudes(&w, k))
        })
        .collect();
    Masks { keep }
}

/// One magnitude threshold for the whole network at `density` overall
/// (Han et al.'s global variant): layers with larger weights keep more.
pub fn magnitude_global(network: &Network, density: f64) -> Masks {
    let layers = weights(network);
    let all: Vec<f32> = layers.iter().flat_map(|(_, w)| w.iter().copied()).collect();
    let flat = top_magnitudes(&all, Masks::kept_count(density, all.len()));
    let mut keep = BTreeMap::new();
    let mut start = 0;
    for (info, w) in layers {
        keep.insert(info.name, flat[start..start + w.len()].to_vec());
        start += w.len();
    }
    Masks { keep }
}

/// Li et al.'s structured pruning: per layer, keep the `density` share of
/// output units (convolution filters, fully connected neurons) with the
/// largest L1 norm and zero the rest, weights and bias. The classifier
/// layer (the last one) is left whole: removing a class's output unit would
/// remove the class.
pub fn filters_by_l1(network: &Network, density: f64) -> Masks {
    let params = network.params();
    let last_layer = params.iter().map(|(i, _)| i.layer_index).max();
    let mut keep = BTreeMap::new();
    let mut kept_units: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for (info, w) in weights(network) {
        if Some(info.layer_index) == last_layer {
            continue;
        }
        let (units, unit_of): (usize, Box<dyn Fn(usize) -> usize>) = match info.shape.as_slice() {
            // Convolution `[out, in, kh, kw]`: filter = leading index.
            [out, rest @ ..] if info.shape.len() == 4 => {
                let per: usize = rest.iter().product();
                (*out, Box::new(move |i| i / per))
            }
            // Fully connected `[in, out]`: neuron = column.
            [_, out] => {
                let out = *out;
                (out, Box::new(move |i| i % out))
            }
            _ => continue,
        };
        let mut l1 = vec![0f32; units];
        for (i, v) in w.iter().enumerate() {
            l1[unit_of(i)] += v.abs();
        }
        let units_kept = top_magnitudes(&l1, Masks::kept_count(density, units));
        keep.insert(
            info.name.clone(),
            (0..w.len()).map(|i| units_kept[unit_of(i)]).collect(),
        );
        kept_units.insert(info.layer.clone(), units_kept);
    }
    for (info, _) in &params {
        if info.kind == ParamKind::Bias
            && let Some(units) = kept_units.get(&info.layer)
        {
            keep.insert(info.name.clone(), units.clone());
        }
    }
    Masks { keep }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_magnitudes_is_exact_with_ties() {
        let v = [0.5, -0.5, 0.5, 0.1, -0.9];
        assert_eq!(top_magnitudes(&v, 2), [true, false, false, false, true]);
        assert_eq!(top_magnitudes(&v, 0), [false; 5]);
        assert_eq!(top_magnitudes(&v, 5), [true; 5]);
    }

    #[test]
    fn kept_count_rounds_and_keeps_one() {
        assert_eq!(Masks::kept_count(0.5, 11), 6);
        assert_eq!(Masks::kept_count(0.0001, 100), 1);
        assert_eq!(Masks::kept_count(1.0, 7), 7);
        assert_eq!(Masks::kept_count(0.5, 0), 0);
    }
}
