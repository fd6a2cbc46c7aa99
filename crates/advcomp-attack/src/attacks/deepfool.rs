//! DeepFool, L2 and L∞.
//!
//! Moosavi-Dezfooli, Fawzi & Frossard, *DeepFool: a simple and accurate
//! method to fool deep neural networks*, CVPR 2016 (arXiv:1511.04599),
//! Algorithms 2 (L2) and §3.3 (Lp, p = ∞). Linearise the classifier around
//! the current point; among the candidate classes `k`, with
//! `f'_k = Z_k − Z_y` and `w'_k = ∇Z_k − ∇Z_y`, step to the nearest
//! linearised boundary `l = argmin_k |f'_k| / ‖w'_k‖_q`:
//! L2 (q = 2): `r = (|f'_l| / ‖w'_l‖₂ + 10⁻⁴) · w'_l / ‖w'_l‖₂`;
//! L∞ (q = 1): `r = (|f'_l| / ‖w'_l‖₁ + 10⁻⁴) · sign(w'_l)` (the 10⁻⁴ on
//! the distance, as the reference code and Foolbox add it).
//! Accumulate `r_tot`, set `x = clip[0,1](x₀ + (1 + overshoot) · r_tot)`,
//! stop per sample once it is misclassified **robustly**: another class
//! beats the label by [`ROBUST_MARGIN`] relative to the logits' scale.
//!
//! What it guarantees: every sample it returns as fooled before its step
//! budget runs out is misclassified with that logit margin, far above f32
//! rounding noise, so re-classifying it (in f64, or after another
//! summation order) gives the same answer. A sample still inside the margin
//! when the budget ends is returned as it is, and counts as a success only
//! if the network misclassifies it. The candidates are the true
//! label and the most likely other classes of the clean image (the reference
//! implementation's `num_classes = 10`). Untargeted only.
//!
//! Defaults (the reference implementation's): 50 steps, overshoot 0.02,
//! 10 candidate classes. Samples the model already misclassifies are left
//! unchanged.
//!
//! The gradients of all candidate classes are taken in one backward pass
//! over a batch that repeats each image once per other candidate, and only
//! samples not yet fooled are processed. The forward pass of that batch also
//! tells which samples the last step fooled, so a sample's final iteration
//! costs its candidate gradients without taking a step.
//!
//! Like Foolbox (and unlike the unconstrained original), every iterate is
//! clipped to `[0,1]`. On MNIST, where most pixels sit at 0, the clipped
//! components of a step are lost and DeepFool needs about ten iterations
//! instead of the two or three it needs away from the box.

use burn::Tensor;
use burn::tensor::{Bool, Int};
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, AttackError, Norm};
use crate::context::AttackContext;
use crate::goal::Goal;
use crate::ops;
use crate::registry::{self, AttackConfig, Param, ParamType, Registration};

/// DeepFool hyper-parameters (both norms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeepFoolConfig {
    /// Maximum iterations. Default 50.
    pub steps: usize,
    /// Overshoot factor η: the final perturbation is `(1 + η) · r_tot`. Default 0.02.
    pub overshoot: f64,
    /// Candidate classes considered, the true label included (capped at the
    /// model's class count). Default 10.
    pub candidates: usize,
}

impl Default for DeepFoolConfig {
    fn default() -> Self {
        Self {
            steps: 50,
            overshoot: 0.02,
            candidates: 10,
        }
    }
}

impl AttackConfig for DeepFoolConfig {
    const PARAMS: &'static [Param] = &[
        Param::new("steps", ParamType::COUNT, "maximum iterations"),
        Param::new(
            "overshoot",
            ParamType::NON_NEGATIVE,
            "the final perturbation is (1 + overshoot) * r_total",
        ),
        Param::new(
            "candidates",
            ParamType::Int { min: 2, max: None },
            "candidate classes, true label included (top classes of the clean image)",
        ),
    ];
}

/// The DeepFool attack in L2 or L∞.
#[derive(Debug, Clone)]
pub struct DeepFool {
    config: DeepFoolConfig,
    norm: Norm,
}

impl DeepFool {
    /// L2 DeepFool.
    pub fn l2(config: DeepFoolConfig) -> Self {
        Self {
            config,
            norm: Norm::L2,
        }
    }

    /// L∞ DeepFool.
    pub fn linf(config: DeepFoolConfig) -> Self {
        Self {
            config,
            norm: Norm::Linf,
        }
    }
}

