//! Training hyper-parameters.

use advcomp_params::{Param, ParamType};

use crate::schedule::LrSchedule;

/// The optimiser and its own hyper-parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// Stochastic gradient descent with (optionally Nesterov) momentum.
    Sgd {
        /// Momentum coefficient (0 disables momentum).
        momentum: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
    },
    /// Adam (Kingma & Ba 2015).
    Adam {
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Numerical stabiliser.
        epsilon: f64,
    },
}

impl OptimizerConfig {
    /// SGD with momentum 0.9, the pruning literature's choice for LeNet-5.
    pub fn sgd() -> Self {
        OptimizerConfig::Sgd {
            momentum: 0.9,
            nesterov: false,
        }
    }

    /// Adam with the paper's defaults (β₁ 0.9, β₂ 0.999, ε 1e-8).
    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }

    /// The name used on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd { .. } => "sgd",
            OptimizerConfig::Adam { .. } => "adam",
        }
    }
}

/// Everything that determines a training run besides the data and the architecture.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per optimiser step.
    pub batch_size: usize,
    /// Base learning rate.
    pub learning_rate: f64,
    /// How the learning rate changes over the epochs.
    pub schedule: LrSchedule,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// L2 weight decay (0 disables it).
    pub weight_decay: f64,
    /// Seeds weight initialisation and batch order.
    pub seed: u64,
}

impl Default for TrainConfig {
    /// The defaults train LeNet-5 to about 98-99% on the bundled 8,000 MNIST
    /// digits in 8 epochs (see the README): SGD, momentum 0.9, lr 0.05 with a
    /// cosine decay, batch 64, weight decay 5e-4.
    fn default() -> Self {
        Self {
            epochs: 8,
            batch_size: 64,
            learning_rate: 0.05,
            schedule: LrSchedule::Cosine { min_lr: 0.0 },
            optimizer: OptimizerConfig::sgd(),
            weight_decay: 5e-4,
            seed: 1,
        }
    }
}

impl TrainConfig {
    /// The parameters a model declaration (`model m = lenet5 { … }`) takes,
    /// declared once: the scenario checker, the catalogue snapshot and the
    /// docs read this list.
    pub const PARAMS: &'static [Param] = &[
        Param::new("epochs", ParamType::COUNT, "passes over the training set"),
        Param::new("batch_size", ParamType::COUNT, "images per step"),
        Param::new(
            "optimizer",
            ParamType::choice(&["sgd", "adam"]),
            "the optimiser",
        ),
        Param::new("lr", ParamType::POSITIVE, "initial learning rate"),
        Param::new("momentum", ParamType::from_below(0.0, 1.0), "SGD momentum"),
        Param::new(
            "schedule",
            ParamType::choice(&["constant", "cosine"]),
            "learning-rate schedule",
        ),
        Param::new("weight_decay", ParamType::NON_NEGATIVE, "L2 weight decay"),
        Param::new(
            "seed",
            ParamType::NATURAL,
            "seeds initialisation and batch order (default: the scenario's)",
        ),
    ];

    /// Checks the values a user can get wrong, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs == 0 {
            return Err("epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "learning_rate must be a positive number, got {}",
                self.learning_rate
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!(
                "weight_decay must be >= 0, got {}",
                self.weight_decay
            ));
        }
        match self.optimizer {
            OptimizerConfig::Sgd { momentum, .. } if !(0.0..1.0).contains(&momentum) => {
                return Err(format!("momentum must be in [0, 1), got {momentum}"));
            }
            OptimizerConfig::Adam { beta1, beta2, .. }
                if !(0.0..1.0).contains(&beta1) || !(0.0..1.0).contains(&beta2) =>
            {
                return Err(format!(
                    "adam betas must be in [0, 1), got {beta1}, {beta2}"
                ));
            }
            _ => {}
        }
        self.schedule.validate()
    }
}
