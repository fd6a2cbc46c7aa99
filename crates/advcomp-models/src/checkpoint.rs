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
//!
//! A checkpoint directory may come from someone else, so nothing in it is
//! trusted to name or size what gets read: the sidecar's `weights_file` must
//! be a plain file name of a regular file in the directory (no path, no
//! symlink), and neither file is read past [`MAX_WEIGHTS_BYTES`] /
//! [`MAX_SIDECAR_BYTES`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

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
/// The sidecar layout this build writes.
///
/// Version 2 (Mayo's CifarNet) added [`Sidecar::batch_norm_folded`] and the
/// batch-norm running statistics to the weights, and renamed the TF-tutorial
/// CifarNet from `cifarnet` to `cifarnet-tf`. Version 1 is still read: its
/// `cifarnet` is loaded as `cifarnet-tf`, and its LeNet-5 weights are
/// unchanged.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest sidecar layout this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Largest weights file [`Checkpoint::load`] reads: 512 MiB. The networks
/// advcomp studies are a few MiB (LeNet-5 1.7 MiB); the cap keeps a hostile
/// or mistaken checkpoint from exhausting memory before the hash check.
pub const MAX_WEIGHTS_BYTES: u64 = 512 << 20;
/// Largest sidecar [`read_sidecar`] reads: 64 MiB, far above any real one
/// (a compressed checkpoint's, with its report, is a few KiB).
pub const MAX_SIDECAR_BYTES: u64 = 64 << 20;

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
    /// Weights file name inside the checkpoint directory: a plain name
    /// (no separators, not `.`/`..`), checked by [`Checkpoint::load`].
    pub weights_file: String,
    /// SHA-256 (hex) of the weights file.
    pub weights_sha256: String,
    /// Whether the weights are those of the network with its batch norms
    /// folded into its convolutions ([`Network::fold_batch_norm`]), as a
    /// compressed model's are. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch_norm_folded: bool,
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
            batch_norm_folded: network.batch_norm_folded(),
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
    /// The sidecar's `weights_file` is not a plain file name inside the
    /// checkpoint directory.
    #[error(
        "{sidecar}: `weights_file` {name:?} is refused: it must be a plain file name \
         inside the checkpoint directory (such as {WEIGHTS_FILE:?}), {reason}"
    )]
    WeightsFileName {
        /// The sidecar that names the file.
        sidecar: PathBuf,
        /// The name as written.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A file of the checkpoint is not a regular file: a symlink, a
    /// directory, a device.
    #[error("{path} is {kind}, not a regular file; refusing to read it")]
    NotAFile {
        /// The file.
        path: PathBuf,
        /// What it is instead (`a symlink`, `a directory`, ...).
        kind: &'static str,
    },
    /// A file of the checkpoint is larger than this build reads.
    #[error("{path} is {size} bytes, more than the {limit} bytes advcomp reads for {what}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least; a growing file is cut off at `limit + 1`).
        size: u64,
        /// The limit ([`MAX_WEIGHTS_BYTES`] or [`MAX_SIDECAR_BYTES`]).
        limit: u64,
        /// Which file it is (`a weights file`, `a sidecar`).
        what: &'static str,
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
///
/// The file gets the permissions a plain `File::create` would give it
/// (`0o666` less the umask): tempfile's private `0o600` default would make
/// checkpoints and reports unreadable to the rest of a group that shares
/// them. The kernel applies the umask to the mode asked for at creation, so
/// no umask needs to be read.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
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
        let weights_path = weights_path(dir, &sidecar.weights_file)?;
        let bytes = read_capped(&weights_path, MAX_WEIGHTS_BYTES, "a weights file")?;
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
        let mut network = Network::zeroed(sidecar.architecture, device);
        if sidecar.batch_norm_folded {
            // The folded layout; the zero weights fold to zero weights.
            network = network.fold_batch_norm();
        }
        let network = network
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

/// Where the weights named `name` by the sidecar of `dir` are, if `name` is
/// a plain file name (one normal path component: no separator, not `.` or
/// `..`, not absolute) of a regular file in `dir`.
///
/// Symlinks are refused outright rather than resolved and checked: advcomp
/// never writes one, and refusing them leaves no question of where a link
/// points by the time it is read.
fn weights_path(dir: &Path, name: &str) -> Result<PathBuf, CheckpointError> {
    let refuse = |reason| CheckpointError::WeightsFileName {
        sidecar: dir.join(SIDECAR_FILE),
        name: name.to_string(),
        reason,
    };
    let mut components = Path::new(name).components();
    let plain = matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    );
    if name.is_empty() {
        return Err(refuse("not an empty string"));
    }
    if !plain || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(refuse("not a path"));
    }
    let path = dir.join(name);
    let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
    let kind = file_kind(&meta.file_type());
    if !meta.file_type().is_file() {
        return Err(CheckpointError::NotAFile { path, kind });
    }
    Ok(path)
}

