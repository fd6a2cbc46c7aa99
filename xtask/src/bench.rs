//! `cargo xtask bench`: LeNet-5 training, inference and PGD-40 per CPU
//! backend, as throughput, as a share of the machine's FP32 peak, and as a
//! ratio to the same work in PyTorch on the same machine in the same run
//! (issue #16; `docs/performance.md` has the numbers).
//!
//! The PyTorch side is `xtask/bench_torch.py`, run with the Python named by
//! `--python` (default: `$ADVCOMP_TORCH_PYTHON`, else `python3`) when that
//! Python can import `torch`; otherwise the comparison is skipped with a
//! note. It is never a dependency of the build or of the tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use advcomp_backend::BackendKind;
use advcomp_data::DatasetKind;
use advcomp_models::{Architecture, Network};
use advcomp_train::{Limits, TrainConfig, Trainer, batch, evaluate, job};
use burn::module::Module;
use serde_json::{Value, json};

use crate::flops;

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
    /// Test images attacked by PGD-40 (evenly spaced; 0 skips the attack).
    #[arg(long, default_value_t = 1000)]
    pgd_images: usize,
    /// Images per attack batch.
    #[arg(long, default_value_t = 100)]
    attack_batch: usize,
    /// Python with `torch` for the side-by-side run (default:
    /// `$ADVCOMP_TORCH_PYTHON`, else `python3`).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip the PyTorch side.
    #[arg(long)]
    no_torch: bool,
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
    train_share_of_peak: f64,
    inference_images: usize,
    inference_images_per_second: f64,
    inference_share_of_peak: f64,
    pgd_images: usize,
    pgd_seconds: f64,
    pgd_share_of_peak: f64,
    pgd_success_rate: f64,
}

/// The gradient steps of the benchmark's PGD (the attack's default).
const PGD_STEPS: usize = 40;

