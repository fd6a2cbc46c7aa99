//! `cargo xtask bench-compress`: wall time of each compressor followed by
//! two fine-tuning epochs on the bundled MNIST training set.

use std::path::PathBuf;
use std::time::Instant;

use advcomp_backend::BackendKind;
use advcomp_compress::{CompressedModel, Context, Step, compress};
use advcomp_data::DatasetKind;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct BenchCompressArgs {
    /// Checkpoint to compress (train one with the README command).
    #[arg(long, default_value = "runs/lenet5")]
    model: PathBuf,
    /// Fine-tuning epochs after each compressor.
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Backend.
    #[arg(long, default_value = "cpu")]
    backend: String,
}

fn step(op: &str, method: &str, params: Value) -> Result<Step, String> {
    Step::from_parts(op, method, params.as_object().expect("a map")).map_err(|e| e.to_string())
}

pub fn run(args: &BenchCompressArgs) -> Result<(), String> {
    let kind: BackendKind = args
        .backend
        .parse()
        .map_err(|e: advcomp_backend::BackendError| e.to_string())?;
    let device = advcomp_backend::device(kind).map_err(|e| e.to_string())?;
    let plain = device.clone().without_autodiff();
    let (parent, _) = CompressedModel::load(&args.model, &plain).map_err(|e| e.to_string())?;
    let dir = advcomp_data::resolve(DatasetKind::Mnist, None).map_err(|e| e.to_string())?;
    let split = advcomp_data::load(DatasetKind::Mnist, &dir).map_err(|e| e.to_string())?;
    let cases = [
        (
            "magnitude (layer) d=0.1",
            step("prune", "magnitude", json!({ "density": 0.1 }))?,
        ),
        (
            "magnitude (global) d=0.1",
            step(
                "prune",
                "magnitude",
                json!({ "density": 0.1, "scope": "global" }),
            )?,
        ),
        (
            "magnitude (gradual) d=0.1",
            step(
                "prune",
                "magnitude",
                json!({ "density": 0.1, "schedule": "gradual" }),
            )?,
        ),
        (
            "dns d=0.1",
            step("prune", "dns", json!({ "density": 0.1 }))?,
        ),
        (
            "filter d=0.5",
            step("prune", "filter", json!({ "density": 0.5 }))?,
        ),
        (
            "fixed w+a=8",
            step("quantise", "fixed", json!({ "bits": 8 }))?,
        ),
        (
            "dynamic w+a=8",
            step("quantise", "dynamic", json!({ "bits": 8 }))?,
        ),
        (
            "fixed w+a=4",
            step("quantise", "fixed", json!({ "bits": 4 }))?,
        ),
    ];
    println!(
        "{} on {} training images, {} fine-tuning epochs, backend {}",
        args.model.display(),
        split.train.len(),
        args.epochs,
        kind.resolve()
    );
    println!("\n| compressor | seconds (with fine-tuning) | accuracy: compressed → fine-tuned |");
    println!("|---|---|---|");
    for (label, s) in cases {
        let steps = vec![s, step("finetune", "", json!({ "epochs": args.epochs }))?];
        let started = Instant::now();
        let report = compress(
            &parent,
            &steps,
            Context {
                train: &split.train,
                device: &device,
                observer: &mut (),
            },
        )
        .map_err(|e| e.to_string())?
        .report(&parent, &steps, &split.test, &device);
        println!(
            "| {label} | {:.1} | {:.4} → {:.4} |",
            started.elapsed().as_secs_f64(),
            report.accuracy.compressed,
            report.accuracy.finetuned
        );
    }
    Ok(())
}
