//! Streaming a data file, undoing gzip when it is there, and the limits every
//! reader enforces.
//!
//! Files are never read whole. Each byte read from disk is added to the load's
//! fingerprint as it passes (so what is fingerprinted is exactly what was
//! parsed) and the readers decode it in small chunks straight into its final
//! form, so raw bytes and decoded pixels are never held side by side. Gzip is
//! recognised by its magic bytes, not by the file name, because mirrors and
//! users rename files freely. Nothing is decompressed past a size that the
//! caller has already checked against [`MAX_CONTENT_BYTES`] and
//! [`MAX_PIXEL_BYTES`], so neither an absurd header nor a gzip bomb can make
//! a reader allocate or inflate more.

use std::fs::{self, File};
use std::io::{self, BufReader, Chain, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::error::DataError;

/// The most bytes any one data file may hold, compressed or decompressed. The
/// largest real file (MNIST training images) is 47 MB; this leaves room for
/// bigger IDX files while refusing absurd headers before any allocation.
pub const MAX_CONTENT_BYTES: u64 = 1 << 30;

/// The most memory the pixels of one load may take as `f32` (4 bytes each):
/// 2^28 pixel values, e.g. 342,392 MNIST or 87,381 CIFAR-10 images. The real
/// sets need 220 MB (MNIST, 70,000 images) and 737 MB (CIFAR-10, 60,000).
/// Checked against what the headers (IDX) or file lengths (CIFAR-10) declare,
/// before anything is decompressed or allocated.
pub const MAX_PIXEL_BYTES: u64 = 1 << 30;

/// The two bytes every gzip stream starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Bytes decoded per step when streaming a body: small enough to be noise
/// next to the data, large enough for the decoder to run at full speed.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The length of a file, refusing files over [`MAX_CONTENT_BYTES`].
pub(crate) fn file_len(path: &Path) -> Result<u64, DataError> {
    let meta = fs::metadata(path).map_err(|e| DataError::io(path, "cannot read", e))?;
    if meta.len() > MAX_CONTENT_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: "file is".into(),
            size: meta.len().into(),
            limit: MAX_CONTENT_BYTES,
        });
    }
    Ok(meta.len())
}

/// The error for a file whose length or header changed between two reads.
pub(crate) fn changed(path: &Path, detail: String) -> DataError {
    DataError::io(
        path,
        "changed while being read",
        io::Error::new(io::ErrorKind::UnexpectedEof, detail),
    )
}

/// Fills as much of `buf` as `reader` allows; fewer bytes than asked for
/// means it has ended.
pub(crate) fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A reader that adds every byte it passes on to a fingerprint and counts them.
pub(crate) struct Tee<'h, R> {
    inner: R,
    hasher: Option<&'h mut Sha256>,
    read: u64,
}

impl<'h, R: Read> Tee<'h, R> {
    /// Starts a file in the fingerprint: its length as a little-endian `u64`,
    /// then (as they are read) its bytes. See [`crate::split`] for the scheme.
    pub(crate) fn new(inner: R, len: u64, mut hasher: Option<&'h mut Sha256>) -> Self {
        if let Some(h) = hasher.as_deref_mut() {
            h.update(len.to_le_bytes());
        }
        Tee {
            inner,
            hasher,
            read: 0,
        }
    }

    /// Bytes read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_deref_mut() {
            h.update(&buf[..n]);
        }
        self.read += n as u64;
        Ok(n)
    }
}

/// What [`Content`] decodes from: the first bytes, read to look for the gzip
/// magic, put back in front of the rest of the file.
type Peeked<'h, R> = Chain<Cursor<Vec<u8>>, Tee<'h, R>>;

/// A file's content, read sequentially: either the raw bytes or a gzip stream
/// over them.
pub(crate) struct Content<'p, 'h, R: Read> {
    path: &'p Path,
    /// Length of the file as stored (compressed where it is).
    len: u64,
    inner: Inner<'h, R>,
}

enum Inner<'h, R: Read> {
    Raw(Peeked<'h, R>),
    Gzip(Box<MultiGzDecoder<Peeked<'h, R>>>),
}

impl<'p, 'h> Content<'p, 'h, BufReader<File>> {
    /// Opens `path` for streaming; every byte read is added to `hasher`.
    pub(crate) fn open(path: &'p Path, hasher: Option<&'h mut Sha256>) -> Result<Self, DataError> {
        let len = file_len(path)?;
        let file = File::open(path).map_err(|e| DataError::io(path, "cannot read", e))?;
        Content::new(Tee::new(BufReader::new(file), len, hasher), len, path)
    }
}

impl<'p, 'a> Content<'p, 'static, &'a [u8]> {
    /// Wraps bytes already in memory (`path` is only used in messages).
    pub(crate) fn from_slice(bytes: &'a [u8], path: &'p Path) -> Result<Self, DataError> {
        Content::new(
            Tee::new(bytes, bytes.len() as u64, None),
            bytes.len() as u64,
            path,
        )
    }
}

