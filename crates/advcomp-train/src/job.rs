//! A whole training job: build the network, train, evaluate on the test set,
//! save the checkpoint and its metrics. The CLI and the scenario runner both
//! call this, so a model trained either way is the same model.

use std::path::{Path, PathBuf};

use advcomp_data::{Dataset, DatasetKind, Split};
use advcomp_models::checkpoint::{self, Checkpoint, CheckpointError, Sidecar};
use advcomp_models::{Architecture, Network};
use burn::module::Module;
use burn::tensor::Device;

use crate::config::TrainConfig;
use crate::evaluate::{Evaluation, evaluate};
use crate::trainer::{TrainError, TrainObserver, TrainReport, Trainer};

/// File name of the metrics written beside a checkpoint.
pub const METRICS_FILE: &str = "metrics.json";
/// File name of the per-epoch training log written beside a checkpoint.
pub const TRAIN_LOG_FILE: &str = "train_log.json";
/// Images per batch when evaluating.
pub const EVAL_BATCH: usize = 500;

/// Test-set metrics of a checkpoint: what `metrics.json` holds and what
/// `advcomp eval --json` prints. Deterministic: no timings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// Architecture name.
    pub model: Architecture,
    /// Dataset name.
    pub dataset: DatasetKind,
    /// SHA-256 over the data files read (see `advcomp_data::Split`).
    pub data_fingerprint: String,
    /// Test accuracy in `[0,1]`.
    pub test_accuracy: f64,
    /// Mean test cross-entropy.
    pub test_loss: f64,
    /// Test images classified correctly.
    pub test_correct: usize,
    /// Test images evaluated.
    pub test_total: usize,
    /// Accuracy per true class, in class order.
    pub per_class_accuracy: Vec<f64>,
    /// Test images per true class.
    pub per_class_total: Vec<usize>,
}

impl Metrics {
    /// Metrics from an evaluation of `model` on `split`'s test set.
    pub fn new(model: Architecture, split: &Split, test: &Dataset, eval: Evaluation) -> Self {
        Self {
            model,
            dataset: test.kind,
            data_fingerprint: split.fingerprint.clone(),
            test_accuracy: eval.accuracy,
            test_loss: eval.loss,
            test_correct: eval.correct,
            test_total: eval.total,
            per_class_accuracy: eval.per_class_accuracy,
            per_class_total: eval.per_class_total,
        }
    }

    /// Pretty JSON with a trailing newline, as written to `metrics.json`.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("metrics always serialise");
        s.push('\n');
        s
    }
}

/// Which images of a split a job uses: all by default; fewer for quick runs and tests.
///
/// A limit of `n` takes `n` evenly spaced images, not the first `n`: the
/// bundled MNIST sample's first 5,000 training digits are sorted by class, so
/// a prefix would be all zeros.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Use only `n` training images, evenly spaced over the split.
    pub train: Option<usize>,
    /// Evaluate on only `n` test images, evenly spaced over the split.
    pub test: Option<usize>,
}

impl Limits {
    /// The training images to use.
    pub fn train_set(&self, split: &Split) -> Dataset {
        limit(&split.train, self.train)
    }

    /// The test images to use.
    pub fn test_set(&self, split: &Split) -> Dataset {
        limit(&split.test, self.test)
    }
}

fn limit(data: &Dataset, n: Option<usize>) -> Dataset {
    match n {
        Some(n) if n < data.len() => data.select(&spread(data.len(), n)),
        _ => data.clone(),
    }
}

/// `n` indices spread evenly over `0..len` (`n <= len`), in increasing order.
pub fn spread(len: usize, n: usize) -> Vec<usize> {
    (0..n).map(|i| i * len / n).collect()
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Saving or loading the checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Writing a metrics file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What a finished training job produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The trained network, in validation mode on a plain device.
    pub network: Network,
    /// The sidecar as written.
    pub sidecar: Sidecar,
    /// Test metrics as written to `metrics.json`.
    pub metrics: Metrics,
    /// Per-epoch statistics and timings.
    pub report: TrainReport,
}

/// Trains a fresh `architecture` network on `split` and saves it in `out`.
///
/// The initial weights and the batch order, and hence the result, follow
/// `config.seed`.
pub fn train_to_checkpoint(
    architecture: Architecture,
    split: &Split,
    limits: Limits,
    config: &TrainConfig,
    device: &Device,
    out: &Path,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, JobError> {
    let trainer = Trainer::new(config.clone())?;
    let train = limits.train_set(split);
    let test = limits.test_set(split);
    let network = Network::new(architecture, &device.clone().autodiff(), config.seed);
    let (network, report) = trainer.fit(network, &train, device, &mut (), observer)?;
    let network = network.valid();
    let eval = evaluate(
        &network,
        &test,
        &device.clone().without_autodiff(),
        EVAL_BATCH,
    );
    let metrics = Metrics::new(architecture, split, &test, eval);

    let mut sidecar = Sidecar::new(&network, config.seed);
    sidecar.training = serde_json::to_value(config).expect("configs serialise");
    sidecar.data = serde_json::json!({
        "dataset": train.kind,
        "dir": split.dir,
        "fingerprint": split.fingerprint,
        "train_images": train.len(),
        "test_images": test.len(),
        "limits": limits,
    });
    sidecar.metrics = serde_json::to_value(&metrics).expect("metrics serialise");
    let sidecar = checkpoint::save(&network, &sidecar, out)?;
    write(&out.join(METRICS_FILE), metrics.to_json().as_bytes())?;
    let mut log = serde_json::to_string_pretty(&report).expect("reports serialise");
    log.push('\n');
    write(&out.join(TRAIN_LOG_FILE), log.as_bytes())?;
    Ok(TrainOutcome {
        network,
        sidecar,
        metrics,
        report,
    })
}

/// Loads the checkpoint in `dir` and evaluates it on `split`'s test set,
/// limited as it was when trained (so the numbers are comparable).
pub fn evaluate_checkpoint(
    dir: &Path,
    split: &Split,
    device: &Device,
) -> Result<(Checkpoint, Metrics), JobError> {
    let device = device.clone().without_autodiff();
    let checkpoint = Checkpoint::load(dir, &device)?;
    let limits: Limits = checkpoint
        .sidecar
        .data
        .get("limits")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let test = limits.test_set(split);
    let network = checkpoint.network.valid();
    let eval = evaluate(&network, &test, &device, EVAL_BATCH);
    let metrics = Metrics::new(network.architecture(), split, &test, eval);
    Ok((
        Checkpoint {
            network,
            sidecar: checkpoint.sidecar,
        },
        metrics,
    ))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    checkpoint::write_atomic(path, bytes).map_err(|source| JobError::Io {
        path: path.to_path_buf(),
        source,
    })
}
