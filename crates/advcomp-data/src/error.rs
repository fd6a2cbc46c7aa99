//! The one error type of this crate.
//!
//! Every variant carries the path (or URL) it is about and says what is wrong
//! in words a user can act on: the CLI prints these messages as they are, and a
//! bad data file must never turn into a panic or a bare "invalid data".

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// Why a data set could not be found, read, checked or downloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The operating system refused to read or write a file.
    #[error("{}: {action}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What we were doing, e.g. "cannot read".
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },

    /// A data directory that was named explicitly does not exist.
    #[error("{}: no such directory{hint}", .path.display())]
    DirNotFound {
        /// The directory.
        path: PathBuf,
        /// Extra advice, starting with "; " or empty.
        hint: String,
    },

    /// No data directory was given and none could be found.
    #[error("{message}")]
    NotFound {
        /// The whole explanation, with the directories tried and how to fetch.
        message: String,
    },

    /// Files the format needs are not in the directory.
    #[error("{}: missing {}{hint}", .dir.display(), list(.missing))]
    MissingFiles {
        /// The directory searched.
        dir: PathBuf,
        /// One entry per missing file; alternatives tried are written as "a (or b)".
        missing: Vec<String>,
        /// Extra context, starting with " (" or "; ", or empty.
        hint: String,
    },

    /// A file is not gzip although it starts like one, or its stream is cut short.
    #[error("{}: bad gzip stream: {reason}", .path.display())]
    BadGzip {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },

    /// An IDX file starts with the wrong magic number (wrong file, or not IDX).
    #[error(
        "{}: bad magic number {found:#010x}, expected {expected:#010x} ({what})",
        .path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first four bytes, big-endian.
        found: u32,
        /// The magic number this kind of file must start with.
        expected: u32,
        /// What was expected, e.g. "IDX images".
        what: &'static str,
    },

    /// Image dimensions differ from the data set's.
    #[error(
        "{}: images are {rows}x{cols}, expected {expected_rows}x{expected_cols}",
        .path.display()
    )]
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// Rows in the header.
        rows: usize,
        /// Columns in the header.
        cols: usize,
        /// Rows the data set has.
        expected_rows: usize,
        /// Columns the data set has.
        expected_cols: usize,
    },

    /// A file holds fewer bytes than its header declares.
    #[error(
        "{}: truncated: {content} is {actual} bytes, header declares {declared} = {expected} bytes",
        .path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// "file" or "decompressed content".
        content: &'static str,
        /// Bytes present.
        actual: u64,
        /// Bytes the header implies, header included.
        expected: u128,
        /// What the header declares, e.g. "8000 images of 28x28".
        declared: String,
    },

    /// A file holds more bytes than its header declares.
    #[error(
        "{}: trailing bytes: header declares {declared} = {expected} bytes, but {found}",
        .path.display()
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// E.g. "the file is 7850 bytes" (a gzip stream is not decoded past the
        /// first extra byte, so there the exact length is unknown).
        found: String,
        /// Bytes the header implies, header included.
        expected: u64,
        /// What the header declares.
        declared: String,
    },

    /// A file is too short to hold even its header.
    #[error(
        "{}: {content} is {actual} bytes, too short for the {needed}-byte {what} header",
        .path.display()
    )]
    TooShort {
        /// The file.
        path: PathBuf,
        /// "file" or "decompressed content".
        content: &'static str,
        /// Bytes present.
        actual: u64,
        /// Header length.
        needed: u64,
        /// Which header, e.g. "IDX images".
        what: &'static str,
    },

    /// More data than any real data set file holds, or pixels that would take
    /// more memory than [`crate::MAX_PIXEL_BYTES`] as `f32`: refused from the
    /// header or file length, before decompressing or allocating, so an
    /// absurd header or a gzip bomb cannot exhaust memory.
    #[error(
        "{}: {what} {size} bytes, more than the {limit} bytes this reader accepts",
        .path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// E.g. "file is", "header declares 4294967295 labels =" or
        /// "header declares 1369000 images of 28x28 = 1073296000 pixels; as f32 that is".
        what: String,
        /// Bytes that would be needed.
        size: u128,
        /// The ceiling.
        limit: u64,
    },

    /// An images file and its labels file disagree on the number of examples.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        .images_path.display(),
        .labels_path.display()
    )]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// Images it holds.
        images: usize,
        /// The labels file.
        labels_path: PathBuf,
        /// Labels it holds.
        labels: usize,
    },

    /// A label is not a class index of the data set.
    #[error(
        "{}: {item} {index} has label {label}, expected 0..={max}",
        .path.display()
    )]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// "example" (IDX) or "record" (CIFAR).
        item: &'static str,
        /// Zero-based position of the offending example.
        index: usize,
        /// The label found.
        label: u8,
        /// The largest valid label.
        max: u8,
    },

    /// A CIFAR-10 batch is not a whole number of records.
    #[error(
        "{}: file is {len} bytes = {records} records of {record_len} bytes plus {leftover} leftover bytes; \
         a CIFAR-10 batch is a sequence of 1 label byte + 3072 pixel bytes",
        .path.display()
    )]
    BadRecordLength {
        /// The file.
        path: PathBuf,
        /// File length.
        len: u64,
        /// Whole records in it.
        records: u64,
        /// Record length (3073).
        record_len: u64,
        /// Bytes after the last whole record.
        leftover: u64,
    },

    /// A file holds no examples at all.
    #[error("{}: holds no images", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },

    /// A download failed (connection, HTTP status, or reading the body).
    #[error("{url}: download failed: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// Downloaded bytes do not have the published SHA-256 (corrupt or tampered file).
    #[error("{url}: SHA-256 mismatch: expected {expected}, got {actual}")]
    HashMismatch {
        /// The URL.
        url: String,
        /// The published hash.
        expected: String,
        /// The hash of what arrived.
        actual: String,
    },

    /// Every mirror failed for one file.
    #[error("{file}: every mirror failed:{}", bullets(.attempts))]
    AllMirrorsFailed {
        /// The file name.
        file: String,
        /// One error per mirror, in the order tried.
        attempts: Vec<DataError>,
    },

    /// An archive could not be unpacked.
    #[error("{}: cannot extract: {reason}", .path.display())]
    Extract {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

fn bullets(errors: &[DataError]) -> String {
    let mut out = String::new();
    for e in errors {
        let _ = write!(out, "\n  - {e}");
    }
    out
}
