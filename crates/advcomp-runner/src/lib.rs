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
//! - [`execute`]: runs the steps not yet cached.
//! - Defence passphrases never reach this crate's records: the scenario
//!   checker replaces them by stand-ins ([`advcomp_scenario::secret`]) and
//!   only a `defend` step's key derivation reveals them.
//! - [`results`]: the transfer metric and the other numbers, from the
//!   artifacts; [`report`] and [`plots`] turn them into `report.md`, CSV
//!   and SVG; [`claims`] judges the scenario's `expect` claims.
//!
//! The backend is the caller's choice (the CLI's `--backend`); this crate
//! receives a device and the backend's name.

pub mod artifacts;
pub mod cache;
pub mod catalog;
pub mod claims;
pub mod error;
pub mod execute;
pub mod hash;
pub mod outputs;
pub mod plan;
pub mod plots;
pub mod report;
pub mod results;
pub mod traceback;

use std::path::{Path, PathBuf};

use advcomp_data::DatasetKind;
use advcomp_scenario::{Diagnostics, Resolved};
use advcomp_train::Limits;
use burn::tensor::Device;
use sha2::{Digest, Sha256};

pub use catalog::Registries;
pub use error::RunError;
pub use execute::RunObserver;
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
    /// Stop after this many computed steps (tests of resumption).
    pub stop_after: Option<usize>,
    /// Refuse a plan of more steps (`None`: [`plan::DEFAULT_MAX_STEPS`]).
    pub max_steps: Option<usize>,
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
}

/// Runs a checked scenario on `device`.
pub fn run(
    resolved: &Resolved,
    scenario_bytes: &[u8],
    options: &RunOptions,
    device: &Device,
    observer: &mut dyn RunObserver,
) -> Result<RunOutcome, RunError> {
    let s = &resolved.settings;
    let kind: DatasetKind = s
        .data
        .parse()
        .map_err(|_| RunError::UnknownDataset(s.data.clone()))?;
    let dir = advcomp_data::resolve(kind, options.data_dir.as_deref())?;
    let split = advcomp_data::load(kind, &dir)?;
    let limits = Limits {
        train: s.train_images,
        test: Some(s.test_images),
    };
    let inputs = execute::Inputs {
        train: limits.train_set(&split),
        test: limits.test_set(&split),
        split: &split,
        limits,
        device,
        seed: s.seed,
    };
    let env = Environment {
        seed: s.seed,
        data_fingerprint: split.fingerprint.clone(),
        train_images: inputs.train.len(),
        test_images: inputs.test.len(),
        backend: options.backend.clone(),
        advcomp_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    plan::check_size(
        resolved,
        options.max_steps.unwrap_or(plan::DEFAULT_MAX_STEPS),
    )?;
    let plan = Plan::compile(resolved, &env);
    let cache = cache::Cache::open(&options.cache_dir)?;
    let cached: Vec<bool> = plan.steps.iter().map(|st| cache.has(&st.key)).collect();
    if options.dry_run {
        return Ok(RunOutcome {
            plan,
            cached,
            results: None,
        });
    }
    let complete = execute::execute(&plan, &cache, &inputs, observer, options.stop_after)?;
    if !complete {
        return Ok(RunOutcome {
            plan,
            cached,
            results: None,
        });
    }
    let provenance = results::Provenance {
        scenario: options.scenario.display().to_string(),
        scenario_sha256: hex::encode(Sha256::digest(scenario_bytes)),
        advcomp_version: env.advcomp_version.clone(),
        git_commit: env!("ADVCOMP_GIT_COMMIT").to_string(),
        backend: options.backend.clone(),
        seed: s.seed,
        dataset: kind.to_string(),
        data_fingerprint: split.fingerprint.clone(),
        train_images: inputs.train.len(),
        test_images: inputs.test.len(),
    };
    let results = results::gather(resolved, &plan, &cache, provenance, &inputs.test.labels)?;
    write_outputs(&results, resolved, &options.out_dir)?;
    Ok(RunOutcome {
        plan,
        cached,
        results: Some(results),
    })
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
