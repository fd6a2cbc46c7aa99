//! The gradient-iteration engine: one loop that FGSM, I-FGSM, IFGM, PGD,
//! MI-FGSM and the transfer-enhancing attacks (DI, TI, NI, VMI) are
//! configurations of.
//!
//! Every one of these attacks repeats the same step, from a start point
//! `x₀` (the clean image, or a random point of the ball):
//!
//! 1. the **point** where the gradient is taken: `x_t`, or Nesterov's
//!    look-ahead `x_t + α·μ·m_t` ([`Direction::Nesterov`]);
//! 2. the **gradient** `g = ∇ₓ J(T(point))` of the goal's loss, where `T`
//!    is the identity or a random resize-and-pad ([`Diversity`], DI);
//! 3. optional **filters** of `g`: a Gaussian smoothing ([`Smoothing`], TI),
//!    then variance tuning `g + v_t` ([`Variance`], VT);
//! 4. the **direction**: `sign(g)`, `g/‖g‖₂`, or the sign of a momentum
//!    accumulator `m ← μ·m + g/‖g‖₁` ([`Direction`]);
//! 5. the **projection** of `x_t + α·direction` into the ε-ball of the
//!    clean image ([`Norm::Linf`] clipping or [`Norm::L2`] rescaling) and
//!    into `[0,1]`.
//!
//! So a new member of the family is a new configuration, not a new loop,
//! and the step rules are written (and tested) once. The engine reproduces
//! the attacks it replaced bit for bit: the acceptance snapshots and the
//! shipped scenarios' numbers did not move when they moved onto it.
//!
//! Random choices (the random start, DI's transforms, VT's neighbours) come
//! from one [`AttackRng`] seeded by [`GradientIteration::seed`], drawn in
//! that order, so a run repeats exactly.

use burn::Tensor;
use burn::tensor::Int;
use burn::tensor::module::{conv2d, interpolate};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions, PadMode};
use rand::Rng;

use crate::attack::{Attack, AttackError, Norm};
use crate::context::AttackContext;
use crate::goal::Goal;
use crate::ops::{self, AttackRng};

/// Where the iteration starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the clean image (I-FGSM, IFGM, MI-FGSM, …).
    Clean,
    /// At a uniform random point of the ε-ball (PGD): uniform per feature
    /// for L∞, uniform in the ball for L2.
    Random,
}

/// How the step direction is made from the gradient estimate `g`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Direction {
    /// `sign(g)`: steepest ascent under L∞ (FGSM, I-FGSM, PGD).
    Sign,
    /// `g / ‖g‖₂` per sample: steepest ascent under L2 (IFGM, PGD L2).
    Normalised,
    /// `sign(m)` with `m ← μ·m + g/‖g‖₁`, `m₀ = 0` (MI-FGSM, Dong et al.
    /// 2018). `decay` is μ.
    Momentum {
        /// Momentum decay μ.
        decay: f64,
    },
    /// As [`Direction::Momentum`], with the gradient taken at the
    /// look-ahead point `x + α·μ·m` (NI-FGSM, Lin et al. 2020).
    Nesterov {
        /// Momentum decay μ.
        decay: f64,
    },
}

/// Input diversity (DI, Xie et al. 2019): each gradient is taken through a
/// random transform `T(x)` — with probability `probability`, the batch is
/// resized (bilinear) to a random side in `[⌊resize_rate·W⌋, W)` and
/// zero-padded at a random offset back to `W × H`; otherwise `T(x) = x`.
///
/// Xie et al. enlarge a 299-pixel ImageNet image to up to 330 pixels for a
/// network that accepts any size; a fixed-size network (LeNet-5 takes
/// exactly 28 × 28) needs the output at the input's size, so the image is
/// shrunk and padded instead, as torchattacks' `resize_rate < 1` does. One
/// transform is drawn per gradient for the whole batch, as in the
/// reference code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diversity {
    /// Probability of transforming at each gradient (paper: 0.5).
    pub probability: f64,
    /// Smallest side as a share of the image side, in `(0, 1)` (0.9).
    pub resize_rate: f64,
}

