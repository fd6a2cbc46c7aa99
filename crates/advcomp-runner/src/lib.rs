//! Runs `.scn` scenarios: the product's back end.
//!
//! - [`catalog`]: [`Registries`], the scenario language's
//!   [`Catalog`](advcomp_scenario::Catalog) over the real attack registry,
//!   compressors and training configuration.
//! - [`plan`]: a checked scenario compiled into a DAG of train / compress /
//!   evaluate / attack / apply steps, each keyed by a content hash of its
//!   inputs ([`hash`]).
//! - [`cache`], [`artifacts`]: one atomically created directory per step,
//!   so reruns skip finished work and a killed run resumes.
//! - [`execute`]: computes the steps not yet cached, one at a time in this
//!   process; [`executor`] runs them instead in worker processes
//!   (`--jobs N`) or as SLURM jobs, each worker an `advcomp step run` that
//!   reads a [`WorkOrder`] and computes one step ([`run_step`]).
//! - Defence passphrases never reach this crate's records: the scenario
//!   checker replaces them by stand-ins ([`advcomp_scenario::secret`]) and
//!   only a `defend` step's key derivation reveals them.
//! - [`results`]: the transfer metric (counted by [`transfer`]) and the
//!   other numbers, from the artifacts; [`report`] and [`plots`] turn them into `report.md`, CSV
//!   and SVG; [`claims`] judges the scenario's `expect` claims.
//!
//! The backend is the caller's choice (the CLI's `--backend`); this crate
//! receives a device and the backend's name.

pub mod artifacts;
pub mod cache;
pub mod catalog;
pub mod claims;
pub mod deployed;
pub mod error;
pub mod execute;
pub mod executor;
pub mod hash;
pub mod order;
pub mod outputs;
pub mod plan;
pub mod plots;
pub mod report;
pub mod results;
pub mod traceback;
pub mod transfer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use advcomp_data::DatasetKind;
use advcomp_scenario::{Diagnostics, Resolved};
use advcomp_train::Limits;
use burn::tensor::Device;
use sha2::{Digest, Sha256};

pub use catalog::Registries;
pub use error::RunError;
pub use execute::RunObserver;
pub use executor::Executor;
pub use order::WorkOrder;
pub use plan::{Environment, Plan};
pub use results::Results;

/// Files a run writes into its output directory.
pub const RESULTS_FILE: &str = "results.json";
/// The Markdown report.
pub const REPORT_FILE: &str = "report.md";

/// Parses and checks a scenario file against the real registries.
pub fn load(path: &Path) -> Result<(Vec<u8>, Resolved), LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let source = String::from_utf8_lossy(&bytes);
    let name = path.display().to_string();
    let ast = advcomp_scenario::parse(&source, &name).map_err(LoadError::Scenario)?;
    let resolved = advcomp_scenario::check(&ast, &Registries).map_err(LoadError::Scenario)?;
    plan::validate(&resolved).map_err(|message| LoadError::Unsupported {
        path: path.to_path_buf(),
        message,
    })?;
    Ok((bytes, resolved))
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file has syntax or semantic errors.
    #[error("{0}")]
    Scenario(Diagnostics),
    /// The scenario is well formed but asks for something the runner
    /// cannot build.
    #[error("{path}: {message}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What and why.
        message: String,
    },
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The scenario file (for provenance).
    pub scenario: PathBuf,
    /// Where results go.
    pub out_dir: PathBuf,
    /// The artifact cache.
    pub cache_dir: PathBuf,
    /// The dataset directory (default: the usual lookup).
    pub data_dir: Option<PathBuf>,
    /// The resolved backend's name (in every step's hash).
    pub backend: String,
    /// Compile and report the plan, run nothing.
    pub dry_run: bool,
    /// Stop after this many computed steps (tests of resumption; only the
    /// in-process executor honours it).
    pub stop_after: Option<usize>,
    /// Refuse a plan of more steps (`None`: [`plan::DEFAULT_MAX_STEPS`]).
    pub max_steps: Option<usize>,
    /// Who computes the steps that are not cached.
    pub executor: Executor,
    /// Set (by a Ctrl-C handler) to make a worker or SLURM executor stop
    /// its workers or cancel its jobs and return [`RunError::Interrupted`].
    pub cancel: Arc<AtomicBool>,
}

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The plan.
    pub plan: Plan,
    /// Per step, whether it was cached before the run.
    pub cached: Vec<bool>,
    /// The results (`None` for a dry run or a stopped one).
    pub results: Option<Results>,
    /// SLURM jobs this run submitted (0 for the other executors).
    pub jobs_submitted: usize,
}

