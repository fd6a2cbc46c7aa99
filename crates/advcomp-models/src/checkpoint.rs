//! Checkpoints: a directory with the weights (`model.bpk`, burn's burnpack
//! format) and a JSON sidecar (`checkpoint.json`) that says what the weights
//! are, how they were made and a SHA-256 of them.
//!
//! The sidecar is what makes a checkpoint safe to load: the architecture is
//! read from it (so `advcomp eval DIR` needs no `--model`), the hash catches a
//! truncated or corrupted weights file before burn sees it, and loading into
//! the wrong architecture is reported as such rather than as a tensor-shape
//! mismatch. Both files are written atomically (temp file + rename), weights
//! first, so a crash never leaves a sidecar pointing at missing weights.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use sha2::{Digest, Sha256};

use crate::architecture::Architecture;
use crate::network::Network;

/// Name of the weights file inside a checkpoint directory.
pub const WEIGHTS_FILE: &str = "model.bpk";
/// Name of the sidecar inside a checkpoint directory.
pub const SIDECAR_FILE: &str = "checkpoint.json";
/// Value of [`Sidecar::format`].
pub const FORMAT: &str = "advcomp-checkpoint";
/// The sidecar layout this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Everything known about a checkpoint besides its weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sidecar {
    /// Always [`FORMAT`]; guards against loading some other JSON file.
    pub format: String,
    /// Sidecar layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Version of advcomp that wrote the checkpoint.
    pub advcomp_version: String,
    /// The architecture the weights belong to.
    pub architecture: Architecture,
    /// The seed that fixed every random choice of the run that made it.
    pub seed: u64,
    /// How the weights were made (the training configuration), as written by the trainer.
    pub training: serde_json::Value,
    /// Which data was used (dataset, location, fingerprint, sizes).
    pub data: serde_json::Value,
    /// Evaluation results at save time.
    pub metrics: serde_json::Value,
    /// Number of scalar parameters.
    pub num_params: usize,
    /// Weights file name, relative to the checkpoint directory.
    pub weights_file: String,
    /// SHA-256 (hex) of the weights file.
    pub weights_sha256: String,
    /// Extension point for later stages (compression report, defence key id):
    /// keyed by the crate that owns the entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Sidecar {
    /// A sidecar for `network` with empty provenance; fill in the fields you know.
    pub fn new(network: &Network, seed: u64) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            advcomp_version: env!("CARGO_PKG_VERSION").into(),
            architecture: network.architecture(),
            seed,
            training: serde_json::Value::Null,
            data: serde_json::Value::Null,
            metrics: serde_json::Value::Null,
            num_params: network.num_params(),
            weights_file: WEIGHTS_FILE.into(),
            weights_sha256: String::new(),
            extra: BTreeMap::new(),
        }
    }
}

/// A network with its sidecar.
#[derive(Debug)]
pub struct Checkpoint {
    /// The weights.
    pub network: Network,
    /// What they are and where they came from.
    pub sidecar: Sidecar,
}

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory has no sidecar.
    #[error(
        "{dir} is not an advcomp checkpoint: it has no {SIDECAR_FILE} (train one with `advcomp train --out DIR`)"
    )]
    NotACheckpoint {
        /// The directory.
        dir: PathBuf,
    },
    /// The sidecar is not valid JSON of the expected shape.
    #[error("{path}: invalid checkpoint sidecar: {source}")]
    BadSidecar {
        /// The sidecar file.
        path: PathBuf,
        /// Parse error with line and column.
        source: serde_json::Error,
    },
    /// The sidecar is JSON but not ours, or from an unsupported version.
    #[error("{path}: {reason}")]
    Unsupported {
        /// The sidecar file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint holds another architecture than the one asked for.
    #[error("{dir} holds a {found} checkpoint, but a {expected} model was asked for")]
    WrongArchitecture {
        /// The checkpoint directory.
        dir: PathBuf,
        /// What the caller wanted.
        expected: Architecture,
        /// What the sidecar says.
        found: Architecture,
    },
    /// The weights file does not match the hash in the sidecar.
    #[error(
        "{path} is corrupt: its SHA-256 is {actual}, but {SIDECAR_FILE} records {expected} \
         (was the file truncated or overwritten?)"
    )]
    Corrupt {
        /// The weights file.
        path: PathBuf,
        /// Hash recorded in the sidecar.
        expected: String,
        /// Hash of the file on disk.
        actual: String,
    },
    /// burn could not read the weights or they do not fit the architecture.
    #[error("{path}: cannot load {architecture} weights: {reason}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// The architecture from the sidecar.
        architecture: Architecture,
        /// burn's explanation.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory,
