//! The Square attack as an advcomp attack plugin.
//!
//! Andriushchenko, Croce, Flammarion & Hein, *Square Attack: a
//! query-efficient black-box adversarial attack via random search*, ECCV
//! 2020 (arXiv:1912.00049), Algorithm 1 with the L∞ sampling of Algorithm 2.
//! Score-based: it reads only the model's logits, never a gradient.
//!
//! - Start from vertical stripes: every column of every channel moved by
//!   ±ε at random.
//! - Each iteration, per image, pick a random `s × s` window and set the
//!   perturbation inside it to ±ε (one random sign per channel); keep the
//!   candidate if it lowers the loss — the logit margin
//!   `Z_y − max_{j≠y} Z_j` untargeted, the cross-entropy of the target
//!   targeted (the paper's choices). Images that meet the goal stop being
//!   queried.
//! - The window covers a share `p` of the image, `s = round(√(p·h·w))`
//!   clamped to `[1, h−1]`, with the paper's schedule: `p` starts at
//!   `p_init` and halves at iterations 10, 50, 200, 500, 1000, 2000, 4000,
//!   6000 and 8000 of 10,000 (rescaled to the query budget).
//!
//! Defaults: `p_init` = 0.8 and a budget of 10,000 queries per image (the
//! paper's MNIST setting), ε = 0.3 (the MNIST L∞ budget shared by advcomp's
//! L∞ attacks). Differences from the reference code: window positions are
//! drawn per image (not one per batch) over every valid position, and a
//! window that would not change the image is not re-drawn.
//!
//! The attack registers itself as `"square"` through advcomp-attack's
//! public registry; linking this crate into a binary is all it takes (see
//! `docs/plugins.md`).

use advcomp_attack::goal::Goal;
use advcomp_attack::ops::{self, AttackRng};
use advcomp_attack::registry::{self, AttackConfig, Param, ParamType, Registration};
use advcomp_attack::{Attack, AttackContext, AttackError, Norm};
use burn::Tensor;
use burn::tensor::{Bool, Device, Int, TensorData};
use serde::{Deserialize, Serialize};

/// Square attack hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SquareConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Queries per image, the initial one included. Default 10,000.
    pub max_queries: usize,
    /// Initial share of the image a window covers. Default 0.8.
    pub p_init: f64,
    /// Seeds the stripes, windows and signs. Default 0.
    pub seed: u64,
}

impl Default for SquareConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            max_queries: 10_000,
            p_init: 0.8,
            seed: 0,
        }
    }
}

impl AttackConfig for SquareConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        Param::new(
            "max_queries",
            ParamType::COUNT,
            "queries per image, the initial one included",
        ),
        Param::new(
            "p_init",
            ParamType::SHARE,
            "initial share of the image a window covers (halved on the paper's schedule)",
        ),
        Param::new(
            "seed",
            ParamType::NATURAL,
            "seeds the stripes, windows and signs",
        ),
    ];
}

/// The window share at iteration `iteration` of `budget`: the paper's
/// piecewise-constant schedule, defined on 10,000 iterations and rescaled.
pub fn p_schedule(p_init: f64, iteration: usize, budget: usize) -> f64 {
    let it = (iteration as f64 / budget.max(1) as f64 * 10_000.0) as usize;
    let halvings = match it {
        0..=10 => 0,
        11..=50 => 1,
        51..=200 => 2,
        201..=500 => 3,
        501..=1000 => 4,
        1001..=2000 => 5,
        2001..=4000 => 6,
        4001..=6000 => 7,
        6001..=8000 => 8,
        8001..=10_000 => 9,
        _ => 0,
    };
    p_init / f64::from(1u32 << halvings)
}

/// The Square attack (L∞).
#[derive(Debug, Clone)]
pub struct Square {
    config: SquareConfig,
}

impl Square {
    /// The attack with `config`.
    pub fn new(config: SquareConfig) -> Self {
        Self { config }
    }
}

/// The loss Square lowers: the margin untargeted, the target's cross-entropy targeted.
fn loss(goal: &Goal, logits: Tensor<2>) -> Tensor<1> {
    match goal.targets() {
        Some(targets) => ops::cross_entropy(logits, targets),
        None => goal.margin(logits),
    }
}

/// `[n, 1, h, w]` masks of the `s × s` windows at `(rows[i], cols[i])`.
fn windows(
    rows: &[usize],
    cols: &[usize],
    s: usize,
    h: usize,
    w: usize,
    device: &Device,
) -> Tensor<4, Bool> {
    let n = rows.len();
    let corner = |v: &[usize]| {
        let v: Vec<i64> = v.iter().map(|&x| x as i64).collect();
        Tensor::<4, Int>::from_data(TensorData::new(v, [n, 1, 1, 1]), device).expand([n, 1, h, w])
    };
    let (top, left) = (corner(rows), corner(cols));
    let ys = Tensor::<1, Int>::arange(0..h as i64, device)
        .reshape([1, 1, h, 1])
        .expand([n, 1, h, w]);
    let xs = Tensor::<1, Int>::arange(0..w as i64, device)
        .reshape([1, 1, 1, w])
        .expand([n, 1, h, w]);
    let inside = |pos: Tensor<4, Int>, start: Tensor<4, Int>| {
        pos.clone()
            .greater_equal(start.clone())
            .bool_and(pos.lower(start.add_scalar(s as i64)))
    };
    inside(ys, top).bool_and(inside(xs, left))
}

