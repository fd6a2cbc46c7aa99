//! Carlini & Wagner L2.
//!
//! Carlini & Wagner, *Towards Evaluating the Robustness of Neural
//! Networks*, IEEE S&P 2017 (arXiv:1608.04644), §V and the authors'
//! `l2_attack.py`. Change of variables `x' = (tanh(w) + 1) / 2` (box
//! constraint for free), then minimise with Adam
//! `‖x' − x‖₂² + c · max(Z_y − max_{j≠y} Z_j, −κ)` (untargeted) or
//! `… + c · max(max_{j≠t} Z_j − Z_t, −κ)` (targeted), keeping per sample the
//! smallest-L2 point that is adversarial with confidence κ. A binary search
//! over `c`, per sample, follows each optimisation: halve towards the lower
//! bound after a success, multiply by 10 (or bisect once an upper bound is
//! known) after a failure. Abort-early stops an optimisation when the total
//! loss has not fallen by 0.01% over a tenth of the iterations.
//!
//! Defaults (the paper's / reference code's): Adam learning rate 0.01,
//! confidence κ = 0, 9 binary-search steps from c = 10⁻³, 10,000 maximum
//! iterations, abort early. With ≥ 10 search steps the last one uses the
//! upper bound, as in the reference code. Samples never made adversarial
//! are returned unchanged.

use burn::Tensor;
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, AttackError, Norm};
use crate::context::AttackContext;
use crate::goal::Goal;
use crate::ops;
use crate::registry::{self, AttackConfig, Param, ParamType, Registration};

/// C&W L2 hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CwConfig {
    /// Confidence κ: the logit margin the adversarial must win by. Default 0.
    pub confidence: f64,
    /// Adam learning rate. Default 0.01.
    pub learning_rate: f64,
    /// Binary-search steps over `c`. Default 9.
    pub binary_search_steps: usize,
    /// Starting `c`. Default 1e-3.
    pub initial_const: f64,
    /// Adam iterations per search step. Default 10,000.
    pub max_iterations: usize,
    /// Stop an optimisation early when the loss stalls. Default true.
    pub abort_early: bool,
}

impl Default for CwConfig {
    fn default() -> Self {
        Self {
            confidence: 0.0,
            learning_rate: 0.01,
            binary_search_steps: 9,
            initial_const: 1e-3,
            max_iterations: 10_000,
            abort_early: true,
        }
    }
}

impl AttackConfig for CwConfig {
    const PARAMS: &'static [Param] = &[
        Param::new(
            "confidence",
            ParamType::NON_NEGATIVE,
            "kappa: logit margin the adversarial must win by",
        ),
        Param::new("learning_rate", ParamType::POSITIVE, "Adam learning rate"),
        Param::new(
            "binary_search_steps",
            ParamType::COUNT,
            "binary-search steps over the constant c",
        ),
        Param::new("initial_const", ParamType::POSITIVE, "starting value of c"),
        Param::new(
            "max_iterations",
            ParamType::COUNT,
            "Adam iterations per search step",
        ),
        Param::new(
            "abort_early",
            ParamType::Bool,
            "stop an optimisation when the loss stalls",
        ),
    ];
}

/// The C&W L2 attack.
#[derive(Debug, Clone)]
pub struct CarliniWagner {
    config: CwConfig,
}

impl CarliniWagner {
    /// C&W L2 with `config`.
    pub fn new(config: CwConfig) -> Self {
        Self { config }
    }
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;
/// An upper bound on `c` at or above this means "none found yet".
const NO_BOUND: f32 = 1e10;

impl Attack for CarliniWagner {
    fn name(&self) -> &str {
        "cw_l2"
    }

    fn norm(&self) -> Norm {
        Norm::L2
    }

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
        let cfg = &self.config;
        let origin = images.clone();
        let n = origin.dims()[0];
        let dev = context.device().clone();
        let kappa = cfg.confidence as f32;
        let lr = cfg.learning_rate as f32;

        // tanh space: x = (tanh(w) + 1) / 2.
        let w0 = (origin.clone().mul_scalar(2.0).sub_scalar(1.0) * 0.999_999).atanh();
        let boxed = w0.clone().tanh().add_scalar(1.0).mul_scalar(0.5);

