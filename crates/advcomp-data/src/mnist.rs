//! MNIST in LeCun's IDX format.
//!
//! An IDX file is a big-endian header (magic `0x0000 08 NN`, where `08` means
//! unsigned bytes and `NN` the number of dimensions, then one `u32` per
//! dimension) followed by the data. The header is trusted for nothing: every
//! size it declares is checked against the bytes actually present, in both
//! directions, because a truncated download and a file with something appended
//! are both signs that the data is not what the fingerprint will claim.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dataset::{Dataset, Split};
use crate::error::DataError;
use crate::kind::DatasetKind;
use crate::source::{Content, MAX_CONTENT_BYTES, read_file};
use crate::split::hash_file;

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

/// Reads and checks an IDX images file (gzip or raw).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_images(&read_file(path)?, path)
}

/// Reads and checks an IDX labels file (gzip or raw); labels must be 0..=9.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(&read_file(path)?, path)
}

/// Parses the bytes of an IDX images file; `path` is only used in messages.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    let mut content = Content::new(bytes, path);
    let header = read_header(&mut content, path, IMAGES_MAGIC, 16, "IDX images")?;
    let [count, rows, cols] = [header[1], header[2], header[3]];
    let declared = format!("{count} images of {rows}x{cols}");
    let body = u128::from(count) * u128::from(rows) * u128::from(cols);
    let pixels = read_body(&mut content, path, 16, body, &declared)?;
    Ok(IdxImages {
        count: count as usize,
        rows: rows as usize,
        cols: cols as usize,
        pixels,
    })
}

/// Parses the bytes of an IDX labels file; `path` is only used in messages.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let mut content = Content::new(bytes, path);
    let header = read_header(&mut content, path, LABELS_MAGIC, 8, "IDX labels")?;
    let count = header[1];
    let labels = read_body(
        &mut content,
        path,
        8,
        count.into(),
        &format!("{count} labels"),
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
fn read_header(
    content: &mut Content<'_>,
    path: &Path,
    magic: u32,
    len: u64,
    what: &'static str,
) -> Result<Vec<u32>, DataError> {
    let header = content.read_up_to(len)?;
    let too_short = || DataError::TooShort {
        path: path.to_path_buf(),
        content: content.noun(),
        actual: header.len() as u64,
        needed: len,
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
    if (header.len() as u64) < len {
        return Err(too_short());
    }
    Ok(words)
}

/// Reads exactly `body` bytes after a `header_len`-byte header, refusing
/// absurd sizes before allocating and any byte beyond the declared ones.
fn read_body(
    content: &mut Content<'_>,
    path: &Path,
    header_len: u64,
    body: u128,
    declared: &str,
) -> Result<Vec<u8>, DataError> {
    let expected = u128::from(header_len) + body;
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
    // Both fit in u64 now: expected <= MAX_CONTENT_BYTES.
    let (body, expected) = (body as u64, expected as u64);
    let data = content.read_up_to(body + 1)?;
    let got = data.len() as u64;
    if got < body {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            content: content.noun(),
            actual: header_len + got,
            expected: expected.into(),
            declared: declared.to_string(),
        });
    }
    if got > body {
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
    Ok(data.into_owned())
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

    let mut hasher = Sha256::new();
    let train = load_half(&paths[0], &paths[1], &mut hasher)?;
    let test = load_half(&paths[2], &paths[3], &mut hasher)?;
    Ok(Split {
        train,
        test,
        fingerprint: hex::encode(hasher.finalize()),
        dir: dir.to_path_buf(),
    })
}

/// Reads one images/labels pair, hashing both files, and checks that they
/// belong together.
fn load_half(
    images_path: &Path,
    labels_path: &Path,
    hasher: &mut Sha256,
) -> Result<Dataset, DataError> {
    let kind = DatasetKind::Mnist;
    let shape = kind.image_shape();

    let bytes = read_file(images_path)?;
    hash_file(hasher, &bytes);
    let images = parse_images(&bytes, images_path)?;
    drop(bytes);
    let bytes = read_file(labels_path)?;
    hash_file(hasher, &bytes);
    let labels = parse_labels(&bytes, labels_path)?;

    if (images.rows, images.cols) != (shape.height, shape.width) {
        return Err(DataError::BadDimensions {
            path: images_path.to_path_buf(),
            rows: images.rows,
            cols: images.cols,
            expected_rows: shape.height,
            expected_cols: shape.width,
        });
    }
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: images.count,
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    if images.count == 0 {
        return Err(DataError::Empty {
            path: images_path.to_path_buf(),
        });
    }
    Ok(Dataset {
        kind,
        shape,
        images: images
            .pixels
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect(),
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
