//! `advcomp run`, `advcomp check`, `advcomp fmt`: the scenario language.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use advcomp_runner::executor::slurm::Resources;
use advcomp_runner::executor::{SlurmConfig, Worker};
use advcomp_runner::plan::PlanStep;
use advcomp_runner::{Executor, LoadError, RunObserver, RunOptions, StepRun, WorkOrder};
use indicatif::ProgressBar;
use miette::{IntoDiagnostic, Result, WrapErr};

use crate::cli::{CheckArgs, ExecutorArg, FmtArgs, RunArgs, RunScenarioArgs, StepCommand};
use crate::out::{out, outln};

/// Loads a scenario; syntax and semantic errors print as diagnostics.
fn load(path: &Path) -> Result<(Vec<u8>, advcomp_scenario::Resolved)> {
    advcomp_runner::load(path).map_err(|e| match e {
        LoadError::Io { .. } | LoadError::Unsupported { .. } => miette::miette!("{e}"),
        LoadError::Scenario(d) => {
            eprint!("{}", d.render(use_color()));
            miette::miette!(
                "{}: {} error(s); nothing was run",
                path.display(),
                d.iter()
                    .filter(|x| x.severity == advcomp_scenario::Severity::Error)
                    .count()
            )
        }
    })
}

fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

pub fn check(args: CheckArgs) -> Result<()> {
    let mut failed = 0;
    for file in &args.files {
        let checked = load(file).and_then(|(_, resolved)| {
            advcomp_runner::plan::check_size(&resolved, args.max_steps)
                .map_err(|e| miette::miette!("{}: {e}", file.display()))?;
            Ok(resolved)
        });
        match checked {
            Ok(resolved) => outln!(
                "{}: ok ({} models, {} attacks, {} transfer statements{})",
                file.display(),
                resolved.models.len(),
                resolved.attacks.len(),
                resolved.transfers.len(),
                match resolved.claims.len() {
                    0 => String::new(),
                    n => format!(", {n} claims"),
                }
            )?,
            Err(e) => {
                eprintln!("{e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(miette::miette!(
            "{failed} of {} scenario(s) have errors",
            args.files.len()
        ));
    }
    Ok(())
}

pub fn fmt(args: FmtArgs) -> Result<()> {
    let bytes = std::fs::read(&args.file)
        .into_diagnostic()
        .wrap_err_with(|| args.file.display().to_string())?;
    let source = String::from_utf8_lossy(&bytes);
    let ast = advcomp_scenario::parse(&source, &args.file.display().to_string()).map_err(|d| {
        eprint!("{}", d.render(use_color()));
        miette::miette!(
            "{}: cannot format a file with syntax errors",
            args.file.display()
        )
    })?;
    let formatted = advcomp_scenario::format(&ast);
    if args.check {
        if formatted != source {
            return Err(miette::miette!(
                "{} is not in canonical form; run `advcomp fmt --write {}`",
                args.file.display(),
                args.file.display()
            ));
        }
    } else if args.write {
        advcomp_models::checkpoint::write_atomic(&args.file, formatted.as_bytes())
            .into_diagnostic()
            .wrap_err_with(|| args.file.display().to_string())?;
    } else {
        out!("{formatted}")?;
    }
    Ok(())
}

/// The backend a scenario runs on: its `backend` setting, unless the
/// command line or `$ADVCOMP_BACKEND` chose one.
fn backend_name(resolved: &advcomp_scenario::Resolved, run: &RunArgs) -> String {
    resolved
        .settings
        .backend
        .clone()
        .filter(|_| std::env::var_os("ADVCOMP_BACKEND").is_none() && run.backend == "cpu")
        .unwrap_or_else(|| run.backend.clone())
}

/// The keys of every step of `scenario`'s plan on `run`'s backend and data
/// (a dry run: nothing is computed or written but the cache directory).
pub(super) fn plan_keys(scenario: &Path, run: &RunArgs, cache: &Path) -> Result<Vec<String>> {
    let (bytes, resolved) = load(scenario)?;
    let (kind, device) = super::device(&backend_name(&resolved, run))?;
    let options = RunOptions {
        scenario: scenario.to_path_buf(),
        cache_dir: cache.to_path_buf(),
        data_dir: run.data.clone(),
        backend: kind.resolve().to_string(),
        dry_run: true,
        max_steps: Some(usize::MAX),
        ..RunOptions::default()
    };
    let outcome = advcomp_runner::run(&resolved, &bytes, &options, &device, &mut ())
        .into_diagnostic()
        .wrap_err_with(|| scenario.display().to_string())?;
    Ok(outcome.plan.steps.into_iter().map(|s| s.key).collect())
}

pub fn run(args: RunScenarioArgs, quiet: bool) -> Result<()> {
    let (bytes, resolved) = load(&args.scenario)?;
    let (kind, device) = super::device(&backend_name(&resolved, &args.run))?;
    let out = args
        .out
        .clone()
        .or_else(|| resolved.settings.output.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| {
            let stem = args
                .scenario
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
            PathBuf::from("runs").join(stem)
        });
    let executor = executor(&args)?;
    let workers = !matches!(executor, Executor::InProcess);
    let options = RunOptions {
        scenario: args.scenario.clone(),
        out_dir: out.clone(),
        cache_dir: args.cache.clone(),
        data_dir: args.run.data.clone(),
        backend: kind.resolve().to_string(),
        dry_run: args.dry_run,
        stop_after: None,
        max_steps: Some(args.max_steps),
        executor,
        cancel: Arc::new(AtomicBool::new(false)),
    };
    if workers && !args.dry_run {
        // Ctrl-C stops the workers or cancels the SLURM jobs, then exits.
        // (In-process runs keep the default: the signal ends the process,
        // and the cache's staging makes that safe.)
        let cancel = options.cancel.clone();
        ctrlc::set_handler(move || cancel.store(true, Ordering::SeqCst))
            .into_diagnostic()
            .wrap_err("cannot install the Ctrl-C handler")?;
    }
    let started = Instant::now();
    let mut progress = Progress::new(quiet || args.dry_run);
    let outcome = advcomp_runner::run(&resolved, &bytes, &options, &device, &mut progress)
        .into_diagnostic()?;
    progress.finish();
    if let (true, Executor::Slurm { config, worker }) = (args.dry_run, &options.executor) {
        // The submissions, as a script one could run by hand.
        let cache = advcomp_runner::cache::Cache::open(&args.cache).into_diagnostic()?;
        let order = advcomp_runner::WorkOrder::new(&options, &bytes)
            .and_then(|o| o.write(&cache))
            .into_diagnostic()?;
        let launch = advcomp_runner::executor::Launch {
            worker,
            order: &order,
            cancel: &options.cancel,
        };
        out!(
            "{}",
            advcomp_runner::executor::slurm::script(&outcome.plan, &cache, &launch, config)
        )?;
        return Ok(());
    }
    if args.dry_run {
        outln!(
            "plan for {} ({} steps):",
            args.scenario.display(),
            outcome.plan.steps.len()
        )?;
        for (i, (step, cached)) in outcome.plan.steps.iter().zip(&outcome.cached).enumerate() {
            let deps: Vec<String> = step.deps.iter().map(|d| format!("#{}", d + 1)).collect();
            outln!(
                "{:>4}. {:<8} {}{}{}",
                i + 1,
                if *cached { "cached" } else { "to run" },
                step.label,
                if deps.is_empty() {
                    String::new()
                } else {
                    format!("  (after {})", deps.join(", "))
                },
                format_args!("  [{}]", &step.key[..12])
            )?;
        }
        return Ok(());
    }
    let computed = outcome.cached.iter().filter(|c| !**c).count();
    let claims = outcome
        .results
        .as_ref()
        .map_or(&[][..], |r| r.claims.as_slice());
    for c in claims {
        outln!(
            "{} {}  {}  (line {})",
            c.verdict.mark(),
            c.verdict.word(),
            c.claim,
            c.line
        )?;
        for line in advcomp_runner::claims::lines(c) {
            outln!("      {line}")?;
        }
    }
    if !quiet {
        eprintln!(
            "{} steps ({} from the cache{}) in {:.1}s; report in {}",
            outcome.plan.steps.len(),
            outcome.plan.steps.len() - computed,
            match &options.executor {
                Executor::Slurm { .. } => {
                    format!("; {} SLURM job(s) submitted", outcome.jobs_submitted)
                }
                _ => String::new(),
            },
            started.elapsed().as_secs_f64(),
            out.join(advcomp_runner::REPORT_FILE).display()
        );
    }
    let unsupported = claims
        .iter()
        .filter(|c| c.verdict != advcomp_runner::claims::Verdict::Holds)
        .count();
    if args.strict && unsupported > 0 {
        miette::bail!(
            "{unsupported} of {} claims do not hold (--strict); see {}",
            claims.len(),
            out.join(advcomp_runner::REPORT_FILE).display()
        );
    }
    Ok(())
}

/// The executor `args` ask for.
fn executor(args: &RunScenarioArgs) -> Result<Executor> {
    let worker = || -> Result<Worker> {
        let program = std::env::current_exe()
            .into_diagnostic()
            .wrap_err("cannot find the advcomp binary to start workers with")?;
        Ok(Worker { program })
    };
    match args.executor {
        ExecutorArg::Local => {
            if args.slurm.any() {
                miette::bail!(
                    "--slurm-config, --partition, --account, --time, --cpus-per-task, --mem and \
                     --gres are for --executor slurm"
                );
            }
            Ok(match args.jobs {
                1 => Executor::InProcess,
                jobs => Executor::Local {
                    jobs: usize::from(jobs),
                    worker: worker()?,
                },
            })
        }
        ExecutorArg::Slurm => {
            let s = &args.slurm;
            let mut config = match &s.slurm_config {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .into_diagnostic()
                        .wrap_err_with(|| path.display().to_string())?;
                    SlurmConfig::from_toml(&text, path).map_err(|e| miette::miette!("{e}"))?
                }
                None => SlurmConfig::default(),
            };
            let flags = Resources {
                partition: s.partition.clone(),
                account: s.account.clone(),
                time: s.time.clone(),
                cpus_per_task: s.cpus_per_task,
                mem: s.mem.clone(),
                gres: s.gres.clone(),
            };
            config.defaults = config.defaults.overlay(&flags);
            Ok(Executor::Slurm {
                config,
                worker: worker()?,
            })
        }
    }
}