impl Attack for Square {
    fn name(&self) -> &str {
        "square"
    }

    fn norm(&self) -> Norm {
        Norm::Linf
    }

    fn epsilon(&self) -> Option<f64> {
        Some(self.config.epsilon)
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
        let cfg = &self.config;
        let dev = context.device().clone();
        let origin = images.clone();
        let dims = origin.dims();
        let [n, c, h, w] = dims;
        let epsilon = cfg.epsilon as f32;
        let mut rng = AttackRng::new(cfg.seed);

        // Vertical stripes of ±ε.
        let stripes = rng
            .signs([n, c, 1, w], &dev)
            .mul_scalar(epsilon)
            .expand(dims);
        let mut best = (origin.clone() + stripes).clamp(0.0, 1.0);
        let logits = context.logits(best.clone());
        let mut best_loss = loss(goal, logits.clone());
        let mut done = goal.achieved(logits);

        for iteration in 0..cfg.max_queries.saturating_sub(1) {
            let Some(idx) = ops::true_indices(done.clone().bool_not()) else {
                break;
            };
            let na = idx.dims()[0];
            let share = p_schedule(cfg.p_init, iteration, cfg.max_queries);
            let side = h.min(w);
            let s = ((share * (h * w) as f64).sqrt().round() as usize)
                .clamp(1, side.saturating_sub(1).max(1));
            let rows = rng.indices(na, h - s + 1);
            let cols = rng.indices(na, w - s + 1);
            let window = windows(&rows, &cols, s, h, w, &dev).expand([na, c, h, w]);
            let signs = rng
                .signs([na, c, 1, 1], &dev)
                .mul_scalar(epsilon)
                .expand([na, c, h, w]);

            let clean = origin.clone().select(0, idx.clone());
            let current = best.clone().select(0, idx.clone());
            let delta = (current.clone() - clean.clone()).mask_where(window, signs);
            let candidate = (clean + delta).clamp(0.0, 1.0);
            let logits = context.logits(candidate.clone());
            let goal = goal.select(idx.clone());
            let candidate_loss = loss(&goal, logits.clone());
            let current_loss = best_loss.clone().select(0, idx.clone());
            let improved = candidate_loss.clone().lower(current_loss.clone());
            let gain = (candidate - current) * ops::per_sample(improved.clone().float());
            best = best + ops::scatter_rows(n, idx.clone(), gain);
            let loss_gain = (candidate_loss - current_loss) * improved.clone().float();
            best_loss = best_loss + ops::scatter_rows(n, idx.clone(), loss_gain);
            let fooled = improved.bool_and(goal.achieved(logits));
            done = done.bool_or(ops::scatter_mask(n, idx, fooled));
        }
        Ok(best)
    }
}

advcomp_attack::inventory::submit! {
    Registration {
        name: "square",
        aliases: &["square_linf"],
        norm: Norm::Linf,
        targeted: true,
        summary: "score-based random search over square windows of +-epsilon (no gradients)",
        paper: "Andriushchenko, Croce, Flammarion & Hein, Square Attack: a query-efficient black-box adversarial attack via random search, ECCV 2020",
        params: SquareConfig::PARAMS,
        defaults: registry::defaults_of::<SquareConfig>,
        canonical: registry::canonical_of::<SquareConfig>,
        // 2: the framework now confines the output to the ε-ball, which moves
        // pixels that the accumulated updates had left one ulp outside it.
        version: 2,
        build: |p| Ok(Box::new(Square::new(registry::parse(p)?))),
    }
}

#[cfg(test)]
mod tests {
    use advcomp_attack::registry::ParamError;
    use serde_json::json;

    use super::*;

    /// The declaration itself is checked with every linked registration
    /// (`advcomp-plugins`' tests); here, that the defaults parse and a value
    /// outside the declared range is refused by name.
    #[test]
    fn the_declared_ranges_apply() {
        let reg = registry::find("square").expect("the plugin registers itself");
        assert!(reg.declaration_problems().is_empty());
        assert_eq!(
            registry::parse::<SquareConfig>(&(reg.defaults)()).unwrap(),
            SquareConfig::default()
        );
        assert_eq!(
            registry::parse::<SquareConfig>(&json!({ "p_init": 0 })).unwrap_err(),
            ParamError::invalid("p_init", "must be a number in (0, 1], found `0`")
        );
    }

    #[test]
    fn the_window_share_follows_the_papers_schedule() {
        let p = |it| p_schedule(0.8, it, 10_000);
        assert_eq!(p(0), 0.8);
        assert_eq!(p(10), 0.8);
        assert_eq!(p(11), 0.4);
        assert_eq!(p(50), 0.4);
        assert_eq!(p(51), 0.2);
        assert_eq!(p(1000), 0.8 / 16.0);
        assert_eq!(p(9999), 0.8 / 512.0);
        // Rescaled to a smaller budget.
        assert_eq!(p_schedule(0.8, 5, 100), 0.8 / 8.0);
    }
}