/// How a non-regular file is named in messages.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_dir() {
        "a directory"
    } else {
        "a special file (device, pipe or socket)"
    }
}

/// Reads `path`, a regular file of at most `limit` bytes. The size is
/// checked before reading, and the read itself stops at `limit + 1` bytes,
/// so a file that grows (or was swapped for a device) in between cannot
/// exhaust memory either.
fn read_capped(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, CheckpointError> {
    let file = File::open(path).map_err(io(path))?;
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(CheckpointError::NotAFile {
            path: path.to_path_buf(),
            kind: file_kind(&meta.file_type()),
        });
    }
    let too_large = |size| CheckpointError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
        what,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
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
    sidecar.batch_norm_folded = network.batch_norm_folded();
    sidecar.format_version = FORMAT_VERSION;
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
    let text = read_capped(&path, MAX_SIDECAR_BYTES, "a sidecar")?;
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
    let supported = u64::from(OLDEST_FORMAT_VERSION)..=u64::from(FORMAT_VERSION);
    if !version.is_some_and(|v| supported.contains(&v)) {
        return Err(CheckpointError::Unsupported {
            path,
            reason: format!(
                "checkpoint format version {} is not supported by this advcomp (reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})",
                version.map_or("missing".to_string(), |v| v.to_string())
            ),
        });
    }
    let mut sidecar: Sidecar = serde_json::from_value(value)
        .map_err(|source| CheckpointError::BadSidecar { path, source })?;
    if sidecar.format_version == 1 && sidecar.architecture == Architecture::CIFARNET {
        // Before version 2, `cifarnet` was the TF-tutorial network.
        sidecar.architecture = Architecture::CIFARNET_TF;
    }
    Ok(sidecar)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_atomic` must not make files more private than `File::create`
    /// would (tempfile's default is 0o600 whatever the umask).
    #[cfg(unix)]
    #[test]
    fn write_atomic_gives_the_mode_file_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("plain");
        File::create(&plain).unwrap();
        let atomic = tmp.path().join("atomic");
        write_atomic(&atomic, b"x").unwrap();
        // Replacing a file takes the mode of a new file, too.
        write_atomic(&atomic, b"y").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            format!("{:o}", mode(&atomic)),
            format!("{:o}", mode(&plain))
        );
        assert_eq!(std::fs::read(&atomic).unwrap(), b"y");
    }

    fn cpu() -> Device {
        advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("default CPU backend")
    }

    /// A CifarNet whose running statistics moved off their initial values.
    fn trained_cifarnet() -> Network {
        use burn::tensor::{Distribution, Tensor};
        let device = cpu().autodiff();
        let mut net = Network::new(Architecture::CIFARNET, &device, 1);
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &device);
        let _ = net.forward_train(x, &crate::NoHook, 0);
        net.valid()
    }

    #[test]
    fn batch_norm_running_statistics_and_folding_round_trip() {
        use burn::tensor::{Distribution, Tensor};
        let device = cpu();
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &device);
        for folded in [false, true] {
            let mut net = trained_cifarnet();
            if folded {
                net = net.fold_batch_norm();
            }
            let tmp = tempfile::tempdir().unwrap();
            let written = save(&net, &Sidecar::new(&net, 1), tmp.path()).unwrap();
            assert_eq!(written.format_version, FORMAT_VERSION);
            assert_eq!(written.batch_norm_folded, folded);
            let loaded = Checkpoint::load(tmp.path(), &device).unwrap().network;
            assert_eq!(loaded.batch_norm_folded(), folded);
            let diff: f32 = (net.forward(x.clone()) - loaded.forward(x.clone()))
                .abs()
                .max()
                .into_scalar();
            assert_eq!(diff, 0.0, "folded: {folded}");
        }
    }

    #[test]
    fn a_version_1_cifarnet_is_the_tf_network() {
        let tmp = tempfile::tempdir().unwrap();
        let net = Network::new(Architecture::CIFARNET_TF, &cpu(), 1);
        let written = save(&net, &Sidecar::new(&net, 1), tmp.path()).unwrap();
        // As advcomp wrote it before format 2.
        let mut old = serde_json::to_value(&written).unwrap();
        old["format_version"] = 1.into();
        old["architecture"] = "cifarnet".into();
        let path = tmp.path().join(SIDECAR_FILE);
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        let loaded = Checkpoint::load(tmp.path(), &cpu()).unwrap();
        assert_eq!(loaded.sidecar.architecture, Architecture::CIFARNET_TF);
        assert_eq!(loaded.network.architecture(), Architecture::CIFARNET_TF);
    }

    #[test]
    fn write_atomic_leaves_no_temp_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_atomic(&tmp.path().join("f"), b"x").unwrap();
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
    }
}
