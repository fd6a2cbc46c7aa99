//! `advcomp attack`.

use std::path::Path;

use advcomp_attack::{Counters, SampleMetrics, TargetChoice};
use advcomp_data::{DatasetKind, idx_write};
use advcomp_models::checkpoint;
use advcomp_train::Limits;
use advcomp_train::batch;
use miette::{IntoDiagnostic, Result, WrapErr};
use serde_json::Value;

use crate::cli::AttackArgs;
use crate::out::outln;

pub fn run(args: AttackArgs, quiet: bool) -> Result<()> {
    if args.list {
        return list();
    }
    // clap enforces these unless --list.
    let (Some(model_dir), Some(name), Some(out)) = (&args.model, &args.attack, &args.out) else {
        return Err(miette::miette!("--model, --attack and --out are required"));
    };
    let params = Value::Object(super::parse_params("--param", &args.params)?);
    let attack = advcomp_attack::build(name, &params).into_diagnostic()?;
    let target: Option<TargetChoice> = args
        .target
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| miette::miette!("--target: {e}"))?;
    if target.is_some() && !attack.supports_targeted() {
        return Err(miette::miette!(
            "--target: {} is untargeted only (`advcomp attack --list` marks the targeted attacks)",
            attack.name()
        ));
    }
    if args.batch_size == 0 || args.n == 0 {
        return Err(miette::miette!("--n and --batch-size must be at least 1"));
    }
    super::refuse_output_inside_input(model_dir, out)?;

    let (_, device) = super::device(&args.run.backend)?;
    let plain = device.clone().without_autodiff();
    let sidecar = checkpoint::read_sidecar(model_dir).into_diagnostic()?;
    let dataset: DatasetKind = sidecar
        .data
        .get("dataset")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .ok_or_else(|| {
            miette::miette!(
                "{}: checkpoint.json has no data.dataset",
                model_dir.display()
            )
        })?;
    let split = super::load_split(dataset, args.run.data.as_deref())?;
    // Compressed checkpoints carry activation quantisers the attack must see.
    let (network, _) =
        advcomp_compress::CompressedModel::load(model_dir, &plain).into_diagnostic()?;
    if args.n > split.test.len() {
        tracing::warn!(
            "--n {} is more than the {} images of the test set in {}; attacking all {}",
            args.n,
            split.test.len(),
            split.dir.display(),
            split.test.len()
        );
    }
    let test = Limits {
        train: None,
        test: Some(args.n),
    }
    .test_set(&split);

    let mut metrics = SampleMetrics::default();
    let mut counters = Counters::default();
    let mut adversarial: Vec<f32> = Vec::with_capacity(test.images.len());
    let rows: Vec<usize> = (0..test.len()).collect();
    let bar = crate::progress::bar(rows.len().div_ceil(args.batch_size), quiet, "attack");
    for chunk in rows.chunks(args.batch_size) {
        let images = batch::images(&test, chunk, &plain);
        let labels = batch::labels(&test, chunk, &plain);
        let targets = match target {
            Some(rule) => Some(
                rule.targets(&network, images.clone(), labels.clone(), chunk[0])
                    .map_err(|e| miette::miette!("--target: {e}"))?,
            ),
            None => None,
        };
        let output = attack
            .run(
                &network,
                images.clone(),
                labels.clone(),
                targets.clone(),
                &device,
            )
            .into_diagnostic()
            .wrap_err_with(|| format!("{name} failed"))?;
        let mut batch_metrics = SampleMetrics::measure(&network, images, labels, &output);
        if let Some(targets) = targets {
            batch_metrics = batch_metrics.with_targets(targets);
        }
        metrics.extend(batch_metrics);
        counters += output.counters;
        let values = output
            .adversarial
            .into_data()
            .try_into_vec_as::<f32>()
            .into_diagnostic()?;
        adversarial.extend(values);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let summary = metrics.summary(counters);
    let s = &test.shape;
    let dims = [test.len(), s.channels, s.height, s.width];
    write(
        out,
        "adversarial-images.idx",
        &idx_write::encode_f32(&dims, &adversarial),
    )?;
    write(
        out,
        "labels.idx",
        &idx_write::encode_u8(&[test.len()], &test.labels),
    )?;
    let success: Vec<u8> = metrics.success.iter().map(|&b| u8::from(b)).collect();
    write(
        out,
        "success.idx",
        &idx_write::encode_u8(&[test.len()], &success),
    )?;
    if target.is_some() {
        let targets: Vec<u8> = metrics.targets.iter().map(|&t| t as u8).collect();
        write(
            out,
            "targets.idx",
            &idx_write::encode_u8(&[test.len()], &targets),
        )?;
    }
    let report = serde_json::json!({
        "attack": attack.name(),
        "norm": attack.norm().name(),
        "params": params,
        "target": target.map(|t| t.to_string()),
        "model": model_dir,
        "dataset": dataset,
        "data_fingerprint": split.fingerprint,
        "summary": summary,
    });
    let mut json = serde_json::to_string_pretty(&report).into_diagnostic()?;
    json.push('\n');
    write(out, "metrics.json", json.as_bytes())?;
    let goal = match target {
        Some(rule) => format!(" (targeted, {rule}: success = the target class reached)"),
        None => String::new(),
    };
    outln!(
        "{}{goal}: success {:.1}% of {} images ({:.1}% of the {} classified correctly), accuracy under attack {:.1}%",
        attack.name(),
        100.0 * summary.success_rate,
        summary.samples,
        100.0 * summary.success_rate_on_correct.unwrap_or(0.0),
        summary.clean_correct,
        100.0 * summary.accuracy_under_attack,
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir)
        .into_diagnostic()
        .wrap_err_with(|| dir.display().to_string())?;
    let path = dir.join(name);
    checkpoint::write_atomic(&path, bytes)
        .into_diagnostic()
        .wrap_err_with(|| path.display().to_string())
}

/// `advcomp attack --list`: every registered attack (plugins included)
/// with its norm, paper and parameters with their defaults.
fn list() -> Result<()> {
    for reg in advcomp_attack::registrations() {
        let aliases = if reg.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also {})", reg.aliases.join(", "))
        };
        outln!(
            "{}{} — {} [{}]",
            reg.name,
            aliases,
            reg.summary,
            reg.norm.name()
        )?;
        outln!("    {}", reg.paper)?;
        for p in reg.describe() {
            outln!(
                "    {:<22} {:<12} {} ({})",
                p.name,
                p.default.to_string(),
                p.doc,
                p.ty
            )?;
        }
        outln!()?;
    }
    Ok(())
}
