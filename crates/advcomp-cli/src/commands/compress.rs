//! `advcomp compress`.

use advcomp_compress::{
    CompressedModel, Context, FinetuneConfig, IntBits, PruneConfig, PruneMethod, QuantConfig,
    QuantMethod, Schedule, Scope, Step, compress,
};
use advcomp_train::Limits;
use miette::{IntoDiagnostic, Result, WrapErr};

use crate::cli::{CompressArgs, PruneArg, QuantArg, ScheduleKindArg, ScopeArg};
use crate::out::out;
use crate::progress::TrainProgress;

/// Report file written next to the checkpoint.
pub const REPORT_FILE: &str = "report.json";

pub fn run(args: CompressArgs, quiet: bool) -> Result<()> {
    let steps = steps(&args)?;
    if steps.is_empty() {
        return Err(miette::miette!(
            help = "e.g. --prune magnitude --density 0.1, --prune dns --alpha -0.1, or --quantise fixed --weight-bits 8",
            "nothing to do: give --prune and/or --quantise (and optionally --finetune)"
        ));
    }
    for step in &steps {
        step.validate().into_diagnostic()?;
    }
    super::refuse_output_inside_input(&args.model, &args.out)?;
    let (_, device) = super::device(&args.run.backend)?;
    let plain = device.clone().without_autodiff();
    let dataset = super::checkpoint_dataset(&args.model)?;
    let split = super::load_split(dataset, args.run.data.as_deref())?;
    let (parent, sidecar) = CompressedModel::load(&args.model, &plain)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot load {}", args.model.display()))?;
    // Compare on the test set the parent was evaluated on.
    let limits: Limits = sidecar
        .data
        .get("limits")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let (train, test) = (limits.train_set(&split), limits.test_set(&split));
    let mut progress = TrainProgress::new(quiet);
    let started = std::time::Instant::now();
    let (model, report) = compress(
        &parent,
        &steps,
        Context {
            train: &train,
            test: &test,
            device: &device,
            observer: &mut progress,
        },
    )
    .into_diagnostic()?;
    progress.finish();
    let mut sidecar = sidecar;
    sidecar.metrics = serde_json::json!({ "test_accuracy": report.accuracy.finetuned });
    model
        .save(&args.out, sidecar, &report)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot save {}", args.out.display()))?;
    let mut json = serde_json::to_string_pretty(&report).into_diagnostic()?;
    json.push('\n');
    let path = args.out.join(REPORT_FILE);
    advcomp_models::checkpoint::write_atomic(&path, json.as_bytes())
        .into_diagnostic()
        .wrap_err_with(|| path.display().to_string())?;
    if args.json {
        out!("{json}")?;
    } else {
        out!("{}", report.table())?;
        if !quiet {
            eprintln!(
                "compressed in {:.1}s — checkpoint in {}",
                started.elapsed().as_secs_f64(),
                args.out.display()
            );
        }
    }
    Ok(())
}

fn steps(args: &CompressArgs) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    if let Some(method) = args.prune {
        if args.density.is_none() && args.alpha.is_none() {
            return Err(miette::miette!(
                "--prune needs --density (or, for dns, --alpha)"
            ));
        }
        steps.push(Step::Prune(PruneConfig {
            method: match method {
                PruneArg::Magnitude => PruneMethod::Magnitude,
                PruneArg::Dns => PruneMethod::Dns,
                PruneArg::Filter => PruneMethod::Filter,
            },
            density: args.density,
            alpha: args.alpha,
            scope: match args.scope {
                ScopeArg::Layer => Scope::Layer,
                ScopeArg::Global => Scope::Global,
            },
            schedule: match args.schedule {
                ScheduleKindArg::Oneshot => Schedule::Oneshot,
                ScheduleKindArg::Gradual => Schedule::Gradual,
            },
        }));
    }
    if let Some(method) = args.quantise {
        let weight_bits = args
            .weight_bits
            .ok_or_else(|| miette::miette!("--quantise needs --weight-bits"))?;
        let defaults: QuantConfig = serde_json::from_value(serde_json::json!({
            "method": "fixed", "weight_bits": weight_bits
        }))
        .into_diagnostic()?;
        steps.push(Step::Quantise(QuantConfig {
            method: match method {
                QuantArg::Fixed => QuantMethod::Fixed,
                QuantArg::Dynamic => QuantMethod::Dynamic,
            },
            act_bits: args.act_bits,
            weight_int_bits: args.weight_int_bits.map_or(IntBits::Auto, IntBits::Fixed),
            act_int_bits: args.act_int_bits.map_or(IntBits::Auto, IntBits::Fixed),
            act_signed: !args.act_unsigned,
            ..defaults
        }));
    }
    if args.finetune > 0 {
        steps.push(Step::Finetune(FinetuneConfig {
            epochs: args.finetune,
            lr: args.lr,
            seed: args.seed,
            ..FinetuneConfig::default()
        }));
    }
    Ok(steps)
}
