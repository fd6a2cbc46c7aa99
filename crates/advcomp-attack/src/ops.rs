//! Batched tensor helpers shared by the attacks (and open to plugin crates).
//!
//! Everything here works on whole batches and returns per-sample tensors;
//! nothing reads the host except the `host_*` functions, which attacks call
//! only for batch-wide decisions and reports.

use burn::Tensor;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, IndexingUpdateOp, Int, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Added to norms before dividing by them.
pub const TINY: f32 = 1e-12;

/// A feature counts as changed for the L0 norm when it moved by more than
/// this. The tanh reparametrisation of C&W reconstructs untouched pixels
/// within about 5e-7; anything smaller than this is numerical noise.
pub const L0_TOLERANCE: f32 = 1e-5;

/// `[n, classes]` mask that is true at each sample's class.
pub fn class_mask(classes: Tensor<1, Int>, num_classes: usize) -> Tensor<2, Bool> {
    let n = classes.dims()[0];
    let device = classes.device();
    let columns = Tensor::<1, Int>::arange(0..num_classes as i64, &device)
        .reshape([1, num_classes])
        .expand([n, num_classes]);
    columns.equal(classes.reshape([n, 1]).expand([n, num_classes]))
}

/// Each sample's logit for its class, `[n]`.
pub fn pick(logits: Tensor<2>, classes: Tensor<1, Int>) -> Tensor<1> {
    let n = classes.dims()[0];
    logits.gather(1, classes.reshape([n, 1])).reshape([n])
}

/// Each sample's largest logit among the classes other than its own, `[n]`.
pub fn best_other(logits: Tensor<2>, classes: Tensor<1, Int>) -> Tensor<1> {
    let [n, c] = logits.dims();
    logits
        .mask_fill(class_mask(classes, c), f32::NEG_INFINITY)
        .max_dim(1)
        .reshape([n])
}

/// Per-sample cross-entropy of `logits` against `classes`, `[n]`.
pub fn cross_entropy(logits: Tensor<2>, classes: Tensor<1, Int>) -> Tensor<1> {
    pick(log_softmax(logits, 1), classes).neg()
}

/// Predicted class per sample, `[n]`.
pub fn predictions(logits: Tensor<2>) -> Tensor<1, Int> {
    let n = logits.dims()[0];
    logits.argmax(1).reshape([n])
}

/// Flattens each sample: `[n, c, h, w]` → `[n, c·h·w]`.
pub fn flat(x: Tensor<4>) -> Tensor<2> {
    x.flatten(1, 3)
}

/// Per-sample L2 norm, `[n]`.
pub fn l2_norm(x: Tensor<4>) -> Tensor<1> {
    let n = x.dims()[0];
    flat(x).square().sum_dim(1).sqrt().reshape([n])
}

/// Per-sample L1 norm, `[n]`.
pub fn l1_norm(x: Tensor<4>) -> Tensor<1> {
    let n = x.dims()[0];
    flat(x).abs().sum_dim(1).reshape([n])
}

/// Per-sample L∞ norm, `[n]`.
pub fn linf_norm(x: Tensor<4>) -> Tensor<1> {
    let n = x.dims()[0];
    flat(x).abs().max_dim(1).reshape([n])
}

/// Per-sample L0 "norm": features that moved by more than [`L0_TOLERANCE`], `[n]`.
pub fn l0_norm(x: Tensor<4>) -> Tensor<1> {
    let n = x.dims()[0];
    flat(x)
        .abs()
        .greater_elem(L0_TOLERANCE)
        .float()
        .sum_dim(1)
        .reshape([n])
}

/// A per-sample value `[n]` shaped to multiply a batch `[n, c, h, w]`.
pub fn per_sample(v: Tensor<1>) -> Tensor<4> {
    let n = v.dims()[0];
    v.reshape([n, 1, 1, 1])
}

/// A per-sample mask `[n]` broadcast to a batch of shape `dims`.
pub fn sample_mask(mask: Tensor<1, Bool>, dims: [usize; 4]) -> Tensor<4, Bool> {
    mask.reshape([dims[0], 1, 1, 1]).expand(dims)
}

/// Per sample, `new` where `mask` is true and `old` elsewhere.
pub fn where_samples(mask: Tensor<1, Bool>, new: Tensor<4>, old: Tensor<4>) -> Tensor<4> {
    let dims = old.dims();
    old.mask_where(sample_mask(mask, dims), new)
}

/// `x` clipped into the L∞ ball of radius `epsilon` around `origin` and into `[0,1]`.
pub fn clip_linf(x: Tensor<4>, origin: Tensor<4>, epsilon: f32) -> Tensor<4> {
    x.max_pair(origin.clone().sub_scalar(epsilon))
        .min_pair(origin.add_scalar(epsilon))
        .clamp(0.0, 1.0)
}

/// `delta` scaled down, per sample, to L2 norm at most `epsilon`.
pub fn project_l2(delta: Tensor<4>, epsilon: f32) -> Tensor<4> {
    let norm = l2_norm(delta.clone());
    let factor = norm
        .add_scalar(TINY)
        .recip()
        .mul_scalar(epsilon)
        .clamp_max(1.0);
    delta * per_sample(factor)
}

/// `x` projected into the L2 ball of radius `epsilon` around `origin`, then
/// clipped to `[0,1]`. Clipping only moves features towards `origin` (which
/// is in `[0,1]`), so the result stays in the ball.
pub fn clip_l2(x: Tensor<4>, origin: Tensor<4>, epsilon: f32) -> Tensor<4> {
    let delta = project_l2(x - origin.clone(), epsilon);
    (origin + delta).clamp(0.0, 1.0)
}

