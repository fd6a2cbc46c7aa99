//! Defended checkpoints: the network's weights plus, in the sidecar's
//! `extra["defence"]`, `{"defence": name, "key_id": …, "config": …}`. The key
//! itself is never written: the user supplies it again at load time and it
//! must match the recorded key id.

use std::path::{Path, PathBuf};

use advcomp_models::checkpoint::{self, Checkpoint};
use advcomp_models::{CheckpointError, Network, Sidecar};
use burn::tensor::Device;

use crate::defence::{Defence, DefendedModel};
use crate::key::Key;
use crate::{sitatapatra, taboo};

/// The sidecar `extra` key under which the defence is recorded.
pub const EXTRA_KEY: &str = "defence";

/// Why a defended checkpoint could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum DefenceError {
    /// The checkpoint itself failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint records no defence.
    #[error("{dir} holds no defended model (its checkpoint.json has no extra.{EXTRA_KEY})")]
    NotDefended {
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// The key given is not the one the model was trained with.
    #[error(
        "{dir}: wrong key: the model was trained with key id {expected}, the key given has id {found}"
    )]
    WrongKey {
        /// The checkpoint directory.
        dir: PathBuf,
        /// Recorded key id.
        expected: String,
        /// Id of the key supplied.
        found: String,
    },
    /// The checkpoint records a keyed defence and no key was given where
    /// one is needed (to learn its thresholds again after compression).
    #[error(
        "{dir} holds a model with a keyed defence, {defence} (key id {key_id}); its thresholds are set again on a compressed copy, which needs the key: compress it in a scenario (`variant … = … | prune …`), where the key is given"
    )]
    KeyNeeded {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The recorded defence's name.
        defence: String,
        /// The recorded key id.
        key_id: String,
    },
    /// The record is malformed or names an unknown defence.
    #[error("{dir}: extra.{EXTRA_KEY}: {message}")]
    BadRecord {
        /// The checkpoint directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The record written under `extra["defence"]`.
pub fn record(defence: &dyn Defence) -> serde_json::Value {
    serde_json::json!({
        "defence": defence.name(),
        "key_id": defence.key_id(),
        "config": defence.config(),
    })
}

/// Saves `network` with `sidecar` extended by `defence`'s record into `dir`.
pub fn save(
    network: &Network,
    defence: &dyn Defence,
    mut sidecar: Sidecar,
    dir: &Path,
) -> Result<Sidecar, DefenceError> {
    sidecar.extra.insert(EXTRA_KEY.into(), record(defence));
    Ok(checkpoint::save(network, &sidecar, dir)?)
}

impl DefendedModel {
    /// Saves the model (see [`save`]).
    pub fn save(&self, sidecar: Sidecar, dir: &Path) -> Result<Sidecar, DefenceError> {
        save(&self.network, self.defence.as_ref(), sidecar, dir)
    }

    /// Loads a defended checkpoint with its key; fails with
    /// [`DefenceError::WrongKey`] when `key` is not the one it was made with.
    pub fn load(dir: &Path, key: &Key, device: &Device) -> Result<(Self, Sidecar), DefenceError> {
        let checkpoint = Checkpoint::load(dir, device)?;
        let defence = from_sidecar(&checkpoint.sidecar, key, dir)?.ok_or_else(|| {
            DefenceError::NotDefended {
                dir: dir.to_path_buf(),
            }
        })?;
        Ok((
            DefendedModel {
                network: checkpoint.network,
                defence,
            },
            checkpoint.sidecar,
        ))
    }
}

/// The defence recorded in `sidecar` (`None` when it records none), rebuilt
/// with `key`; fails with [`DefenceError::WrongKey`] when `key` is not the
/// one it was made with. `dir` names the checkpoint in errors. Used for
/// checkpoints that carry a defence alongside other records (a compressed
/// variant of a defended model).
pub fn from_sidecar(
    sidecar: &Sidecar,
    key: &Key,
    dir: &Path,
) -> Result<Option<Box<dyn Defence>>, DefenceError> {
    let bad = |message: String| DefenceError::BadRecord {
        dir: dir.to_path_buf(),
        message,
    };
    let Some(entry) = sidecar.extra.get(EXTRA_KEY) else {
        return Ok(None);
    };
    let name = entry
        .get("defence")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("missing `defence` name".into()))?;
    let expected = entry
        .get("key_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("missing `key_id`".into()))?;
    if expected != key.id() {
        return Err(DefenceError::WrongKey {
            dir: dir.to_path_buf(),
            expected: expected.to_string(),
            found: key.id(),
        });
    }
    let config = entry.get("config").cloned().unwrap_or_default();
    let defence: Box<dyn Defence> = match name {
        taboo::NAME | taboo::OLD_NAME => Box::new(
            taboo::TabooTrap::from_config(key.clone(), &config)
                .map_err(|e| bad(format!("config: {e}")))?,
        ),
        sitatapatra::NAME => Box::new(
            sitatapatra::Sitatapatra::from_config(key.clone(), &config)
                .map_err(|e| bad(format!("config: {e}")))?,
        ),
        other => {
            return Err(bad(format!(
                "unknown defence `{other}` (known: {}, {})",
                taboo::NAME,
                sitatapatra::NAME
            )));
        }
    };
    Ok(Some(defence))
}
