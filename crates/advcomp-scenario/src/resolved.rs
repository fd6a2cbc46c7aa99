//! The resolved plan: what [`check`](crate::check()) hands the runner.
//!
//! Names are resolved, sweeps expanded into instances with stable ids,
//! registry names canonical, parameter maps concrete (no lists). Every
//! type is serde-(de)serialisable so the plan can be written next to the
//! results it produced.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::ast::{CmpOp, Direction, StageOp};
use crate::secret::Secrets;

/// A checked, expanded scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// Run-wide settings, defaults filled in.
    pub settings: Settings,
    /// Every model instance, parents before the variants derived from them.
    pub models: Vec<ModelInstance>,
    /// Every attack instance, in declaration order.
    pub attacks: Vec<AttackInstance>,
    /// The transfer experiments, in declaration order.
    pub transfers: Vec<Transfer>,
    /// The `expect` claims, in declaration order, each resolved to the
    /// numbers it compares (absent from plans of scenarios without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
    /// The passphrases behind the stand-ins in the parameters above. Never
    /// serialised: a plan written to disk holds stand-ins only.
    #[serde(skip)]
    pub secrets: Secrets,
}

/// Run-wide settings (see `docs/scenario-language.md` for the table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Seed of every random choice (default 1, as `advcomp train`).
    pub seed: u64,
    /// Backend (`cpu`, `flex`, `ndarray`, `wgpu`, `cuda`); `None`: the
    /// command line or `$ADVCOMP_BACKEND` decides.
    pub backend: Option<String>,
    /// Dataset: `mnist` (default) or `cifar10`.
    pub data: String,
    /// Train on only the first N training images (`None`: all).
    pub train_images: Option<usize>,
    /// Test images used for evaluation and attacks (default 1000).
    pub test_images: usize,
    /// Images per attack/evaluation batch (default 100).
    pub batch_size: usize,
    /// Output directory (`None`: the runner's default).
    pub output: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 1,
            backend: None,
            data: "mnist".to_string(),
            train_images: None,
            test_images: 1000,
            batch_size: 100,
            output: None,
        }
    }
}

/// One concrete model: a declaration with every sweep list fixed to a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInstance {
    /// Unique id: the declaration's name, plus the sweep values in brackets
    /// (`pruned[density=0.5]`).
    pub id: String,
    /// The declaration it comes from (`pruned`).
    pub decl: String,
    /// The sweep values that picked this instance, inherited ones included.
    pub sweep: BTreeMap<String, Value>,
    /// How it is made.
    pub origin: Origin,
}

/// How a model instance is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// Trained from scratch.
    Trained {
        /// Canonical architecture name.
        arch: String,
        /// Training parameters.
        params: Map<String, Value>,
        /// A defence applied while training (`op` is `defend`).
        defence: Option<Stage>,
    },
    /// Derived from another instance by steps applied in order.
    Derived {
        /// The parent's instance id.
        parent: String,
        /// The steps.
        steps: Vec<Stage>,
    },
    /// Several instances as one model: the mean of their logits.
    Ensemble {
        /// The members' instance ids, in declaration order.
        members: Vec<String>,
    },
}

/// One compression, fine-tuning or defence stage of a variant (`| op method { … }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// What it does.
    pub op: StageOp,
    /// Canonical method name (`"finetune"` for fine-tuning).
    pub method: String,
    /// Concrete parameters.
    pub params: Map<String, Value>,
}

/// One concrete attack configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackInstance {
    /// Unique id (`eps_sweep[epsilon=0.1]`).
    pub id: String,
    /// The declaration it comes from.
    pub decl: String,
    /// Canonical registry name (`cw_l2` for `cw`).
    pub attack: String,
    /// The attack's parameters (reserved run options removed).
    pub params: Map<String, Value>,
    /// How many test images this attack uses (`None`: `test_images`).
    pub images: Option<usize>,
    /// Images per attack batch (`None`: the `batch_size` setting).
    pub batch_size: Option<usize>,
    /// The rule that picks each image's target class (`"next"`,
    /// `"random"`, `"least_likely"`, a class index); `None`: untargeted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The sweep values that picked this instance (empty for an attack
    /// declared without a list).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sweep: BTreeMap<String, Value>,
}

/// Adversarial samples made on every source with every attack, evaluated
/// on every target (all as instance ids, deduplicated, in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Model instances the samples are made on.
    pub sources: Vec<String>,
    /// Model instances the samples are evaluated on.
    pub targets: Vec<String>,
    /// Attack instances.
    pub attacks: Vec<String>,
}