        let mut lower = Tensor::<1>::zeros([n], &dev);
        let mut upper = Tensor::<1>::full([n], NO_BOUND, &dev);
        let mut constant = Tensor::<1>::full([n], cfg.initial_const as f32, &dev);
        let mut best_l2 = Tensor::<1>::full([n], f32::INFINITY, &dev);
        let mut best = origin.clone();
        let check_every = (cfg.max_iterations / 10).max(1);

        for step in 0..cfg.binary_search_steps {
            if cfg.binary_search_steps >= 10 && step + 1 == cfg.binary_search_steps {
                constant = upper.clone();
            }
            let mut modifier = origin.zeros_like();
            let mut m = origin.zeros_like();
            let mut v = origin.zeros_like();
            let mut found = Tensor::<1>::zeros([n], &dev).greater_elem(0.5);
            let mut previous = f64::INFINITY;
            for iteration in 0..cfg.max_iterations {
                let (w0, boxed, c) = (w0.clone(), boxed.clone(), constant.clone());
                let (gradient, (l2, margin, x, loss)) =
                    context.gradient_of(modifier.clone(), move |model, leaf| {
                        let x = (w0 + leaf).tanh().add_scalar(1.0).mul_scalar(0.5);
                        let l2 = ops::flat(x.clone() - boxed)
                            .square()
                            .sum_dim(1)
                            .reshape([n]);
                        let margin = goal.margin(model.logits(x.clone()));
                        let hinge = margin.clone().add_scalar(kappa).clamp_min(0.0);
                        let loss = (l2.clone() + c * hinge).sum();
                        let plain = (
                            l2.without_autodiff(),
                            margin.without_autodiff(),
                            x.without_autodiff(),
                            loss.clone().without_autodiff(),
                        );
                        (loss, plain)
                    });
                // Keep the smallest adversarial found so far, per sample.
                let success = margin.lower_elem(-kappa);
                found = found.bool_or(success.clone());
                let improved = success.bool_and(l2.clone().lower(best_l2.clone()));
                best_l2 = best_l2.mask_where(improved.clone(), l2);
                best = ops::where_samples(improved, x, best);

                if cfg.abort_early && iteration % check_every == 0 {
                    let total = f64::from(loss.into_scalar::<f32>());
                    if total > previous * 0.9999 {
                        break;
                    }
                    previous = total;
                }
                // Adam step on the modifier.
                let t = (iteration + 1) as i32;
                m = m.mul_scalar(BETA1) + gradient.clone().mul_scalar(1.0 - BETA1);
                v = v.mul_scalar(BETA2) + gradient.square().mul_scalar(1.0 - BETA2);
                let m_hat = m.clone().div_scalar(1.0 - BETA1.powi(t));
                let v_hat = v.clone().div_scalar(1.0 - BETA2.powi(t));
                modifier = modifier - m_hat.mul_scalar(lr) / v_hat.sqrt().add_scalar(ADAM_EPS);
            }
            // Binary search on c, per sample.
            let known = |upper: &Tensor<1>| upper.clone().lower_elem(1e9);
            upper = upper
                .clone()
                .mask_where(found.clone(), upper.min_pair(constant.clone()));
            lower = lower
                .clone()
                .mask_where(found.clone().bool_not(), lower.max_pair(constant.clone()));
            let middle = (lower.clone() + upper.clone()).mul_scalar(0.5);
            let grown = constant
                .clone()
                .mul_scalar(10.0)
                .mask_where(known(&upper), middle.clone());
            constant = grown.mask_where(found, middle);
        }
        Ok(best)
    }
}

inventory::submit! {
    Registration {
        name: "cw_l2",
        aliases: &["cw", "carlini_wagner"],
        norm: Norm::L2,
        targeted: true,
        summary: "minimal L2 perturbation by Adam in tanh space with a binary search over the loss weight c",
        paper: "Carlini & Wagner, Towards Evaluating the Robustness of Neural Networks, IEEE S&P 2017",
        params: CwConfig::PARAMS,
        defaults: registry::defaults_of::<CwConfig>,
        canonical: registry::canonical_of::<CwConfig>,
        version: 1,
        build: |p| Ok(Box::new(CarliniWagner::new(registry::parse(p)?))),
    }
}
