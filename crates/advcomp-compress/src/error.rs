//! Why compression failed.

use std::path::PathBuf;

/// Why a compression pipeline could not run or its result not be saved.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// A step's configuration is invalid.
    #[error(transparent)]
    Config(#[from] advcomp_params::ParamError),
    /// Fine-tuning failed (diverged, data does not fit the model).
    #[error("fine-tuning: {0}")]
    Train(#[from] advcomp_train::TrainError),
    /// Loading or saving the checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] advcomp_models::CheckpointError),
    /// A checkpoint's compression record is unreadable.
    #[error("{path}: {message}")]
    Sidecar {
        /// The sidecar file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}
