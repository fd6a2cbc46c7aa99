//! One module per subcommand.

mod attack;
mod compress;
mod data;
mod eval;
mod scenario;
mod train;

use std::path::Path;

use advcomp_backend::{BackendKind, Device};
use advcomp_data::{DatasetKind, Split};
use miette::{IntoDiagnostic, Result, WrapErr};

use crate::cli::{Cli, Command, DatasetArg, ModelArg};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.global.quiet;
    match cli.command {
        Command::Train(args) => train::run(args, quiet),
        Command::Eval(args) => eval::run(args),
        Command::Attack(args) => attack::run(args, quiet),
        Command::Compress(args) => compress::run(args, quiet),
        Command::Run(args) => scenario::run(args, quiet),
        Command::Check(args) => scenario::check(args),
        Command::Fmt(args) => scenario::fmt(args),
        Command::Data { command } => data::run(command, quiet),
    }
}

/// The device for `--backend`, with a clear error when it is unavailable.
fn device(name: &str) -> Result<(BackendKind, Device)> {
    let kind: BackendKind = name.parse().into_diagnostic()?;
    let device = advcomp_backend::device(kind).into_diagnostic()?;
    tracing::info!(backend = %kind.resolve(), "device ready");
    Ok((kind, device))
}

/// The dataset a checkpoint was trained on, from its sidecar.
fn checkpoint_dataset(dir: &Path) -> Result<DatasetKind> {
    let sidecar = advcomp_models::checkpoint::read_sidecar(dir).into_diagnostic()?;
    sidecar
        .data
        .get("dataset")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .ok_or_else(|| {
            miette::miette!(
                "{}: checkpoint.json has no data.dataset",
                dir.join(advcomp_models::checkpoint::SIDECAR_FILE).display()
            )
        })
}

/// Finds and loads a dataset (`--data`, `$ADVCOMP_DATA`, `./data`, bundled MNIST).
fn load_split(kind: DatasetKind, explicit: Option<&Path>) -> Result<Split> {
    let dir = advcomp_data::resolve(kind, explicit).into_diagnostic()?;
    tracing::info!(dataset = %kind, dir = %dir.display(), "loading data");
    advcomp_data::load(kind, &dir)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot load {kind} from {}", dir.display()))
}

impl From<ModelArg> for advcomp_models::Architecture {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Lenet5 => advcomp_models::Architecture::Lenet5,
            ModelArg::Cifarnet => advcomp_models::Architecture::Cifarnet,
        }
    }
}

impl From<DatasetArg> for DatasetKind {
    fn from(d: DatasetArg) -> Self {
        match d {
            DatasetArg::Mnist => DatasetKind::Mnist,
            DatasetArg::Cifar10 => DatasetKind::Cifar10,
        }
    }
}
