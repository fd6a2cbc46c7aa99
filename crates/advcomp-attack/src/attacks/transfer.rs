//! The transfer-enhancing members of the FGSM family: DI-, TI-, NI- and
//! VMI-FGSM, each a configuration of the [gradient-iteration
//! engine](crate::iterative).
//!
//! A transfer study that uses only I-FGSM measures the weakest transfer
//! attacker; these four are the literature's standard ways of making
//! samples that fool models they were not made on. Each adds one idea to
//! iterated FGSM:
//!
//! - **DI-FGSM** — Xie, Zhang, Zhou, Bai, Wang, Ren & Yuille, *Improving
//!   Transferability of Adversarial Examples with Input Diversity*, CVPR
//!   2019: each gradient is taken through a random resize-and-pad of the
//!   image (probability p = 0.5, the paper's).
//! - **TI-FGSM** — Dong, Pang, Su & Zhu, *Evading Defenses to Transferable
//!   Adversarial Examples by Translation-Invariant Attacks*, CVPR 2019: the
//!   gradient is smoothed by a Gaussian kernel (15 × 15 spanning ±3σ, the
//!   paper's choice for 299-pixel images).
//! - **NI-FGSM** — Lin, Song, He, Wang & Hopcroft, *Nesterov Accelerated
//!   Gradient and Scale Invariance for Adversarial Attacks*, ICLR 2020:
//!   MI-FGSM with the gradient taken at the look-ahead point (μ = 1.0).
//!   Their scale-invariance half (SIM) is not included.
//! - **VMI-FGSM** — Wang & He, *Enhancing the Transferability of
//!   Adversarial Attacks through Variance Tuning*, CVPR 2021: MI-FGSM whose
//!   gradient is corrected by the previous step's gradient variance over
//!   N = 20 neighbours within β = 1.5 ε (the paper's).
//!
//! Shared defaults: ε = 0.3 (the MNIST L∞ budget of every L∞ attack here),
//! T = 10 iterations of α = ε / T — the convention of the MI-, NI- and
//! VMI-FGSM papers, used for DI and TI too so that the family's defaults
//! are comparable (Xie et al. and Dong et al. also ran 10-step momentum
//! variants). DI and TI default to no momentum (μ = 0), their papers' plain
//! DI²-FGSM and TI-FGSM; `decay: 1.0` gives M-DI²-FGSM and TI-MI-FGSM.
//! Every one is targeted when given targets (descend `J(x, t)`).

use serde::{Deserialize, Serialize};

use crate::attack::Norm;
use crate::iterative::{
    Direction, Diversity, GradientIteration, IterativeAttack, Smoothing, Variance,
};
use crate::registry::{self, AttackConfig, Param, ParamError, ParamType, Registration};

/// The budget every transfer attack shares.
fn default_engine(
    epsilon: f64,
    steps: usize,
    step_size: Option<f64>,
    decay: f64,
) -> GradientIteration {
    let direction = if decay > 0.0 {
        Direction::Momentum { decay }
    } else {
        Direction::Sign
    };
    GradientIteration::new(
        Norm::Linf,
        epsilon,
        step_size.unwrap_or(epsilon / steps as f64),
        steps,
        direction,
    )
}

const STEPS: Param = Param::new("steps", ParamType::COUNT, "iterations T");
const STEP_SIZE: Param = Param::new(
    "step_size",
    ParamType::POSITIVE,
    "step alpha per iteration; null = epsilon / steps",
)
.or_null();
const SEED: Param = Param::new("seed", ParamType::NATURAL, "seeds the random draws");

/// DI-FGSM hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiFgsmConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Iterations T. Default 10.
    pub steps: usize,
    /// Step size α; `None` (default) means `ε / steps`.
    pub step_size: Option<f64>,
    /// Momentum decay μ; 0 (default) is DI²-FGSM, 1 is M-DI²-FGSM.
    pub decay: f64,
    /// Probability of transforming the input at each gradient. Default 0.5.
    pub probability: f64,
    /// Smallest resized side as a share of the image side, in `(0, 1)`.
    /// Default 0.9.
    pub resize_rate: f64,
    /// Seeds the transforms. Default 0.
    pub seed: u64,
}

impl Default for DiFgsmConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            steps: 10,
            step_size: None,
            decay: 0.0,
            probability: 0.5,
            resize_rate: 0.9,
            seed: 0,
        }
    }
}

