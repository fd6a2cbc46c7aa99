//! Dynamic Network Surgery's own threshold rule (Guo, Yao & Chen, NIPS 2016;
//! Mayo's `override/prune/dns.py`), used by `prune dns { alpha: … }`.
//!
//! Per layer, with `t = mean|W| + alpha·std|W|` over the layer's weights
//! (recomputed at every update), the mask becomes
//! `M ← (M ∨ |W| > 1.1·t) ∧ (|W| > 0.9·t)`: a weight is cut once it falls to
//! `0.9·t`, spliced back once it rises above `1.1·t`, and keeps its state in
//! between. The forward pass uses `W ⊙ M` while every `W` receives its
//! gradient ([`CompressHook`](crate::hook::CompressHook)), so cut weights can
//! return. Each layer's mask is updated at iteration `i` with probability
//! `(1 + GAMMA·i)^(−POWER)`, drawn from a ChaCha8 seeded by the fine-tuning
//! seed. The density reached follows from `alpha`; it is measured, not asked.
//!
//! `prune dns { density: … }` places its thresholds around the magnitude that
//! reaches the density instead ([`surgery_update`](crate::finetune::surgery_update)).

use advcomp_models::Network;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::mask::{self, Masks};

/// A kept weight at or below `CUT·t` is cut (Guo et al.'s `0.9`).
pub const CUT: f64 = 0.9;

/// A cut weight above `SPLICE·t` is spliced back (Guo et al.'s `1.1`).
pub const SPLICE: f64 = 1.1;

/// `gamma` of the update probability `(1 + gamma·iter)^(−power)`: Guo et
/// al.'s published setting (`gamma: 0.0001`, `power: 1` in the README of
/// yiwenguo/Dynamic-Network-Surgery, the LeNet-5 example), so the
/// probability is ½ after 10,000 iterations.
pub const GAMMA: f64 = 1e-4;

/// `power` of the update probability (Guo et al.: 1).
pub const POWER: f64 = 1.0;

/// Mixed into the fine-tuning seed so the update draws are a stream of
/// their own, not the batch order's (`"DNS"`).
const STREAM: u64 = 0x0044_4e53;

/// The layer threshold `t = mean|W| + alpha·std|W|` (population standard
/// deviation of the magnitudes), computed in `f64`.
pub fn threshold(weights: &[f32], alpha: f64) -> f64 {
    if weights.is_empty() {
        return 0.0;
    }
    let n = weights.len() as f64;
    let mean = weights.iter().map(|w| f64::from(w.abs())).sum::<f64>() / n;
    let var = weights
        .iter()
        .map(|w| (f64::from(w.abs()) - mean).powi(2))
        .sum::<f64>()
        / n;
    mean + alpha * var.sqrt()
}

/// One mask update at threshold `t`: `M ← (M ∨ |W| > 1.1·t) ∧ (|W| > 0.9·t)`.
pub fn update_mask(weights: &[f32], mask: &mut [bool], t: f64) {
    for (keep, w) in mask.iter_mut().zip(weights) {
        let a = f64::from(w.abs());
        *keep = (*keep || a > SPLICE * t) && a > CUT * t;
    }
}

/// The probability that a layer's mask is updated at `iteration` (0 for
/// the update made when the pruning step runs): `(1 + GAMMA·i)^(−POWER)`,
/// 1 at the start and decreasing.
pub fn update_probability(iteration: u64) -> f64 {
    (1.0 + GAMMA * iteration as f64).powf(-POWER)
}

/// The masks when the pruning step runs: every weight kept, then one update
/// (iteration 0, probability 1), which cuts every weight at or below
/// `0.9·t`.
pub fn initial_masks(network: &Network, alpha: f64) -> Masks {
    let keep = mask::weights(network)
        .into_iter()
        .map(|(info, w)| {
            let mut m = vec![true; w.len()];
            update_mask(&w, &mut m, threshold(&w, alpha));
            (info.name, m)
        })
        .collect();
    Masks { keep }
}

/// The random side of the surgery: which layers update at which iteration.
#[derive(Debug, Clone)]
pub struct Surgery {
    alpha: f64,
    rng: ChaCha8Rng,
}

