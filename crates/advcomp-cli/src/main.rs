//! `advcomp`: train, evaluate and attack neural networks and their compressed
//! versions. This binary only wires the library crates together; see
//! `docs/architecture.md` for where each piece lives.

// Every plugin crate under crates/plugins/ registers through this one link
// (docs/plugins.md).
use advcomp_plugins as _;

/// mimalloc rather than the system allocator: burn's CPU backend allocates
/// and frees buffers of megabytes on every training step, which glibc's
/// malloc hands back to the kernel and faults in again (measured in
/// `docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod commands;
mod out;
mod progress;

use clap::Parser;

fn main() -> miette::Result<()> {
    let cli = cli::Cli::parse();
    init_tracing(cli.global.verbose, cli.global.quiet);
    match commands::run(cli) {
        // `advcomp fmt big.scn | head -1`: the reader has what it wanted.
        Err(e) if out::is_stdout_closed(&e) => Ok(()),
        result => result,
    }
}

/// Logs go to stderr; stdout is kept for results (`--json`).
fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ADVCOMP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("advcomp={level},{level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
