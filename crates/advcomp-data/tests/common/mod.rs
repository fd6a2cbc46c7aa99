//! Helpers shared by the integration tests: the bundled real MNIST files,
//! gzip round trips and stable error messages.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

/// The real 8,000/2,000 MNIST sample shipped with the repository.
pub fn bundled() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k"))
}

/// The decompressed content of a bundled file, e.g. `t10k-labels-idx1-ubyte`.
pub fn bundled_raw(stem: &str) -> Vec<u8> {
    gunzip(&fs::read(bundled().join(format!("{stem}.gz"))).unwrap())
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A temporary directory holding a copy of the bundled MNIST files.
pub fn mnist_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(bundled()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "gz") {
            fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    tmp
}

/// Replaces an MNIST file (whichever form it had) with `content`, stored
/// gzipped as `stem.gz` or raw as `stem`. Returns the new path.
pub fn replace(dir: &Path, stem: &str, content: &[u8], gz: bool) -> PathBuf {
    let gz_path = dir.join(format!("{stem}.gz"));
    let raw_path = dir.join(stem);
    let _ = fs::remove_file(&gz_path);
    let _ = fs::remove_file(&raw_path);
    if gz {
        fs::write(&gz_path, gzip(content)).unwrap();
        gz_path
    } else {
        fs::write(&raw_path, content).unwrap();
        raw_path
    }
}

/// An error message with the temporary directory replaced by `[TMP]`, so
/// snapshots do not depend on where the test ran.
pub fn redact(message: impl ToString, dir: &Path) -> String {
    message.to_string().replace(dir.to_str().unwrap(), "[TMP]")
}

/// A synthetic but fully determined pixel value for CIFAR fixtures: differs
/// between batches, records, channels, rows and columns.
pub fn cifar_pixel(batch: usize, record: usize, channel: usize, y: usize, x: usize) -> u8 {
    ((batch * 31 + record * 7 + channel * 85 + y * 3 + x) % 256) as u8
}

/// `records` CIFAR records for batch number `batch`, labels `(batch + r) % 10`.
pub fn cifar_batch(batch: usize, records: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for r in 0..records {
        out.push(((batch + r) % 10) as u8);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    out.push(cifar_pixel(batch, r, c, y, x));
                }
            }
        }
    }
    out
}

/// Names of the CIFAR batch files, training batches first.
pub const CIFAR_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Writes a complete synthetic CIFAR-10 directory: batch `i` (0-based, the
/// test batch is 5) holds `records` records.
pub fn write_cifar(dir: &Path, records: usize) {
    fs::create_dir_all(dir).unwrap();
    for (i, name) in CIFAR_FILES.iter().enumerate() {
        fs::write(dir.join(name), cifar_batch(i, records)).unwrap();
    }
}

/// An IDX images file: header declaring `count` images of `rows`x`cols`,
/// then `pixels` (which need not match the header).
pub fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    for word in [0x0803, count, rows, cols] {
        out.extend_from_slice(&u32::to_be_bytes(word));
    }
    out.extend_from_slice(pixels);
    out
}

/// An IDX labels file: header declaring `count` labels, then `labels`.
pub fn idx_labels(count: u32, labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    for word in [0x0801, count] {
        out.extend_from_slice(&u32::to_be_bytes(word));
    }
    out.extend_from_slice(labels);
    out
}

/// A gzip file whose content is `prefix` followed by `zeros` zero bytes, made
/// of several gzip members (as `cat a.gz b.gz > c.gz` makes, which every gzip
/// reader must accept). One compressed 16 MiB member is repeated, so a 1 GB
/// bomb of about 1 MB costs milliseconds to build.
pub fn zeros_gzip(prefix: &[u8], zeros: u64) -> Vec<u8> {
    const BLOCK: u64 = 16 << 20;
    let best = |data: &[u8]| {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    };
    let mut out = best(prefix);
    let block = best(&vec![0; BLOCK as usize]);
    for _ in 0..zeros / BLOCK {
        out.extend_from_slice(&block);
    }
    out.extend(best(&vec![0; (zeros % BLOCK) as usize]));
    out
}

/// A gzip file that holds `content` and then a member whose deflate data is
/// corrupt: a reader that decodes anything past `content` reports a bad gzip
/// stream, so an error of any other kind shows it stopped before.
pub fn gzip_then_garbage(content: &[u8]) -> Vec<u8> {
    let mut out = gzip(content);
    // A valid member header, then a deflate block of reserved type 3.
    out.extend_from_slice(&gzip(b"x")[..10]);
    out.extend_from_slice(&[0xff; 64]);
    out
}

/// A miniature `cifar-10-binary.tar.gz` before compression: the six batch
/// files of `records` records each under `cifar-10-batches-bin/`, plus a
/// five-byte file at `extra` that the extractor must skip.
pub fn cifar_tar(records: usize, extra: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (i, name) in CIFAR_FILES.iter().enumerate() {
        let data = cifar_batch(i, records);
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let path = format!("{}/{name}", advcomp_data::cifar::BATCHES_DIR);
        tar.append_data(&mut header, path, &data[..]).unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_cksum();
    tar.append_data(&mut header, extra, &b"hello"[..]).unwrap();
    tar.into_inner().unwrap()
}