impl Surgery {
    /// Draws seeded by `seed` (the fine-tuning seed) and `start`, the
    /// iteration the fine-tuning starts at, so a second fine-tuning step
    /// continues the schedule with draws of its own.
    pub fn new(alpha: f64, seed: u64, start: u64) -> Self {
        let mix = seed
            ^ STREAM
                .wrapping_add(start)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            alpha,
            rng: ChaCha8Rng::seed_from_u64(mix),
        }
    }

    /// Whether one layer updates at `iteration`: one uniform draw `r` in
    /// `[0, 1)`, update if `r < p(iteration)` (Guo et al.: `p > r`). Every
    /// layer draws at every iteration, so the sequence of draws does not
    /// depend on the weights.
    pub fn draw(&mut self, iteration: u64) -> bool {
        self.rng.random::<f64>() < update_probability(iteration)
    }

    /// The surgery after an optimiser step: each masked weight tensor of
    /// `network`, in parameter order, draws whether it updates at
    /// `iteration` and if so gets [`update_mask`] at its own threshold.
    /// Returns whether any mask was updated.
    pub fn step(&mut self, network: &Network, masks: &mut Masks, iteration: u64) -> bool {
        let mut updated = false;
        for (info, w) in mask::weights(network) {
            let Some(current) = masks.keep.get_mut(&info.name) else {
                continue;
            };
            if self.draw(iteration) {
                update_mask(&w, current, threshold(&w, self.alpha));
                updated = true;
            }
        }
        updated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_mean_plus_alpha_std_of_magnitudes() {
        // |W| = 1, 3: mean 2, population std 1.
        assert_eq!(threshold(&[1.0, -3.0], 0.0), 2.0);
        assert_eq!(threshold(&[1.0, -3.0], 1.5), 3.5);
        assert_eq!(threshold(&[-1.0, 3.0], -0.1), 1.9);
        assert_eq!(threshold(&[0.5; 4], 1.0), 0.5);
    }

    #[test]
    fn dns_mask_update_equals_the_rule_on_hand_made_weights() {
        // |W| sums to 8 over 8 weights: t = mean|W| = 1 at alpha = 0, so
        // cut at |W| <= 0.9, splice at |W| > 1.1, hold in between.
        let w = [0.0f32, -0.5, 0.95, -0.95, 1.05, -1.05, 1.5, -2.0];
        let before = [true, false, true, false, true, false, false, true];
        let t = threshold(&w, 0.0);
        assert!((t - 1.0).abs() < 1e-6, "{t}");
        let mut mask = before;
        update_mask(&w, &mut mask, t);
        let expected = [
            false, // 0.0, kept: below 0.9t, cut
            false, // 0.5, cut: stays cut
            true,  // 0.95, kept, in the band: stays kept
            false, // 0.95, cut, in the band: stays cut
            true,  // 1.05, kept, in the band: stays kept
            false, // 1.05, cut, in the band: stays cut
            true,  // 1.5, cut: above 1.1t, spliced back
            true,  // 2.0, kept: stays kept
        ];
        assert_eq!(mask, expected);

        // With alpha: |W| = 1, 1, 3, 3 has mean 2 and std 1, so alpha = 0.5
        // gives t = 2.5, cut at <= 2.25, splice above 2.75.
        let w = [1.0f32, -1.0, 3.0, -3.0];
        let t = threshold(&w, 0.5);
        assert_eq!(t, 2.5);
        let mut mask = [true, false, false, true];
        update_mask(&w, &mut mask, t);
        assert_eq!(mask, [false, false, true, true]);

        // The band's edges (t = 30: 0.9t = 27 and 1.1t = 33 exactly):
        // exactly 0.9t is cut, exactly 1.1t is not spliced (Guo et al.'s
        // `<=` and `>`).
        assert_eq!((CUT * 30.0, SPLICE * 30.0), (27.0, 33.0));
        let mut mask = [true, false, true, false];
        update_mask(&[27.0, 33.0, 27.001, 33.001], &mut mask, 30.0);
        assert_eq!(mask, [false, false, true, true]);
    }

    #[test]
    fn update_probability_decreases_from_one() {
        assert_eq!(update_probability(0), 1.0);
        assert_eq!(update_probability(10_000), 0.5);
        let p: Vec<f64> = (0..50_000).step_by(1000).map(update_probability).collect();
        assert!(p.windows(2).all(|w| w[1] < w[0]), "{p:?}");
    }

    #[test]
    fn a_seed_fixes_the_update_draws() {
        let draws = |seed, start| {
            let mut s = Surgery::new(-0.1, seed, start);
            (0..4000u64)
                .map(|i| s.draw(10_000 + i))
                .collect::<Vec<bool>>()
        };
        assert_eq!(draws(1, 0), draws(1, 0));
        assert_ne!(draws(1, 0), draws(2, 0));
        assert_ne!(draws(1, 0), draws(1, 250));
        // Updates get rarer: at p ≈ 1 nearly every draw updates, at
        // p = 1/11 (iteration 100,000) about one in eleven.
        let mut s = Surgery::new(-0.1, 7, 0);
        let early = (0..1000).filter(|_| s.draw(1)).count();
        let late = (0..1000).filter(|_| s.draw(100_000)).count();
        assert!(early > 990, "{early}");
        assert!((50..140).contains(&late), "{late}");
    }
}
