//! Loading a whole data set from a directory, and its fingerprint.
//!
//! The fingerprint is SHA-256 over, for each file read in the format's fixed
//! order, its length as a little-endian `u64` followed by its bytes exactly as
//! stored (still gzipped where they are). The length prefix keeps two
//! different file sets from ever hashing the same concatenation. The readers
//! hash each file as they stream it, so the bytes hashed are the bytes parsed.

use std::path::Path;

use crate::dataset::Split;
use crate::error::DataError;
use crate::kind::DatasetKind;
use crate::{cifar, mnist};

/// Loads the training and test sets of `kind` from `dir`, checking every file.
///
/// `dir` is what [`crate::locate::resolve`] returns: for MNIST the directory
/// holding the four IDX files, for CIFAR-10 the directory holding the batches
/// or a `cifar-10-batches-bin/` directory with them.
pub fn load(kind: DatasetKind, dir: &Path) -> Result<Split, DataError> {
    if !dir.is_dir() {
        return Err(DataError::DirNotFound {
            path: dir.to_path_buf(),
            hint: format!(" (looking for {kind} data)"),
        });
    }
    let split = match kind {
        DatasetKind::Mnist => mnist::load(dir)?,
        DatasetKind::Cifar10 => cifar::load(dir)?,
    };
    tracing::debug!(
        %kind,
        dir = %dir.display(),
        train = split.train.len(),
        test = split.test.len(),
        fingerprint = %split.fingerprint,
        "loaded data set"
    );
    Ok(split)
}
