//! Developer tasks for advcomp, run as `cargo xtask <task>`.
//!
//! - `bench`: LeNet-5 training, inference and PGD-40 on the bundled MNIST
//!   sample, for each CPU backend, as a share of the machine's FP32 peak and
//!   beside the same work in PyTorch when a Python with `torch` is found
//!   (`docs/backends.md`, `docs/performance.md`).
//! - `bench-ops`: forward and backward time of each LeNet-5 operation of a
//!   training step (the split by operation in `docs/performance.md`).
//! - `bench-attacks`: seconds per 1,000 images for every registered attack
//!   on a checkpoint (issue #3's benchmark).
//! - `bench-compress`: wall time of each compressor plus fine-tuning
//!   (issue #4's benchmark).
//! - `bench-defences`: inference images/s with and without each keyed
//!   detector (issue #6's overhead benchmark).
//! - `catalog`: write the catalogue snapshot the scenario crate's tests
//!   check against (`crates/advcomp-scenario/catalog.json`).
//! - `measure [NAME]`: run the statistical measurements (the `#[ignore]`d
//!   `measure_…` tests, or those named `measure_NAME…`), each of which writes
//!   its table to `docs/measured/` (see `docs/testing.md`).
//! - `snapshots`: re-run the test suite accepting every changed insta
//!   snapshot, for review with `git diff` (see `docs/testing.md`).
//! - `fetch-data`: download the official MNIST and CIFAR-10 sets into `./data`.
//! - `paper zhao2019`: run a paper's scenarios and regenerate its
//!   reproduction document and figures (`docs/papers/`).
//!
//! Benchmarks live here rather than in timed tests: CI checks behaviour,
//! people compare numbers measured on the same machine.

/// The allocator advcomp's own binary uses, so benchmarks measure what
/// users run (`docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_attacks;
mod bench_compress;
mod bench_defences;
mod bench_ops;
mod catalog;
mod flops;
mod paper;

use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "advcomp developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// LeNet-5 training, inference and PGD-40 per CPU backend: throughput,
    /// share of the FP32 peak, and the ratio to PyTorch when torch is found.
    Bench(bench::BenchArgs),
    /// Forward and backward time of each LeNet-5 operation at batch 64.
    BenchOps(bench_ops::BenchOpsArgs),
    /// Seconds per 1,000 images for every registered attack on a checkpoint.
    BenchAttacks(bench_attacks::BenchAttacksArgs),
    /// Wall time of each compressor plus fine-tuning on a checkpoint.
    BenchCompress(bench_compress::BenchCompressArgs),
    /// Inference images/s with and without each keyed detector.
    BenchDefences(bench_defences::BenchDefencesArgs),
    /// Write crates/advcomp-scenario/catalog.json from the registries.
    Catalog(catalog::CatalogArgs),
    /// Run the statistical measurements (`measure_…` tests) and write their
    /// tables to docs/measured/.
    Measure {
        /// Only the measurements named `measure_<NAME>…`, e.g. `taboo`.
        name: Option<String>,
    },
    /// Re-run the tests with INSTA_UPDATE=always, rewriting changed snapshots.
    Snapshots,
    /// Download the official MNIST and CIFAR-10 sets into ./data/<name>.
    FetchData,
    /// Run a paper's scenarios and regenerate docs/papers/<paper>.md.
    Paper(paper::PaperArgs),
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Bench(args) => match bench::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask bench: {e}");
                ExitCode::FAILURE
            }
        },
        Task::BenchAttacks(args) => report(bench_attacks::run(&args)),
        Task::BenchCompress(args) => report(bench_compress::run(&args)),
        Task::BenchDefences(args) => report(bench_defences::run(&args)),
        Task::BenchOps(args) => report(bench_ops::run(&args)),
        Task::Paper(args) => report(paper::run(&args)),
        Task::Catalog(args) => report(catalog::run(&args)),
        Task::Measure { name } => {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/measured");
            let filter = format!("measure_{}", name.unwrap_or_default());
            cargo(
                &["test", "--locked", "--", "--ignored", &filter],
                &[(advcomp_testkit::measured::DIR_VAR, dir)],
            )
        }
        Task::Snapshots => cargo(
            &["test"],
            &[("INSTA_UPDATE", "always"), ("INSTA_FORCE_PASS", "1")],
        ),
        Task::FetchData => {
            let mut status = ExitCode::SUCCESS;
            for name in ["mnist", "cifar10"] {
                let code = cargo(
                    &[
                        "run",
                        "--release",
                        "-p",
                        "advcomp-cli",
                        "--",
                        "data",
                        "fetch",
                        name,
                    ],
                    &[],
                );
                if code != ExitCode::SUCCESS {
                    status = code;
                }
            }
            status
        }
    }
}

fn cargo(args: &[&str], env: &[(&str, &str)]) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .envs(env.iter().copied())
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
