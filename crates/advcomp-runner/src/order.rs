//! The plan file a worker reads: which scenario, on which backend and data.
//!
//! A worker (`advcomp step run KEY --plan FILE --cache DIR`) does not
//! receive the plan itself: it re-reads the scenario, checks that its bytes
//! are the ones the plan was made from, and compiles the same plan with the
//! same keys. So the file holds no step and no secret: a defence passphrase
//! stays in the scenario (or the environment it names) and never reaches
//! the cache, the queue or a log. A worker on another machine needs the
//! same paths (a shared filesystem) and the same data; a difference in
//! either changes the keys, and the worker says that it cannot find its
//! step instead of computing something else.

use std::path::{Path, PathBuf};

use advcomp_scenario::Resolved;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::{Cache, write};
use crate::error::{RunError, io};
use crate::{LoadError, RunOptions};

/// The plan-file format this build reads and writes.
pub const FORMAT: u32 = 1;

/// Plan files are a few hundred bytes; a larger file is not one.
const MAX_BYTES: u64 = 1 << 20;

/// Where plan files live inside a cache.
pub const DIR: &str = "plans";

/// What a worker needs to compile the plan of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrder {
    /// [`FORMAT`].
    pub format: u32,
    /// The scenario file, absolute.
    pub scenario: PathBuf,
    /// SHA-256 of the scenario's bytes when the plan was made.
    pub scenario_sha256: String,
    /// The resolved backend's name.
    pub backend: String,
    /// The dataset directory, absolute (`None`: the usual lookup).
    pub data_dir: Option<PathBuf>,
    /// The run's step limit.
    pub max_steps: usize,
}

impl WorkOrder {
    /// The order for `options`' run of the scenario whose bytes are
    /// `scenario_bytes`.
    pub fn new(options: &RunOptions, scenario_bytes: &[u8]) -> Result<Self, RunError> {
        let absolute = |p: &Path| std::path::absolute(p).map_err(io(p));
        Ok(Self {
            format: FORMAT,
            scenario: absolute(&options.scenario)?,
            scenario_sha256: hex::encode(Sha256::digest(scenario_bytes)),
            backend: options.backend.clone(),
            data_dir: options.data_dir.as_deref().map(absolute).transpose()?,
            max_steps: options.max_steps.unwrap_or(crate::plan::DEFAULT_MAX_STEPS),
        })
    }

    /// Writes the order into `cache/plans/`, named by a hash of its
    /// contents (so runs of one scenario share one file and writes never
    /// conflict), atomically; returns the file's absolute path.
    pub fn write(&self, cache: &Cache) -> Result<PathBuf, RunError> {
        let mut json = serde_json::to_string_pretty(self).expect("a work order serialises");
        json.push('\n');
        let name = format!("{}.json", &hex::encode(Sha256::digest(&json))[..16]);
        let dir = cache.root().join(DIR);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = std::path::absolute(dir.join(name)).map_err(io(&dir))?;
        write(&path, json.as_bytes())?;
        Ok(path)
    }

    /// Reads a plan file, refusing anything that is not one.
    pub fn read(path: &Path) -> Result<Self, RunError> {
        let bad = |message: String| RunError::Order {
            path: path.to_path_buf(),
            message,
        };
        let size = std::fs::metadata(path).map_err(io(path))?.len();
        if size > MAX_BYTES {
            return Err(bad(format!(
                "{size} bytes; a plan file is under {MAX_BYTES}"
            )));
        }
        let bytes = std::fs::read(path).map_err(io(path))?;
        let order: Self = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if order.format != FORMAT {
            return Err(bad(format!(
                "format {} (this advcomp reads format {FORMAT}); rerun `advcomp run` to write a new one",
                order.format
            )));
        }
        Ok(order)
    }

    /// Loads and checks the scenario, refusing it if its bytes changed
    /// since the plan was written: a worker must compute the step that was
    /// asked for, not a step of an edited scenario.
    pub fn load(&self, path: &Path) -> Result<(Resolved, Vec<u8>), RunError> {
        let bad = |message: String| RunError::Order {
            path: path.to_path_buf(),
            message,
        };
        let changed = |bytes: &[u8]| {
            let sha = hex::encode(Sha256::digest(bytes));
            (sha != self.scenario_sha256).then(|| {
                bad(format!(
                    "{} changed since this plan was written (SHA-256 {} instead of {}); \
                     rerun `advcomp run`",
                    self.scenario.display(),
                    &sha[..12],
                    self.scenario_sha256
                        .get(..12)
                        .unwrap_or(&self.scenario_sha256)
                ))
            })
        };
        // The hash first: an edited scenario may not even parse any more.
        let before = std::fs::read(&self.scenario).map_err(io(&self.scenario))?;
        if let Some(e) = changed(&before) {
            return Err(e);
        }
        let (bytes, resolved) = crate::load(&self.scenario).map_err(|e| {
            bad(match e {
                LoadError::Scenario(d) => d.render(false).to_string(),
                other => other.to_string(),
            })
        })?;
        match changed(&bytes) {
            Some(e) => Err(e),
            None => Ok((resolved, bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(dir: &Path) -> WorkOrder {
        WorkOrder {
            format: FORMAT,
            scenario: dir.join("s.scn"),
            scenario_sha256: "ab".repeat(32),
            backend: "flex".into(),
            data_dir: None,
            max_steps: 10,
        }
    }

    #[test]
    fn an_order_round_trips_and_one_content_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let a = order(dir.path()).write(&cache).unwrap();
        let b = order(dir.path()).write(&cache).unwrap();
        assert_eq!(a, b);
        assert!(a.is_absolute());
        assert_eq!(WorkOrder::read(&a).unwrap(), order(dir.path()));
    }

    #[test]
    fn anything_but_a_plan_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let cases: [(&[u8], &str); 3] = [
            (b"{ not json", "plan file"),
            (br#"{"format": 1, "extra": true}"#, "unknown field"),
            (
                br#"{"format": 9, "scenario": "s", "scenario_sha256": "x", "backend": "flex", "data_dir": null, "max_steps": 1}"#,
                "format 9",
            ),
        ];
        for (bytes, expected) in cases {
            std::fs::write(&path, bytes).unwrap();
            let err = WorkOrder::read(&path).unwrap_err().to_string();
            assert!(err.contains("p.json") && err.contains(expected), "{err}");
        }
        std::fs::write(&path, vec![b' '; (MAX_BYTES + 1) as usize]).unwrap();
        let err = WorkOrder::read(&path).unwrap_err().to_string();
        assert!(err.contains("bytes"), "{err}");
    }

    #[test]
    fn an_edited_scenario_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = order(dir.path());
        std::fs::write(&o.scenario, "model m = lenet5 {}\n").unwrap();
        o.scenario_sha256 = "00".repeat(32);
        let err = o.load(Path::new("p.json")).unwrap_err().to_string();
        assert!(err.contains("changed since this plan was written"), "{err}");
    }
}
