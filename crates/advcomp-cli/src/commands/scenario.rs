//! `advcomp run`, `advcomp check`, `advcomp fmt`: the scenario language.

use std::path::{Path, PathBuf};
use std::time::Instant;

use advcomp_runner::plan::PlanStep;
use advcomp_runner::{LoadError, RunObserver, RunOptions};
use indicatif::ProgressBar;
use miette::{IntoDiagnostic, Result, WrapErr};

use crate::cli::{CheckArgs, FmtArgs, RunArgs, RunScenarioArgs};
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
    let options = RunOptions {
        scenario: args.scenario.clone(),
        out_dir: out.clone(),
        cache_dir: args.cache.clone(),
        data_dir: args.run.data.clone(),
        backend: kind.resolve().to_string(),
        dry_run: args.dry_run,
        stop_after: None,
        max_steps: Some(args.max_steps),
    };
    let started = Instant::now();
    let mut progress = Progress::new(quiet || args.dry_run);
    let outcome = advcomp_runner::run(&resolved, &bytes, &options, &device, &mut progress)
        .into_diagnostic()?;
    progress.finish();
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
            "{} steps ({} from the cache) in {:.1}s; report in {}",
            outcome.plan.steps.len(),
            outcome.plan.steps.len() - computed,
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

/// One bar over the plan's steps, with the current step's own progress in
/// its message.
struct Progress {
    bar: Option<ProgressBar>,
    label: String,
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
            label: String::new(),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl RunObserver for Progress {
    fn step_start(&mut self, index: usize, total: usize, step: &PlanStep, cached: bool) {
        self.label = step.label.clone();
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(if cached {
                format!("{} (cached)", step.label)
            } else {
                step.label.clone()
            });
        }
    }

    fn step_progress(&mut self, done: usize, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} [{done}/{total}]", self.label));
        }
    }

    fn step_end(&mut self, index: usize, step: &PlanStep, cached: bool, seconds: f64) {
        if !cached {
            tracing::info!(step = %step.label, seconds, "step finished");
        }
        if let Some(bar) = &self.bar {
            bar.set_position(index as u64 + 1);
        }
    }
}
