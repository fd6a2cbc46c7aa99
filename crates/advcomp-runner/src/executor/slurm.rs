//! Each uncached step a SLURM batch job; parents' jobs are its
//! dependencies.
//!
//! `sbatch` submits every step at once, in plan order, each with
//! `--dependency=afterok:<its parents' jobs>` and `--kill-on-invalid-dep`,
//! so the cluster runs the DAG by itself and a failed step's descendants
//! are cancelled rather than left pending. advcomp then only watches:
//! `squeue --me` says which jobs are still queued, the cache says which
//! steps are done. A job that has left the queue without its cache entry
//! failed; its log (`<cache>/logs/<key>-<job>.log`) is shown. No
//! accounting database (`sacct`) is needed.
//!
//! A step whose job (named `advcomp-<key prefix>`) is already queued, by an
//! earlier run that was interrupted or by a concurrent one, is not
//! submitted again: its job is adopted. So rerunning a finished scenario
//! submits nothing, and rerunning after a failure submits only what is
//! missing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Deserialize;

use super::{Launch, log_tail};
use crate::artifacts::StepRecord;
use crate::cache::{Cache, STEP_RECORD, read_json};
use crate::error::{RunError, io};
use crate::execute::RunObserver;
use crate::plan::Plan;

/// `squeue` failures in a row that are waited out before the run gives up
/// (and cancels its jobs).
const SQUEUE_RETRIES: u32 = 5;

/// Characters of the key in a job's name.
const NAME_KEY_CHARS: usize = 16;

/// Resources for a step's job; unset fields are left to the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--time` (SLURM's formats: `30`, `1:00:00`, `1-00:00:00`).
    pub time: Option<String>,
    /// `--cpus-per-task`; also the worker's thread count.
    pub cpus_per_task: Option<u32>,
    /// `--mem` (`4G`).
    pub mem: Option<String>,
    /// `--gres` (`gpu:1` for the GPU backends).
    pub gres: Option<String>,
}

impl Resources {
    /// `self`, with each field `over` sets replaced.
    pub fn overlay(&self, over: &Resources) -> Resources {
        Resources {
            partition: over.partition.clone().or_else(|| self.partition.clone()),
            account: over.account.clone().or_else(|| self.account.clone()),
            time: over.time.clone().or_else(|| self.time.clone()),
            cpus_per_task: over.cpus_per_task.or(self.cpus_per_task),
            mem: over.mem.clone().or_else(|| self.mem.clone()),
            gres: over.gres.clone().or_else(|| self.gres.clone()),
        }
    }

    fn sbatch_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut put = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(format!("--{flag}={v}"));
            }
        };
        put("partition", self.partition.clone());
        put("account", self.account.clone());
        put("time", self.time.clone());
        put("cpus-per-task", self.cpus_per_task.map(|c| c.to_string()));
        put("mem", self.mem.clone());
        put("gres", self.gres.clone());
        args
    }
}

/// The step kinds a `[slurm.<kind>]` table may name.
pub const STEP_KINDS: [&str; 6] = ["train", "compress", "defend", "evaluate", "attack", "apply"];

/// How the SLURM executor submits and watches.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmConfig {
    /// Every job's resources.
    pub defaults: Resources,
    /// Overrides per step kind (`train`, `attack`, …).
    pub per_kind: BTreeMap<String, Resources>,
    /// How often `squeue` is asked.
    pub poll: Duration,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            defaults: Resources::default(),
            per_kind: BTreeMap::new(),
            poll: Duration::from_secs(5),
        }
    }
}

/// The `[slurm]` section of a configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    slurm: Section,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    partition: Option<String>,
    account: Option<String>,
    time: Option<String>,
    cpus_per_task: Option<u32>,
    mem: Option<String>,
    gres: Option<String>,
    poll_seconds: Option<f64>,
    train: Option<Resources>,
    compress: Option<Resources>,
    defend: Option<Resources>,
    evaluate: Option<Resources>,
    attack: Option<Resources>,
    apply: Option<Resources>,
}

