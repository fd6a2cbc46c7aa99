//! MNIST in LeCun's IDX format.
//!
//! An IDX file is a big-endian header (magic `0x0000 08 NN`, where `08` means
//! unsigned bytes and `NN` the number of dimensions, then one `u32` per
//! dimension) followed by the data. The header is trusted for nothing: every
//! size it declares is checked against the bytes actually present, in both
//! directions, because a truncated download and a file with something appended
//! are both signs that the data is not what the fingerprint will claim. It is
//! also checked against the limits before the body is touched: a load reads
//! all four headers first, then streams each body, never decoding past the
//! declared size plus one byte.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dataset::{Dataset, Split};
use crate::error::DataError;
use crate::kind::DatasetKind;
use crate::source::{CHUNK, Content, MAX_CONTENT_BYTES, MAX_PIXEL_BYTES, changed};

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// File stems of the four MNIST files, in the order they are fingerprinted.
pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Bytes in the header of an images file: magic and three dimensions.
const IMAGES_HEADER: usize = 16;
/// Bytes in the header of a labels file: magic and one dimension.
const LABELS_HEADER: usize = 8;

/// The contents of an IDX images file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` grey levels, image after image, row-major.
    pub pixels: Vec<u8>,
}

/// What the header of an images file declares, already checked against the
/// file's length (raw files) and the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ImagesHeader {
    count: u32,
    rows: u32,
    cols: u32,
}

impl ImagesHeader {
    /// `count * rows * cols`; fits in `u64` and `usize` once checked.
    fn pixels(self) -> u128 {
        u128::from(self.count) * u128::from(self.rows) * u128::from(self.cols)
    }

    fn declared(self) -> String {
        format!("{} images of {}x{}", self.count, self.rows, self.cols)
    }
}

/// Reads and checks an IDX images file (gzip or raw), streaming it.
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    images_from(Content::open(path, None)?, path)
}

/// Reads and checks an IDX labels file (gzip or raw); labels must be 0..=9.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    labels_from(Content::open(path, None)?, path)
}

/// Parses the bytes of an IDX images file; `path` is only used in messages.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    images_from(Content::from_slice(bytes, path)?, path)
}

/// Parses the bytes of an IDX labels file; `path` is only used in messages.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    labels_from(Content::from_slice(bytes, path)?, path)
}

fn images_from<R: Read>(
    mut content: Content<'_, '_, R>,
    path: &Path,
) -> Result<IdxImages, DataError> {
    let header = images_header(&mut content, path)?;
    // Checked against MAX_PIXEL_BYTES, so it fits in usize.
    let mut pixels = Vec::with_capacity(header.pixels() as usize);
    read_body(
        &mut content,
        path,
        IMAGES_HEADER,
        header.pixels(),
        &header.declared(),
        |chunk| pixels.extend_from_slice(chunk),
    )?;
    content.finish()?;
    Ok(IdxImages {
        count: header.count as usize,
        rows: header.rows as usize,
        cols: header.cols as usize,
        pixels,
    })
}

fn labels_from<R: Read>(
    mut content: Content<'_, '_, R>,
    path: &Path,
) -> Result<Vec<u8>, DataError> {
    let count = labels_header(&mut content, path)?;
    let labels = labels_body(&mut content, path, count)?;
    content.finish()?;
    Ok(labels)
}

/// Reads and checks the header of an images file: the magic, and the size it
/// declares against the file's length (raw) and against the limits, so that
/// nothing of the body is decompressed or allocated for an absurd header.
fn images_header<R: Read>(
    content: &mut Content<'_, '_, R>,
    path: &Path,
) -> Result<ImagesHeader, DataError> {
    let words = read_header(content, path, IMAGES_MAGIC, IMAGES_HEADER, "IDX images")?;
    let header = ImagesHeader {
        count: words[1],
        rows: words[2],
        cols: words[3],
    };
    let declared = header.declared();
    check_declared(content, path, IMAGES_HEADER, header.pixels(), &declared)?;
    let floats = header.pixels() * 4;
    if floats > u128::from(MAX_PIXEL_BYTES) {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: format!(
                "header declares {declared} = {} pixels; as f32 that is",
                header.pixels()
            ),
            size: floats,
            limit: MAX_PIXEL_BYTES,
        });
    }
    Ok(header)
}

/// Reads and checks the header of a labels file; returns the label count.
fn labels_header<R: Read>(content: &mut Content<'_, '_, R>, path: &Path) -> Result<u32, DataError> {
    let words = read_header(content, path, LABELS_MAGIC, LABELS_HEADER, "IDX labels")?;
    let count = words[1];
    check_declared(
        content,
        path,
        LABELS_HEADER,
        count.into(),
        &format!("{count} labels"),
    )?;
    Ok(count)
}

