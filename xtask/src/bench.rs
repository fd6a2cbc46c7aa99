//! `cargo xtask bench`: training and inference throughput per CPU backend.

use std::path::PathBuf;
use std::time::Instant;

use advcomp_backend::BackendKind;
use advcomp_data::DatasetKind;
use advcomp_models::{Architecture, Network};
use advcomp_train::{Limits, TrainConfig, Trainer, evaluate};
use burn::module::Module;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Backends to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "flex,ndarray")]
    backends: Vec<String>,
    /// Training images per measured epoch (the bundled set has 8,000).
    #[arg(long, default_value_t = 8000)]
    train_images: usize,
    /// Repetitions of the inference measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Row {
    backend: String,
    threads: usize,
    train_images: usize,
    train_seconds: f64,
    train_images_per_second: f64,
    inference_images: usize,
    inference_images_per_second: f64,
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    let dir = advcomp_data::resolve(DatasetKind::Mnist, None).map_err(|e| e.to_string())?;
    let split = advcomp_data::load(DatasetKind::Mnist, &dir).map_err(|e| e.to_string())?;
    let train = Limits {
        train: Some(args.train_images),
        test: None,
    }
    .train_set(&split);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "LeNet-5, batch 64, SGD; {} training images, {} test images; {threads} threads",
        train.len(),
        split.test.len()
    );
    let mut rows = Vec::new();
    for name in &args.backends {
        let kind: BackendKind = name
            .parse()
            .map_err(|e: advcomp_backend::BackendError| e.to_string())?;
        let device = advcomp_backend::device(kind).map_err(|e| e.to_string())?;
        let config = TrainConfig {
            epochs: 1,
            seed: 1,
            ..TrainConfig::default()
        };
        let trainer = Trainer::new(config).map_err(|e| e.to_string())?;
        let network = Network::new(Architecture::Lenet5, &device.clone().autodiff(), 1);
        let started = Instant::now();
        let (network, _) = trainer
            .fit(network, &train, &device, &mut (), &mut ())
            .map_err(|e| e.to_string())?;
        let train_seconds = started.elapsed().as_secs_f64();

        let network = network.valid();
        let mut speeds: Vec<f64> = (0..args.repeats.max(1))
            .map(|_| {
                let started = Instant::now();
                let eval = evaluate(&network, &split.test, &device, 500);
                std::hint::black_box(eval.accuracy);
                split.test.len() as f64 / started.elapsed().as_secs_f64()
            })
            .collect();
        speeds.sort_by(f64::total_cmp);
        let row = Row {
            backend: kind.resolve().to_string(),
            threads,
            train_images: train.len(),
            train_seconds,
            train_images_per_second: train.len() as f64 / train_seconds,
            inference_images: split.test.len(),
            inference_images_per_second: speeds[speeds.len() / 2],
        };
        println!(
            "{:>8}: train {:>7.1} images/s ({:.1} s/epoch of {}), inference {:>7.0} images/s",
            row.backend,
            row.train_images_per_second,
            row.train_seconds,
            row.train_images,
            row.inference_images_per_second
        );
        rows.push(row);
    }
    println!(
        "\n| backend | train images/s | s per {}-image epoch | inference images/s |",
        train.len()
    );
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.1} | {:.0} |",
            r.backend, r.train_images_per_second, r.train_seconds, r.inference_images_per_second
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
