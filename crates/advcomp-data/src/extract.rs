//! Unpacking a verified `.tar.gz` into the data directory.
//!
//! The archive's hash has been checked before we get here, but extraction is
//! still defensive: only regular files and directories under the one expected
//! top-level directory are written, `tar`'s `unpack_in` refuses paths that
//! climb out of the target, and everything lands in a staging directory first
//! so an interrupted extraction never leaves a half-written batch in place.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::DataError;

/// Extracts `top/` from `archive` into `dest/top/`, then checks that `files`
/// are all there. Returns `dest/top`.
pub(crate) fn extract_tar_gz(
    archive: &Path,
    dest: &Path,
    top: &str,
    files: &[&str],
) -> Result<PathBuf, DataError> {
    let fail = |reason: String| DataError::Extract {
        path: archive.to_path_buf(),
        reason,
    };
    let staging = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(dest)
        .map_err(|e| DataError::io(dest, "cannot create a staging directory", e))?;
    let file = File::open(archive).map_err(|e| DataError::io(archive, "cannot read", e))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let entries = tar.entries().map_err(|e| fail(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        let path = entry.path().map_err(|e| fail(e.to_string()))?.into_owned();
        let first = path.components().find(|c| !matches!(c, Component::CurDir));
        if first != Some(Component::Normal(top.as_ref())) {
            tracing::debug!(entry = %path.display(), "skipping archive entry outside {top}/");
            continue;
        }
        entry
            .unpack_in(staging.path())
            .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    }

    let staged = staging.path().join(top);
    let missing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| !staged.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(fail(format!(
            "archive lacks {}",
            missing
                .iter()
                .map(|f| format!("{top}/{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    // Move file by file rather than replacing the directory, so anything else
    // the user keeps there survives; each rename is atomic.
    let target = dest.join(top);
    fs::create_dir_all(&target).map_err(|e| DataError::io(&target, "cannot create", e))?;
    for f in files {
        let to = target.join(f);
        fs::rename(staged.join(f), &to).map_err(|e| DataError::io(&to, "cannot write", e))?;
    }
    Ok(target)
}

/// True when `dest/top/` already holds every expected file.
pub(crate) fn is_extracted(dest: &Path, top: &str, files: &[&str]) -> bool {
    let dir = dest.join(top);
    files.iter().all(|f| dir.join(f).is_file())
}
