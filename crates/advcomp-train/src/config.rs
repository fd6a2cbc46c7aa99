//! Training hyper-parameters.

use advcomp_params::{Param, ParamError, ParamType};
use serde_json::{Map, Value};

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
        Param::new("nesterov", ParamType::Bool, "SGD: Nesterov momentum"),
        Param::new(
            "schedule",
            ParamType::choice(&["constant", "cosine", "step"]),
            "learning-rate schedule (cosine annealing to 0, or step decays)",
        ),
        Param::new(
            "step_every",
            ParamType::COUNT,
            "step schedule: epochs between decays (default 3)",
        ),
        Param::new(
            "gamma",
            ParamType::strictly_between(0.0, 1.0),
            "step schedule: factor of each decay (default 0.1)",
        ),
        Param::new("weight_decay", ParamType::NON_NEGATIVE, "L2 weight decay"),
        Param::new(
            "seed",
            ParamType::NATURAL,
            "seeds initialisation and batch order (default: the scenario's)",
        ),
    ];

    /// The configuration a parameter map declares (a `.scn` model block,
    /// `advcomp train`'s flags), every parameter left out at its default
    /// ([`TrainConfig::default`]) and the seed at `seed` unless the map
    /// gives one. The map is checked against [`TrainConfig::PARAMS`] first;
    /// a parameter that cannot apply (momentum with Adam, a step schedule's
    /// `gamma` with another schedule) is an error on that field, never
    /// ignored.
    pub fn from_params(params: &Map<String, Value>, seed: u64) -> Result<Self, ParamError> {
        advcomp_params::check(Self::PARAMS, params)?;
        // Checked above: each value has its declared type.
        let uint = |key: &str| params.get(key).and_then(Value::as_u64);
        let float = |key: &str| params.get(key).and_then(Value::as_f64);
        let text = |key: &str| params.get(key).and_then(Value::as_str);
        let defaults = Self::default();
        let optimizer = match text("optimizer").unwrap_or(defaults.optimizer.name()) {
            "adam" => {
                if let Some(field) = ["momentum", "nesterov"]
                    .into_iter()
                    .find(|f| params.contains_key(*f))
                {
                    return Err(ParamError::invalid(
                        field,
                        format!("only SGD takes `{field}`, and the optimiser is Adam"),
                    ));
                }
                OptimizerConfig::adam()
            }
            _ => OptimizerConfig::Sgd {
                momentum: float("momentum").unwrap_or(0.9),
                nesterov: params.get("nesterov").and_then(Value::as_bool) == Some(true),
            },
        };
        let schedule = match text("schedule") {
            Some("step") => LrSchedule::Step {
                every: uint("step_every").map_or(3, |n| n as usize),
                gamma: float("gamma").unwrap_or(0.1),
            },
            other => {
                if let Some(field) = ["step_every", "gamma"]
                    .into_iter()
                    .find(|f| params.contains_key(*f))
                {
                    return Err(ParamError::invalid(
                        field,
                        format!("only the step schedule takes `{field}`"),
                    ));
                }
                match other {
                    Some("constant") => LrSchedule::Constant,
                    _ => defaults.schedule.clone(),
                }
            }
        };
        let config = TrainConfig {
            epochs: uint("epochs").map_or(defaults.epochs, |n| n as usize),
            batch_size: uint("batch_size").map_or(defaults.batch_size, |n| n as usize),
            learning_rate: float("lr").unwrap_or(defaults.learning_rate),
            schedule,
            optimizer,
            weight_decay: float("weight_decay").unwrap_or(defaults.weight_decay),
            seed: uint("seed").unwrap_or(seed),
        };
        // The declaration's ranges already hold; what is left (Adam's betas,
        // a schedule's own rules) is checked here, on the field to blame.
        config.validate().map_err(|message| {
            let field = ["epochs", "batch_size", "weight_decay", "momentum", "gamma"]
                .into_iter()
                .find(|f| message.contains(f));
            match field {
                Some(f) => ParamError::invalid(f, message),
                None => ParamError::rule(message),
            }
        })?;
        Ok(config)
    }

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn from(params: Value, seed: u64) -> Result<TrainConfig, ParamError> {
        let Value::Object(map) = params else {
            panic!("a map")
        };
        TrainConfig::from_params(&map, seed)
    }

    #[test]
    fn an_empty_block_is_the_default_configuration_under_the_given_seed() {
        let config = from(json!({}), 7).unwrap();
        assert_eq!(
            config,
            TrainConfig {
                seed: 7,
                ..TrainConfig::default()
            }
        );
        // A block's own seed wins.
        assert_eq!(from(json!({"seed": 3}), 7).unwrap().seed, 3);
    }

    #[test]
    fn every_parameter_lands_in_its_field() {
        let config = from(
            json!({
                "epochs": 2, "batch_size": 32, "lr": 0.1, "weight_decay": 0.0,
                "optimizer": "sgd", "momentum": 0.5, "nesterov": true,
                "schedule": "step", "step_every": 4, "gamma": 0.5,
            }),
            1,
        )
        .unwrap();
        assert_eq!(
            config,
            TrainConfig {
                epochs: 2,
                batch_size: 32,
                learning_rate: 0.1,
                schedule: LrSchedule::Step {
                    every: 4,
                    gamma: 0.5
                },
                optimizer: OptimizerConfig::Sgd {
                    momentum: 0.5,
                    nesterov: true
                },
                weight_decay: 0.0,
                seed: 1,
            }
        );
        let step = from(json!({"schedule": "step"}), 1).unwrap().schedule;
        assert_eq!(
            step,
            LrSchedule::Step {
                every: 3,
                gamma: 0.1
            }
        );
        let adam = from(json!({"optimizer": "adam", "schedule": "constant"}), 1).unwrap();
        assert_eq!(
            (adam.optimizer, adam.schedule),
            (OptimizerConfig::adam(), LrSchedule::Constant)
        );
    }

    #[test]
    fn a_parameter_that_cannot_apply_is_refused_on_its_field() {
        for (params, field) in [
            (json!({"optimizer": "adam", "momentum": 0.9}), "momentum"),
            (json!({"optimizer": "adam", "nesterov": false}), "nesterov"),
            (json!({"gamma": 0.5}), "gamma"),
            (json!({"schedule": "cosine", "step_every": 2}), "step_every"),
            (json!({"epochs": 0}), "epochs"),
            (json!({"lr": -1.0}), "lr"),
            (json!({"schedule": "linear"}), "schedule"),
            (json!({"gamma": 1.5, "schedule": "step"}), "gamma"),
        ] {
            let err = from(params.clone(), 1).unwrap_err();
            assert_eq!(err.field(), Some(field), "{params}: {err}");
        }
        let err = from(json!({"epoch": 2}), 1).unwrap_err();
        assert!(err.to_string().contains("did you mean `epochs`"), "{err}");
    }
}
