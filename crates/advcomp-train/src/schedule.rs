//! Learning-rate schedules, evaluated at every optimiser step.

/// How the learning rate moves during training.
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
    /// Cosine annealing from the base rate towards `min_lr`, step by step
    /// over the whole run (Loshchilov & Hutter 2017, without restarts).
    ///
    /// The rate is computed for every mini-batch from the fraction of the
    /// run done before it, so it reaches `min_lr` only after the last step:
    /// no step trains at the end value. (Until training version 2 it moved
    /// once per epoch with `t = epoch / (epochs − 1)`, which spent the
    /// whole last epoch at `min_lr` — at the default 0, an 8-epoch run
    /// trained for 7 and every 2-epoch fine-tune for 1.)
    Cosine {
        /// The rate approached at the end of the run.
        min_lr: f64,
    },
}

/// Where a run is when it takes an optimiser step: batch `batch` of the
/// `batches` in epoch `epoch` of `epochs` (all 0-based counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The current epoch.
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// The current mini-batch within the epoch.
    pub batch: usize,
    /// Mini-batches per epoch.
    pub batches: usize,
}

impl Progress {
    /// The fraction of the run's steps taken before this one, in `[0, 1)`.
    pub fn fraction(&self) -> f64 {
        let total = (self.epochs * self.batches).max(1);
        let done = self.epoch * self.batches + self.batch;
        done as f64 / total as f64
    }
}

impl LrSchedule {
    /// The learning rate for the step at `at`.
    pub fn rate(&self, base: f64, at: Progress) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, gamma } => {
                base * gamma.powi((at.epoch / every.max(1)) as i32)
            }
            LrSchedule::Cosine { min_lr } => {
                let t = at.fraction();
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

    fn at(epoch: usize, epochs: usize, batch: usize, batches: usize) -> Progress {
        Progress {
            epoch,
            epochs,
            batch,
            batches,
        }
    }

    #[test]
    fn cosine_starts_at_base_and_never_reaches_min() {
        let s = LrSchedule::Cosine { min_lr: 0.001 };
        assert_eq!(s.rate(0.1, at(0, 10, 0, 5)), 0.1);
        // Half-way through the run: the mean of base and min.
        let mid = s.rate(0.1, at(5, 10, 0, 5));
        assert!((mid - 0.0505).abs() < 1e-12, "{mid}");
        // The last step of the last epoch still trains above min_lr.
        let last = s.rate(0.1, at(9, 10, 4, 5));
        let expected = 0.001 + 0.5 * 0.099 * (1.0 + (std::f64::consts::PI * 49.0 / 50.0).cos());
        assert!((last - expected).abs() < 1e-15, "{last}");
        assert!(last > 0.001);
    }

    #[test]
    fn cosine_trains_every_epoch_of_a_short_run() {
        // The bug this replaced: a 2-epoch fine-tune at min_lr 0 spent its
        // second epoch at rate 0.
        let s = LrSchedule::Cosine { min_lr: 0.0 };
        let second_epoch: Vec<f64> = (0..4).map(|b| s.rate(0.01, at(1, 2, b, 4))).collect();
        assert!(second_epoch.iter().all(|&r| r > 0.0), "{second_epoch:?}");
        // And the rate falls at every step.
        let all: Vec<f64> = (0..2)
            .flat_map(|e| (0..4).map(move |b| (e, b)))
            .map(|(e, b)| s.rate(0.01, at(e, 2, b, 4)))
            .collect();
        assert!(all.windows(2).all(|w| w[1] < w[0]), "{all:?}");
    }

    #[test]
    fn a_one_step_run_trains_at_the_base_rate() {
        let s = LrSchedule::Cosine { min_lr: 0.0 };
        assert_eq!(s.rate(0.05, at(0, 1, 0, 1)), 0.05);
    }

    #[test]
    fn step_decays_every_n_epochs() {
        let s = LrSchedule::Step {
            every: 2,
            gamma: 0.5,
        };
        let rates: Vec<f64> = (0..5).map(|e| s.rate(1.0, at(e, 5, 3, 4))).collect();
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
