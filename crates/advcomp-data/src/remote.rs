//! The official download locations and checksums of each data set.
//!
//! Hashes are pinned here so that a download is accepted only if it is
//! byte-for-byte the file everyone else uses; sizes bound the download and
//! drive the progress bar. Every value was taken from published sources and
//! cross-checked, see the comments on each table.

use std::borrow::Cow;

use crate::kind::DatasetKind;

/// One file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, both on the mirror (appended to the base URL) and on disk.
    pub name: Cow<'static, str>,
    /// Expected SHA-256 of the whole file, lowercase hex.
    pub sha256: Cow<'static, str>,
    /// Exact size in bytes; a server sending more is cut off.
    pub size: u64,
    /// Base URLs (ending in `/`) to try in order unless the caller overrides them.
    pub mirrors: &'static [&'static str],
    /// What to do with the file once it is verified.
    pub unpack: Unpack,
}

/// Post-processing of a downloaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// Keep the file as it is (the readers handle gzip themselves).
    Keep,
    /// A gzip-compressed tar archive: extract its `dir/` tree into the
    /// destination. The archive is kept so that a later fetch can tell from
    /// its hash that nothing needs downloading.
    TarGz {
        /// Top-level directory of the archive; only entries under it are extracted.
        dir: &'static str,
        /// Files that must exist under `dir/` after extraction; only these are written.
        files: &'static [&'static str],
        /// The most bytes any of `files` may have. An entry whose tar header
        /// declares more is refused before it is written, and the archive
        /// stops being decompressed past `files.len()` times this (plus a
        /// little for the tar framing), so even a verified archive cannot
        /// fill the disk.
        max_file_bytes: u64,
    },
}

/// Mirrors of the MNIST files, in the order torchvision tries them: the
/// PyTorch S3 copy is fast and reliable, LeCun's page is the original but has
/// been intermittently unavailable.
pub const MNIST_MIRRORS: &[&str] = &[
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// The four official MNIST files.
///
/// SHA-256 and sizes from TensorFlow Datasets'
/// `tensorflow_datasets/url_checksums/mnist.txt` (tensorflow/datasets); the same
/// four SHA-256 values are pinned by torchvision-ruby
/// (`ankane/torchvision-ruby`, `lib/torchvision/datasets/mnist.rb`, against the
/// ossci-datasets mirror) and several independent MNIST loaders. The files are
/// the ones torchvision checks by MD5 (f68b3c2d…, d53e105e…, 9fb629c4…, ec29112d…).
pub const MNIST_FILES: &[RemoteFile] = &[
    RemoteFile {
        name: Cow::Borrowed("train-images-idx3-ubyte.gz"),
        sha256: Cow::Borrowed("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        size: 9_912_422,
        mirrors: MNIST_MIRRORS,
        unpack: Unpack::Keep,
    },
    RemoteFile {
        name: Cow::Borrowed("train-labels-idx1-ubyte.gz"),
        sha256: Cow::Borrowed("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        size: 28_881,
        mirrors: MNIST_MIRRORS,
        unpack: Unpack::Keep,
    },
    RemoteFile {
        name: Cow::Borrowed("t10k-images-idx3-ubyte.gz"),
        sha256: Cow::Borrowed("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        size: 1_648_877,
        mirrors: MNIST_MIRRORS,
        unpack: Unpack::Keep,
    },
    RemoteFile {
        name: Cow::Borrowed("t10k-labels-idx1-ubyte.gz"),
        sha256: Cow::Borrowed("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        size: 4_542,
        mirrors: MNIST_MIRRORS,
        unpack: Unpack::Keep,
    },
];

/// The only official source of the CIFAR-10 binary version.
pub const CIFAR10_MIRRORS: &[&str] = &["https://www.cs.toronto.edu/~kriz/"];

/// The CIFAR-10 binary archive.
///
/// SHA-256 and size from TensorFlow Datasets'
/// `tensorflow_datasets/url_checksums/cifar10.txt`; the same SHA-256 is pinned
/// by torchvision-ruby (`lib/torchvision/datasets/cifar10.rb`) and by Julia's
/// MLDatasets, and a published provenance record lists it next to the MD5
/// torchvision checks (c32a1d4ab5d03f1284b67883e8d87530) and the same size.
pub const CIFAR10_FILES: &[RemoteFile] = &[RemoteFile {
    name: Cow::Borrowed("cifar-10-binary.tar.gz"),
    sha256: Cow::Borrowed("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    size: 170_052_171,
    mirrors: CIFAR10_MIRRORS,
    unpack: Unpack::TarGz {
        dir: crate::cifar::BATCHES_DIR,
        files: &[
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
            "test_batch.bin",
        ],
        // Every official batch is exactly 10,000 records.
        max_file_bytes: crate::cifar::BATCH_BYTES,
    },
}];

/// The files that make up `kind`, in download order.
pub fn remote_files(kind: DatasetKind) -> &'static [RemoteFile] {
    match kind {
        DatasetKind::Mnist => MNIST_FILES,
        DatasetKind::Cifar10 => CIFAR10_FILES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_a_full_lowercase_sha256_and_a_mirror() {
        for &kind in DatasetKind::all() {
            let files = remote_files(kind);
            assert!(!files.is_empty());
            for f in files {
                assert_eq!(f.sha256.len(), 64, "{}", f.name);
                assert!(
                    f.sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                    "{}",
                    f.name
                );
                assert!(f.size > 0);
                assert!(!f.mirrors.is_empty());
                assert!(f.mirrors.iter().all(|m| m.ends_with('/')));
            }
        }
    }

    #[test]
    fn cifar_archive_unpacks_to_what_the_reader_expects() {
        let Unpack::TarGz { dir, files, .. } = CIFAR10_FILES[0].unpack else {
            panic!("CIFAR-10 must be unpacked");
        };
        assert_eq!(dir, crate::cifar::BATCHES_DIR);
        let mut expected: Vec<&str> = crate::cifar::TRAIN_FILES.to_vec();
        expected.push(crate::cifar::TEST_FILE);
        assert_eq!(files, expected.as_slice());
    }
}
