//! `cargo xtask bench-defences`: the run-time cost of each keyed detector —
//! inference images/s of the bare network against the same forward pass
//! with the detector hooked in (issue #6's overhead benchmark).
//!
//! The detectors are calibrated on the checkpoint after a one-epoch
//! hardening fine-tune on 1,000 digits: the cost of a check does not depend
//! on how well the thresholds were trained, only on what is checked.

use std::path::PathBuf;
use std::time::Instant;

use advcomp_backend::BackendKind;
use advcomp_data::DatasetKind;
use advcomp_defence::{
    Defence, Detector, Hardening, Key, Sitatapatra, SitatapatraConfig, TabooConfig, TabooTrap,
};
use advcomp_models::Network;
use advcomp_models::checkpoint::Checkpoint;
use advcomp_train::{LrSchedule, TrainConfig, Trainer, batch};

#[derive(clap::Args)]
pub struct BenchDefencesArgs {
    /// Checkpoint to defend (train one with the README command).
    #[arg(long, default_value = "runs/lenet5")]
    model: PathBuf,
    /// Images per batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Timed passes over the 2,000 test digits, alternating with and
    /// without the detector (the fastest of each is reported).
    #[arg(long, default_value_t = 5)]
    passes: usize,
    /// Backend.
    #[arg(long, default_value = "cpu")]
    backend: String,
}

pub fn run(args: &BenchDefencesArgs) -> Result<(), String> {
    let kind: BackendKind = args
        .backend
        .parse()
        .map_err(|e: advcomp_backend::BackendError| e.to_string())?;
    let device = advcomp_backend::device(kind).map_err(|e| e.to_string())?;
    let plain = device.clone().without_autodiff();
    let network = Checkpoint::load(&args.model, &plain)
        .map_err(|e| e.to_string())?
        .network;
    let dir = advcomp_data::resolve(DatasetKind::Mnist, None).map_err(|e| e.to_string())?;
    let split = advcomp_data::load(DatasetKind::Mnist, &dir).map_err(|e| e.to_string())?;
    let small = split.train.take(1000);
    let trainer = Trainer::new(TrainConfig {
        epochs: 1,
        learning_rate: 0.01,
        schedule: LrSchedule::Constant,
        ..TrainConfig::default()
    })
    .map_err(|e| e.to_string())?;

    let mut taboo = TabooTrap::new(Key::from_seed(1), TabooConfig::default(), &network);
    let taboo_net = taboo
        .harden_with(network.clone(), &small, &split.train, &trainer, &device)
        .map_err(|e| e.to_string())?;
    let mut guards = Sitatapatra::new(Key::from_seed(1), SitatapatraConfig::default(), &network);
    let guard_net = guards
        .harden_with(network.clone(), &small, &split.train, &trainer, &device)
        .map_err(|e| e.to_string())?;

    let rows: Vec<usize> = (0..split.test.len()).collect();
    let batches: Vec<_> = rows
        .chunks(args.batch)
        .map(|c| batch::images(&split.test, c, &plain))
        .collect();
    println!(
        "{} · {} test digits, fastest of {} passes each, batch {} · backend {}",
        args.model.display(),
        split.test.len(),
        args.passes,
        args.batch,
        kind.resolve()
    );
    println!("\n| model | images/s without detector | with detector | ratio | checked layers |");
    println!("|---|---|---|---|---|");
    for (label, net, defence) in [
        ("taboo", &taboo_net, &taboo as &dyn Defence),
        ("sitatapatra", &guard_net, &guards as &dyn Defence),
    ] {
        let detector = Detector::new(defence);
        // Alternate the two so that load from other processes hits both
        // alike, and keep each one's fastest pass.
        let (mut bare, mut checked) = (0.0f64, 0.0f64);
        for _ in 0..=args.passes {
            bare = bare.max(throughput(split.test.len(), || {
                for x in &batches {
                    classify(net, x.clone());
                }
            }));
            checked = checked.max(throughput(split.test.len(), || {
                for x in &batches {
                    let _ = detector.detect(net, x.clone());
                }
            }));
        }
        println!(
            "| {label} | {bare:.0} | {checked:.0} | {:.3} | {} |",
            checked / bare,
            defence.layers().join(", ")
        );
    }
    Ok(())
}

/// The bare forward pass with the same single host read as a detection.
fn classify(network: &Network, x: burn::Tensor<4>) -> Vec<i64> {
    let n = x.dims()[0];
    advcomp_attack::ops::host_i64(network.forward(x).argmax(1).reshape([n]))
}

/// Images per second of one call of `pass` over `images` images.
fn throughput(images: usize, mut pass: impl FnMut()) -> f64 {
    let started = Instant::now();
    pass();
    images as f64 / started.elapsed().as_secs_f64()
}
