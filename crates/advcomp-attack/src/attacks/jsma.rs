//! Jacobian-based Saliency Map Attack (L0).
//!
//! Papernot, McDaniel, Jha, Fredrikson, Celik & Swami, *The Limitations of
//! Deep Learning in Adversarial Settings*, IEEE EuroS&P 2016
//! (arXiv:1511.07528), Algorithms 2–3 (the pairwise saliency map). Each
//! iteration takes the forward derivative for the target class `t`,
//! `α_i = ∂Z_t/∂x_i` and `β_i = Σ_{j≠t} ∂Z_j/∂x_i`, and among pairs of
//! features `(p, q)` still in the search domain picks the one maximising
//! `|α_p + α_q| · |β_p + β_q|` with `θ · (α_p + α_q) > 0` and
//! `θ · (β_p + β_q) < 0`; both features move by θ (clipped to `[0,1]`) and
//! leave the search domain. It stops when the goal is met, no admissible
//! pair is left, or after `⌊γ · d / 2⌋` iterations, so at most `⌊γ · d⌋` of
//! the `d` input features change.
//!
//! Defaults (the paper's MNIST setting): θ = +1 (features are increased to
//! the maximum), γ = 0.1 (at most 10% of the features). Derivatives are of
//! the logits Z (the "JSMA-Z" of Carlini & Wagner 2017). Targeted as in the
//! paper; untargeted runs aim at the clean image's most likely class other
//! than the true label and stop at any misclassification.
//!
//! The pair search holds a `d × d` score matrix per sample, so the batch is
//! processed in chunks of at most `2²³ / d²` samples (13 for MNIST).

use burn::Tensor;
use burn::tensor::{Bool, Int};
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, AttackError, Norm};
use crate::context::AttackContext;
use crate::goal::Goal;
use crate::ops;
use crate::registry::{self, AttackConfig, Param, ParamError, ParamType, Registration};

/// Score-matrix elements per chunk of samples.
const CHUNK_ELEMENTS: usize = 1 << 23;

/// JSMA hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsmaConfig {
    /// θ: how much a selected feature moves (positive: increase). Default 1.0.
    pub theta: f64,
    /// γ: the largest share of features that may change. Default 0.1.
    pub gamma: f64,
}

impl Default for JsmaConfig {
    fn default() -> Self {
        Self {
            theta: 1.0,
            gamma: 0.1,
        }
    }
}

impl AttackConfig for JsmaConfig {
    const PARAMS: &'static [Param] = &[
        Param::new(
            "theta",
            ParamType::between(-1.0, 1.0),
            "change applied to each selected feature (positive: increase)",
        ),
        Param::new(
            "gamma",
            ParamType::UNIT,
            "largest share of features that may change",
        ),
    ];

    /// `theta` must also not be 0, which its type cannot say.
    fn validate(&self) -> Result<(), ParamError> {
        if self.theta == 0.0 {
            return Err(ParamError::invalid("theta", "must not be 0"));
        }
        Ok(())
    }
}

/// The JSMA attack.
#[derive(Debug, Clone)]
pub struct Jsma {
    config: JsmaConfig,
}

impl Jsma {
    /// JSMA with `config`.
    pub fn new(config: JsmaConfig) -> Self {
        Self { config }
    }

    /// The most features this configuration changes in an image of `d` features.
    pub fn max_changed(&self, d: usize) -> usize {
        2 * self.iterations(d)
    }

    fn iterations(&self, d: usize) -> usize {
        (self.config.gamma * d as f64 / 2.0).floor() as usize
    }
}

impl Attack for Jsma {
    fn name(&self) -> &str {
        "jsma"
    }

    fn norm(&self) -> Norm {
        Norm::L0
    }

    /// `None`: the L0 budget is `⌊γ · d⌋` features, which depends on the
    /// image size ([`Jsma::max_changed`]).
    fn epsilon(&self) -> Option<f64> {
        None
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
        let [n, c, h, w] = images.dims();
        let d = c * h * w;
        let classes = goal.num_classes();
        let clean = context.logits(images.clone());
        let active = goal.achieved(clean.clone()).bool_not();
        let target = goal.targets().unwrap_or_else(|| {
            let n = clean.dims()[0];
            clean
                .mask_fill(ops::class_mask(goal.labels(), classes), f32::NEG_INFINITY)
                .argmax(1)
                .reshape([n])
        });
        let chunk = (CHUNK_ELEMENTS / (d * d)).max(1);
        let mut parts = Vec::new();
        for start in (0..n).step_by(chunk) {
            let end = (start + chunk).min(n);
            let rows = Tensor::<1, Int>::arange(start as i64..end as i64, context.device());
            parts.push(self.chunk(
                context,
                images.clone().select(0, rows.clone()),
                &goal.select(rows.clone()),
                target.clone().select(0, rows.clone()),
                ops::select_mask(active.clone(), rows),
            ));
        }
        Ok(Tensor::cat(parts, 0))
    }
}