pub fn run(args: &BenchArgs) -> Result<(), String> {
    let dir = advcomp_data::resolve(DatasetKind::Mnist, None).map_err(|e| e.to_string())?;
    let split = advcomp_data::load(DatasetKind::Mnist, &dir).map_err(|e| e.to_string())?;
    let train = Limits {
        train: Some(args.train_images),
        test: None,
    }
    .train_set(&split);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let peak = flops::peak();
    println!(
        "LeNet-5, batch 64, SGD; {} training images, {} test images, PGD-{PGD_STEPS} on {} of them (batch {}); {threads} threads",
        train.len(),
        split.test.len(),
        args.pgd_images.min(split.test.len()),
        args.attack_batch,
    );
    println!(
        "FP32 peak {:.0} GFLOP/s: {}",
        peak.flops_per_second / 1e9,
        peak.how
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
        let network = Network::new(Architecture::LENET5, &device.clone().autodiff(), 1);
        let started = Instant::now();
        let (network, _) = trainer
            .fit(network, &train, &device, &mut (), &mut ())
            .map_err(|e| e.to_string())?;
        let train_seconds = started.elapsed().as_secs_f64();

        let network = network.valid();
        let macs = flops::forward_macs(&network);
        let mut speeds: Vec<f64> = (0..args.repeats.max(1))
            .map(|_| {
                let started = Instant::now();
                let eval = evaluate(&network, &split.test, &device, 500);
                std::hint::black_box(eval.accuracy);
                split.test.len() as f64 / started.elapsed().as_secs_f64()
            })
            .collect();
        speeds.sort_by(f64::total_cmp);
        let inference = speeds[speeds.len() / 2];
        let (pgd_images, pgd_seconds, pgd_success_rate) = pgd(&network, &split, args, &device)?;
        let share = |flop: f64, seconds: f64| flop / seconds / peak.flops_per_second;
        let row = Row {
            backend: kind.resolve().to_string(),
            threads,
            train_images: train.len(),
            train_seconds,
            train_images_per_second: train.len() as f64 / train_seconds,
            train_share_of_peak: share(
                flops::training_flops(&macs) * train.len() as f64,
                train_seconds,
            ),
            inference_images: split.test.len(),
            inference_images_per_second: inference,
            inference_share_of_peak: share(flops::forward_flops(&macs) * inference, 1.0),
            pgd_images,
            pgd_seconds,
            pgd_share_of_peak: share(
                flops::attack_step_flops(&macs) * (PGD_STEPS * pgd_images) as f64,
                pgd_seconds,
            ),
            pgd_success_rate,
        };
        println!(
            "{:>8}: train {:.1} s/epoch ({:.1}% of peak), inference {:.0} images/s ({:.1}%), PGD-{PGD_STEPS} {:.1} s per 1,000 images ({:.1}%, success {:.1}%)",
            row.backend,
            row.train_seconds,
            100.0 * row.train_share_of_peak,
            row.inference_images_per_second,
            100.0 * row.inference_share_of_peak,
            per_thousand(row.pgd_seconds, row.pgd_images),
            100.0 * row.pgd_share_of_peak,
            100.0 * row.pgd_success_rate,
        );
        rows.push(row);
    }
    let torch = if args.no_torch {
        None
    } else {
        torch_side(args, &dir, threads)
    };
    print_table(&rows, torch.as_ref());
    if let Some(path) = &args.json {
        let out = json!({ "peak": peak, "advcomp": rows, "pytorch": torch });
        let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// PGD-40 (the registered attack at its defaults) on evenly spaced test
/// images: (images, seconds, success rate).
fn pgd(
    network: &Network,
    split: &advcomp_data::Split,
    args: &BenchArgs,
    device: &burn::tensor::Device,
) -> Result<(usize, f64, f64), String> {
    let n = args.pgd_images.min(split.test.len());
    if n == 0 {
        return Ok((0, 0.0, 0.0));
    }
    let attack =
        advcomp_attack::build("pgd", &json!({ "steps": PGD_STEPS })).map_err(|e| e.to_string())?;
    let rows = job::spread(split.test.len(), n);
    let plain = device.clone().without_autodiff();
    let images = batch::images(&split.test, &rows, &plain);
    let labels = batch::labels(&split.test, &rows, &plain);
    let started = Instant::now();
    let out = advcomp_attack::run_batched(
        attack.as_ref(),
        network,
        images,
        labels,
        None,
        args.attack_batch,
        device,
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((n, seconds, out.metrics.summary(out.counters).success_rate))
}

fn per_thousand(seconds: f64, images: usize) -> f64 {
    if images == 0 {
        0.0
    } else {
        seconds * 1000.0 / images as f64
    }
}

/// Runs `xtask/bench_torch.py`; `None` (with a note on stderr) when no
/// Python with `torch` is found or the script fails.
fn torch_side(args: &BenchArgs, data: &Path, threads: usize) -> Option<Value> {
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var_os("ADVCOMP_TORCH_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let importable = Command::new(&python)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        eprintln!(
            "note: `{}` cannot import torch; no PyTorch comparison (set --python or ADVCOMP_TORCH_PYTHON)",
            python.display()
        );
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench_torch.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg("--data")
        .arg(data)
        .args([
            format!("--train-images={}", args.train_images),
            format!("--pgd-images={}", args.pgd_images),
            format!("--pgd-steps={PGD_STEPS}"),
            format!("--attack-batch={}", args.attack_batch),
            format!("--repeats={}", args.repeats),
            format!("--threads={threads}"),
        ])
        .output();
    match output {
        Ok(o) if o.status.success() => match serde_json::from_slice::<Value>(&o.stdout) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("note: {} printed no JSON ({e})", script.display());
                None
            }
        },
        Ok(o) => {
            eprintln!(
                "note: {} failed: {}",
                script.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("note: cannot run {}: {e}", python.display());
            None
        }
    }
}

fn print_table(rows: &[Row], torch: Option<&Value>) {
    let number = |key: &str| torch.and_then(|t| t.get(key)).and_then(Value::as_f64);
    if let Some(t) = torch {
        println!(
            "\nPyTorch {} ({} threads), same work: train {:.1} s/epoch, inference {:.0} images/s, PGD-{PGD_STEPS} {:.1} s per 1,000 images (success {:.1}%)",
            t.get("torch").and_then(Value::as_str).unwrap_or("?"),
            number("threads").unwrap_or(0.0),
            number("train_seconds").unwrap_or(f64::NAN),
            number("inference_images_per_second").unwrap_or(f64::NAN),
            per_thousand(
                number("pgd_seconds").unwrap_or(f64::NAN),
                number("pgd_images").unwrap_or(0.0) as usize
            ),
            100.0 * number("pgd_success_rate").unwrap_or(f64::NAN),
        );
    }
    println!(
        "\n| backend | s per {}-image epoch | % of peak | inference images/s | % of peak | PGD-{PGD_STEPS} s per 1,000 | % of peak | time / PyTorch's (train, inference, PGD) |",
        rows.first().map_or(0, |r| r.train_images)
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let ratio = |ours: f64, theirs: Option<f64>| {
            theirs.map_or("-".to_string(), |t| format!("{:.2}", ours / t))
        };
        let ratios = format!(
            "{}, {}, {}",
            ratio(r.train_seconds, number("train_seconds")),
            ratio(
                1.0 / r.inference_images_per_second,
                number("inference_images_per_second").map(|v| 1.0 / v)
            ),
            ratio(r.pgd_seconds / r.pgd_images.max(1) as f64, {
                number("pgd_seconds")
                    .zip(number("pgd_images"))
                    .map(|(s, n)| s / n.max(1.0))
            }),
        );
        println!(
            "| {} | {:.2} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {ratios} |",
            r.backend,
            r.train_seconds,
            100.0 * r.train_share_of_peak,
            r.inference_images_per_second,
            100.0 * r.inference_share_of_peak,
            per_thousand(r.pgd_seconds, r.pgd_images),
            100.0 * r.pgd_share_of_peak,
        );
    }
}
