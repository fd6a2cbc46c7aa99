//! Training and evaluation of advcomp networks.
//!
//! One loop serves plain training, compressor fine-tuning and defence
//! training: callers insert a [`LayerHook`](advcomp_models::LayerHook) into
//! the forward pass, add a loss term, and rewrite the network after each
//! optimiser step (pruning masks) through [`TrainHooks`]. Everything random
//! (initial weights, batch order) follows the seed, so on a CPU backend the
//! same configuration gives the same numbers bit for bit.

pub mod batch;
pub mod config;
pub mod evaluate;
pub mod job;
pub mod schedule;
pub mod trainer;

pub use config::{OptimizerConfig, TrainConfig};

/// The training loop's version, part of the cache key of every step that
/// trains: training from scratch, `finetune` and every `defend` step (the
/// last two beside their own component's version). Bump it whenever a change makes the same
/// [`TrainConfig`] give different weights, so cached models made by the old
/// code are retrained instead of served.
///
/// History: 2 — the cosine schedule moves at every step and never trains at
/// its end value (version 1 spent the last epoch at learning rate 0).
pub const VERSION: u32 = 2;
pub use evaluate::{Evaluation, evaluate};
pub use job::{JobError, Limits, Metrics, TrainOutcome, evaluate_checkpoint, train_to_checkpoint};
pub use schedule::{LrSchedule, Progress};
pub use trainer::{
    EpochStats, HookPair, TrainError, TrainHooks, TrainObserver, TrainReport, Trainer,
};