/// Translation invariance (TI, Dong et al. 2019): the gradient is convolved,
/// channel by channel, with a normalised Gaussian kernel of side
/// `kernel_size` (odd) sampled at `kernel_size` points of `[−nsig, nsig]`
/// standard deviations — the reference code's `gkern` — which is the
/// gradient of an ensemble of translated images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smoothing {
    /// Side of the kernel, odd (paper: 15, for 299-pixel images).
    pub kernel_size: usize,
    /// The kernel spans ±`nsig` standard deviations (paper: 3).
    pub nsig: f64,
}

/// Variance tuning (VT, Wang & He 2021): step `t` uses `g_t + v_t`, where
/// `v_{t+1}` is the mean gradient at `samples` points drawn uniformly from
/// the L∞ box of radius `bound·ε` around the current point, minus the
/// gradient at the point itself. The neighbours' gradients are taken in one
/// batched call of `samples × batch` images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variance {
    /// Neighbours N per step (paper: 20).
    pub samples: usize,
    /// Neighbourhood radius as a multiple β of ε (paper: 1.5).
    pub bound: f64,
}

/// One configuration of the engine. See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct GradientIteration {
    /// The ball the perturbation is projected into: L∞ or L2.
    pub norm: Norm,
    /// Its radius ε, in `[0,1]` pixel units.
    pub epsilon: f64,
    /// Step size α.
    pub step_size: f64,
    /// Iterations.
    pub steps: usize,
    /// Start point.
    pub start: Start,
    /// Step rule.
    pub direction: Direction,
    /// DI, if used.
    pub diversity: Option<Diversity>,
    /// TI, if used.
    pub smoothing: Option<Smoothing>,
    /// VT, if used.
    pub variance: Option<Variance>,
    /// Seeds every random choice.
    pub seed: u64,
}

impl GradientIteration {
    /// A plain configuration: from the clean image, `steps` steps of
    /// `step_size` by `direction`, projected into the `norm` ball of
    /// radius `epsilon`; no DI, TI or VT; seed 0.
    pub fn new(
        norm: Norm,
        epsilon: f64,
        step_size: f64,
        steps: usize,
        direction: Direction,
    ) -> Self {
        Self {
            norm,
            epsilon,
            step_size,
            steps,
            start: Start::Clean,
            direction,
            diversity: None,
            smoothing: None,
            variance: None,
            seed: 0,
        }
    }

    /// The adversarial version of `images` for `goal`, every gradient
    /// taken (and counted) through `context`. In the ball and in `[0,1]`.
    pub fn perturb(
        &self,
        context: &mut AttackContext<'_>,
        images: &Tensor<4>,
        goal: &Goal,
    ) -> Tensor<4> {
        let epsilon = self.epsilon as f32;
        let alpha = self.step_size as f32;
        let origin = images.clone();
        let dims = origin.dims();
        let device = context.device().clone();
        let mut rng = AttackRng::new(self.seed);
        let mut x = origin.clone();
        if self.start == Start::Random {
            let start = match self.norm {
                Norm::L2 => rng.l2_ball(dims, epsilon, &device),
                _ => rng.uniform(dims, -epsilon, epsilon, &device),
            };
            x = self.project(x + start, &origin);
        }
        let kernel = self.smoothing.map(|s| s.kernel(dims[1], &device));
        let mut momentum = x.zeros_like();
        let mut variance = x.zeros_like();
        for _ in 0..self.steps {
            let point = match self.direction {
                Direction::Nesterov { decay } => {
                    x.clone() + momentum.clone().mul_scalar(alpha * decay as f32)
                }
                _ => x.clone(),
            };
            let mut gradient = self.gradient(context, point.clone(), goal, &mut rng);
            if let Some(kernel) = &kernel {
                gradient = smooth(gradient, kernel.clone());
            }
            if let Some(vt) = self.variance {
                let tuned = gradient.clone() + variance;
                variance = vt.mean_gradient(context, point, goal, epsilon, &mut rng) - gradient;
                gradient = tuned;
            }
            let step = match self.direction {
                Direction::Sign => gradient.sign(),
                Direction::Normalised => ops::normalize_l2(gradient),
                Direction::Momentum { decay } | Direction::Nesterov { decay } => {
                    let l1 = ops::l1_norm(gradient.clone()).add_scalar(ops::TINY);
                    momentum = momentum.mul_scalar(decay as f32) + gradient / ops::per_sample(l1);
                    momentum.clone().sign()
                }
            };
            x = self.project(x + step.mul_scalar(alpha), &origin);
        }
        x
    }