/// Streams the `count` labels after a checked header and checks their range.
fn labels_body<R: Read>(
    content: &mut Content<'_, '_, R>,
    path: &Path,
    count: u32,
) -> Result<Vec<u8>, DataError> {
    let mut labels = Vec::with_capacity(count as usize);
    read_body(
        content,
        path,
        LABELS_HEADER,
        count.into(),
        &format!("{count} labels"),
        |chunk| labels.extend_from_slice(chunk),
    )?;
    let max = (DatasetKind::Mnist.num_classes() - 1) as u8;
    if let Some(index) = labels.iter().position(|&l| l > max) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            item: "example",
            index,
            label: labels[index],
            max,
        });
    }
    Ok(labels)
}

/// Reads the header and returns its big-endian words (magic first).
fn read_header<R: Read>(
    content: &mut Content<'_, '_, R>,
    path: &Path,
    magic: u32,
    len: usize,
    what: &'static str,
) -> Result<Vec<u32>, DataError> {
    let header = content.read_up_to(len)?;
    let too_short = || DataError::TooShort {
        path: path.to_path_buf(),
        content: content.noun(),
        actual: header.len() as u64,
        needed: len as u64,
        what,
    };
    // Check the magic as soon as it is there: a labels file passed as images is
    // better reported as "wrong kind of file" than as "too short".
    if header.len() < 4 {
        return Err(too_short());
    }
    let words: Vec<u32> = header
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    if words[0] != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: words[0],
            expected: magic,
            what,
        });
    }
    if header.len() < len {
        return Err(too_short());
    }
    Ok(words)
}

/// Checks the size a header declares before any of the body is read: against
/// the file's length in both directions where that is known without decoding
/// (raw files), and against [`MAX_CONTENT_BYTES`].
fn check_declared<R: Read>(
    content: &Content<'_, '_, R>,
    path: &Path,
    header_len: usize,
    body: u128,
    declared: &str,
) -> Result<(), DataError> {
    let expected = header_len as u128 + body;
    if let Some(len) = content.known_len()
        && u128::from(len) < expected
    {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            content: content.noun(),
            actual: len,
            expected,
            declared: declared.to_string(),
        });
    }
    if expected > u128::from(MAX_CONTENT_BYTES) {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: format!("header declares {declared} ="),
            size: expected,
            limit: MAX_CONTENT_BYTES,
        });
    }
    if let Some(len) = content.known_len()
        && u128::from(len) > expected
    {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            found: format!("the file is {len} bytes"),
            expected: expected as u64,
            declared: declared.to_string(),
        });
    }
    Ok(())
}

/// Streams exactly `body` bytes after a `header_len`-byte header into `sink`,
/// a chunk at a time, and then makes sure the content ends there: one byte
/// more is decoded at most, so a gzip stream longer than its header says is
/// never inflated past that. `body` must have passed [`check_declared`].
fn read_body<R: Read>(
    content: &mut Content<'_, '_, R>,
    path: &Path,
    header_len: usize,
    body: u128,
    declared: &str,
    mut sink: impl FnMut(&[u8]),
) -> Result<(), DataError> {
    // At most MAX_CONTENT_BYTES after check_declared.
    let body = body as u64;
    let expected = header_len as u64 + body;
    let mut buf = vec![0u8; CHUNK.min(body as usize + 1)];
    let mut got = 0u64;
    while got < body {
        let want = buf.len().min((body - got) as usize);
        let n = content.read_fill(&mut buf[..want])?;
        sink(&buf[..n]);
        got += n as u64;
        if n < want {
            return Err(DataError::Truncated {
                path: path.to_path_buf(),
                content: content.noun(),
                actual: header_len as u64 + got,
                expected: expected.into(),
                declared: declared.to_string(),
            });
        }
    }
    if content.read_fill(&mut buf[..1])? > 0 {
        let found = match content.known_len() {
            Some(len) => format!("the file is {len} bytes"),
            None => "the decompressed content is longer".to_string(),
        };
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            found,
            expected,
            declared: declared.to_string(),
        });
    }
    Ok(())
}

/// Finds `stem.gz` or `stem` in `dir`, preferring the compressed file (the
/// form every mirror serves, so it is the one `fetch` verified).
fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// Loads the MNIST training and test sets from `dir`.
///
/// All four headers are read and checked against each other and the limits
/// first (a few bytes of each file); only then are the bodies streamed, each
/// straight into the `f32` pixels it becomes.
pub fn load(dir: &Path) -> Result<Split, DataError> {
    let mut paths = Vec::new();
    let mut missing = Vec::new();
    for stem in FILES {
        match find(dir, stem) {
            Some(p) => paths.push(p),
            None => missing.push(format!("{stem}.gz (or {stem})")),
        }
    }
    if !missing.is_empty() {
        return Err(DataError::MissingFiles {
            dir: dir.to_path_buf(),
            missing,
            hint: String::new(),
        });
    }

    let train = plan_half(&paths[0], &paths[1])?;
    let test = plan_half(&paths[2], &paths[3])?;
    let pixels = train.pixels() + test.pixels();
    if pixels * 4 > u128::from(MAX_PIXEL_BYTES) {
        return Err(DataError::TooLarge {
            path: dir.to_path_buf(),
            what: format!(
                "the training and test images together are {} images of 28x28 = {pixels} pixels; as f32 that is",
                u64::from(train.count) + u64::from(test.count)
            ),
            size: pixels * 4,
            limit: MAX_PIXEL_BYTES,
        });
    }

    let mut hasher = Sha256::new();
    let train = load_half(&paths[0], &paths[1], train, &mut hasher)?;
    let test = load_half(&paths[2], &paths[3], test, &mut hasher)?;
    Ok(Split {
        train,
        test,
        fingerprint: hex::encode(hasher.finalize()),
        dir: dir.to_path_buf(),
    })
}

