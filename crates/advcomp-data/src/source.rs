//! Reading a data file whole, and undoing gzip when it is there.
//!
//! Files are read into memory once: the bytes feed both the provenance hash and
//! the parser, so what is fingerprinted is exactly what was parsed. Gzip is
//! recognised by its magic bytes, not by the file name, because mirrors and
//! users rename files freely. Decompression is always capped by the caller, so
//! a hostile or corrupt file can never make us allocate more than the header
//! (itself bounded by [`MAX_CONTENT_BYTES`]) asked for.

use std::borrow::Cow;
use std::fs;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// The most bytes any one data file may hold, compressed or not. The largest
/// real file (MNIST training images) is 47 MB; this leaves room for bigger
/// IDX sets while refusing absurd headers before any allocation.
pub const MAX_CONTENT_BYTES: u64 = 1 << 30;

/// The two bytes every gzip stream starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a whole file, refusing files over [`MAX_CONTENT_BYTES`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let meta = fs::metadata(path).map_err(|e| DataError::io(path, "cannot read", e))?;
    if meta.len() > MAX_CONTENT_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: "file is".into(),
            size: meta.len().into(),
            limit: MAX_CONTENT_BYTES,
        });
    }
    fs::read(path).map_err(|e| DataError::io(path, "cannot read", e))
}

/// A file's content, read sequentially: either the raw bytes or a gzip stream
/// over them.
pub(crate) struct Content<'a> {
    path: &'a Path,
    inner: Inner<'a>,
}

enum Inner<'a> {
    Raw { bytes: &'a [u8], pos: usize },
    Gzip(Box<MultiGzDecoder<&'a [u8]>>),
}

impl<'a> Content<'a> {
    /// Wraps `bytes` read from `path` (the path is only used in messages).
    pub(crate) fn new(bytes: &'a [u8], path: &'a Path) -> Self {
        let inner = if bytes.starts_with(&GZIP_MAGIC) {
            Inner::Gzip(Box::new(MultiGzDecoder::new(bytes)))
        } else {
            Inner::Raw { bytes, pos: 0 }
        };
        Content { path, inner }
    }

    /// "file" or "decompressed content", for messages about sizes.
    pub(crate) fn noun(&self) -> &'static str {
        match self.inner {
            Inner::Raw { .. } => "file",
            Inner::Gzip(_) => "decompressed content",
        }
    }

    /// The total content length when known without decoding (raw files).
    pub(crate) fn known_len(&self) -> Option<u64> {
        match self.inner {
            Inner::Raw { bytes, .. } => Some(bytes.len() as u64),
            Inner::Gzip(_) => None,
        }
    }

    /// The next `limit` bytes, or fewer at the end of the content.
    ///
    /// A gzip stream that is corrupt or cut short is an error here, unlike a
    /// clean end of content, which the caller judges against the header.
    pub(crate) fn read_up_to(&mut self, limit: u64) -> Result<Cow<'a, [u8]>, DataError> {
        match &mut self.inner {
            Inner::Raw { bytes, pos } => {
                let bytes: &'a [u8] = bytes;
                let start = *pos;
                let end = usize::try_from(limit)
                    .ok()
                    .and_then(|l| start.checked_add(l))
                    .map_or(bytes.len(), |e| e.min(bytes.len()));
                *pos = end;
                Ok(Cow::Borrowed(&bytes[start..end]))
            }
            Inner::Gzip(decoder) => {
                let mut out = Vec::new();
                decoder
                    .as_mut()
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| DataError::BadGzip {
                        path: self.path.to_path_buf(),
                        reason: e.to_string(),
                    })?;
                Ok(Cow::Owned(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn raw_and_gzip_read_the_same_bytes() {
        let data: Vec<u8> = (0..=255).collect();
        let packed = gzip(&data);
        for bytes in [&data[..], &packed[..]] {
            let mut c = Content::new(bytes, Path::new("x"));
            assert_eq!(&*c.read_up_to(10).unwrap(), &data[..10]);
            assert_eq!(&*c.read_up_to(1000).unwrap(), &data[10..]);
            assert!(c.read_up_to(5).unwrap().is_empty());
        }
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        // 16 MiB of zeros compress to ~16 KiB: reading 16 bytes must not inflate it all.
        let bomb = gzip(&vec![0u8; 16 << 20]);
        let mut c = Content::new(&bomb, Path::new("bomb.gz"));
        assert_eq!(c.read_up_to(16).unwrap().len(), 16);
        assert_eq!(c.noun(), "decompressed content");
        assert_eq!(c.known_len(), None);
    }

    #[test]
    fn corrupt_gzip_is_an_error_naming_the_file() {
        let mut bad = gzip(b"hello world, hello world");
        let n = bad.len();
        bad.truncate(n - 6);
        let mut c = Content::new(&bad, Path::new("cut.gz"));
        let err = c.read_up_to(100).unwrap_err().to_string();
        assert!(err.starts_with("cut.gz: bad gzip stream: "), "{err}");
    }
}
