//! `advcomp data fetch` and `advcomp data info`.

use std::path::PathBuf;

use advcomp_data::{DatasetKind, FetchOptions};
use miette::{IntoDiagnostic, Result};

use crate::cli::DataCommand;
use crate::out::outln;

pub fn run(command: DataCommand, quiet: bool) -> Result<()> {
    match command {
        DataCommand::Fetch {
            dataset,
            dir,
            mirror,
        } => {
            let kind = DatasetKind::from(dataset);
            let dest = dir.unwrap_or_else(|| default_fetch_dir(kind));
            let options = FetchOptions {
                mirrors: (!mirror.is_empty()).then_some(mirror),
                progress: !quiet,
            };
            let report = advcomp_data::fetch(kind, &dest, &options).into_diagnostic()?;
            if !quiet {
                eprint!("{report}");
            }
            // Read it back so a fetch that "worked" but left unusable data fails here.
            let split = advcomp_data::load(kind, &dest).into_diagnostic()?;
            outln!(
                "{kind} ready in {}: {} training and {} test images",
                dest.display(),
                split.train.len(),
                split.test.len()
            )
        }
        DataCommand::Info { dataset, data } => {
            let kind = DatasetKind::from(dataset);
            let split = super::load_split(kind, data.as_deref())?;
            outln!("dataset      {kind}")?;
            outln!("directory    {}", split.dir.display())?;
            outln!("train        {} images", split.train.len())?;
            outln!("test         {} images", split.test.len())?;
            outln!("image shape  {:?}", kind.image_shape())?;
            outln!("fingerprint  {}", split.fingerprint)
        }
    }
}

/// `$ADVCOMP_DATA/<dataset>` if set, else `./data/<dataset>`: the places
/// `advcomp_data::resolve` looks, so fetched data is found without `--data`.
fn default_fetch_dir(kind: DatasetKind) -> PathBuf {
    match std::env::var_os("ADVCOMP_DATA") {
        Some(root) => PathBuf::from(root).join(kind.name()),
        None => PathBuf::from("data").join(kind.name()),
    }
}
