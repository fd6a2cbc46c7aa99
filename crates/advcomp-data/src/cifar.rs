//! CIFAR-10 in its "binary version" (`cifar-10-batches-bin`).
//!
//! Each batch file is a plain sequence of 3073-byte records: one label byte
//! (0..=9), then 1024 red, 1024 green and 1024 blue bytes, each plane a
//! row-major 32x32 image. That is already channel-major, so a record's pixels
//! are copied out in order. There is no header, so the file length is the only
//! integrity check the format offers; it is enforced exactly, and it is
//! checked for every batch (and against [`MAX_PIXEL_BYTES`] for all of them
//! together) before any batch is read. Records are then streamed one at a
//! time straight into `f32`, never holding a whole batch's bytes.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dataset::{Dataset, Split};
use crate::error::DataError;
use crate::kind::DatasetKind;
use crate::source::{MAX_PIXEL_BYTES, Tee, changed, file_len, fill};

/// Bytes per record: one label and 3x32x32 pixels.
pub const RECORD_LEN: usize = 1 + 3 * 32 * 32;

/// Bytes in each batch of the official data set (10,000 records). Batches of
/// other lengths are read too (tests use small ones); the archive extractor
/// refuses batch entries larger than this.
pub const BATCH_BYTES: u64 = 10_000 * RECORD_LEN as u64;

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
    let len = file_len(path)?;
    let records = check_length(path, len)?;
    check_budget(path, records, "the batch holds")?;
    let file = File::open(path).map_err(|e| DataError::io(path, "cannot read", e))?;
    let mut out = with_capacity(records);
    read_records(
        Tee::new(BufReader::new(file), len, None),
        path,
        len,
        &mut out,
    )?;
    Ok(out)
}

/// Parses the bytes of one batch file; `path` is only used in messages.
pub fn parse_batch(bytes: &[u8], path: &Path) -> Result<Dataset, DataError> {
    let len = bytes.len() as u64;
    let records = check_length(path, len)?;
    check_budget(path, records, "the batch holds")?;
    let mut out = with_capacity(records);
    read_records(Tee::new(bytes, len, None), path, len, &mut out)?;
    Ok(out)
}

/// Checks that a batch of `len` bytes is a whole, non-zero number of records;
/// returns that number.
fn check_length(path: &Path, len: u64) -> Result<u64, DataError> {
    let record_len = RECORD_LEN as u64;
    let leftover = len % record_len;
    if leftover != 0 {
        return Err(DataError::BadRecordLength {
            path: path.to_path_buf(),
            len,
            records: len / record_len,
            record_len,
            leftover,
        });
    }
    if len == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(len / record_len)
}

/// Refuses `records` records whose pixels would take more than
/// [`MAX_PIXEL_BYTES`] as `f32`, before anything is read or allocated.
fn check_budget(path: &Path, records: u64, what: &str) -> Result<(), DataError> {
    let pixels = u128::from(records) * (RECORD_LEN as u128 - 1);
    if pixels * 4 > u128::from(MAX_PIXEL_BYTES) {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: format!("{what} {records} records = {pixels} pixels; as f32 that is"),
            size: pixels * 4,
            limit: MAX_PIXEL_BYTES,
        });
    }
    Ok(())
}

/// An empty set with room for `records` records, which [`check_budget`]
/// has bounded.
fn with_capacity(records: u64) -> Dataset {
    let kind = DatasetKind::Cifar10;
    let records = records as usize;
    Dataset {
        kind,
        shape: kind.image_shape(),
        images: Vec::with_capacity(records * (RECORD_LEN - 1)),
        labels: Vec::with_capacity(records),
    }
}

/// Streams the records of a batch whose length `len` was checked into `out`,
/// one record at a time; `reader` hashes what it reads.
fn read_records<R: Read>(
    mut reader: Tee<'_, R>,
    path: &Path,
    len: u64,
    out: &mut Dataset,
) -> Result<(), DataError> {
    let max = (DatasetKind::Cifar10.num_classes() - 1) as u8;
    let records = len / RECORD_LEN as u64;
    let mut record = vec![0u8; RECORD_LEN];
    let io_error = |e| DataError::io(path, "cannot read", e);
    for index in 0..records as usize {
        if fill(&mut reader, &mut record).map_err(io_error)? < RECORD_LEN {
            return Err(changed(
                path,
                format!(
                    "it was {len} bytes when opened, it ended after {} bytes",
                    reader.bytes_read()
                ),
            ));
        }
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
        out.labels.push(label);
        out.images
            .extend(record[1..].iter().map(|&p| f32::from(p) / 255.0));
    }
    if fill(&mut reader, &mut record[..1]).map_err(io_error)? > 0 {
        return Err(changed(
            path,
            format!("it was {len} bytes when opened, it is longer now"),
        ));
    }
    Ok(())
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
/// Every batch's length is checked, and their total against the limit,
/// before the first record is read.
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

    let mut batches = Vec::with_capacity(names.len());
    for name in &names {
        let path = base.join(name);
        let len = file_len(&path)?;
        let records = check_length(&path, len)?;
        batches.push((path, len, records));
    }
    let total = batches.iter().map(|b| b.2).sum();
    check_budget(&base, total, "the six batches together hold")?;

    let mut hasher = Sha256::new();
    let (train_batches, test_batch) = batches.split_at(TRAIN_FILES.len());
    let mut train = with_capacity(train_batches.iter().map(|b| b.2).sum());
    for (path, len, _) in train_batches {
        read_hashed(path, *len, &mut hasher, &mut train)?;
    }
    let mut test = with_capacity(test_batch.iter().map(|b| b.2).sum());
    for (path, len, _) in test_batch {
        read_hashed(path, *len, &mut hasher, &mut test)?;
    }
    Ok(Split {
        train,
        test,
        fingerprint: hex::encode(hasher.finalize()),
        dir: base,
    })
}

/// Streams one batch of checked length `len` into `out`, adding the file to
/// the fingerprint.
fn read_hashed(
    path: &Path,
    len: u64,
    hasher: &mut Sha256,
    out: &mut Dataset,
) -> Result<(), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, "cannot read", e))?;
    read_records(
        Tee::new(BufReader::new(file), len, Some(hasher)),
        path,
        len,
        out,
    )
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