/// `g` divided, per sample, by its L2 norm.
pub fn normalize_l2(g: Tensor<4>) -> Tensor<4> {
    let norm = l2_norm(g.clone()).add_scalar(TINY);
    g / per_sample(norm)
}

/// Reads a float tensor to the host.
pub fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>()
        .expect("reading a tensor back from the device")
}

/// Reads a boolean tensor to the host.
pub fn host_bool<const D: usize>(t: Tensor<D, Bool>) -> Vec<bool> {
    t.int()
        .try_into_vec_as::<i64>()
        .expect("reading a tensor back from the device")
        .into_iter()
        .map(|v| v != 0)
        .collect()
}

/// Reads an integer tensor to the host.
pub fn host_i64<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.try_into_vec_as::<i64>()
        .expect("reading a tensor back from the device")
}

/// Whether any element is true (one host read).
pub fn any(t: Tensor<1, Bool>) -> bool {
    count(t) > 0
}

/// How many elements are true (one host read).
pub fn count(t: Tensor<1, Bool>) -> usize {
    t.int().sum().into_scalar::<i64>() as usize
}

/// Random numbers for attacks, seeded from the attack's configuration so that
/// a run repeats exactly on any backend (the numbers are drawn on the host
/// with ChaCha8 and uploaded).
#[derive(Debug, Clone)]
pub struct AttackRng {
    rng: ChaCha8Rng,
}

impl AttackRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The underlying generator, for draws not covered here.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Uniform values in `[low, high)` of shape `dims`.
    pub fn uniform<const D: usize>(
        &mut self,
        dims: [usize; D],
        low: f32,
        high: f32,
        device: &Device,
    ) -> Tensor<D> {
        let n = dims.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| low + (high - low) * self.rng.random::<f32>())
            .collect();
        Tensor::from_data(TensorData::new(values, dims), device)
    }

    /// Standard normal values of shape `dims` (Box–Muller).
    pub fn normal<const D: usize>(&mut self, dims: [usize; D], device: &Device) -> Tensor<D> {
        let n: usize = dims.iter().product();
        let mut values = Vec::with_capacity(n + 1);
        while values.len() < n {
            // 1 - u is in (0, 1], so the logarithm is finite.
            let u1 = 1.0 - self.rng.random::<f64>();
            let u2 = self.rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let t = std::f64::consts::TAU * u2;
            values.push((r * t.cos()) as f32);
            values.push((r * t.sin()) as f32);
        }
        values.truncate(n);
        Tensor::from_data(TensorData::new(values, dims), device)
    }

    /// `-1` or `+1` with equal probability, of shape `dims`.
    pub fn signs<const D: usize>(&mut self, dims: [usize; D], device: &Device) -> Tensor<D> {
        let n = dims.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| if self.rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        Tensor::from_data(TensorData::new(values, dims), device)
    }

    /// `n` integers drawn uniformly from `0..bound` (`bound >= 1`).
    pub fn indices(&mut self, n: usize, bound: usize) -> Vec<usize> {
        (0..n).map(|_| self.rng.random_range(0..bound)).collect()
    }

    /// A uniform random point of the L2 ball of radius `epsilon` for each
    /// sample of a batch of shape `dims` (a Gaussian direction scaled by
    /// `epsilon · u^(1/d)`).
    pub fn l2_ball(&mut self, dims: [usize; 4], epsilon: f32, device: &Device) -> Tensor<4> {
        let d = (dims[1] * dims[2] * dims[3]) as f64;
        let direction = normalize_l2(self.normal(dims, device));
        let radii: Vec<f32> = (0..dims[0])
            .map(|_| epsilon * self.rng.random::<f64>().powf(1.0 / d) as f32)
            .collect();
        let radii = Tensor::<1>::from_data(TensorData::new(radii, [dims[0]]), device);
        direction * per_sample(radii)
    }
}

/// The indices of the true entries of `mask`, or `None` when there are none
/// (one host read). Attacks use it to keep working only on the samples that
/// still need work.
pub fn true_indices(mask: Tensor<1, Bool>) -> Option<Tensor<1, Int>> {
    let indices = mask.nonzero().pop()?;
    (indices.dims()[0] > 0).then_some(indices)
}

/// A batch of `n` rows that holds `values` at rows `indices` and zeros elsewhere.
pub fn scatter_rows<const D: usize>(
    n: usize,
    indices: Tensor<1, Int>,
    values: Tensor<D>,
) -> Tensor<D> {
    let mut dims = values.dims();
    dims[0] = n;
    Tensor::<D>::zeros(dims, &values.device()).select_assign(
        0,
        indices,
        values,
        IndexingUpdateOp::Add,
    )
}

/// A mask of `n` entries, true at the `indices` where `values` is true.
pub fn scatter_mask(n: usize, indices: Tensor<1, Int>, values: Tensor<1, Bool>) -> Tensor<1, Bool> {
    scatter_rows(n, indices, values.float()).greater_elem(0.5)
}

/// The rows `indices` of a boolean tensor.
///
/// burn-flex 0.22.1 returns `select` of a boolean tensor with a `U8` dtype
/// that later boolean operations reject, so this selects an integer copy.
pub fn select_mask<const D: usize>(
    mask: Tensor<D, Bool>,
    indices: Tensor<1, Int>,
) -> Tensor<D, Bool> {
    mask.int().select(0, indices).equal_elem(1)
}
