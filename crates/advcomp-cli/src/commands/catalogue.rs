//! `advcomp catalogue`: the registries this binary was built with, as the
//! reference page `docs/catalogue.md` shows them (that page is the same
//! text for the plugins advcomp ships; a binary with more plugins lists
//! theirs too).

use advcomp_runner::Registries;
use advcomp_scenario::Kind;
use miette::Result;

use crate::cli::{CatalogueArgs, KindArg};
use crate::out::out;

pub fn run(args: CatalogueArgs) -> Result<()> {
    let mut snapshot = Registries::snapshot();
    if let Some(kind) = args.kind {
        let kind = match kind {
            KindArg::Architecture => Kind::Architecture,
            KindArg::Attack => Kind::Attack,
            KindArg::Prune => Kind::Prune,
            KindArg::Quantise => Kind::Quantise,
            KindArg::Finetune => Kind::Finetune,
            KindArg::Defence => Kind::Defence,
        };
        snapshot.components.retain(|c| c.kind == kind);
    }
    if args.json {
        out!("{}", snapshot.to_json())?;
    } else {
        out!("{}", snapshot.to_markdown())?;
    }
    Ok(())
}
