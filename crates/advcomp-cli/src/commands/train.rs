//! `advcomp train`.

use advcomp_data::DatasetKind;
use advcomp_models::Architecture;
use advcomp_train::{Limits, LrSchedule, OptimizerConfig, TrainConfig};
use miette::{IntoDiagnostic, Result};

use crate::cli::{OptimizerArg, ScheduleArg, TrainArgs};
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
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        schedule: match args.schedule {
            ScheduleArg::Constant => LrSchedule::Constant,
            ScheduleArg::Step => LrSchedule::Step {
                every: args.step_every,
                gamma: args.gamma,
            },
            ScheduleArg::Cosine => LrSchedule::Cosine { min_lr: 0.0 },
        },
        optimizer: match args.optimizer {
            OptimizerArg::Sgd => OptimizerConfig::Sgd {
                momentum: args.momentum,
                nesterov: args.nesterov,
            },
            OptimizerArg::Adam => OptimizerConfig::adam(),
        },
        weight_decay: args.weight_decay,
        seed: args.seed,
    };
    // Check the configuration before the (slow) data load.
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
    config
        .validate()
        .map_err(|e| miette::miette!("invalid training configuration: {e}"))?;
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