    /// `x` projected into the ball around `origin` and into `[0,1]`.
    fn project(&self, x: Tensor<4>, origin: &Tensor<4>) -> Tensor<4> {
        let epsilon = self.epsilon as f32;
        match self.norm {
            Norm::L2 => ops::clip_l2(x, origin.clone(), epsilon),
            _ => ops::clip_linf(x, origin.clone(), epsilon),
        }
    }

    /// `∇ₓ J(T(x))` per sample, `T` being DI's transform when drawn.
    fn gradient(
        &self,
        context: &mut AttackContext<'_>,
        x: Tensor<4>,
        goal: &Goal,
        rng: &mut AttackRng,
    ) -> Tensor<4> {
        let transform = self.diversity.and_then(|d| d.draw(x.dims(), rng));
        match transform {
            None => {
                let (_, gradient) = context.gradient(x, |logits| goal.loss(logits).sum());
                gradient
            }
            Some(transform) => {
                let (gradient, ()) = context.gradient_of(x, |model, leaf| {
                    let logits = model.logits(transform.apply(leaf));
                    (goal.loss(logits).sum(), ())
                });
                gradient
            }
        }
    }
}

/// One drawn DI transform: shrink to `side`, pad at `(top, left)`.
#[derive(Debug, Clone, Copy)]
struct Resize {
    side: [usize; 2],
    top: usize,
    left: usize,
}

impl Diversity {
    /// Draws the transform of one gradient for images of shape `dims`, or
    /// `None` (identity) with probability `1 − probability` or when the
    /// image is too small to shrink.
    fn draw(&self, dims: [usize; 4], rng: &mut AttackRng) -> Option<Resize> {
        let [_, _, h, w] = dims;
        let apply = rng.rng().random::<f64>() < self.probability;
        let low = (w as f64 * self.resize_rate) as usize;
        if !apply || low == 0 || low >= w {
            return None;
        }
        let side_w = rng.rng().random_range(low..w);
        // Non-square images keep their aspect ratio.
        let side_h = ((h * side_w + w / 2) / w).clamp(1, h);
        let top = if side_h < h {
            rng.rng().random_range(0..h - side_h)
        } else {
            0
        };
        let left = rng.rng().random_range(0..w - side_w);
        Some(Resize {
            side: [side_h, side_w],
            top,
            left,
        })
    }
}

impl Resize {
    /// `x` (`[n, c, h, w]`) shrunk and zero-padded back to `h × w`.
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let options = InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(false)
            .with_output_size(self.side);
        let [side_h, side_w] = self.side;
        interpolate(x, options).pad(
            (
                self.left,
                w - side_w - self.left,
                self.top,
                h - side_h - self.top,
            ),
            PadMode::Constant(0.0),
        )
    }
}

impl Smoothing {
    /// The depthwise kernel `[channels, 1, k, k]`: the outer product of a
    /// Gaussian sampled at `k` points of `[−nsig, nsig]`, summing to 1.
    pub fn kernel(&self, channels: usize, device: &burn::tensor::Device) -> Tensor<4> {
        let k = self.kernel_size;
        let profile: Vec<f64> = (0..k)
            .map(|i| {
                let t = if k == 1 {
                    0.0
                } else {
                    -self.nsig + 2.0 * self.nsig * i as f64 / (k - 1) as f64
                };
                (-0.5 * t * t).exp()
            })
            .collect();
        let total: f64 = profile.iter().sum::<f64>().powi(2);
        let mut values = Vec::with_capacity(channels * k * k);
        for _ in 0..channels {
            for a in &profile {
                for b in &profile {
                    values.push((a * b / total) as f32);
                }
            }
        }
        Tensor::from_data(
            burn::tensor::TensorData::new(values, [channels, 1, k, k]),
            device,
        )
    }
}

