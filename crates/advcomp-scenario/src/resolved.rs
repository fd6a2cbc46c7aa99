//! The resolved plan: what [`check`](crate::check()) hands the runner.
//!
//! Names are resolved, sweeps expanded into instances with stable ids,
//! registry names canonical, parameter maps concrete (no lists). Every
//! type is serde-(de)serialisable so the plan can be written next to the
//! results it produced.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::ast::StepOp;
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
        defence: Option<Step>,
    },
    /// Derived from another instance by steps applied in order.
    Derived {
        /// The parent's instance id.
        parent: String,
        /// The steps.
        steps: Vec<Step>,
    },
}

/// One compression, fine-tuning or defence step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// What it does.
    pub op: StepOp,
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
