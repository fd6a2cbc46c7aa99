//! A run owns its output directory: the manifest `.advcomp-outputs` lists
//! the files the last run wrote there, so a rerun into the same directory
//! removes what it no longer writes (a plot whose axis is gone, say) and
//! leaves everything else, the user's own files included, alone.

use std::path::Path;

use crate::cache;
use crate::error::RunError;

/// The manifest's file name.
pub const MANIFEST: &str = ".advcomp-outputs";

/// Whether `name` is a plain file name a run could have written: the
/// manifest is a file on disk, so its entries are checked, never trusted
/// (no separators, no `..`, nothing hidden).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Removes the files the previous run listed and this run did not write
/// (`written`), then records `written` as the new manifest. Only plain
/// files (or symlinks, which are removed, not followed) directly in `out`
/// are removed.
pub fn replace_manifest(out: &Path, written: &[String]) -> Result<(), RunError> {
    let path = out.join(MANIFEST);
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    for name in previous.lines().map(str::trim) {
        if !plain_name(name) || written.iter().any(|w| w == name) {
            continue;
        }
        let stale = out.join(name);
        let is_file = std::fs::symlink_metadata(&stale)
            .map(|m| m.file_type().is_file() || m.file_type().is_symlink())
            .unwrap_or(false);
        if is_file {
            std::fs::remove_file(&stale).map_err(crate::error::io(&stale))?;
        }
    }
    let mut text = written.join("\n");
    text.push('\n');
    cache::write(&path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_removes_only_what_the_last_run_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for f in ["report.md", "old-plot.svg", "notes.txt"] {
            std::fs::write(out.join(f), "x").unwrap();
        }
        replace_manifest(out, &["report.md".into(), "old-plot.svg".into()]).unwrap();
        replace_manifest(out, &["report.md".into()]).unwrap();
        assert!(out.join("report.md").exists());
        assert!(!out.join("old-plot.svg").exists());
        assert!(out.join("notes.txt").exists(), "not ours: kept");
    }

    #[test]
    fn a_forged_manifest_cannot_reach_outside() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::write(out.join(MANIFEST), "../victim\n/etc/hostname\n.hidden\n").unwrap();
        replace_manifest(&out, &[]).unwrap();
        assert!(victim.exists());
    }
}
