//! `cargo xtask bench-attacks`: seconds per 1,000 images for every
//! registered attack (plugins included) on a LeNet-5 checkpoint.

use std::path::PathBuf;
use std::time::Instant;

use advcomp_backend::BackendKind;
use advcomp_compress::CompressedModel;
use advcomp_data::DatasetKind;
use advcomp_train::{Limits, batch};
use serde_json::{Value, json};

// Link the plugins so that they register.
use advcomp_plugins as _;

#[derive(clap::Args)]
pub struct BenchAttacksArgs {
    /// Checkpoint to attack (train one with the README command).
    #[arg(long, default_value = "runs/lenet5")]
    model: PathBuf,
    /// Test images per attack (evenly spaced); times are scaled to 1,000.
    #[arg(long, default_value_t = 200)]
    images: usize,
    /// Images per attack batch.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Backend.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Only these attacks (comma-separated); default: every registered one.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// Parameters that keep the slow attacks within a benchmark's patience;
/// the rest run at their defaults.
fn params(name: &str) -> Value {
    match name {
        "cw_l2" => json!({ "binary_search_steps": 5, "max_iterations": 200,
                           "initial_const": 1.0, "learning_rate": 0.05 }),
        "square" | "hop_skip_jump" | "boundary" => json!({ "max_queries": 1000 }),
        "autoattack" => json!({ "square_queries": 1000 }),
        _ => json!({}),
    }
}

pub fn run(args: &BenchAttacksArgs) -> Result<(), String> {
    let kind: BackendKind = args
        .backend
        .parse()
        .map_err(|e: advcomp_backend::BackendError| e.to_string())?;
    let device = advcomp_backend::device(kind).map_err(|e| e.to_string())?;
    let plain = device.clone().without_autodiff();
    let (model, _) = CompressedModel::load(&args.model, &plain).map_err(|e| e.to_string())?;
    let dir = advcomp_data::resolve(DatasetKind::Mnist, None).map_err(|e| e.to_string())?;
    let split = advcomp_data::load(DatasetKind::Mnist, &dir).map_err(|e| e.to_string())?;
    let test = Limits {
        train: None,
        test: Some(args.images),
    }
    .test_set(&split);
    let rows: Vec<usize> = (0..test.len()).collect();
    let images = batch::images(&test, &rows, &plain);
    let labels = batch::labels(&test, &rows, &plain);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} on {} test images, batch {}, backend {}, {threads} threads",
        args.model.display(),
        test.len(),
        args.batch_size,
        kind.resolve()
    );
    println!(
        "\n| attack | parameters | success | s per 1,000 images | gradients per image | queries per image |"
    );
    println!("|---|---|---|---|---|---|");
    for reg in advcomp_attack::registrations() {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == reg.name) {
            continue;
        }
        let p = params(reg.name);
        let attack = reg.build(&p).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let out = advcomp_attack::run_batched(
            attack.as_ref(),
            &model,
            images.clone(),
            labels.clone(),
            None,
            args.batch_size,
            &device,
            &mut |_| {},
        )
        .map_err(|e| e.to_string())?;
        let seconds = started.elapsed().as_secs_f64();
        let s = out.metrics.summary(out.counters);
        println!(
            "| {} | {} | {:.1}% | {:.1} | {:.0} | {:.0} |",
            reg.name,
            if p.as_object().is_some_and(|m| m.is_empty()) {
                "defaults".to_string()
            } else {
                p.to_string()
            },
            100.0 * s.success_rate,
            seconds * 1000.0 / test.len() as f64,
            s.gradient_evaluations_per_sample,
            s.model_queries_per_sample
        );
    }
    Ok(())
}
