//! `advcomp cache ls|gc`: what the artifact cache holds, and removing the
//! entries no scenario needs any more.

use std::collections::HashSet;

use advcomp_runner::cache::Cache;
use miette::{IntoDiagnostic, Result};

use crate::cli::{CacheArgs, CacheCommand};
use crate::out::outln;

pub fn run(command: CacheCommand) -> Result<()> {
    match command {
        CacheCommand::Ls(args) => ls(&args),
        CacheCommand::Gc(args) => gc(&args),
    }
}

/// The keys the plans of `args.scenarios` use.
fn reachable(args: &CacheArgs) -> Result<HashSet<String>> {
    let mut keys = HashSet::new();
    for scenario in &args.scenarios {
        keys.extend(super::scenario::plan_keys(
            scenario,
            &args.run,
            &args.cache,
        )?);
    }
    Ok(keys)
}

fn ls(args: &CacheArgs) -> Result<()> {
    let cache = Cache::open(&args.cache).into_diagnostic()?;
    let used = reachable(args)?;
    let entries = cache.entries().into_diagnostic()?;
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    for e in &entries {
        let mark = match (args.scenarios.is_empty(), used.contains(&e.key)) {
            (true, _) => "",
            (false, true) => "used    ",
            (false, false) => "unused  ",
        };
        outln!(
            "{}  {mark}{:>10}  {}",
            &e.key[..16],
            e.bytes,
            e.label.as_deref().unwrap_or("(incomplete)")
        )?;
    }
    outln!(
        "{} entries, {total} bytes in {}",
        entries.len(),
        args.cache.display()
    )
}

fn gc(args: &CacheArgs) -> Result<()> {
    if args.scenarios.is_empty() {
        return Err(miette::miette!(
            "give the scenarios whose entries to keep (`advcomp cache gc scenarios/*.scn`); \
             with none, every entry would go"
        ));
    }
    let cache = Cache::open(&args.cache).into_diagnostic()?;
    let used = reachable(args)?;
    let (mut removed, mut freed, mut kept) = (0usize, 0u64, 0usize);
    for e in cache.entries().into_diagnostic()? {
        if used.contains(&e.key) {
            kept += 1;
            continue;
        }
        if !args.dry_run {
            cache.remove(&e.key).into_diagnostic()?;
        }
        removed += 1;
        freed += e.bytes;
        outln!(
            "{} {}  {}",
            if args.dry_run {
                "would remove"
            } else {
                "removed"
            },
            &e.key[..16],
            e.label.as_deref().unwrap_or("(incomplete)")
        )?;
    }
    outln!(
        "{} {removed} entries ({freed} bytes); kept {kept} in use",
        if args.dry_run {
            "would remove"
        } else {
            "removed"
        }
    )
}
