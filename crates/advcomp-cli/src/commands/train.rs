//! `advcomp train`.

use advcomp_data::DatasetKind;
use advcomp_models::Architecture;
use advcomp_train::{Limits, TrainConfig};
use miette::{IntoDiagnostic, Result};

use serde_json::{Map, Value};

use crate::cli::TrainArgs;
use crate::out::outln;
use crate::progress::TrainProgress;

pub fn run(args: TrainArgs, quiet: bool) -> Result<()> {
    if args.list {
        return list();
    }
    // clap enforces these unless --list.
    let (Some(architecture), Some(out_dir)) = (args.model, args.out.clone()) else {
        return Err(miette::miette!("--model and --out are required"));
    };
    let dataset = match args.dataset {
        Some(dataset) => DatasetKind::from(dataset),
        None => architecture.dataset().parse::<DatasetKind>().map_err(|e| {
            miette::miette!(
                help = "give --dataset",
                "{architecture} declares the data set `{}`: {e}",
                architecture.dataset()
            )
        })?,
    };
    // The flags are the model block's parameters under their CLI names,
    // read by the one parser a `.scn` file's are read by.
    let mut params = Map::new();
    let mut set = |name: &str, value: Value| {
        params.insert(name.to_string(), value);
    };
    set("epochs", args.epochs.into());
    set("batch_size", args.batch_size.into());
    set("lr", args.learning_rate.into());
    set("weight_decay", args.weight_decay.into());
    set("optimizer", args.optimizer.name().into());
    set("schedule", args.schedule.name().into());
    if let Some(momentum) = args.momentum {
        set("momentum", momentum.into());
    }
    if args.nesterov {
        set("nesterov", true.into());
    }
    if let Some(every) = args.step_every {
        set("step_every", every.into());
    }
    if let Some(gamma) = args.gamma {
        set("gamma", gamma.into());
    }
    let config = TrainConfig::from_params(&params, args.seed).map_err(|e| {
        let flag = e.field().map(|f| match f {
            "lr" => "--lr".to_string(),
            f => format!("--{}", f.replace('_', "-")),
        });
        match flag {
            Some(flag) => miette::miette!(
                help = format!("see {flag}"),
                "invalid training configuration: {e}"
            ),
            None => miette::miette!("invalid training configuration: {e}"),
        }
    })?;
    // Check the limits before the (slow) data load.
    for (flag, limit) in [
        ("--train-limit", args.train_limit),
        ("--test-limit", args.test_limit),
    ] {
        if limit == Some(0) {
            return Err(miette::miette!(
                help = "omit it to use the whole split",
                "{flag} must be at least 1"
            ));
        }
    }
    let (backend, device) = super::device(&args.run.backend)?;
    let split = super::load_split(dataset, args.run.data.as_deref())?;
    let limits = Limits {
        train: args.train_limit,
        test: args.test_limit,
    };
    let mut progress = TrainProgress::new(quiet);
    let outcome = advcomp_train::train_to_checkpoint(
        architecture,
        &split,
        limits,
        &config,
        &device,
        &out_dir,
        &mut progress,
    )
    .into_diagnostic()?;
    progress.finish();
    let m = &outcome.metrics;
    let r = &outcome.report;
    if !quiet {
        eprintln!(
            "trained {architecture} on {} {dataset} images for {} epochs in {:.1}s ({:.0} images/s, backend {})",
            limits.train_set(&split).len(),
            config.epochs,
            r.seconds,
            r.images_per_second,
            backend.resolve(),
        );
        outln!(
            "test accuracy {:.2}% ({}/{}) — checkpoint in {}",
            100.0 * m.test_accuracy,
            m.test_correct,
            m.test_total,
            out_dir.display()
        )?;
    }
    Ok(())
}

/// `advcomp train --list`: every registered architecture, then the training
/// parameters a `.scn` model block takes (the flags above spell them out).
fn list() -> Result<()> {
    for arch in Architecture::all() {
        let r = arch.registration();
        let [c, h, w] = r.input_shape;
        outln!(
            "{} — {} [{c}x{h}x{w}, {} classes, trained on {}]",
            r.name,
            r.summary,
            r.num_classes,
            r.dataset
        )?;
        outln!("    {}", r.paper)?;
    }
    outln!()?;
    outln!("training parameters (a .scn model block):")?;
    for p in TrainConfig::PARAMS {
        outln!("    {:<22} {} ({})", p.name, p.doc, p.ty)?;
    }
    Ok(())
}
