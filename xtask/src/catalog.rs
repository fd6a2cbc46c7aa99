//! `cargo xtask catalog`: writes the catalogue snapshot
//! (`crates/advcomp-scenario/catalog.json`) from the registries this
//! workspace builds, plugins included. The scenario crate's tests check
//! scenarios against it; `crates/advcomp-cli/tests/catalogs.rs` fails when
//! it is out of date.

use std::path::PathBuf;

use advcomp_runner::Registries;

// Plugins register in the catalogue as they do in the binary.
use advcomp_plugins as _;

#[derive(clap::Args)]
pub struct CatalogArgs {
    /// Only compare: fail if the file differs from the registries.
    #[arg(long)]
    check: bool,
}

/// A path from the workspace root.
fn at(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

pub fn run(args: &CatalogArgs) -> Result<(), String> {
    let snapshot = Registries::snapshot();
    let files = [
        (
            at("crates/advcomp-scenario/catalog.json"),
            snapshot.to_json(),
        ),
        (at("docs/catalogue.md"), snapshot.to_markdown()),
    ];
    let mut stale = Vec::new();
    for (path, fresh) in &files {
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if current == *fresh {
            println!("{} is up to date", path.display());
            continue;
        }
        if args.check {
            stale.push(path.display().to_string());
            continue;
        }
        // Atomic: a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, fresh).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
        println!(
            "wrote {} ({} components)",
            path.display(),
            snapshot.components.len()
        );
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "out of date: {}; run `cargo xtask catalog`",
            stale.join(", ")
        ))
    }
}