/// A scenario ready to execute: its data loaded, its plan compiled, its
/// cache open. What `advcomp run` and an `advcomp step run` worker share,
/// so both compile the same plan with the same keys.
pub struct Prepared {
    kind: DatasetKind,
    split: advcomp_data::Split,
    train: advcomp_data::Dataset,
    test: advcomp_data::Dataset,
    limits: Limits,
    env: Environment,
    /// The compiled plan.
    pub plan: Plan,
    /// The open cache.
    pub cache: cache::Cache,
}

impl Prepared {
    /// Loads the data and compiles the plan of `resolved` on `backend`.
    pub fn new(
        resolved: &Resolved,
        backend: &str,
        data_dir: Option<&Path>,
        cache_dir: &Path,
        max_steps: Option<usize>,
    ) -> Result<Self, RunError> {
        let s = &resolved.settings;
        let kind: DatasetKind = s
            .data
            .parse()
            .map_err(|_| RunError::UnknownDataset(s.data.clone()))?;
        let dir = advcomp_data::resolve(kind, data_dir)?;
        let split = advcomp_data::load(kind, &dir)?;
        let limits = Limits {
            train: s.train_images,
            test: Some(s.test_images),
        };
        let train = limits.train_set(&split);
        let test = limits.test_set(&split);
        let env = Environment {
            seed: s.seed,
            data_fingerprint: split.fingerprint.clone(),
            train_images: train.len(),
            test_images: test.len(),
            backend: backend.to_string(),
            advcomp_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        plan::check_size(resolved, max_steps.unwrap_or(plan::DEFAULT_MAX_STEPS))?;
        let plan = Plan::compile(resolved, &env);
        let cache = cache::Cache::open(cache_dir)?;
        Ok(Self {
            kind,
            split,
            train,
            test,
            limits,
            env,
            plan,
            cache,
        })
    }

    /// What the steps read, on `device`.
    pub fn inputs<'a>(&'a self, device: &'a Device) -> execute::Inputs<'a> {
        execute::Inputs {
            split: &self.split,
            train: &self.train,
            test: &self.test,
            limits: self.limits,
            device,
            seed: self.env.seed,
        }
    }
}

/// Runs a checked scenario on `device`.
pub fn run(
    resolved: &Resolved,
    scenario_bytes: &[u8],
    options: &RunOptions,
    device: &Device,
    observer: &mut dyn RunObserver,
) -> Result<RunOutcome, RunError> {
    let prepared = Prepared::new(
        resolved,
        &options.backend,
        options.data_dir.as_deref(),
        &options.cache_dir,
        options.max_steps,
    )?;
    let Prepared { plan, cache, .. } = &prepared;
    let cached: Vec<bool> = plan.steps.iter().map(|st| cache.has(&st.key)).collect();
    let mut outcome = RunOutcome {
        plan: plan.clone(),
        cached,
        results: None,
        jobs_submitted: 0,
    };
    if options.dry_run {
        return Ok(outcome);
    }
    let complete = match &options.executor {
        Executor::InProcess => execute::execute(
            plan,
            cache,
            &prepared.inputs(device),
            observer,
            options.stop_after,
        )?,
        Executor::Local { jobs, worker } => {
            let cache = &cache.absolute()?;
            let order = WorkOrder::new(options, scenario_bytes)?.write(cache)?;
            executor::local::execute(
                plan,
                cache,
                &executor::Launch {
                    worker,
                    order: &order,
                    cancel: &options.cancel,
                },
                *jobs,
                observer,
            )?
        }
        Executor::Slurm { config, worker } => {
            let cache = &cache.absolute()?;
            let order = WorkOrder::new(options, scenario_bytes)?.write(cache)?;
            let launch = executor::Launch {
                worker,
                order: &order,
                cancel: &options.cancel,
            };
            outcome.jobs_submitted =
                executor::slurm::execute(plan, cache, &launch, config, observer)?;
            true
        }
    };
    if !complete {
        return Ok(outcome);
    }
    let test = &prepared.test;
    let provenance = results::Provenance {
        scenario: options.scenario.display().to_string(),
        scenario_sha256: hex::encode(Sha256::digest(scenario_bytes)),
        advcomp_version: prepared.env.advcomp_version.clone(),
        git_commit: env!("ADVCOMP_GIT_COMMIT").to_string(),
        backend: options.backend.clone(),
        seed: resolved.settings.seed,
        dataset: prepared.kind.to_string(),
        data_fingerprint: prepared.split.fingerprint.clone(),
        train_images: prepared.train.len(),
        test_images: test.len(),
    };
    let results = results::gather(resolved, plan, cache, provenance, &test.labels)?;
    write_outputs(&results, resolved, &options.out_dir)?;
    outcome.results = Some(results);
    Ok(outcome)
}

/// What an `advcomp step run` worker did.
#[derive(Debug, Clone, PartialEq)]
pub enum StepRun {
    /// The step was already cached (another worker, or an earlier run).
    Cached,
    /// The step was computed in this many seconds.
    Computed(f64),
}

/// Runs the one step `key` of the plan that `order` describes, on
/// `device`: what every executor's worker does. Idempotent: a cached step
/// returns at once, and two workers racing on one key both succeed and
/// leave one entry ([`cache::Cache::commit`]). The step's parents must be
/// cached.
pub fn run_step(
    order: &WorkOrder,
    order_path: &Path,
    key: &str,
    cache_dir: &Path,
    device: &Device,
    observer: &mut dyn RunObserver,
) -> Result<(String, StepRun), RunError> {
    let (resolved, _) = order.load(order_path)?;
    let prepared = Prepared::new(
        &resolved,
        &order.backend,
        order.data_dir.as_deref(),
        cache_dir,
        Some(order.max_steps),
    )?;
    let Prepared { plan, cache, .. } = &prepared;
    let Some(index) = plan.steps.iter().position(|s| s.key == key) else {
        return Err(RunError::Order {
            path: order_path.to_path_buf(),
            message: format!(
                "step {key} is not in the plan of {} on backend {} with this data \
                 (was the dataset or the scenario changed since the plan was written?)",
                order.scenario.display(),
                order.backend
            ),
        });
    };
    let step = &plan.steps[index];
    if cache.has(key) {
        return Ok((step.label.clone(), StepRun::Cached));
    }
    if let Some(&missing) = step.deps.iter().find(|&&d| !cache.has(&plan.steps[d].key)) {
        let dep = &plan.steps[missing];
        return Err(RunError::Step {
            step: step.label.clone(),
            message: format!(
                "it needs `{}` ({}), which is not in the cache {}",
                dep.label,
                dep.key,
                cache_dir.display()
            ),
        });
    }
    let seconds = execute::compute(plan, index, cache, &prepared.inputs(device), observer)?;
    Ok((step.label.clone(), StepRun::Computed(seconds)))
}

fn write_outputs(results: &Results, resolved: &Resolved, out: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(out).map_err(error::io(out))?;
    let mut written: Vec<String> = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), RunError> {
        cache::write(&out.join(name), bytes)?;
        written.push(name.to_string());
        Ok(())
    };
    put(RESULTS_FILE, &json_bytes(results))?;
    put("plan.json", &json_bytes(resolved))?;
    put("transfer.csv", report::csv(results).as_bytes())?;
    put("models.csv", report::models_csv(results).as_bytes())?;
    let plots = plots::draw(results, out)?;
    written.extend(plots.iter().map(|(_, file)| file.clone()));
    cache::write(
        &out.join(REPORT_FILE),
        report::markdown(results, &plots).as_bytes(),
    )?;
    written.push(REPORT_FILE.to_string());
    outputs::replace_manifest(out, &written)
}

fn json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut json = serde_json::to_string_pretty(value).expect("outputs serialise");
    json.push('\n');
    json.into_bytes()
}
