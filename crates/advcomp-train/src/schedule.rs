//! Learning-rate schedules, per epoch.

/// How the learning rate moves from epoch to epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// Cosine annealing from the base rate to `min_lr` over the run
    /// (Loshchilov & Hutter 2017, without restarts).
    Cosine {
        /// Rate reached in the last epoch.
        min_lr: f64,
    },
}

impl LrSchedule {
    /// The learning rate for `epoch` (0-based) of `epochs`.
    pub fn rate(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, gamma } => base * gamma.powi((epoch / every.max(1)) as i32),
            LrSchedule::Cosine { min_lr } => {
                if epochs <= 1 {
                    return base;
                }
                let t = epoch as f64 / (epochs - 1) as f64;
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    /// Checks the parameters, naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { every, gamma } => {
                if every == 0 {
                    Err("schedule.every must be at least 1".into())
                } else if !(gamma.is_finite() && gamma > 0.0) {
                    Err(format!("schedule.gamma must be positive, got {gamma}"))
                } else {
                    Ok(())
                }
            }
            LrSchedule::Cosine { min_lr } if !(min_lr.is_finite() && min_lr >= 0.0) => {
                Err(format!("schedule.min_lr must be >= 0, got {min_lr}"))
            }
            LrSchedule::Cosine { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_runs_from_base_to_min() {
        let s = LrSchedule::Cosine { min_lr: 0.001 };
        assert_eq!(s.rate(0.1, 0, 10), 0.1);
        assert!((s.rate(0.1, 9, 10) - 0.001).abs() < 1e-12);
        let mid = s.rate(0.1, 5, 11);
        assert!((mid - 0.0505).abs() < 1e-9, "{mid}");
    }

    #[test]
    fn step_decays_every_n_epochs() {
        let s = LrSchedule::Step {
            every: 2,
            gamma: 0.5,
        };
        let rates: Vec<f64> = (0..5).map(|e| s.rate(1.0, e, 5)).collect();
        assert_eq!(rates, [1.0, 1.0, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = LrSchedule::Step {
            every: 0,
            gamma: 0.5,
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("every"));
    }
}