impl<'p, 'h, R: Read> Content<'p, 'h, R> {
    fn new(mut tee: Tee<'h, R>, len: u64, path: &'p Path) -> Result<Self, DataError> {
        let mut magic = Vec::with_capacity(GZIP_MAGIC.len());
        (&mut tee)
            .take(GZIP_MAGIC.len() as u64)
            .read_to_end(&mut magic)
            .map_err(|e| DataError::io(path, "cannot read", e))?;
        let gzip = magic == GZIP_MAGIC;
        let peeked = Cursor::new(magic).chain(tee);
        let inner = if gzip {
            Inner::Gzip(Box::new(MultiGzDecoder::new(peeked)))
        } else {
            Inner::Raw(peeked)
        };
        Ok(Content { path, len, inner })
    }

    /// "file" or "decompressed content", for messages about sizes.
    pub(crate) fn noun(&self) -> &'static str {
        match self.inner {
            Inner::Raw(_) => "file",
            Inner::Gzip(_) => "decompressed content",
        }
    }

    /// The total content length when known without decoding (raw files).
    pub(crate) fn known_len(&self) -> Option<u64> {
        match self.inner {
            Inner::Raw(_) => Some(self.len),
            Inner::Gzip(_) => None,
        }
    }

    /// Fills as much of `buf` as the content allows; fewer bytes than asked
    /// for means the content has ended.
    ///
    /// A gzip stream that is corrupt or cut short is an error here, unlike a
    /// clean end of content, which the caller judges against the header.
    pub(crate) fn read_fill(&mut self, buf: &mut [u8]) -> Result<usize, DataError> {
        let step = match &mut self.inner {
            Inner::Raw(r) => fill(r, buf),
            Inner::Gzip(d) => fill(d.as_mut(), buf),
        };
        step.map_err(|e| self.error(e))
    }

    /// The next `limit` bytes, or fewer at the end of the content. Only for
    /// small reads (headers): the buffer is allocated at its full size.
    pub(crate) fn read_up_to(&mut self, limit: usize) -> Result<Vec<u8>, DataError> {
        let mut buf = vec![0; limit];
        let n = self.read_fill(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Reads the rest of the file as stored (not decoding it) so that the
    /// fingerprint covers all of it, and checks that the file still has the
    /// length it had when opened. Call after the content parsed cleanly; the
    /// parser has then already seen its end, so there is normally nothing
    /// left to read.
    pub(crate) fn finish(self) -> Result<(), DataError> {
        let (path, len) = (self.path, self.len);
        let peeked = match self.inner {
            Inner::Raw(r) => r,
            Inner::Gzip(d) => d.into_inner(),
        };
        let (_, mut tee) = peeked.into_inner();
        let rest = len.saturating_sub(tee.read) + 1;
        io::copy(&mut (&mut tee).take(rest), &mut io::sink())
            .map_err(|e| DataError::io(path, "cannot read", e))?;
        if tee.read != len {
            return Err(changed(
                path,
                format!(
                    "it was {len} bytes when opened, {} bytes were read",
                    tee.read
                ),
            ));
        }
        Ok(())
    }

    fn error(&self, e: io::Error) -> DataError {
        match self.inner {
            Inner::Raw(_) => DataError::io(self.path, "cannot read", e),
            Inner::Gzip(_) => DataError::BadGzip {
                path: self.path.to_path_buf(),
                reason: e.to_string(),
            },
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
            let mut c = Content::from_slice(bytes, Path::new("x")).unwrap();
            assert_eq!(c.read_up_to(10).unwrap(), &data[..10]);
            assert_eq!(c.read_up_to(1000).unwrap(), &data[10..]);
            assert!(c.read_up_to(5).unwrap().is_empty());
            c.finish().unwrap();
        }
    }

    #[test]
    fn files_shorter_than_the_gzip_magic_read_raw() {
        for bytes in [&[][..], &[0x1f][..], &[0x1f, 0x8c][..]] {
            let mut c = Content::from_slice(bytes, Path::new("x")).unwrap();
            assert_eq!(c.noun(), "file");
            assert_eq!(c.read_up_to(4).unwrap(), bytes);
        }
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        // 16 MiB of zeros compress to ~16 KiB: reading 16 bytes must not inflate it all.
        let bomb = gzip(&vec![0u8; 16 << 20]);
        let mut c = Content::from_slice(&bomb, Path::new("bomb.gz")).unwrap();
        assert_eq!(c.read_up_to(16).unwrap().len(), 16);
        assert_eq!(c.noun(), "decompressed content");
        assert_eq!(c.known_len(), None);
    }

    #[test]
    fn corrupt_gzip_is_an_error_naming_the_file() {
        let mut bad = gzip(b"hello world, hello world");
        let n = bad.len();
        bad.truncate(n - 6);
        let mut c = Content::from_slice(&bad, Path::new("cut.gz")).unwrap();
        let err = c.read_up_to(100).unwrap_err().to_string();
        assert!(err.starts_with("cut.gz: bad gzip stream: "), "{err}");
    }

    #[test]
    fn the_fingerprint_covers_the_whole_file_as_stored() {
        let packed = gzip(b"some content");
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f.gz");
        fs::write(&path, &packed).unwrap();
        let mut streamed = Sha256::new();
        let mut c = Content::open(&path, Some(&mut streamed)).unwrap();
        assert_eq!(c.read_up_to(4).unwrap(), b"some");
        c.finish().unwrap();
        let mut whole = Sha256::new();
        whole.update((packed.len() as u64).to_le_bytes());
        whole.update(&packed);
        assert_eq!(streamed.finalize(), whole.finalize());
    }
}