impl SlurmConfig {
    /// Reads a TOML file with a `[slurm]` table of default resources and
    /// `[slurm.<kind>]` tables of overrides:
    ///
    /// ```toml
    /// [slurm]
    /// partition = "cpu"
    /// time = "00:30:00"
    /// cpus_per_task = 2
    ///
    /// [slurm.train]
    /// time = "02:00:00"
    /// ```
    ///
    /// Errors name the file, line and column, or the field.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
        let s = file.slurm;
        let poll = match s.poll_seconds {
            None => SlurmConfig::default().poll,
            Some(p) if p.is_finite() && (0.1..=3600.0).contains(&p) => Duration::from_secs_f64(p),
            Some(p) => {
                return Err(format!(
                    "{}: slurm.poll_seconds = {p}: must lie in [0.1, 3600]",
                    path.display()
                ));
            }
        };
        let per_kind = STEP_KINDS
            .iter()
            .zip([s.train, s.compress, s.defend, s.evaluate, s.attack, s.apply])
            .filter_map(|(k, r)| r.map(|r| (k.to_string(), r)))
            .collect();
        Ok(SlurmConfig {
            defaults: Resources {
                partition: s.partition,
                account: s.account,
                time: s.time,
                cpus_per_task: s.cpus_per_task,
                mem: s.mem,
                gres: s.gres,
            },
            per_kind,
            poll,
        })
    }

    /// The resources of a step of `kind`.
    pub fn resources(&self, kind: &str) -> Resources {
        match self.per_kind.get(kind) {
            Some(over) => self.defaults.overlay(over),
            None => self.defaults.clone(),
        }
    }
}

/// A job's name: the step's key prefix, so a rerun recognises it.
pub fn job_name(key: &str) -> String {
    format!("advcomp-{}", &key[..NAME_KEY_CHARS.min(key.len())])
}

/// `s` quoted for `/bin/sh` (the `--wrap` script is a shell line).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=@+-,%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The `sbatch` arguments for step `index` of `plan`; `parents` are the
/// job ids (or, for a dry run's script, shell variables) it waits for.
pub fn sbatch_args(
    plan: &Plan,
    index: usize,
    parents: &[String],
    cache: &Cache,
    launch: &Launch<'_>,
    config: &SlurmConfig,
) -> Vec<String> {
    let step = &plan.steps[index];
    let resources = config.resources(step.kind.name());
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name={}", job_name(&step.key)),
        format!(
            "--output={}",
            cache.logs().join(format!("{}-%j.log", step.key)).display()
        ),
    ];
    if !parents.is_empty() {
        args.push(format!("--dependency=afterok:{}", parents.join(":")));
        args.push("--kill-on-invalid-dep=yes".into());
    }
    args.extend(resources.sbatch_args());
    let threads = resources.cpus_per_task.unwrap_or(1);
    args.push(format!("--export=ALL,RAYON_NUM_THREADS={threads}"));
    let command: Vec<String> = std::iter::once(launch.worker.program.as_os_str())
        .chain(
            launch
                .worker
                .args(&step.key, launch.order, cache.root())
                .iter()
                .map(|a| a.as_os_str()),
        )
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect();
    args.push(format!("--wrap=exec {}", command.join(" ")));
    args
}

