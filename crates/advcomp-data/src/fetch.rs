//! Verified downloads of the official data files.
//!
//! Each file is streamed into a temporary file next to its final place while
//! being hashed; only when the SHA-256 matches the pinned value is it renamed
//! into place, so the data directory never holds a partial or unverified file
//! under a real name, even if the process is killed. Files already present with
//! the right hash are not downloaded again, which makes `fetch` safe to re-run.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::error::DataError;
use crate::extract::{extract_tar_gz, is_extracted};
use crate::kind::DatasetKind;
use crate::remote::{RemoteFile, Unpack, remote_files};

/// How to download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// Base URLs to use instead of each file's own mirrors, tried in order
    /// (`https://…/`, `http://…/` or `file:///dir/`); the file name is appended.
    pub mirrors: Option<Vec<String>>,
    /// Show a progress bar (only ever drawn when stderr is a terminal).
    pub progress: bool,
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// The destination directory.
    pub dest: PathBuf,
    /// One entry per file, in download order.
    pub files: Vec<FetchedFile>,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// The file name.
    pub name: String,
    /// Where it is now.
    pub path: PathBuf,
    /// Whether it was downloaded or already there.
    pub outcome: FetchOutcome,
    /// Its size in bytes.
    pub bytes: u64,
    /// For archives, the directory the data was extracted to (also when the
    /// extraction was already done by an earlier run).
    pub extracted_to: Option<PathBuf>,
}

/// Whether a file was downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Downloaded and verified.
    Downloaded {
        /// The URL that served it.
        url: String,
    },
    /// Already present with the expected hash.
    Skipped,
}

impl FetchReport {
    /// Number of files downloaded.
    pub fn downloaded(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, FetchOutcome::Downloaded { .. }))
            .count()
    }

    /// Number of files that were already present and verified.
    pub fn skipped(&self) -> usize {
        self.files.len() - self.downloaded()
    }

    /// Bytes actually transferred.
    pub fn bytes_downloaded(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, FetchOutcome::Downloaded { .. }))
            .map(|f| f.bytes)
            .sum()
    }
}

impl fmt::Display for FetchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            match &file.outcome {
                FetchOutcome::Downloaded { url } => writeln!(
                    f,
                    "downloaded {} ({} bytes) from {url}",
                    file.name, file.bytes
                )?,
                FetchOutcome::Skipped => writeln!(
                    f,
                    "skipped    {} ({} bytes, already present, SHA-256 ok)",
                    file.name, file.bytes
                )?,
            }
            if let Some(dir) = &file.extracted_to {
                writeln!(f, "           extracted to {}", dir.display())?;
            }
        }
        write!(
            f,
            "{} downloaded ({} bytes), {} skipped, in {}",
            self.downloaded(),
            self.bytes_downloaded(),
            self.skipped(),
            self.dest.display()
        )
    }
}

/// Downloads the official files of `kind` into `dest` (created if needed),
/// verifying each against its pinned SHA-256; CIFAR-10 is also extracted into
/// `dest/cifar-10-batches-bin/`, so `dest` can be passed to [`crate::load`].
pub fn fetch(
    kind: DatasetKind,
    dest: &Path,
    opts: &FetchOptions,
) -> Result<FetchReport, DataError> {
    fetch_files(remote_files(kind), dest, opts)
}

/// [`fetch`] for an explicit list of files: the real tables are in
/// [`crate::remote`]; tests pass fixtures served from loopback.
pub fn fetch_files(
    files: &[RemoteFile],
    dest: &Path,
    opts: &FetchOptions,
) -> Result<FetchReport, DataError> {
    fs::create_dir_all(dest).map_err(|e| DataError::io(dest, "cannot create", e))?;
    let agent = agent();
    let mut report = FetchReport {
        dest: dest.to_path_buf(),
        files: Vec::with_capacity(files.len()),
    };
    for file in files {
        let mirrors: Vec<&str> = match &opts.mirrors {
            Some(m) => m.iter().map(String::as_str).collect(),
            None => file.mirrors.to_vec(),
        };
        let target = dest.join(&*file.name);
        let outcome = if has_hash(&target, &file.sha256)? {
            tracing::info!(file = %file.name, "already present, SHA-256 ok");
            FetchOutcome::Skipped
        } else {
            let url = download_from_mirrors(&agent, file, &mirrors, dest, &target, opts.progress)?;
            FetchOutcome::Downloaded { url }
        };
        let extracted_to = match file.unpack {
            Unpack::Keep => None,
            Unpack::TarGz {
                dir,
                files: expected,
                max_file_bytes,
            } => {
                let fresh = matches!(outcome, FetchOutcome::Downloaded { .. });
                if fresh || !is_extracted(dest, dir, expected) {
                    tracing::info!(archive = %target.display(), "extracting {dir}/");
                    Some(extract_tar_gz(
                        &target,
                        dest,
                        dir,
                        expected,
                        max_file_bytes,
                    )?)
                } else {
                    Some(dest.join(dir))
                }
            }
        };
        report.files.push(FetchedFile {
            name: file.name.to_string(),
            path: target,
            outcome,
            bytes: file.size,
            extracted_to,
        });
    }
    Ok(report)
}

