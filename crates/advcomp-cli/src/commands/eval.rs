//! `advcomp eval`.

use advcomp_data::DatasetKind;
use advcomp_models::checkpoint;
use miette::{IntoDiagnostic, Result};

use crate::cli::EvalArgs;
use crate::out::{out, outln};

pub fn run(args: EvalArgs) -> Result<()> {
    let sidecar = checkpoint::read_sidecar(&args.checkpoint).into_diagnostic()?;
    let dataset: DatasetKind = sidecar
        .data
        .get("dataset")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .ok_or_else(|| {
            miette::miette!(
                "{}: checkpoint.json does not say which dataset the model was trained on (field data.dataset)",
                args.checkpoint.display()
            )
        })?;
    let (_, device) = super::device(&args.run.backend)?;
    let split = super::load_split(dataset, args.run.data.as_deref())?;
    let trained_on = sidecar.data.get("fingerprint").and_then(|f| f.as_str());
    if trained_on.is_some_and(|f| f != split.fingerprint) {
        tracing::warn!(
            "the data in {} differs from the data this checkpoint was evaluated on at training time; \
             numbers will not match its metrics.json",
            split.dir.display()
        );
    }
    // Loaded as a (possibly) compressed model, so that quantised activations
    // are simulated exactly as attacks see them.
    let plain = device.clone().without_autodiff();
    let (model, _) =
        advcomp_compress::CompressedModel::load(&args.checkpoint, &plain).into_diagnostic()?;
    let limits: advcomp_train::Limits = sidecar
        .data
        .get("limits")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let test = limits.test_set(&split);
    let eval = advcomp_train::evaluate(&model, &test, &plain, advcomp_train::job::EVAL_BATCH);
    let metrics = advcomp_train::Metrics::new(sidecar.architecture, &split, &test, eval);
    if args.json {
        out!("{}", metrics.to_json())?;
    } else {
        outln!(
            "{} on {} ({} test images): accuracy {:.2}% ({}/{}), loss {:.4}",
            metrics.model,
            metrics.dataset,
            metrics.test_total,
            100.0 * metrics.test_accuracy,
            metrics.test_correct,
            metrics.test_total,
            metrics.test_loss
        )?;
        let names = dataset.class_names();
        outln!("{:>12}  {:>8}  {:>6}", "class", "accuracy", "images")?;
        for (i, (acc, total)) in metrics
            .per_class_accuracy
            .iter()
            .zip(&metrics.per_class_total)
            .enumerate()
        {
            outln!("{:>12}  {:>7.2}%  {:>6}", names[i], 100.0 * acc, total)?;
        }
    }
    Ok(())
}
