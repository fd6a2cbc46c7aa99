//! The artifact cache: one directory per step, named by the step's content
//! hash, created atomically.
//!
//! A step writes into `tmp/<key>-<pid>/` and renames it to `<key>/` when
//! everything is written, so a directory named by a key is always
//! complete; a run killed at any moment (even SIGKILL) leaves at most a
//! stale temporary directory, which the next run removes.

use std::path::{Path, PathBuf};

use crate::error::{RunError, io};

/// The file every finished step directory holds last.
pub const STEP_RECORD: &str = "step.json";

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating it) the cache at `root` and removes temporary
    /// directories that interrupted runs left behind.
    pub fn open(root: &Path) -> Result<Self, RunError> {
        std::fs::create_dir_all(root).map_err(io(root))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// Where the finished artifacts of `key` live.
    pub fn dir(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Whether `key` is finished.
    pub fn has(&self, key: &str) -> bool {
        self.dir(key).join(STEP_RECORD).is_file()
    }

    /// A fresh temporary directory to build `key` in.
    pub fn staging(&self, key: &str) -> Result<PathBuf, RunError> {
        let dir = self
            .root
            .join("tmp")
            .join(format!("{key}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(dir)
    }

    /// Publishes a staging directory as `key`.
    pub fn commit(&self, staging: &Path, key: &str) -> Result<PathBuf, RunError> {
        let dir = self.dir(key);
        if dir.exists() {
            // An incomplete directory from a foreign tool or an older
            // layout: replace it.
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::rename(staging, &dir).map_err(io(&dir))?;
        Ok(dir)
    }
}

/// Writes `bytes` to `path` atomically (temporary file + rename).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    advcomp_models::checkpoint::write_atomic(path, bytes).map_err(io(path))
}

/// Writes `value` as pretty JSON.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), RunError> {
    let mut json = serde_json::to_string_pretty(value).expect("artifacts serialise");
    json.push('\n');
    write(path, json.as_bytes())
}

/// Reads JSON written by [`write_json`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes).map_err(|e| RunError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