impl DiFgsmConfig {
    /// DI-FGSM as the engine runs it.
    pub fn engine(&self) -> GradientIteration {
        GradientIteration {
            diversity: Some(Diversity {
                probability: self.probability,
                resize_rate: self.resize_rate,
            }),
            seed: self.seed,
            ..default_engine(self.epsilon, self.steps, self.step_size, self.decay)
        }
    }
}

impl AttackConfig for DiFgsmConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        STEPS,
        STEP_SIZE,
        Param::new(
            "decay",
            ParamType::NON_NEGATIVE,
            "momentum decay mu; 0 = DI2-FGSM, 1 = M-DI2-FGSM",
        ),
        Param::new(
            "probability",
            ParamType::UNIT,
            "probability of transforming the input at each gradient",
        ),
        Param::new(
            "resize_rate",
            ParamType::strictly_between(0.0, 1.0),
            "smallest resized side as a share of the image side, in (0, 1)",
        ),
        SEED,
    ];
}

/// TI-FGSM hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TiFgsmConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Iterations T. Default 10.
    pub steps: usize,
    /// Step size α; `None` (default) means `ε / steps`.
    pub step_size: Option<f64>,
    /// Momentum decay μ; 0 (default) is TI-FGSM, 1 is TI-MI-FGSM.
    pub decay: f64,
    /// Side of the Gaussian kernel, odd. Default 15 (the paper's, for
    /// 299-pixel images; a 28-pixel digit may want less).
    pub kernel_size: usize,
    /// The kernel spans ±`nsig` standard deviations. Default 3.
    pub nsig: f64,
}

impl Default for TiFgsmConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            steps: 10,
            step_size: None,
            decay: 0.0,
            kernel_size: 15,
            nsig: 3.0,
        }
    }
}

impl TiFgsmConfig {
    /// TI-FGSM as the engine runs it.
    pub fn engine(&self) -> GradientIteration {
        GradientIteration {
            smoothing: Some(Smoothing {
                kernel_size: self.kernel_size,
                nsig: self.nsig,
            }),
            ..default_engine(self.epsilon, self.steps, self.step_size, self.decay)
        }
    }
}

impl AttackConfig for TiFgsmConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        STEPS,
        STEP_SIZE,
        Param::new(
            "decay",
            ParamType::NON_NEGATIVE,
            "momentum decay mu; 0 = TI-FGSM, 1 = TI-MI-FGSM",
        ),
        Param::new(
            "kernel_size",
            ParamType::int(1, 63),
            "side of the Gaussian kernel, odd (15 is the paper's, for 299-pixel images)",
        ),
        Param::new(
            "nsig",
            ParamType::POSITIVE,
            "the kernel spans +-nsig standard deviations",
        ),
    ];

    /// `kernel_size` must also be odd, which its type cannot say.
    fn validate(&self) -> Result<(), ParamError> {
        if self.kernel_size.is_multiple_of(2) {
            return Err(ParamError::invalid(
                "kernel_size",
                format!("must be odd, got {}", self.kernel_size),
            ));
        }
        Ok(())
    }
}

/// NI-FGSM hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NiFgsmConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Iterations T. Default 10.
    pub steps: usize,
    /// Step size α; `None` (default) means `ε / steps`.
    pub step_size: Option<f64>,
    /// Momentum decay μ. Default 1.0.
    pub decay: f64,
}

impl Default for NiFgsmConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            steps: 10,
            step_size: None,
            decay: 1.0,
        }
    }
}

impl NiFgsmConfig {
    /// NI-FGSM as the engine runs it.
    pub fn engine(&self) -> GradientIteration {
        GradientIteration {
            direction: Direction::Nesterov { decay: self.decay },
            ..default_engine(self.epsilon, self.steps, self.step_size, self.decay)
        }
    }
}

impl AttackConfig for NiFgsmConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        STEPS,
        STEP_SIZE,
        Param::new("decay", ParamType::NON_NEGATIVE, "momentum decay mu"),
    ];
}

/// VMI-FGSM hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VmiFgsmConfig {
    /// L∞ budget in `[0,1]` pixel units. Default 0.3.
    pub epsilon: f64,
    /// Iterations T. Default 10.
    pub steps: usize,
    /// Step size α; `None` (default) means `ε / steps`.
    pub step_size: Option<f64>,
    /// Momentum decay μ. Default 1.0.
    pub decay: f64,
    /// Neighbours N sampled per step. Default 20.
    pub samples: usize,
    /// Neighbourhood radius as a multiple β of ε. Default 1.5.
    pub bound: f64,
    /// Seeds the neighbours. Default 0.
    pub seed: u64,
}

