//! CIFAR-10 in its "binary version" (`cifar-10-batches-bin`).
//!
//! Each batch file is a plain sequence of 3073-byte records: one label byte
//! (0..=9), then 1024 red, 1024 green and 1024 blue bytes, each plane a
//! row-major 32x32 image. That is already channel-major, so a record's pixels
//! are copied out in order. There is no header, so the file length is the only
//! integrity check the format offers; it is enforced exactly.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dataset::{Dataset, Split};
use crate::error::DataError;
use crate::kind::DatasetKind;
use crate::source::read_file;
use crate::split::hash_file;

/// Bytes per record: one label and 3x32x32 pixels.
pub const RECORD_LEN: usize = 1 + 3 * 32 * 32;

/// Name of the directory the official archive unpacks to.
pub const BATCHES_DIR: &str = "cifar-10-batches-bin";

/// The training batches, in the order they are read and fingerprinted.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];

/// The test batch, read and fingerprinted after the training batches.
pub const TEST_FILE: &str = "test_batch.bin";

/// Reads one batch file.
pub fn read_batch(path: &Path) -> Result<Dataset, DataError> {
    parse_batch(&read_file(path)?, path)
}

/// Parses the bytes of one batch file; `path` is only used in messages.
pub fn parse_batch(bytes: &[u8], path: &Path) -> Result<Dataset, DataError> {
    let kind = DatasetKind::Cifar10;
    let leftover = bytes.len() % RECORD_LEN;
    if leftover != 0 {
        return Err(DataError::BadRecordLength {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
            records: (bytes.len() / RECORD_LEN) as u64,
            record_len: RECORD_LEN as u64,
            leftover: leftover as u64,
        });
    }
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let max = (kind.num_classes() - 1) as u8;
    let records = bytes.len() / RECORD_LEN;
    let mut images = Vec::with_capacity(records * (RECORD_LEN - 1));
    let mut labels = Vec::with_capacity(records);
    for (index, record) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        let label = record[0];
        if label > max {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                item: "record",
                index,
                label,
                max,
            });
        }
        labels.push(label);
        images.extend(record[1..].iter().map(|&p| f32::from(p) / 255.0));
    }
    Ok(Dataset {
        kind,
        shape: kind.image_shape(),
        images,
        labels,
    })
}

/// The directory that holds the batches: `dir` itself, or its
/// `cifar-10-batches-bin/` when `dir` is where the archive was unpacked.
fn batches_dir(dir: &Path) -> PathBuf {
    let sub = dir.join(BATCHES_DIR);
    if !dir.join(TEST_FILE).is_file() && sub.is_dir() {
        sub
    } else {
        dir.to_path_buf()
    }
}

/// Loads all five training batches and the test batch.
///
/// Missing batches are an error even when others are present: training on a
/// partial set by accident would change every result while looking normal.
pub fn load(dir: &Path) -> Result<Split, DataError> {
    let base = batches_dir(dir);
    let names: Vec<&str> = TRAIN_FILES.iter().copied().chain([TEST_FILE]).collect();
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !base.join(n).is_file())
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        let hint = if base == dir {
            format!(" (also looked in {})", dir.join(BATCHES_DIR).display())
        } else {
            String::new()
        };
        return Err(DataError::MissingFiles {
            dir: base,
            missing,
            hint,
        });
    }

    let mut hasher = Sha256::new();
    let mut train = Dataset::empty(DatasetKind::Cifar10);
    for name in TRAIN_FILES {
        let batch = read_hashed(&base.join(name), &mut hasher)?;
        train.images.extend_from_slice(&batch.images);
        train.labels.extend_from_slice(&batch.labels);
    }
    let test = read_hashed(&base.join(TEST_FILE), &mut hasher)?;
    Ok(Split {
        train,
        test,
        fingerprint: hex::encode(hasher.finalize()),
        dir: base,
    })
}

fn read_hashed(path: &Path, hasher: &mut Sha256) -> Result<Dataset, DataError> {
    let bytes = read_file(path)?;
    hash_file(hasher, &bytes);
    parse_batch(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_keeps_plane_order() {
        let mut rec = vec![7u8];
        rec.extend(std::iter::repeat_n(255, 1024)); // red
        rec.extend(std::iter::repeat_n(0, 1024)); // green
        rec.extend(std::iter::repeat_n(51, 1024)); // blue
        let d = parse_batch(&rec, Path::new("b")).unwrap();
        assert_eq!(d.labels, vec![7]);
        assert_eq!(d.image(0)[0], 1.0);
        assert_eq!(d.image(0)[1024], 0.0);
        assert_eq!(d.image(0)[3071], 0.2);
    }

    #[test]
    fn length_error_counts_records_and_leftover() {
        let err = parse_batch(&vec![0; 2 * RECORD_LEN + 5], Path::new("b.bin")).unwrap_err();
        assert!(matches!(
            err,
            DataError::BadRecordLength {
                records: 2,
                leftover: 5,
                ..
            }
        ));
    }
}