/// An `expect` statement, resolved: every number it needs named by the
/// instances and attack it comes from, grouped the way the verdict reads
/// them. The runner looks the numbers up and judges (see
/// `docs/scenario-language.md#claims`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The claim in canonical form (its label in results and reports).
    pub text: String,
    /// The line of the `expect` statement in the scenario file.
    pub line: usize,
    /// What it states.
    #[serde(flatten)]
    pub kind: ClaimKind,
}

/// The two kinds of claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ClaimKind {
    /// `A op B`, once per combination of the free sweep values (a claim
    /// over a sweep holds when it holds at every point).
    Compare {
        /// The comparison.
        op: CmpOp,
        /// One case per combination of free sweep values.
        cases: Vec<CompareCase>,
    },
    /// A series along a sweep axis rises or falls.
    Trend {
        /// Which way.
        direction: Direction,
        /// The sweep key the series is ordered by.
        axis: String,
        /// A step against the direction smaller than this is forgiven.
        tolerance: f64,
        /// One series per combination of the other free sweep values.
        series: Vec<TrendSeries>,
    },
}

/// One point of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareCase {
    /// The free sweep values of this case (empty: the claim names single
    /// instances).
    pub at: BTreeMap<String, Value>,
    /// The left side.
    pub left: Side,
    /// The right side.
    pub right: Side,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// A number written in the claim.
    Number(f64),
    /// A metric measured once per seed (one draw when nothing sweeps a
    /// seed); the side's value is their mean, with a confidence interval.
    Draws(Vec<Lookup>),
}

/// One series of a trend claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendSeries {
    /// The other free sweep values this series is at.
    pub at: BTreeMap<String, Value>,
    /// The points, in increasing axis value.
    pub points: Vec<TrendPoint>,
}

/// One point of a trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// The axis value.
    pub x: f64,
    /// The metric, once per seed.
    pub draws: Vec<Lookup>,
}

/// One number of the results: a metric of a model instance (and, for
/// transfer, a target instance) under an attack instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// Which number.
    pub metric: Metric,
    /// The model instance (the source, for transfer).
    pub model: String,
    /// The target instance (transfer only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The attack instance (attack metrics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<String>,
    /// The seed sweep values of this draw (empty: no seed is swept).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seeds: BTreeMap<String, Value>,
}

/// The metrics a claim can name (`docs/metrics.md` defines each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `transfer(source -> target, attack)`: the transfer rate.
    Transfer,
    /// `success(model, attack)`: white-box success rate.
    Success,
    /// `accuracy(model)`: clean test accuracy.
    Accuracy,
    /// `robust_accuracy(model, attack)`: accuracy under the white-box attack.
    RobustAccuracy,
    /// `l2(model, attack)`: mean L2 norm of the successful perturbations
    /// (smaller: a stronger attack).
    L2,
    /// `density(model)`: the share of weights kept.
    Density,
}

impl Metric {
    /// Every metric, in the order the docs list them.
    pub const ALL: [Metric; 6] = [
        Metric::Transfer,
        Metric::Success,
        Metric::Accuracy,
        Metric::RobustAccuracy,
        Metric::L2,
        Metric::Density,
    ];

    /// Its name in the language.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Transfer => "transfer",
            Metric::Success => "success",
            Metric::Accuracy => "accuracy",
            Metric::RobustAccuracy => "robust_accuracy",
            Metric::L2 => "l2",
            Metric::Density => "density",
        }
    }

    /// How it is called: `transfer(SOURCE -> TARGET, ATTACK)`.
    pub fn signature(self) -> &'static str {
        match self {
            Metric::Transfer => "transfer(SOURCE -> TARGET, ATTACK)",
            Metric::Success => "success(MODEL, ATTACK)",
            Metric::Accuracy => "accuracy(MODEL)",
            Metric::RobustAccuracy => "robust_accuracy(MODEL, ATTACK)",
            Metric::L2 => "l2(MODEL, ATTACK)",
            Metric::Density => "density(MODEL)",
        }
    }

    /// Whether it takes a `source -> target` pair (else one model).
    pub fn takes_pair(self) -> bool {
        self == Metric::Transfer
    }

    /// Whether it takes an attack after the model(s).
    pub fn takes_attack(self) -> bool {
        matches!(
            self,
            Metric::Transfer | Metric::Success | Metric::RobustAccuracy | Metric::L2
        )
    }
}