impl Default for VmiFgsmConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.3,
            steps: 10,
            step_size: None,
            decay: 1.0,
            samples: 20,
            bound: 1.5,
            seed: 0,
        }
    }
}

impl VmiFgsmConfig {
    /// VMI-FGSM as the engine runs it.
    pub fn engine(&self) -> GradientIteration {
        GradientIteration {
            direction: Direction::Momentum { decay: self.decay },
            variance: Some(Variance {
                samples: self.samples,
                bound: self.bound,
            }),
            seed: self.seed,
            ..default_engine(self.epsilon, self.steps, self.step_size, self.decay)
        }
    }
}

impl AttackConfig for VmiFgsmConfig {
    const PARAMS: &'static [Param] = &[
        registry::LINF_EPSILON,
        STEPS,
        STEP_SIZE,
        Param::new("decay", ParamType::NON_NEGATIVE, "momentum decay mu"),
        Param::new(
            "samples",
            ParamType::COUNT,
            "neighbours N sampled per step (each costs one gradient per image)",
        ),
        Param::new(
            "bound",
            ParamType::POSITIVE,
            "neighbourhood radius as a multiple beta of epsilon",
        ),
        SEED,
    ];
}

inventory::submit! {
    Registration {
        name: "difgsm",
        aliases: &["di_fgsm", "di2_fgsm"],
        norm: Norm::Linf,
        targeted: true,
        summary: "iterated FGSM whose gradients go through a random resize-and-pad of the input (input diversity)",
        paper: "Xie, Zhang, Zhou, Bai, Wang, Ren & Yuille, Improving Transferability of Adversarial Examples with Input Diversity, CVPR 2019",
        params: DiFgsmConfig::PARAMS,
        defaults: registry::defaults_of::<DiFgsmConfig>,
        canonical: registry::canonical_of::<DiFgsmConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("difgsm", registry::parse::<DiFgsmConfig>(p)?.engine()))),
    }
}

inventory::submit! {
    Registration {
        name: "tifgsm",
        aliases: &["ti_fgsm"],
        norm: Norm::Linf,
        targeted: true,
        summary: "iterated FGSM on the gradient smoothed by a Gaussian kernel (translation invariance)",
        paper: "Dong, Pang, Su & Zhu, Evading Defenses to Transferable Adversarial Examples by Translation-Invariant Attacks, CVPR 2019",
        params: TiFgsmConfig::PARAMS,
        defaults: registry::defaults_of::<TiFgsmConfig>,
        canonical: registry::canonical_of::<TiFgsmConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("tifgsm", registry::parse::<TiFgsmConfig>(p)?.engine()))),
    }
}

inventory::submit! {
    Registration {
        name: "nifgsm",
        aliases: &["ni_fgsm"],
        norm: Norm::Linf,
        targeted: true,
        summary: "MI-FGSM with the gradient taken at the Nesterov look-ahead point",
        paper: "Lin, Song, He, Wang & Hopcroft, Nesterov Accelerated Gradient and Scale Invariance for Adversarial Attacks, ICLR 2020",
        params: NiFgsmConfig::PARAMS,
        defaults: registry::defaults_of::<NiFgsmConfig>,
        canonical: registry::canonical_of::<NiFgsmConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("nifgsm", registry::parse::<NiFgsmConfig>(p)?.engine()))),
    }
}

inventory::submit! {
    Registration {
        name: "vmifgsm",
        aliases: &["vmi_fgsm"],
        norm: Norm::Linf,
        targeted: true,
        summary: "MI-FGSM whose gradient is corrected by the gradient variance over random neighbours",
        paper: "Wang & He, Enhancing the Transferability of Adversarial Attacks through Variance Tuning, CVPR 2021",
        params: VmiFgsmConfig::PARAMS,
        defaults: registry::defaults_of::<VmiFgsmConfig>,
        canonical: registry::canonical_of::<VmiFgsmConfig>,
        version: 1,
        build: |p| Ok(Box::new(IterativeAttack::new("vmifgsm", registry::parse::<VmiFgsmConfig>(p)?.engine()))),
    }
}
