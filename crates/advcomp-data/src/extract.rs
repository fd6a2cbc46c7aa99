//! Unpacking a verified `.tar.gz` into the data directory.
//!
//! The archive's hash has been checked before we get here, but extraction is
//! still defensive: only the expected files under the one expected top-level
//! directory are written, each only if its tar header declares no more than
//! the caller's per-file cap, the decompressed stream is cut off just past
//! what those files and the tar framing can need (so a gzip bomb or a huge
//! skipped entry costs neither disk nor much time), `tar`'s `unpack_in`
//! refuses paths that climb out of the target, and everything lands in a
//! staging directory first so an interrupted extraction never leaves a
//! half-written batch in place.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::DataError;

/// Room in the decompressed archive, beyond the expected files themselves,
/// for tar headers and padding and the small files that are skipped (the
/// CIFAR-10 archive has a readme and a class-name list of under 100 bytes each).
pub(crate) const ARCHIVE_SLACK_BYTES: u64 = 4 << 20;

/// Extracts `top/<file>` for each of `files` from `archive` into
/// `dest/top/`, then checks that they are all there. Returns `dest/top`.
///
/// An entry for one of `files` whose header declares more than `max_file`
/// bytes is refused before anything of it is written, and the archive is
/// refused as soon as it decompresses to more than
/// `files.len() * max_file + ARCHIVE_SLACK_BYTES` bytes.
pub(crate) fn extract_tar_gz(
    archive: &Path,
    dest: &Path,
    top: &str,
    files: &[&str],
    max_file: u64,
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
    let cap = (files.len() as u64)
        .saturating_mul(max_file)
        .saturating_add(ARCHIVE_SLACK_BYTES);
    let mut tar = tar::Archive::new(Capped::new(GzDecoder::new(BufReader::new(file)), cap));
    let unpacked = unpack_expected(&mut tar, staging.path(), top, files, max_file);
    // The cap's error reaches us wrapped in whatever tar was doing; say it plainly.
    if tar.into_inner().exceeded {
        return Err(fail(format!(
            "decompresses to more than {cap} bytes, more than {} files of at most {max_file} bytes need",
            files.len()
        )));
    }
    unpacked.map_err(fail)?;

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

/// Unpacks the regular-file entries `top/<one of files>` into `staging`,
/// skipping every other entry; returns the reason of the first failure.
fn unpack_expected<R: Read>(
    tar: &mut tar::Archive<R>,
    staging: &Path,
    top: &str,
    files: &[&str],
    max_file: u64,
) -> Result<(), String> {
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let parts: Vec<Component<'_>> = path
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        let wanted = match parts.as_slice() {
            [Component::Normal(dir), Component::Normal(name)] if *dir == top => {
                files.iter().any(|f| *name == *f)
            }
            _ => false,
        };
        if !wanted || !entry.header().entry_type().is_file() {
            tracing::debug!(entry = %path.display(), "skipping archive entry");
            continue;
        }
        if entry.size() > max_file {
            return Err(format!(
                "{}: entry declares {} bytes, more than the {max_file} bytes this file may have",
                path.display(),
                entry.size()
            ));
        }
        entry
            .unpack_in(staging)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// A reader that passes on at most `cap` bytes; when more are there, it
/// fails and remembers that it did.
struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
    exceeded: bool,
}

impl<R> Capped<R> {
    fn new(inner: R, cap: u64) -> Self {
        Capped {
            inner,
            left: cap,
            cap,
            exceeded: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            if self.inner.read(&mut [0u8])? == 0 {
                return Ok(0);
            }
            self.exceeded = true;
            return Err(io::Error::other(format!(
                "decompresses to more than {} bytes",
                self.cap
            )));
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// True when `dest/top/` already holds every expected file.
pub(crate) fn is_extracted(dest: &Path, top: &str, files: &[&str]) -> bool {
    let dir = dest.join(top);
    files.iter().all(|f| dir.join(f).is_file())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    const FILES: [&str; 2] = ["a.bin", "b.bin"];

    fn header(size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    /// A `.tar.gz` of `entries` (path, content) written into `dir`.
    fn archive(dir: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            tar.append_data(&mut header(data.len() as u64), path, *data)
                .unwrap();
        }
        write_gz(dir, &tar.into_inner().unwrap())
    }

    fn write_gz(dir: &Path, tar: &[u8]) -> PathBuf {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(tar).unwrap();
        let path = dir.join("x.tar.gz");
        fs::write(&path, gz.finish().unwrap()).unwrap();
        path
    }

    #[test]
    fn only_the_expected_files_are_extracted() {
        let tmp = tempfile::tempdir().unwrap();
        let path = archive(
            tmp.path(),
            &[
                ("top/a.bin", b"aaaa"),
                ("top/readme.html", b"<p>"),
                ("top/b.bin", b"bb"),
                ("elsewhere/a.bin", b"no"),
            ],
        );
        let out = extract_tar_gz(&path, tmp.path(), "top", &FILES, 4).unwrap();
        assert_eq!(fs::read(out.join("a.bin")).unwrap(), b"aaaa");
        assert_eq!(fs::read(out.join("b.bin")).unwrap(), b"bb");
        assert!(!out.join("readme.html").exists());
        assert!(!tmp.path().join("elsewhere").exists());
    }

    #[test]
    fn an_entry_declaring_more_than_the_cap_is_refused_before_it_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let path = archive(tmp.path(), &[("top/a.bin", b"12345"), ("top/b.bin", b"1")]);
        let err = extract_tar_gz(&path, tmp.path(), "top", &FILES, 4)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}: cannot extract: top/a.bin: entry declares 5 bytes, more than the 4 bytes this file may have",
                path.display()
            )
        );
        assert!(!tmp.path().join("top").exists());
    }

    #[test]
    fn a_header_claiming_a_terabyte_is_refused_from_the_header() {
        // The header says 1 TiB; 100 bytes follow and the archive ends.
        let tmp = tempfile::tempdir().unwrap();
        let mut h = header(1 << 40);
        h.set_path("top/a.bin").unwrap();
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(&[7; 100]);
        let path = write_gz(tmp.path(), &tar);
        let err = extract_tar_gz(&path, tmp.path(), "top", &FILES, 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("top/a.bin: entry declares 1099511627776 bytes, more than the 1048576 bytes this file may have"),
            "{err}"
        );
    }

    #[test]
    fn an_archive_inflating_past_the_cap_is_refused() {
        // Small expected files, then an 8 MiB entry that is skipped but would
        // still have to be inflated: more than 2 x 4 bytes + the slack.
        let tmp = tempfile::tempdir().unwrap();
        let big = vec![0u8; 8 << 20];
        let path = archive(
            tmp.path(),
            &[
                ("top/a.bin", b"a"),
                ("other/big.bin", &big),
                ("top/b.bin", b"b"),
            ],
        );
        let err = extract_tar_gz(&path, tmp.path(), "top", &FILES, 4)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}: cannot extract: decompresses to more than {} bytes, more than 2 files of at most 4 bytes need",
                path.display(),
                8 + ARCHIVE_SLACK_BYTES
            )
        );
        assert!(!tmp.path().join("top").exists());
    }

    #[test]
    fn capped_reader_passes_the_cap_and_refuses_one_byte_more() {
        let data = [7u8; 10];
        let mut exact = Capped::new(&data[..], 10);
        let mut out = Vec::new();
        exact.read_to_end(&mut out).unwrap();
        assert_eq!((out.len(), exact.exceeded), (10, false));

        let mut short = Capped::new(&data[..], 9);
        let err = short.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "decompresses to more than 9 bytes");
        assert!(short.exceeded);
    }
}