impl Jsma {
    /// Runs the attack on one chunk of samples.
    fn chunk(
        &self,
        context: &mut AttackContext<'_>,
        origin: Tensor<4>,
        goal: &Goal,
        target: Tensor<1, Int>,
        mut active: Tensor<1, Bool>,
    ) -> Tensor<4> {
        let dims = origin.dims();
        let [n, c, h, w] = dims;
        let d = c * h * w;
        let classes = goal.num_classes();
        let theta = self.config.theta as f32;
        let device = origin.device();
        let mut x = ops::flat(origin);
        // The search domain: features that can still move in θ's direction.
        let mut domain = if theta > 0.0 {
            x.clone().lower_elem(1.0)
        } else {
            x.clone().greater_elem(0.0)
        };
        let columns = Tensor::<1, Int>::arange(0..d as i64, &device);
        let diagonal = columns
            .clone()
            .reshape([d, 1])
            .expand([d, d])
            .equal(columns.clone().reshape([1, d]).expand([d, d]));
        for _ in 0..self.iterations(d) {
            let Some(idx) = ops::true_indices(active.clone()) else {
                break;
            };
            let na = idx.dims()[0];
            let xa = x.clone().select(0, idx.clone());
            let ta = target.clone().select(0, idx.clone());
            // Two Jacobian rows in one backward pass: replica 0 gives ∂Z_t/∂x,
            // replica 1 gives ∂(Σ_j Z_j)/∂x.
            let images = xa.clone().reshape([na, c, h, w]);
            let twice = Tensor::cat(vec![images.clone(), images], 0);
            let tt = ta.clone();
            let (logits, grad) = context.gradient(twice, move |z| {
                let own = ops::pick(z.clone().slice([0..na, 0..classes]), tt).sum();
                own + z.slice([na..2 * na, 0..classes]).sum()
            });
            let grad = ops::flat(grad);
            let alpha = grad.clone().slice([0..na, 0..d]);
            let beta = grad.slice([na..2 * na, 0..d]) - alpha.clone();
            let still = goal
                .select(idx.clone())
                .achieved(logits.slice([0..na, 0..classes]))
                .bool_not();

            let pair = |v: Tensor<2>| {
                v.clone().reshape([na, d, 1]).expand([na, d, d])
                    + v.reshape([na, 1, d]).expand([na, d, d])
            };
            let (a, b) = (pair(alpha).mul_scalar(theta), pair(beta).mul_scalar(theta));
            let dom = ops::select_mask(domain.clone(), idx.clone());
            let admissible = dom
                .clone()
                .reshape([na, d, 1])
                .expand([na, d, d])
                .bool_and(dom.reshape([na, 1, d]).expand([na, d, d]))
                .bool_and(
                    diagonal
                        .clone()
                        .reshape([1, d, d])
                        .expand([na, d, d])
                        .bool_not(),
                )
                .bool_and(a.clone().greater_elem(0.0))
                .bool_and(b.clone().lower_elem(0.0));
            let score = (a * b)
                .neg()
                .mask_fill(admissible.bool_not(), -1.0)
                .reshape([na, d * d]);
            let (best, at) = score.max_dim_with_indices(1);
            let go = still.bool_and(best.reshape([na]).greater_elem(0.0));
            let first = at.clone().div_scalar(d as i64);
            let second = at.remainder_scalar(d as i64);
            let cols = columns.clone().reshape([1, d]).expand([na, d]);
            let change = cols
                .clone()
                .equal(first.expand([na, d]))
                .bool_or(cols.equal(second.expand([na, d])))
                .bool_and(go.clone().reshape([na, 1]).expand([na, d]));
            let moved = (xa.clone() + change.clone().float().mul_scalar(theta)).clamp(0.0, 1.0);
            x = x + ops::scatter_rows(n, idx.clone(), moved - xa);
            let changed = ops::scatter_rows(n, idx.clone(), change.float()).greater_elem(0.5);
            domain = domain.bool_and(changed.bool_not());
            active = ops::scatter_mask(n, idx, go);
        }
        x.reshape(dims)
    }
}

inventory::submit! {
    Registration {
        name: "jsma",
        aliases: &[],
        norm: Norm::L0,
        targeted: true,
        summary: "changes the most salient pairs of features, at most gamma of them (L0)",
        paper: "Papernot, McDaniel, Jha, Fredrikson, Celik & Swami, The Limitations of Deep Learning in Adversarial Settings, IEEE EuroS&P 2016",
        params: JsmaConfig::PARAMS,
        defaults: registry::defaults_of::<JsmaConfig>,
        canonical: registry::canonical_of::<JsmaConfig>,
        version: 1,
        build: |p| Ok(Box::new(Jsma::new(registry::parse(p)?))),
    }
}