impl Attack for DeepFool {
    fn name(&self) -> &str {
        match self.norm {
            Norm::Linf => "deepfool_linf",
            _ => "deepfool",
        }
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn epsilon(&self) -> Option<f64> {
        None
    }

    fn supports_targeted(&self) -> bool {
        false
    }

    fn perturb(
        &self,
        context: &mut AttackContext<'_>,
        images: &Tensor<4>,
        goal: &Goal,
    ) -> Result<Tensor<4>, AttackError> {
        let origin = images.clone();
        let dims = origin.dims();
        let [n, c, h, w] = dims;
        let d = c * h * w;
        let classes = goal.num_classes();
        let others = self.config.candidates.min(classes) - 1;
        let labels = goal.labels();

        // The candidate classes: the most likely classes other than the label.
        let clean = context.logits(origin.clone());
        let (_, order) = clean
            .clone()
            .mask_fill(ops::class_mask(labels.clone(), classes), f32::NEG_INFINITY)
            .sort_descending_with_indices(1);
        let candidates = order.slice([0..n, 0..others]);
        let mut active = ops::predictions(clean).equal(labels.clone());
        let mut total = origin.zeros_like();
        let mut x = origin.clone();

        for _ in 0..self.config.steps {
            let Some(idx) = ops::true_indices(active.clone()) else {
                break;
            };
            let na = idx.dims()[0];
            let xa = x.clone().select(0, idx.clone());
            let label_a = labels.clone().select(0, idx.clone());
            // Replica j of the batch holds the active images, paired with
            // their j-th candidate: rows j·na .. (j+1)·na.
            let cand_rep = candidates
                .clone()
                .select(0, idx.clone())
                .transpose()
                .reshape([others * na, 1]);
            let label_rep = label_a
                .clone()
                .reshape([1, na])
                .expand([others, na])
                .reshape([others * na, 1]);
            let x_rep = xa
                .reshape([1, na, c, h, w])
                .expand([others, na, c, h, w])
                .reshape([others * na, c, h, w]);
            let (cr, lr) = (cand_rep.clone(), label_rep.clone());
            let (logits, grad) = context.gradient(x_rep, move |z| {
                (z.clone().gather(1, cr) - z.gather(1, lr)).sum()
            });
            // f'_k = Z_k − Z_y (negative while the label wins) and w'_k.
            let f = (logits.clone().gather(1, cand_rep) - logits.clone().gather(1, label_rep))
                .reshape([others, na]);
            let g = grad.reshape([others, na, d]);
            // Samples fooled at the current point, with a margin well
            // above float noise, stop here.
            let still = not_robustly_fooled(logits.slice([0..na, 0..classes]), label_a, classes);
            let dual = match self.norm {
                Norm::Linf => g.clone().abs().sum_dim(2),
                _ => g.clone().square().sum_dim(2).sqrt(),
            }
            .reshape([others, na]);
            let ratio = f.clone().abs() / dual.clone().add_scalar(ops::TINY);
            let nearest = ratio.argmin(0);
            let pick = Tensor::<1, Int>::arange(0..others as i64, &nearest.device())
                .reshape([others, 1])
                .expand([others, na])
                .equal(nearest.expand([others, na]))
                .float();
            // The distance to the nearest linearised boundary plus 1e-4, as
            // the reference code and Foolbox add it (to the distance, not
            // to the logit gap).
            let dual_l = (dual * pick.clone()).sum_dim(0).add_scalar(ops::TINY);
            let dist = ((f * pick.clone()).sum_dim(0).abs() / dual_l.clone()).add_scalar(1e-4);
            let w_l = (g * pick.reshape([others, na, 1])).sum_dim(0);
            let step = match self.norm {
                Norm::Linf => w_l.sign() * dist.reshape([1, na, 1]),
                _ => w_l * (dist / dual_l).reshape([1, na, 1]),
            }
            .reshape([na, c, h, w])
                * ops::per_sample(still.clone().float());
            total = total + ops::scatter_rows(n, idx.clone(), step);
            active = ops::scatter_mask(n, idx, still);
            x = (origin.clone() + total.clone().mul_scalar(1.0 + self.config.overshoot as f32))
                .clamp(0.0, 1.0);
        }
        Ok(x)
    }
}

/// How far past the boundary DeepFool goes before it stops: another class
/// must beat the label by `ROBUST_MARGIN · (1 + |Z_y|)` in the logits,
/// about a thousand f32 rounding units of the logits' scale. A sample
/// stopped the moment its prediction flips can be classified back by the
/// same network in f64, or after any change in summation order; with
/// clipping to `[0,1]` eating the overshoot, most would be.
pub const ROBUST_MARGIN: f32 = 1e-4;

/// `[n]`: whether each sample's logits `[n, classes]` do not yet put another
/// class above `label` by [`ROBUST_MARGIN`].
fn not_robustly_fooled(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    classes: usize,
) -> Tensor<1, Bool> {
    let n = labels.dims()[0];
    let z_y = logits.clone().gather(1, labels.clone().reshape([n, 1]));
    let z_other = logits
        .mask_fill(ops::class_mask(labels, classes), f32::NEG_INFINITY)
        .max_dim(1);
    let needed = z_y.clone().abs().add_scalar(1.0).mul_scalar(ROBUST_MARGIN);
    (z_other - z_y).lower_equal(needed).reshape([n])
}

const PAPER: &str = "Moosavi-Dezfooli, Fawzi & Frossard, DeepFool: a simple and accurate method to fool deep neural networks, CVPR 2016";

inventory::submit! {
    Registration {
        name: "deepfool",
        aliases: &["deepfool_l2"],
        norm: Norm::L2,
        targeted: false,
        summary: "minimal L2 perturbation by stepping to the nearest linearised class boundary",
        paper: PAPER,
        params: DeepFoolConfig::PARAMS,
        defaults: registry::defaults_of::<DeepFoolConfig>,
        canonical: registry::canonical_of::<DeepFoolConfig>,
        version: 2, // 2: 1e-4 on the distance, robust stopping margin
        build: |p| Ok(Box::new(DeepFool::l2(registry::parse(p)?))),
    }
}

inventory::submit! {
    Registration {
        name: "deepfool_linf",
        aliases: &[],
        norm: Norm::Linf,
        targeted: false,
        summary: "minimal L-infinity perturbation by stepping to the nearest linearised class boundary",
        paper: PAPER,
        params: DeepFoolConfig::PARAMS,
        defaults: registry::defaults_of::<DeepFoolConfig>,
        canonical: registry::canonical_of::<DeepFoolConfig>,
        version: 2, // 2: 1e-4 on the distance, robust stopping margin
        build: |p| Ok(Box::new(DeepFool::linf(registry::parse(p)?))),
    }
}