/// flushed to disk, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Checkpoint {
    /// Saves into `dir` (created if needed). Fills in the sidecar's weights
    /// file, hash, parameter count and architecture from the network.
    pub fn save(&self, dir: &Path) -> Result<Sidecar, CheckpointError> {
        save(&self.network, &self.sidecar, dir)
    }

    /// Loads the checkpoint in `dir` onto `device`, whatever its architecture.
    pub fn load(dir: &Path, device: &Device) -> Result<Checkpoint, CheckpointError> {
        let sidecar = read_sidecar(dir)?;
        let weights_path = dir.join(&sidecar.weights_file);
        let bytes = std::fs::read(&weights_path).map_err(io(&weights_path))?;
        let actual = sha256_hex(&bytes);
        if actual != sidecar.weights_sha256 {
            return Err(CheckpointError::Corrupt {
                path: weights_path,
                expected: sidecar.weights_sha256.clone(),
                actual,
            });
        }
        let weights_error = |reason: String| CheckpointError::Weights {
            path: weights_path.clone(),
            architecture: sidecar.architecture,
            reason,
        };
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| weights_error(e.to_string()))?;
        let network = Network::zeroed(sidecar.architecture, device)
            .try_load_record(record)
            .map_err(|e| weights_error(e.to_string()))?;
        Ok(Checkpoint { network, sidecar })
    }

    /// Loads the checkpoint in `dir`, requiring it to be `expected`.
    pub fn load_as(
        dir: &Path,
        expected: Architecture,
        device: &Device,
    ) -> Result<Checkpoint, CheckpointError> {
        let found = read_sidecar(dir)?.architecture;
        if found != expected {
            return Err(CheckpointError::WrongArchitecture {
                dir: dir.to_path_buf(),
                expected,
                found,
            });
        }
        Self::load(dir, device)
    }
}

/// Saves `network` with `sidecar` into `dir`; returns the sidecar as written.
pub fn save(network: &Network, sidecar: &Sidecar, dir: &Path) -> Result<Sidecar, CheckpointError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes =
        network
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| CheckpointError::Weights {
                path: weights_path.clone(),
                architecture: network.architecture(),
                reason: e.to_string(),
            })?;
    let bytes: &[u8] = &bytes;
    let mut sidecar = sidecar.clone();
    sidecar.architecture = network.architecture();
    sidecar.num_params = network.num_params();
    sidecar.weights_file = WEIGHTS_FILE.into();
    sidecar.weights_sha256 = sha256_hex(bytes);
    write_atomic(&weights_path, bytes).map_err(io(&weights_path))?;
    let sidecar_path = dir.join(SIDECAR_FILE);
    let mut json = serde_json::to_vec_pretty(&sidecar).expect("a sidecar always serialises");
    json.push(b'\n');
    write_atomic(&sidecar_path, &json).map_err(io(&sidecar_path))?;
    Ok(sidecar)
}

/// Reads and checks the sidecar of the checkpoint in `dir`.
pub fn read_sidecar(dir: &Path) -> Result<Sidecar, CheckpointError> {
    let path = dir.join(SIDECAR_FILE);
    if !path.is_file() {
        return Err(CheckpointError::NotACheckpoint {
            dir: dir.to_path_buf(),
        });
    }
    let text = std::fs::read(&path).map_err(io(&path))?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| CheckpointError::BadSidecar {
            path: path.clone(),
            source,
        })?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != FORMAT {
        return Err(CheckpointError::Unsupported {
            path,
            reason: format!(
                "`format` is {format:?}, expected {FORMAT:?}: not an advcomp checkpoint"
            ),
        });
    }
    let version = value.get("format_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(CheckpointError::Unsupported {
            path,
            reason: format!(
                "checkpoint format version {} is not supported by this advcomp (reads version {FORMAT_VERSION})",
                version.map_or("missing".to_string(), |v| v.to_string())
            ),
        });
    }
    serde_json::from_value(value).map_err(|source| CheckpointError::BadSidecar { path, source })
}
