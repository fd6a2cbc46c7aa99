//! Who computes a plan's uncached steps.
//!
//! - [`Executor::InProcess`]: one step at a time in this process
//!   ([`crate::execute::execute`]); `--jobs 1`, the default.
//! - [`Executor::Local`]: up to N steps at a time, each in a worker process
//!   ([`local`]); `--jobs N`.
//! - [`Executor::Slurm`]: each step a SLURM batch job whose dependencies
//!   are its parents' jobs ([`slurm`]); `--executor slurm`.
//!
//! A worker is `PROGRAM step run KEY --plan FILE --cache DIR`
//! ([`crate::run_step`]): it compiles the plan from the
//! [`WorkOrder`](crate::WorkOrder) in FILE, computes one step in a staging
//! directory and renames it into the cache. Results are therefore the same
//! bytes whichever executor computed them: every step reads only its
//! parents' cached files, and a step's numbers depend on its seed and
//! inputs, not on which process or machine ran it (on one backend and one
//! kind of CPU; see docs/testing.md for CPUs).

pub mod local;
pub mod slurm;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

pub use slurm::SlurmConfig;

/// Who computes the uncached steps of a run.
#[derive(Debug, Clone, Default)]
pub enum Executor {
    /// One at a time, in this process.
    #[default]
    InProcess,
    /// Up to `jobs` at a time, each in a worker process.
    Local {
        /// Steps at once.
        jobs: usize,
        /// The worker program.
        worker: Worker,
    },
    /// As SLURM batch jobs.
    Slurm {
        /// Resources and polling.
        config: SlurmConfig,
        /// The worker program (on a path every node can run).
        worker: Worker,
    },
}

/// The program that computes one step: the `advcomp` binary itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// Path to the program.
    pub program: PathBuf,
}

impl Worker {
    /// The arguments that make the worker compute `key`.
    pub fn args(&self, key: &str, order: &Path, cache: &Path) -> Vec<OsString> {
        vec![
            "step".into(),
            "run".into(),
            key.into(),
            "--plan".into(),
            order.into(),
            "--cache".into(),
            cache.into(),
            "--quiet".into(),
        ]
    }
}

/// What every executor that starts workers needs.
pub struct Launch<'a> {
    /// The worker program.
    pub worker: &'a Worker,
    /// The plan file the workers read.
    pub order: &'a Path,
    /// Set to stop: workers are killed, jobs cancelled.
    pub cancel: &'a AtomicBool,
}

/// The last `lines` lines of the log at `path` (what a failed worker said),
/// or a note that it could not be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let tail = all[all.len().saturating_sub(lines)..].join("\n");
            if tail.trim().is_empty() {
                format!("{} is empty", path.display())
            } else {
                format!("last lines of {}:\n{tail}", path.display())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("it wrote no log ({} does not exist)", path.display())
        }
        Err(e) => format!("{} could not be read: {e}", path.display()),
    }
}