/// The submissions of a run as a shell script (`--dry-run`): what
/// [`execute`] would submit, in order, each job's id in `$jN` (N: the
/// step's number in the plan).
pub fn script(plan: &Plan, cache: &Cache, launch: &Launch<'_>, config: &SlurmConfig) -> String {
    let mut out = String::from("#!/bin/sh\nset -e\n");
    let mut submitted = vec![false; plan.steps.len()];
    for (i, step) in plan.steps.iter().enumerate() {
        if cache.has(&step.key) {
            continue;
        }
        let parents: Vec<String> = step
            .deps
            .iter()
            .filter(|&&d| submitted[d])
            .map(|d| format!("${{j{}}}", d + 1))
            .collect();
        let args = sbatch_args(plan, i, &parents, cache, launch, config);
        let quoted: Vec<String> = args
            .iter()
            .map(|a| {
                // Keep `${jN}` expandable: quote the rest of the argument.
                if a.starts_with("--dependency=") {
                    format!("\"{a}\"")
                } else {
                    shell_quote(a)
                }
            })
            .collect();
        out.push_str(&format!(
            "# {}\nj{}=$(sbatch {})\n",
            step.label,
            i + 1,
            quoted.join(" ")
        ));
        submitted[i] = true;
    }
    out
}

/// Runs `program args`, returning its stdout, or an error with its stderr.
fn command(program: &str, args: &[String]) -> Result<String, RunError> {
    let output = Command::new(program).args(args).output().map_err(|e| {
        RunError::Executor(format!("cannot run {program}: {e} (is SLURM installed?)"))
    })?;
    if !output.status.success() {
        return Err(RunError::Executor(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// This user's queued jobs: id → (name, state).
fn queue() -> Result<HashMap<String, (String, String)>, RunError> {
    let text = command(
        "squeue",
        &[
            "--me".into(),
            "--noheader".into(),
            "--format=%i|%j|%T".into(),
        ],
    )?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.trim().splitn(3, '|');
            let id = parts.next()?.to_string();
            let name = parts.next()?.to_string();
            let state = parts.next()?.to_string();
            Some((id, (name, state)))
        })
        .collect())
}

/// Cancels `ids` (best effort: a job may have finished meanwhile).
fn cancel(ids: &[String]) {
    if !ids.is_empty() {
        let _ = command("scancel", ids);
    }
}

/// States in which a queued job will still run (or is running).
fn alive(state: &str) -> bool {
    matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "SUSPENDED"
            | "REQUEUED"
            | "RESIZING"
    )
}

/// States in which another run's job may be adopted: it has not started
/// to finish. (A `COMPLETING` job may be one that was just cancelled.)
fn adoptable(state: &str) -> bool {
    matches!(
        state,
        "PENDING" | "RUNNING" | "CONFIGURING" | "SUSPENDED" | "REQUEUED"
    )
}

/// Submits every uncached step of `plan` (adopting jobs already queued for
/// a step) and waits until each is cached; returns how many jobs it
/// submitted. On a failed job, or when `launch.cancel` is set, cancels its
/// remaining jobs and returns the error.
pub fn execute(
    plan: &Plan,
    cache: &Cache,
    launch: &Launch<'_>,
    config: &SlurmConfig,
    observer: &mut dyn RunObserver,
) -> Result<usize, RunError> {
    let total = plan.steps.len();
    let logs = cache.logs();
    std::fs::create_dir_all(&logs).map_err(io(&logs))?;
    let mut run = Submitted {
        plan,
        cache,
        launch,
        config,
        job: vec![None; total],
        adopted: vec![false; total],
        done: vec![false; total],
        count: 0,
    };
    for (i, step) in plan.steps.iter().enumerate() {
        if cache.has(&step.key) {
            observer.step_start(i, total, step, true);
            let record: StepRecord = read_json(&cache.dir(&step.key).join(STEP_RECORD))?;
            observer.step_end(i, step, true, record.seconds);
            run.done[i] = true;
        }
    }
    if run.done.iter().all(|d| *d) {
        return Ok(0);
    }
    let queued_by_name: HashMap<String, String> = queue()?
        .into_iter()
        .filter(|(_, (_, state))| adoptable(state))
        .map(|(id, (name, _))| (name, id))
        .collect();
    for i in 0..total {
        if run.done[i] {
            continue;
        }
        let step = &plan.steps[i];
        if let Some(id) = queued_by_name.get(&job_name(&step.key)) {
            tracing::info!(step = %step.label, job = %id, "adopted a queued job");
            run.job[i] = Some(id.clone());
            run.adopted[i] = true;
            continue;
        }
        if let Err(e) = run.submit(i) {
            run.cancel_outstanding();
            return Err(e);
        }
    }
    match run.wait(observer) {
        Ok(()) => Ok(run.count),
        Err(e) => {
            run.cancel_outstanding();
            Err(e)
        }
    }
}

