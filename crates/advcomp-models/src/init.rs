//! Seeded weight initialisation, independent of the backend's RNG.
//!
//! burn seeds weight initialisation through a backend-global generator
//! (`device.seed`), which is only reproducible in a single-threaded program:
//! two networks built at once on different threads (parallel tests, a
//! scenario runner training several models) interleave their draws. So the
//! layers are built with zero weights and filled here from a ChaCha8 stream
//! per parameter, seeded by `(seed, parameter index)`. The values are drawn on
//! the host, so the same seed gives the same initial weights on every backend,
//! GPU included.

use burn::Tensor;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand::distr::{Distribution, Uniform};
use rand_chacha::ChaCha8Rng;

use crate::params::{ParamInfo, ParamKind};

/// Fan-in of the layer a parameter belongs to, given the layer's weight shape:
/// `in·kh·kw` for convolutions (`[out, in, kh, kw]`), `in` for fully
/// connected layers (`[in, out]`).
fn fan_in(weight_shape: &[usize]) -> usize {
    match weight_shape {
        [_, cin, kh, kw] => cin * kh * kw,
        [d_in, _] => *d_in,
        other => other.iter().product(),
    }
}

/// Draws the initial value of one parameter: `U(-1/√fan_in, 1/√fan_in)` for
/// weights and biases alike (Kaiming-uniform with gain 1/√3, burn's and
/// PyTorch's default for these layers).
pub(crate) fn draw(
    info: &ParamInfo,
    weight_shape: &[usize],
    seed: u64,
    index: usize,
    device: &burn::tensor::Device,
) -> Tensor<1> {
    let bound = 1.0 / (fan_in(weight_shape) as f32).sqrt();
    let dist = Uniform::new_inclusive(-bound, bound).expect("finite, ordered bounds");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64 + 1);
    let n = info.numel();
    let values: Vec<f32> = (0..n).map(|_| dist.sample(&mut rng)).collect();
    debug_assert!(matches!(info.kind, ParamKind::Weight | ParamKind::Bias));
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// A parameter id fixed by the seed and the parameter's name (FNV-1a), so a
/// checkpoint's bytes depend only on what was trained.
pub(crate) fn param_id(seed: u64, name: &str) -> burn::module::ParamId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    burn::module::ParamId::from(h)
}
