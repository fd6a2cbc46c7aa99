//! Why a run failed.

use std::path::PathBuf;

/// Why a scenario could not run. Every variant names the file or the step.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The dataset could not be found or read.
    #[error(transparent)]
    Data(#[from] advcomp_data::DataError),
    /// The scenario names a dataset advcomp does not know.
    #[error("unknown dataset `{0}`; known: mnist, cifar10")]
    UnknownDataset(String),
    /// A cached artifact is unreadable (delete the cache entry to recompute it).
    #[error("{path} is corrupt: {message} (delete {dir} to recompute it)", dir = .path.parent().map(|p| p.display().to_string()).unwrap_or_default())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The plan is over its step limit.
    #[error(transparent)]
    TooLarge(#[from] crate::plan::TooLarge),
    /// A worker's plan file ([`crate::WorkOrder`]) is unreadable or does
    /// not match its scenario.
    #[error("plan file {path}: {message}")]
    Order {
        /// The plan file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The scheduler (worker processes, SLURM) failed: a command could not
    /// start or answered with an error.
    #[error("{0}")]
    Executor(String),
    /// The run was interrupted (Ctrl-C); what was running was stopped.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// A step failed.
    #[error("step `{step}` failed: {message}")]
    Step {
        /// The step's label.
        step: String,
        /// What went wrong.
        message: String,
    },
}

/// Shorthand for an I/O error on `path`.
pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.into();
    move |source| RunError::Io { path, source }
}