/// The jobs of one run.
struct Submitted<'a> {
    plan: &'a Plan,
    cache: &'a Cache,
    launch: &'a Launch<'a>,
    config: &'a SlurmConfig,
    /// Per step, the job that computes it.
    job: Vec<Option<String>>,
    /// Per step, whether that job was another run's (found queued).
    adopted: Vec<bool>,
    /// Per step, whether it is cached.
    done: Vec<bool>,
    /// Jobs this run submitted.
    count: usize,
}

impl Submitted<'_> {
    /// Submits step `i`, after its parents' jobs.
    fn submit(&mut self, i: usize) -> Result<(), RunError> {
        let step = &self.plan.steps[i];
        let parents: Vec<String> = step
            .deps
            .iter()
            .filter(|&&d| !self.done[d])
            .filter_map(|&d| self.job[d].clone())
            .collect();
        let args = sbatch_args(self.plan, i, &parents, self.cache, self.launch, self.config);
        let out = command("sbatch", &args)?;
        let id = out.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RunError::Executor(format!(
                "sbatch answered `{}`, not a job id",
                out.trim()
            )));
        }
        tracing::info!(step = %step.label, job = %id, "submitted");
        self.job[i] = Some(id);
        self.adopted[i] = false;
        self.count += 1;
        Ok(())
    }

    /// The jobs of the steps not yet cached.
    fn outstanding(&self) -> Vec<String> {
        (0..self.job.len())
            .filter(|&i| !self.done[i])
            .filter_map(|i| self.job[i].clone())
            .collect()
    }

    fn cancel_outstanding(&self) {
        cancel(&self.outstanding());
    }

    /// Step `i` and every step below it that is not cached, in plan order.
    fn subtree(&self, i: usize) -> Vec<usize> {
        let mut inside = vec![false; self.plan.steps.len()];
        inside[i] = true;
        for j in i + 1..self.plan.steps.len() {
            inside[j] = !self.done[j] && self.plan.steps[j].deps.iter().any(|&d| inside[d]);
        }
        (0..inside.len()).filter(|&j| inside[j]).collect()
    }

    /// Watches the jobs until every step is cached.
    fn wait(&mut self, observer: &mut dyn RunObserver) -> Result<(), RunError> {
        let plan = self.plan;
        let total = plan.steps.len();
        let mut started = vec![false; total];
        // Left the queue without a cache entry at the last look: a job gets
        // one more look before it counts as ended (its entry may have been
        // renamed into place between our two questions).
        let mut missing_once = vec![false; total];
        let mut squeue_failures = 0;
        loop {
            if self.launch.cancel.load(Ordering::SeqCst) {
                return Err(RunError::Interrupted(format!(
                    "cancelled {} SLURM job(s); finished steps are cached",
                    self.outstanding().len()
                )));
            }
            // The queue first, then the cache: a job that leaves the queue
            // after we asked is seen done (or missing) at the next look.
            let queue = match queue() {
                Ok(q) => {
                    squeue_failures = 0;
                    q
                }
                // A busy controller times out now and then; the jobs go on.
                Err(e) if squeue_failures < SQUEUE_RETRIES => {
                    squeue_failures += 1;
                    tracing::warn!(error = %e, "squeue failed; asking again");
                    std::thread::sleep(self.config.poll);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut ended: Option<usize> = None;
            for i in 0..total {
                if self.done[i] {
                    continue;
                }
                let step = &plan.steps[i];
                let id = self.job[i].as_deref().unwrap_or_default();
                let state = queue.get(id).map(|(_, s)| s.as_str());
                if state == Some("RUNNING") && !started[i] {
                    started[i] = true;
                    observer.step_start(i, total, step, false);
                }
                if self.cache.has(&step.key) {
                    if !started[i] {
                        observer.step_start(i, total, step, false);
                    }
                    let record: StepRecord =
                        read_json(&self.cache.dir(&step.key).join(STEP_RECORD))?;
                    observer.step_end(i, step, false, record.seconds);
                    self.done[i] = true;
                } else if state.is_none_or(|s| !alive(s)) {
                    let parents_done = step.deps.iter().all(|&d| self.done[d]);
                    if parents_done && std::mem::replace(&mut missing_once[i], true) {
                        ended.get_or_insert(i);
                    }
                }
            }
            if let Some(i) = ended {
                let id = self.job[i].clone().unwrap_or_default();
                if self.adopted[i] {
                    // Another run's job, cancelled or failed under it: this
                    // run computes the step itself, and everything below it
                    // (whose jobs waited on that one and were cancelled).
                    let subtree = self.subtree(i);
                    let old: Vec<String> = subtree
                        .iter()
                        .filter_map(|&j| self.job[j].clone())
                        .collect();
                    cancel(&old);
                    tracing::info!(step = %plan.steps[i].label, job = %id, "an adopted job ended without a result; resubmitting");
                    for j in subtree {
                        self.submit(j)?;
                        missing_once[j] = false;
                    }
                    continue;
                }
                let step = &plan.steps[i];
                let log = self.cache.logs().join(format!("{}-{id}.log", step.key));
                let others = self.outstanding().len() - 1;
                return Err(RunError::Step {
                    step: step.label.clone(),
                    message: format!(
                        "SLURM job {id} ended without a result (failed, cancelled or timed out); \
                         the other {others} job(s) of this run were cancelled; {}",
                        log_tail(&log, 20)
                    ),
                });
            }
            if self.done.iter().all(|d| *d) {
                return Ok(());
            }
            std::thread::sleep(self.config.poll);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_protects_the_rest() {
        assert_eq!(shell_quote("/a/b-c.json"), "/a/b-c.json");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn a_config_file_sets_defaults_and_per_kind_overrides() {
        let text = r#"
[slurm]
partition = "cpu"
time = "00:30:00"
cpus_per_task = 2
poll_seconds = 0.5

[slurm.train]
time = "02:00:00"
gres = "gpu:1"
"#;
        let c = SlurmConfig::from_toml(text, Path::new("s.toml")).unwrap();
        assert_eq!(c.poll, Duration::from_millis(500));
        let train = c.resources("train");
        assert_eq!(train.time.as_deref(), Some("02:00:00"));
        assert_eq!(train.partition.as_deref(), Some("cpu"));
        assert_eq!(train.gres.as_deref(), Some("gpu:1"));
        assert_eq!(c.resources("attack").time.as_deref(), Some("00:30:00"));
        assert_eq!(
            train.sbatch_args(),
            [
                "--partition=cpu",
                "--time=02:00:00",
                "--cpus-per-task=2",
                "--gres=gpu:1"
            ]
        );
    }

    #[test]
    fn config_errors_name_the_file_and_the_place() {
        let cases = [
            ("[slurm]\npartiton = \"x\"\n", "partiton"),
            ("[slurm]\ncpus_per_task = \"two\"\n", "line 2"),
            ("[slurm.trian]\n", "trian"),
            ("[slurm]\npoll_seconds = 0\n", "poll_seconds"),
        ];
        for (text, expected) in cases {
            let err = SlurmConfig::from_toml(text, Path::new("cluster.toml")).unwrap_err();
            assert!(
                err.contains("cluster.toml") && err.contains(expected),
                "{text:?}: {err}"
            );
        }
    }
}