/// One agent for all files, with timeouts that catch a dead server without
/// cutting off a slow but progressing download of a 170 MB archive.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_resolve(Some(Duration::from_secs(30)))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("advcomp-data/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Tries each mirror in turn; returns the URL that worked.
fn download_from_mirrors(
    agent: &ureq::Agent,
    file: &RemoteFile,
    mirrors: &[&str],
    dest: &Path,
    target: &Path,
    progress: bool,
) -> Result<String, DataError> {
    let mut attempts = Vec::new();
    for mirror in mirrors {
        let url = join_url(mirror, &file.name);
        tracing::info!(%url, "downloading");
        match download(agent, &url, file, dest, progress) {
            Ok(tmp) => {
                tmp.persist(target).map_err(|e| {
                    DataError::io(target, "cannot move the download into place", e.error)
                })?;
                return Ok(url);
            }
            Err(e) => {
                tracing::warn!("{e}");
                attempts.push(e);
            }
        }
    }
    match attempts.len() {
        0 => Err(DataError::Download {
            url: file.name.to_string(),
            reason: "no mirror to download from".into(),
        }),
        1 => Err(attempts.remove(0)),
        _ => Err(DataError::AllMirrorsFailed {
            file: file.name.to_string(),
            attempts,
        }),
    }
}

fn join_url(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// Streams `url` into a temporary file in `dest`, hashing as it goes. The
/// temporary file is deleted on every error path (it is dropped).
fn download(
    agent: &ureq::Agent,
    url: &str,
    file: &RemoteFile,
    dest: &Path,
    progress: bool,
) -> Result<NamedTempFile, DataError> {
    let fail = |reason: String| DataError::Download {
        url: url.to_string(),
        reason,
    };
    let mut body = open(agent, url)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file.name))
        .suffix(".partial")
        .tempfile_in(dest)
        .map_err(|e| DataError::io(dest, "cannot create a temporary file", e))?;
    let bar = progress_bar(file, progress);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(format!("after {total} bytes: {e}"))),
        };
        total += n as u64;
        if total > file.size {
            return Err(fail(format!(
                "more than the expected {} bytes; not the published file",
                file.size
            )));
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| DataError::io(tmp.path(), "cannot write", e))?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let actual = hex::encode(hasher.finalize());
    if !actual.eq_ignore_ascii_case(&file.sha256) {
        return Err(DataError::HashMismatch {
            url: url.to_string(),
            expected: file.sha256.to_string(),
            actual,
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| DataError::io(tmp.path(), "cannot write", e))?;
    Ok(tmp)
}

/// Opens a URL for reading: `file://` from the local disk, anything else over HTTP(S).
fn open(agent: &ureq::Agent, url: &str) -> Result<Box<dyn Read>, DataError> {
    let fail = |reason: String| DataError::Download {
        url: url.to_string(),
        reason,
    };
    if let Some(path) = url.strip_prefix("file://") {
        let file = File::open(path).map_err(|e| fail(e.to_string()))?;
        return Ok(Box::new(file));
    }
    let response = agent
        .get(url)
        // The archives are already compressed; ask the server not to wrap them
        // again, or the bytes we hash would not be the published ones.
        .header("accept-encoding", "identity")
        .call()
        .map_err(|e| fail(e.to_string()))?;
    Ok(Box::new(response.into_body().into_reader()))
}

fn progress_bar(file: &RemoteFile, progress: bool) -> ProgressBar {
    if !progress || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    ProgressBar::new(file.size)
        .with_style(style)
        .with_message(file.name.to_string())
}

/// True when `path` exists and hashes to `sha256`.
fn has_hash(path: &Path, sha256: &str) -> Result<bool, DataError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(DataError::io(path, "cannot read", e)),
    };
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|e| DataError::io(path, "cannot read", e))?;
    let ok = hex::encode(hasher.finalize()).eq_ignore_ascii_case(sha256);
    if !ok {
        tracing::warn!(file = %path.display(), "present but its SHA-256 does not match; downloading again");
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_exactly_one_slash() {
        assert_eq!(join_url("http://h/a/", "f.gz"), "http://h/a/f.gz");
        assert_eq!(join_url("http://h/a", "f.gz"), "http://h/a/f.gz");
        assert_eq!(join_url("file:///tmp/x/", "f"), "file:///tmp/x/f");
    }
}