/// Reads only the headers of one images/labels pair and checks that they
/// belong together: MNIST's image size, as many labels as images, not empty.
fn plan_half(images_path: &Path, labels_path: &Path) -> Result<ImagesHeader, DataError> {
    let shape = DatasetKind::Mnist.image_shape();
    let images = images_header(&mut Content::open(images_path, None)?, images_path)?;
    if (images.rows as usize, images.cols as usize) != (shape.height, shape.width) {
        return Err(DataError::BadDimensions {
            path: images_path.to_path_buf(),
            rows: images.rows as usize,
            cols: images.cols as usize,
            expected_rows: shape.height,
            expected_cols: shape.width,
        });
    }
    let labels = labels_header(&mut Content::open(labels_path, None)?, labels_path)?;
    if images.count != labels {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: images.count as usize,
            labels_path: labels_path.to_path_buf(),
            labels: labels as usize,
        });
    }
    if images.count == 0 {
        return Err(DataError::Empty {
            path: images_path.to_path_buf(),
        });
    }
    Ok(images)
}

/// Streams one images/labels pair whose headers [`plan_half`] accepted,
/// hashing both files; pixels go straight from the decoder into `f32`.
fn load_half(
    images_path: &Path,
    labels_path: &Path,
    planned: ImagesHeader,
    hasher: &mut Sha256,
) -> Result<Dataset, DataError> {
    let kind = DatasetKind::Mnist;
    let mut content = Content::open(images_path, Some(&mut *hasher))?;
    let header = images_header(&mut content, images_path)?;
    if header != planned {
        return Err(changed(
            images_path,
            format!(
                "its header declared {}, now {}",
                planned.declared(),
                header.declared()
            ),
        ));
    }
    let mut images = Vec::with_capacity(header.pixels() as usize);
    read_body(
        &mut content,
        images_path,
        IMAGES_HEADER,
        header.pixels(),
        &header.declared(),
        |chunk| images.extend(chunk.iter().map(|&p| f32::from(p) / 255.0)),
    )?;
    content.finish()?;

    let mut content = Content::open(labels_path, Some(&mut *hasher))?;
    let count = labels_header(&mut content, labels_path)?;
    if count != header.count {
        return Err(changed(
            labels_path,
            format!("its header declared {} labels, now {count}", header.count),
        ));
    }
    let labels = labels_body(&mut content, labels_path, count)?;
    content.finish()?;

    Ok(Dataset {
        kind,
        shape: kind.image_shape(),
        images,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [IMAGES_MAGIC, count, rows, cols] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend_from_slice(pixels);
        v
    }

    #[test]
    fn parses_a_tiny_images_file() {
        let bytes = idx_images(2, 1, 3, &[0, 1, 2, 3, 4, 255]);
        let img = parse_images(&bytes, Path::new("x")).unwrap();
        assert_eq!((img.count, img.rows, img.cols), (2, 1, 3));
        assert_eq!(img.pixels, vec![0, 1, 2, 3, 4, 255]);
    }

    #[test]
    fn labels_file_passed_as_images_is_a_bad_magic() {
        let mut bytes = LABELS_MAGIC.to_be_bytes().to_vec();
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.push(7);
        let err = parse_images(&bytes, Path::new("l")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "l: bad magic number 0x00000801, expected 0x00000803 (IDX images)"
        );
    }

    #[test]
    fn exact_sizes_are_enforced_both_ways() {
        let short = idx_images(2, 1, 3, &[0; 5]);
        assert!(matches!(
            parse_images(&short, Path::new("s")),
            Err(DataError::Truncated {
                actual: 21,
                expected: 22,
                ..
            })
        ));
        let long = idx_images(2, 1, 3, &[0; 7]);
        assert!(matches!(
            parse_images(&long, Path::new("l")),
            Err(DataError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn absurd_header_in_a_raw_file_is_refused_without_reading() {
        let bytes = idx_images(u32::MAX, u32::MAX, u32::MAX, &[]);
        assert!(matches!(
            parse_images(&bytes, Path::new("a")),
            Err(DataError::Truncated { actual: 16, .. })
        ));
    }
}
