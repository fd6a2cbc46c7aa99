//! `advcomp attack`.

use std::path::Path;

use advcomp_attack::{Counters, SampleMetrics};
use advcomp_data::{DatasetKind, idx_write};
use advcomp_models::checkpoint;
use advcomp_train::Limits;
use advcomp_train::batch;
use miette::{IntoDiagnostic, Result, WrapErr};
use serde_json::{Map, Value};

use crate::cli::AttackArgs;

pub fn run(args: AttackArgs, quiet: bool) -> Result<()> {
    if args.list {
        list();
        return Ok(());
    }
    // clap enforces these unless --list.
    let (Some(model_dir), Some(name), Some(out)) = (&args.model, &args.attack, &args.out) else {
        return Err(miette::miette!("--model, --attack and --out are required"));
    };
    let params = parse_params(&args.params)?;
    let attack = advcomp_attack::build(name, &params).into_diagnostic()?;
    if args.batch_size == 0 || args.n == 0 {
        return Err(miette::miette!("--n and --batch-size must be at least 1"));
    }

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
        let output = attack
            .run(&network, images.clone(), labels.clone(), None, &device)
            .into_diagnostic()
            .wrap_err_with(|| format!("{name} failed"))?;
        metrics.extend(SampleMetrics::measure(&network, images, labels, &output));
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
    let report = serde_json::json!({
        "attack": attack.name(),
        "norm": attack.norm().name(),
        "params": params,
        "model": model_dir,
        "dataset": dataset,
        "data_fingerprint": split.fingerprint,
        "summary": summary,
    });
    let mut json = serde_json::to_string_pretty(&report).into_diagnostic()?;
    json.push('\n');
    write(out, "metrics.json", json.as_bytes())?;
    println!(
        "{}: success {:.1}% of {} images ({:.1}% of the {} classified correctly), accuracy under attack {:.1}%",
        attack.name(),
        100.0 * summary.success_rate,
        summary.samples,
        100.0 * summary.success_rate_on_correct.unwrap_or(0.0),
        summary.clean_correct,
        100.0 * summary.accuracy_under_attack,
    );
    Ok(())
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

/// `NAME=VALUE` pairs into a JSON map; values are JSON when they parse
/// (`0.1`, `true`, `[1,2]`), strings otherwise.
fn parse_params(pairs: &[String]) -> Result<Value> {
    let mut map = Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            miette::miette!("--param {pair:?}: expected NAME=VALUE, e.g. epsilon=0.1")
        })?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        map.insert(k.trim().to_string(), value);
    }
    Ok(Value::Object(map))
}

fn list() {
    for reg in advcomp_attack::registrations() {
        let aliases = if reg.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also {})", reg.aliases.join(", "))
        };
        println!(
            "{}{} — {} [{}]",
            reg.name,
            aliases,
            reg.summary,
            reg.norm.name()
        );
        println!("    {}", reg.paper);
        for p in reg.describe() {
            println!("    {:<22} {:<12} {}", p.name, p.default.to_string(), p.doc);
        }
        println!();
    }
}
