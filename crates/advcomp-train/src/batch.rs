//! Turning dataset rows into tensors, and the order they are visited in.

use advcomp_data::Dataset;
use burn::Tensor;
use burn::tensor::{Device, Int, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Images `indices` of `data` as a `[n, c, h, w]` tensor on `device`.
pub fn images(data: &Dataset, indices: &[usize], device: &Device) -> Tensor<4> {
    let s = &data.shape;
    let per = s.channels * s.height * s.width;
    let mut pixels = Vec::with_capacity(indices.len() * per);
    for &i in indices {
        pixels.extend_from_slice(data.image(i));
    }
    let shape = [indices.len(), s.channels, s.height, s.width];
    Tensor::from_data(TensorData::new(pixels, shape), device)
}

/// Labels `indices` of `data` as a `[n]` integer tensor on `device`.
pub fn labels(data: &Dataset, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = indices.iter().map(|&i| i64::from(data.labels[i])).collect();
    Tensor::from_data(TensorData::new(labels, [indices.len()]), device)
}

/// The visiting order of `n` training rows in `epoch`: a Fisher-Yates shuffle
/// driven by ChaCha8 seeded from `(seed, epoch)`, so every epoch differs and
/// every run with the same seed repeats exactly, on any platform.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_a_permutation_fixed_by_seed_and_epoch() {
        let a = epoch_order(100, 7, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(100, 7, 0));
        assert_ne!(a, epoch_order(100, 7, 1));
        assert_ne!(a, epoch_order(100, 8, 0));
    }
}
