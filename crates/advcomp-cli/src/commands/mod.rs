//! One module per subcommand.

mod attack;
mod cache;
mod catalogue;
mod compress;
mod data;
mod eval;
mod scenario;
mod train;

use std::path::{Component, Path, PathBuf};

use advcomp_backend::{BackendKind, Device};
use advcomp_data::{DatasetKind, Split};
use miette::{IntoDiagnostic, Result, WrapErr};

use crate::cli::{Cli, Command, DatasetArg};

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
        Command::Step { command } => scenario::step(command, quiet),
        Command::Cache { command } => cache::run(command),
        Command::Catalogue(args) => catalogue::run(args),
    }
}

/// The device for `--backend`, with a clear error when it is unavailable.
fn device(name: &str) -> Result<(BackendKind, Device)> {
    let kind: BackendKind = name.parse().into_diagnostic()?;
    let device = advcomp_backend::device(kind).into_diagnostic()?;
    tracing::info!(backend = %kind.resolve(), "device ready");
    Ok((kind, device))
}

/// Refuses an output directory that is, or lies inside, the input
/// checkpoint directory: `compress --model m --out m` would replace the
/// weights being compressed, `attack --model m --out m` the checkpoint's
/// `metrics.json`. Called before any work so that nothing is written.
///
/// Both paths are compared canonicalised, so `m/.`, `./m`, `m/sub/..` and
/// a symlink to `m` are all caught; an output that does not exist yet is
/// resolved through its nearest existing ancestor.
fn refuse_output_inside_input(input: &Path, out: &Path) -> Result<()> {
    let Ok(input_real) = input.canonicalize() else {
        // A missing input is reported by the load, with its own message.
        return Ok(());
    };
    let out_real = resolve_maybe_missing(out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot resolve --out {}", out.display()))?;
    if out_real.starts_with(&input_real) {
        let relation = if out_real == input_real {
            "is the same directory as"
        } else {
            "is inside"
        };
        return Err(miette::miette!(
            help = "write the output to a directory of its own",
            "--out {} {relation} the input checkpoint --model {}: writing there would overwrite the model's files",
            out.display(),
            input.display()
        ));
    }
    Ok(())
}

/// `path` absolute and with symlinks resolved, even if it does not exist
/// yet: its longest existing prefix is canonicalised and the rest appended
/// with `.` and `..` applied lexically (what does not exist yet cannot be a
/// symlink; it will be created as plain directories).
fn resolve_maybe_missing(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let components: Vec<Component<'_>> = absolute.components().collect();
    for split in (1..=components.len()).rev() {
        let prefix: PathBuf = components[..split].iter().collect();
        let Ok(mut resolved) = prefix.canonicalize() else {
            continue;
        };
        for c in &components[split..] {
            match c {
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::CurDir => {}
                other => resolved.push(other),
            }
        }
        return Ok(resolved);
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no part of the path exists",
    ))
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

impl From<DatasetArg> for DatasetKind {
    fn from(d: DatasetArg) -> Self {
        match d {
            DatasetArg::Mnist => DatasetKind::Mnist,
            DatasetArg::Cifar10 => DatasetKind::Cifar10,
        }
    }
}

/// A component's parameters from repeated `FLAG NAME=VALUE` arguments: each
/// value is read as JSON (`0.1`, `true`, `"auto"`) and else kept as a
/// string, and each name may be given once. The component's declaration
/// checks them afterwards, as it checks a scenario's.
fn parse_params(
    flag: &str,
    pairs: &[String],
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            miette::miette!("{flag} {pair:?}: expected NAME=VALUE, e.g. epsilon=0.1")
        })?;
        let value =
            serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        let name = k.trim();
        if let Some(first) = map.get(name) {
            return Err(miette::miette!(
                help = "give each parameter once",
                "{flag} {name} is given twice (first {first}, then {value})"
            ));
        }
        map.insert(name.to_string(), value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_in_or_under_the_input_are_refused_however_spelled() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("m");
        std::fs::create_dir_all(input.join("sub")).unwrap();
        let refused = [
            input.clone(),
            input.join("."),
            input.join("sub"),
            input.join("new/deeper"),
            input.join("new/../other"),
            tmp.path().join("x/../m"),
            tmp.path().join("m/new/../../m"),
        ];
        for out in refused {
            let err = refuse_output_inside_input(&input, &out).unwrap_err();
            assert!(
                err.to_string().contains("overwrite"),
                "{}: {err}",
                out.display()
            );
        }
        let allowed = [
            tmp.path().join("m2"),
            tmp.path().join("out/m"),
            tmp.path().join("m/new/../../other"),
            tmp.path().to_path_buf(),
        ];
        for out in allowed {
            refuse_output_inside_input(&input, &out)
                .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_the_input_is_the_input() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("m");
        std::fs::create_dir(&input).unwrap();
        std::os::unix::fs::symlink(&input, tmp.path().join("link")).unwrap();
        assert!(refuse_output_inside_input(&input, &tmp.path().join("link/new")).is_err());
        assert!(refuse_output_inside_input(&tmp.path().join("link"), &input).is_err());
    }

    #[test]
    fn a_relative_output_is_resolved_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert!(refuse_output_inside_input(&cwd, Path::new("not-yet/there")).is_err());
        assert!(refuse_output_inside_input(&cwd, Path::new(".")).is_err());
    }
}
