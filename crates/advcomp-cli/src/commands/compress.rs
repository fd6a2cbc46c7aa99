//! `advcomp compress`.

use advcomp_compress::registry::{self, Build};
use advcomp_compress::{CompressedModel, Context, FinetuneConfig, Step, compress};
use advcomp_train::Limits;
use miette::{IntoDiagnostic, Result, WrapErr};
use serde_json::{Map, Value};

use crate::cli::{CompressArgs, ScheduleKindArg, ScopeArg};
use crate::out::{out, outln};
use crate::progress::TrainProgress;

/// Report file written next to the checkpoint.
pub const REPORT_FILE: &str = "report.json";

pub fn run(args: CompressArgs, quiet: bool) -> Result<()> {
    if args.list {
        return list();
    }
    // clap enforces these unless --list.
    let (Some(model_dir), Some(out_dir)) = (args.model.clone(), args.out.clone()) else {
        return Err(miette::miette!("--model and --out are required"));
    };
    let steps = steps(&args)?;
    if steps.is_empty() {
        return Err(miette::miette!(
            help = "e.g. --prune magnitude --density 0.1, --prune dns --alpha -0.1, or --quantise fixed --weight-bits 8 (`advcomp compress --list` lists every compressor)",
            "nothing to do: give --prune and/or --quantise (and optionally --finetune)"
        ));
    }
    super::refuse_output_inside_input(&model_dir, &out_dir)?;
    let (_, device) = super::device(&args.run.backend)?;
    let plain = device.clone().without_autodiff();
    let dataset = super::checkpoint_dataset(&model_dir)?;
    let split = super::load_split(dataset, args.run.data.as_deref())?;
    let (parent, sidecar) = CompressedModel::load(&model_dir, &plain)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot load {}", model_dir.display()))?;
    // A keyed defence's thresholds are set again on the copy, which needs
    // its key: refused here, before any work, rather than shipped stale.
    advcomp_runner::deployed::redeployable(&sidecar, &model_dir, None).into_diagnostic()?;
    // Compare on the test set the parent was evaluated on.
    let limits: Limits = sidecar
        .data
        .get("limits")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let (train, test) = (limits.train_set(&split), limits.test_set(&split));
    let mut progress = TrainProgress::new(quiet);
    let started = std::time::Instant::now();
    let done = compress(
        &parent,
        &steps,
        Context {
            train: &train,
            device: &device,
            observer: &mut progress,
        },
    )
    .into_diagnostic()?;
    progress.finish();
    let report = done.report(&parent, &steps, &test, &device);
    let model = done.model;
    let mut sidecar = sidecar;
    sidecar.metrics = serde_json::json!({ "test_accuracy": report.accuracy.finetuned });
    // An input detector guarding the parent guards the copy, its threshold
    // set again on it.
    advcomp_runner::deployed::redeploy(
        &parent,
        &model,
        &mut sidecar,
        &model_dir,
        None,
        &train,
        &device,
    )
    .into_diagnostic()?;
    model
        .save(&out_dir, sidecar, &report)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot save {}", out_dir.display()))?;
    let mut json = serde_json::to_string_pretty(&report).into_diagnostic()?;
    json.push('\n');
    let path = out_dir.join(REPORT_FILE);
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
                out_dir.display()
            );
        }
    }
    Ok(())
}

/// The steps the flags ask for, built through the compressor registry as a
/// scenario's are: each flag becomes the parameter of the same name, and
/// `--prune-param` / `--quant-param` add any other declared parameter.
fn steps(args: &CompressArgs) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    if let Some(method) = &args.prune {
        let mut params = super::parse_params("--prune-param", &args.prune_params)?;
        let flags = [
            ("density", args.density.map(Value::from)),
            ("alpha", args.alpha.map(Value::from)),
            (
                "scope",
                args.scope.map(|s| match s {
                    ScopeArg::Layer => "layer".into(),
                    ScopeArg::Global => "global".into(),
                }),
            ),
            (
                "schedule",
                args.schedule.map(|s| match s {
                    ScheduleKindArg::Oneshot => "oneshot".into(),
                    ScheduleKindArg::Gradual => "gradual".into(),
                }),
            ),
        ];
        insert_flags(&mut params, flags, "--prune-param")?;
        steps.push(step("prune", method, &params)?);
    }
    if let Some(method) = &args.quantise {
        let mut params = super::parse_params("--quant-param", &args.quant_params)?;
        let flags = [
            ("weight_bits", args.weight_bits.map(Value::from)),
            ("weight_int_bits", args.weight_int_bits.map(Value::from)),
            ("act_bits", args.act_bits.map(Value::from)),
            ("act_int_bits", args.act_int_bits.map(Value::from)),
            (
                "act_signed",
                args.act_unsigned.then_some(Value::Bool(false)),
            ),
        ];
        insert_flags(&mut params, flags, "--quant-param")?;
        steps.push(step("quantise", method, &params)?);
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

/// Adds the flags that were given to `params`, refusing a parameter given
/// both as its flag and through `--…-param`.
fn insert_flags<const N: usize>(
    params: &mut Map<String, Value>,
    flags: [(&str, Option<Value>); N],
    param_flag: &str,
) -> Result<()> {
    for (name, value) in flags {
        let Some(value) = value else { continue };
        if params.contains_key(name) {
            return Err(miette::miette!(
                "`{name}` is given both as --{} and as {param_flag}",
                name.replace('_', "-")
            ));
        }
        params.insert(name.to_string(), value);
    }
    Ok(())
}

/// One step, or an error naming the step and the parameter at fault (or
/// the registered methods, for an unknown one).
fn step(op: &str, method: &str, params: &Map<String, Value>) -> Result<Step> {
    if let Some(kind) = registry::CompressorKind::from_keyword(op) {
        registry::find(kind, method).map_err(|e| miette::miette!("--{op}: {e}"))?;
    }
    Step::from_parts(op, method, params).map_err(|e| miette::miette!("--{op} {method}: {e}"))
}

fn list() -> Result<()> {
    for r in registry::registrations() {
        let origin = match r.build {
            Build::Builtin => "",
            Build::Projection(_) => " [plugin: straight-through projection]",
        };
        outln!("{} — {}{}", r.title(), r.summary, origin)?;
        outln!("    {}", r.paper)?;
        for p in r.params {
            outln!("    {:<20} {} ({})", p.name, p.doc, p.ty)?;
        }
        outln!()?;
    }
    outln!("finetune — train under every compression in force (--finetune EPOCHS)")?;
    Ok(())
}
