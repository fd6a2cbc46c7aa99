//! Up to N steps at a time, each in a worker process on this machine.
//!
//! Processes rather than threads: a worker is exactly what a SLURM job
//! runs, so both executors share one tested path, and a crashing step
//! cannot take the run down with it. Each worker gets
//! `RAYON_NUM_THREADS = cores / N` (unless the user set it): burn's CPU
//! backends parallelise every operation over rayon's pool, and N pools of
//! all cores would oversubscribe them (docs/cluster.md has the measured
//! speed-up).

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Launch, log_tail};
use crate::artifacts::StepRecord;
use crate::cache::{Cache, STEP_RECORD, read_json};
use crate::error::{RunError, io};
use crate::execute::RunObserver;
use crate::plan::{Plan, StepKind};

/// How often running workers are checked.
const POLL: Duration = Duration::from_millis(20);

/// The thread count each of `jobs` workers gets.
pub fn threads_per_worker(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

/// Which ready step starts first (lower first; plan order breaks ties):
/// the long kinds, roughly longest first, so that the run does not end
/// with one long attack on one worker while the others idle; the many
/// sub-second evaluate and apply steps fill the gaps.
fn urgency(kind: &StepKind) -> u8 {
    match kind {
        StepKind::Train { .. } => 0,
        StepKind::Defend { .. } | StepKind::Compress { .. } => 1,
        StepKind::Attack { .. } => 2,
        StepKind::Ensemble { .. } | StepKind::Evaluate { .. } | StepKind::Apply { .. } => 3,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Waiting,
    Running,
    Done,
    Failed,
}

struct Running {
    index: usize,
    child: Child,
    log: PathBuf,
}

/// Computes every uncached step of `plan` with up to `jobs` workers at a
/// time, parents before children, long kinds of step first ([`urgency`]). After a failure no new worker starts;
/// those running finish (their work is valid and cached) and the first
/// failure is returned with the end of its worker's log.
pub fn execute(
    plan: &Plan,
    cache: &Cache,
    launch: &Launch<'_>,
    jobs: usize,
    observer: &mut dyn RunObserver,
) -> Result<bool, RunError> {
    let total = plan.steps.len();
    cache.sweep_stale()?;
    let logs = cache.logs();
    std::fs::create_dir_all(&logs).map_err(io(&logs))?;
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .unwrap_or_else(|| threads_per_worker(jobs).to_string());
    let mut state = vec![State::Waiting; total];
    for (i, step) in plan.steps.iter().enumerate() {
        if cache.has(&step.key) {
            observer.step_start(i, total, step, true);
            let record: StepRecord = read_json(&cache.dir(&step.key).join(STEP_RECORD))?;
            observer.step_end(i, step, true, record.seconds);
            state[i] = State::Done;
        }
    }
    let mut running: Vec<Running> = Vec::new();
    let mut failure: Option<RunError> = None;
    loop {
        if launch.cancel.load(Ordering::SeqCst) {
            for mut r in running {
                let _ = r.child.kill();
                let _ = r.child.wait();
            }
            return Err(RunError::Interrupted(
                "the running workers were stopped; finished steps are cached".into(),
            ));
        }
        while failure.is_none() && running.len() < jobs.max(1) {
            let ready = (0..total)
                .filter(|&i| {
                    state[i] == State::Waiting
                        && plan.steps[i].deps.iter().all(|&d| state[d] == State::Done)
                })
                .min_by_key(|&i| (urgency(&plan.steps[i].kind), i));
            let Some(index) = ready else { break };
            let step = &plan.steps[index];
            let log = logs.join(format!("{}-{}.log", step.key, std::process::id()));
            let file = File::create(&log).map_err(io(&log))?;
            let child = Command::new(&launch.worker.program)
                .args(launch.worker.args(&step.key, launch.order, cache.root()))
                .env("RAYON_NUM_THREADS", &threads)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(file)
                .spawn()
                .map_err(|e| {
                    RunError::Executor(format!(
                        "cannot start the worker {}: {e}",
                        launch.worker.program.display()
                    ))
                })?;
            observer.step_start(index, total, step, false);
            state[index] = State::Running;
            running.push(Running { index, child, log });
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(POLL);
        let mut still = Vec::with_capacity(running.len());
        for mut r in running {
            let status = match r.child.try_wait() {
                Ok(None) => {
                    still.push(r);
                    continue;
                }
                Ok(Some(status)) => status,
                Err(e) => return Err(RunError::Executor(format!("waiting for a worker: {e}"))),
            };
            let step = &plan.steps[r.index];
            if status.success() && cache.has(&step.key) {
                let record: StepRecord = read_json(&cache.dir(&step.key).join(STEP_RECORD))?;
                observer.step_end(r.index, step, false, record.seconds);
                state[r.index] = State::Done;
                let _ = std::fs::remove_file(&r.log);
            } else {
                state[r.index] = State::Failed;
                failure.get_or_insert_with(|| RunError::Step {
                    step: step.label.clone(),
                    message: format!("its worker exited with {status}; {}", log_tail(&r.log, 20)),
                });
            }
        }
        running = still;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(state.iter().all(|s| *s == State::Done)),
    }
}