/// `advcomp step run`: one step, as a worker.
pub fn step(command: StepCommand, quiet: bool) -> Result<()> {
    let StepCommand::Run(args) = command;
    let order = WorkOrder::read(&args.plan).into_diagnostic()?;
    let (_, device) = super::device(&order.backend)?;
    let (label, outcome) =
        advcomp_runner::run_step(&order, &args.plan, &args.key, &args.cache, &device, &mut ())
            .into_diagnostic()?;
    if !quiet {
        match outcome {
            StepRun::Cached => eprintln!("{label}: already cached"),
            StepRun::Computed(seconds) => eprintln!("{label}: computed in {seconds:.1}s"),
        }
    }
    Ok(())
}

/// One bar over the plan's steps, with the current step's own progress in
/// its message.
struct Progress {
    bar: Option<ProgressBar>,
    /// Steps finished (computed or read from the cache).
    done: usize,
    /// Labels of the steps being computed now: one in this process, up to
    /// `--jobs` with workers.
    running: Vec<(usize, String)>,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Self {
            bar: (!quiet).then(|| {
                let bar = crate::progress::bar(0, false, "run");
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {pos}/{len} ({elapsed}) {msg}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                bar
            }),
            done: 0,
            running: Vec::new(),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn show(&self, detail: Option<String>) {
        if let Some(bar) = &self.bar {
            let labels: Vec<&str> = self.running.iter().map(|(_, l)| l.as_str()).collect();
            let mut message = labels.join(" | ");
            if let Some(d) = detail {
                message.push_str(&format!(" [{d}]"));
            }
            bar.set_message(message);
        }
    }
}

impl RunObserver for Progress {
    fn step_start(&mut self, index: usize, total: usize, step: &PlanStep, cached: bool) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
        if !cached {
            self.running.push((index, step.label.clone()));
            self.show(None);
        }
    }

    fn step_progress(&mut self, done: usize, total: usize) {
        self.show(Some(format!("{done}/{total}")));
    }

    fn step_end(&mut self, index: usize, step: &PlanStep, cached: bool, seconds: f64) {
        if !cached {
            tracing::info!(step = %step.label, seconds, "step finished");
        }
        self.running.retain(|(i, _)| *i != index);
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done as u64);
        }
        self.show(None);
    }
}