/// `gradient` convolved channel by channel with `kernel` (same size out).
fn smooth(gradient: Tensor<4>, kernel: Tensor<4>) -> Tensor<4> {
    let [channels, _, k, _] = kernel.dims();
    let pad = k / 2;
    conv2d(
        gradient,
        kernel,
        None,
        ConvOptions::new([1, 1], [pad, pad], [1, 1], channels),
    )
}

impl Variance {
    /// The mean gradient at `samples` uniform neighbours of `point` within
    /// `bound·ε` (L∞), per sample.
    fn mean_gradient(
        &self,
        context: &mut AttackContext<'_>,
        point: Tensor<4>,
        goal: &Goal,
        epsilon: f32,
        rng: &mut AttackRng,
    ) -> Tensor<4> {
        let [n, c, h, w] = point.dims();
        let k = self.samples;
        let radius = self.bound as f32 * epsilon;
        let device = context.device().clone();
        let replicated = point
            .reshape([1, n, c, h, w])
            .expand([k, n, c, h, w])
            .reshape([k * n, c, h, w]);
        let noise = rng.uniform([k * n, c, h, w], -radius, radius, &device);
        let rows = Tensor::<1, Int>::arange(0..n as i64, &device)
            .reshape([1, n])
            .expand([k, n])
            .reshape([k * n]);
        let goals = goal.select(rows);
        let (_, gradient) = context.gradient(replicated + noise, |logits| goals.loss(logits).sum());
        gradient
            .reshape([k, n, c, h, w])
            .mean_dim(0)
            .reshape([n, c, h, w])
    }
}

/// An attack that is one configuration of the engine, under its registry
/// name. Every member of the family is this type; what differs is the
/// [`GradientIteration`] its configuration builds.
#[derive(Debug, Clone)]
pub struct IterativeAttack {
    name: &'static str,
    engine: GradientIteration,
}

impl IterativeAttack {
    /// The attack `name` running `engine`.
    pub fn new(name: &'static str, engine: GradientIteration) -> Self {
        Self { name, engine }
    }

    /// Its configuration of the engine.
    pub fn engine(&self) -> &GradientIteration {
        &self.engine
    }
}

impl Attack for IterativeAttack {
    fn name(&self) -> &str {
        self.name
    }

    fn norm(&self) -> Norm {
        self.engine.norm
    }

    fn epsilon(&self) -> Option<f64> {
        Some(self.engine.epsilon)
    }

    fn supports_targeted(&self) -> bool {
        true
    }

    fn perturb(
        &self,
        context: &mut AttackContext<'_>,
        images: &Tensor<4>,
        goal: &Goal,
    ) -> Result<Tensor<4>, AttackError> {
        Ok(self.engine.perturb(context, images, goal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smoothing_kernel_is_a_normalised_symmetric_gaussian() {
        let device =
            advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("CPU backend");
        let kernel = Smoothing {
            kernel_size: 5,
            nsig: 3.0,
        }
        .kernel(2, &device);
        assert_eq!(kernel.dims(), [2, 1, 5, 5]);
        let v = ops::host_f32(kernel);
        let first: f32 = v[..25].iter().sum();
        assert!((first - 1.0).abs() < 1e-6, "sums to {first}");
        assert_eq!(v[..25], v[25..], "every channel gets the same kernel");
        // Symmetric, peaked in the centre, decreasing outwards.
        assert_eq!(v[0], v[24]);
        assert_eq!(v[2], v[22]);
        assert!(v[12] > v[7] && v[7] > v[2]);
    }

    #[test]
    fn a_drawn_resize_stays_inside_the_image() {
        let diversity = Diversity {
            probability: 1.0,
            resize_rate: 0.9,
        };
        let mut rng = AttackRng::new(3);
        for _ in 0..200 {
            let r = diversity.draw([1, 1, 28, 28], &mut rng).expect("p = 1");
            assert!((25..28).contains(&r.side[1]) && r.side[0] == r.side[1]);
            assert!(r.top + r.side[0] < 28 && r.left + r.side[1] < 28);
        }
        let never = Diversity {
            probability: 0.0,
            resize_rate: 0.9,
        };
        assert!(never.draw([1, 1, 28, 28], &mut rng).is_none());
    }
}
