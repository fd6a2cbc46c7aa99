//! Up to N steps at a time, each in a worker process on this machine.
//!
//! Processes rather than threads: a worker is exactly what a SLURM job
//! runs, so both executors share one tested path, and a crashing step
//! cannot take the run down with it. Each worker gets
//! `RAYON_NUM_THREADS = cores / k` (unless the user set it), where `k` is
//! the number of steps that can run when it starts (running and ready, at
//! most N): burn's CPU backends parallelise every operation over rayon's
//! pool, and N pools of all cores would oversubscribe them, while a step
//! that runs alone (a scenario's first training, which every other step
//! waits for) would leave cores idle with `cores / N`. The thread count
//! never changes a result (docs/testing.md, "Across CPUs");
//! docs/cluster.md has the measured speed-ups.

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

/// The thread count of a worker started when `runnable` steps (those
/// running and those ready, this one included) can run, with up to `jobs`
/// at a time: the cores shared among as many workers as can be busy.
/// A worker keeps its count for its life; one given every core is only
/// started when nothing else runs or is ready, and nothing becomes ready
/// until a running step ends, so the machine is never oversubscribed.
fn threads_for(jobs: usize, runnable: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / runnable.clamp(1, jobs.max(1))).max(1)
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
    let threads_set = std::env::var("RAYON_NUM_THREADS").ok();
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
            let ready: Vec<usize> = (0..total)
                .filter(|&i| {
                    state[i] == State::Waiting
                        && plan.steps[i].deps.iter().all(|&d| state[d] == State::Done)
                })
                .collect();
            let Some(&index) = ready
                .iter()
                .min_by_key(|&&i| (urgency(&plan.steps[i].kind), i))
            else {
                break;
            };
            let threads = threads_set
                .clone()
                .unwrap_or_else(|| threads_for(jobs, running.len() + ready.len()).to_string());
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

#[cfg(test)]
mod tests {
    use super::threads_for;

    #[test]
    fn a_worker_shares_the_cores_with_the_steps_that_can_run_beside_it() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Alone (a scenario's first training): every core.
        assert_eq!(threads_for(2, 1), cores);
        // Nothing runnable is treated as alone, never as zero workers.
        assert_eq!(threads_for(2, 0), cores);
        // More ready than workers: the cores split among the workers.
        assert_eq!(threads_for(2, 9), (cores / 2).max(1));
        assert_eq!(threads_for(4, 3), (cores / 3).max(1));
        // One job at a time gets the machine whatever is ready.
        assert_eq!(threads_for(1, 5), cores);
        // More workers than cores: one thread each, never zero.
        assert_eq!(threads_for(64, 64), (cores / 64).max(1));
    }
}
