//! Every kind of bad data file gives an error that names the file and says
//! what is wrong. The MNIST cases start from the real bundled files and
//! change one thing; messages are snapshotted with the temp dir as `[TMP]`.

mod common;

use std::fs;
use std::path::Path;

use advcomp_data::cifar::{RECORD_LEN, read_batch};
use advcomp_data::mnist::{read_images, read_labels};
use advcomp_data::{DataError, DatasetKind, MAX_PIXEL_BYTES, load};
use common::{
    CIFAR_FILES, bundled, bundled_raw, cifar_batch, gzip_then_garbage, idx_images, idx_labels,
    mnist_copy, redact, replace, write_cifar, zeros_gzip,
};

const T10K_IMAGES: &str = "t10k-images-idx3-ubyte";
const T10K_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Loads MNIST from `dir` and returns the redacted error message.
fn mnist_error(dir: &Path) -> String {
    let err = load(DatasetKind::Mnist, dir).expect_err("the data set is broken");
    redact(err, dir)
}

fn cifar_error(dir: &Path) -> String {
    let err = load(DatasetKind::Cifar10, dir).expect_err("the data set is broken");
    redact(err, dir)
}

#[test]
fn bad_magic() {
    let tmp = mnist_copy();
    let mut images = bundled_raw(T10K_IMAGES);
    images[3] = 0x01;
    replace(tmp.path(), T10K_IMAGES, &images, true);
    insta::assert_snapshot!("bad_magic", mnist_error(tmp.path()));
}

#[test]
fn labels_file_in_place_of_images() {
    let tmp = mnist_copy();
    replace(tmp.path(), T10K_IMAGES, &bundled_raw(T10K_LABELS), false);
    insta::assert_snapshot!("labels_as_images", mnist_error(tmp.path()));
}

#[test]
fn truncated_images_raw() {
    let tmp = mnist_copy();
    replace(
        tmp.path(),
        T10K_IMAGES,
        &bundled_raw(T10K_IMAGES)[..1234],
        false,
    );
    insta::assert_snapshot!("truncated_images_raw", mnist_error(tmp.path()));
}

#[test]
fn truncated_images_gzip() {
    let tmp = mnist_copy();
    replace(
        tmp.path(),
        T10K_IMAGES,
        &bundled_raw(T10K_IMAGES)[..1234],
        true,
    );
    insta::assert_snapshot!("truncated_images_gzip", mnist_error(tmp.path()));
}

#[test]
fn truncated_labels() {
    let tmp = mnist_copy();
    replace(
        tmp.path(),
        T10K_LABELS,
        &bundled_raw(T10K_LABELS)[..1000],
        false,
    );
    insta::assert_snapshot!("truncated_labels", mnist_error(tmp.path()));
}

#[test]
fn header_only() {
    let tmp = mnist_copy();
    replace(
        tmp.path(),
        T10K_LABELS,
        &bundled_raw(T10K_LABELS)[..6],
        false,
    );
    insta::assert_snapshot!("too_short_for_header", mnist_error(tmp.path()));
}

#[test]
fn trailing_bytes_raw() {
    let tmp = mnist_copy();
    let mut labels = bundled_raw(T10K_LABELS);
    labels.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
    replace(tmp.path(), T10K_LABELS, &labels, false);
    insta::assert_snapshot!("trailing_bytes_raw", mnist_error(tmp.path()));
}

#[test]
fn trailing_bytes_gzip() {
    let tmp = mnist_copy();
    let mut images = bundled_raw(T10K_IMAGES);
    images.extend_from_slice(&[0; 784]);
    replace(tmp.path(), T10K_IMAGES, &images, true);
    insta::assert_snapshot!("trailing_bytes_gzip", mnist_error(tmp.path()));
}

#[test]
fn count_mismatch() {
    let tmp = mnist_copy();
    // A self-consistent labels file that is one label short.
    let mut labels = bundled_raw(T10K_LABELS);
    labels.pop();
    labels[4..8].copy_from_slice(&1999u32.to_be_bytes());
    replace(tmp.path(), T10K_LABELS, &labels, true);
    insta::assert_snapshot!("count_mismatch", mnist_error(tmp.path()));
}

#[test]
fn label_out_of_range() {
    let tmp = mnist_copy();
    let mut labels = bundled_raw(T10K_LABELS);
    labels[8 + 17] = 10;
    let path = replace(tmp.path(), T10K_LABELS, &labels, true);
    insta::assert_snapshot!("label_out_of_range", mnist_error(tmp.path()));
    assert!(matches!(
        read_labels(&path),
        Err(DataError::LabelOutOfRange {
            index: 17,
            label: 10,
            ..
        })
    ));
}

#[test]
fn bad_gzip_stream() {
    let tmp = mnist_copy();
    let path = tmp.path().join(format!("{T10K_IMAGES}.gz"));
    let mut bytes = fs::read(&path).unwrap();
    // Keep the 10-byte gzip header; the first deflate block header then
    // reads as block type 3, which RFC 1951 reserves as an error.
    bytes[10..200].fill(0xff);
    fs::write(&path, bytes).unwrap();
    insta::assert_snapshot!("bad_gzip_stream", mnist_error(tmp.path()));
}

#[test]
fn gzip_cut_short() {
    let tmp = mnist_copy();
    let path = tmp.path().join(format!("{T10K_LABELS}.gz"));
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    insta::assert_snapshot!("gzip_cut_short", mnist_error(tmp.path()));
}

#[test]
fn missing_files() {
    let tmp = mnist_copy();
    fs::remove_file(tmp.path().join(format!("{T10K_LABELS}.gz"))).unwrap();
    fs::remove_file(tmp.path().join("train-images-idx3-ubyte.gz")).unwrap();
    insta::assert_snapshot!("missing_files", mnist_error(tmp.path()));
}

#[test]
fn absurd_image_count_raw() {
    let tmp = mnist_copy();
    let mut images = bundled_raw(T10K_IMAGES);
    images[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    replace(tmp.path(), T10K_IMAGES, &images, false);
    insta::assert_snapshot!("absurd_count_raw", mnist_error(tmp.path()));
}

#[test]
fn absurd_image_count_gzip_is_refused_before_decompressing() {
    let tmp = mnist_copy();
    let mut images = bundled_raw(T10K_IMAGES);
    images[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    let path = replace(tmp.path(), T10K_IMAGES, &images, true);
    insta::assert_snapshot!("absurd_count_gzip", mnist_error(tmp.path()));
    assert!(matches!(
        read_images(&path),
        Err(DataError::TooLarge { .. })
    ));
}

/// Issue #11: a 1 MB `t10k-images-idx3-ubyte.gz` declaring 1,369,000 images
/// that really inflates to them (1,073,296,016 bytes, just under
/// `MAX_CONTENT_BYTES`) made `advcomp data info` peak at 5.1 GiB: the whole
/// body, then four bytes per pixel as `f32`. Its header alone now refuses it.
#[test]
fn gzip_bomb_declaring_1369000_images_is_refused_from_its_header() {
    let count = 1_369_000;
    let bomb = zeros_gzip(&idx_images(count, 28, 28, &[]), u64::from(count) * 784);
    assert!(
        bomb.len() < 1_100_000,
        "the issue's 1 MB file: {}",
        bomb.len()
    );
    let tmp = mnist_copy();
    let path = tmp.path().join(format!("{T10K_IMAGES}.gz"));
    fs::write(&path, &bomb).unwrap();
    insta::assert_snapshot!("gzip_bomb_1369000_images", mnist_error(tmp.path()));
    assert!(matches!(
        read_images(&path),
        Err(DataError::TooLarge {
            limit: MAX_PIXEL_BYTES,
            ..
        })
    ));
}

#[test]
fn oversized_header_is_refused_before_the_body_is_decompressed() {
    // The same header, then a corrupt gzip member where the body should be:
    // decoding a single byte of it would be a "bad gzip stream" error.
    let tmp = mnist_copy();
    let path = tmp.path().join(format!("{T10K_IMAGES}.gz"));
    fs::write(
        &path,
        gzip_then_garbage(&idx_images(1_369_000, 28, 28, &[])),
    )
    .unwrap();
    let err = read_images(&path).unwrap_err();
    assert!(matches!(err, DataError::TooLarge { .. }), "{err}");
    let err = load(DatasetKind::Mnist, tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::TooLarge { .. }), "{err}");
}

#[test]
fn headers_that_disagree_are_refused_before_any_body_is_decompressed() {
    // 2,001 images but 2,000 labels, and neither body is valid gzip.
    let tmp = mnist_copy();
    let images = gzip_then_garbage(&idx_images(2001, 28, 28, &[]));
    fs::write(tmp.path().join(format!("{T10K_IMAGES}.gz")), images).unwrap();
    let labels = gzip_then_garbage(&idx_labels(2000, &[]));
    fs::write(tmp.path().join(format!("{T10K_LABELS}.gz")), labels).unwrap();
    let err = load(DatasetKind::Mnist, tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { .. }), "{err}");
}

#[test]
fn split_over_the_pixel_budget_is_refused_from_the_headers() {
    // 200,000 training and 200,000 test images: each file is under the limit
    // on its own, both halves together are over it. Only headers are valid.
    let tmp = tempfile::tempdir().unwrap();
    for half in ["train", "t10k"] {
        let images = gzip_then_garbage(&idx_images(200_000, 28, 28, &[]));
        fs::write(
            tmp.path().join(format!("{half}-images-idx3-ubyte.gz")),
            images,
        )
        .unwrap();
        let labels = gzip_then_garbage(&idx_labels(200_000, &[]));
        fs::write(
            tmp.path().join(format!("{half}-labels-idx1-ubyte.gz")),
            labels,
        )
        .unwrap();
    }
    insta::assert_snapshot!("split_over_pixel_budget", mnist_error(tmp.path()));
}

#[test]
fn raw_file_longer_than_its_header_is_refused_before_reading() {
    // 1 image declared, 256 MiB (sparse) present: refused from the length.
    let tmp = mnist_copy();
    let path = replace(
        tmp.path(),
        T10K_IMAGES,
        &idx_images(1, 28, 28, &[0; 784]),
        false,
    );
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let err = read_images(&path).unwrap_err();
    assert_eq!(
        redact(err, tmp.path()),
        "[TMP]/t10k-images-idx3-ubyte: trailing bytes: header declares 1 images of 28x28 = 800 bytes, but the file is 268435456 bytes"
    );
}

#[test]
fn cifar_batches_over_the_pixel_budget_are_refused_before_reading() {
    // Six sparse batches of 14,564 zero records (all valid, label 0): 87,384
    // records in all, three more than 1 GiB of f32 pixels holds.
    let tmp = tempfile::tempdir().unwrap();
    write_cifar(tmp.path(), 1);
    for name in CIFAR_FILES {
        let file = fs::File::options()
            .write(true)
            .open(tmp.path().join(name))
            .unwrap();
        file.set_len(14_564 * RECORD_LEN as u64).unwrap();
    }
    insta::assert_snapshot!("cifar_over_pixel_budget", cifar_error(tmp.path()));
}

#[test]
fn one_cifar_batch_over_the_pixel_budget_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.bin");
    let file = fs::File::create(&path).unwrap();
    file.set_len(87_382 * RECORD_LEN as u64).unwrap();
    let err = read_batch(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TooLarge {
                limit: MAX_PIXEL_BYTES,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with(&path.display().to_string()));
}

#[test]
fn wrong_image_size() {
    let tmp = mnist_copy();
    let mut images = bundled_raw(T10K_IMAGES);
    // Same bytes, declared as 14x56 instead of 28x28.
    images[8..12].copy_from_slice(&14u32.to_be_bytes());
    images[12..16].copy_from_slice(&56u32.to_be_bytes());
    replace(tmp.path(), T10K_IMAGES, &images, false);
    insta::assert_snapshot!("wrong_image_size", mnist_error(tmp.path()));
}

#[test]
fn directory_that_does_not_exist() {
    let tmp = tempfile::tempdir().unwrap();
    insta::assert_snapshot!("no_such_dir", mnist_error(&tmp.path().join("nope")));
}

#[test]
fn unreadable_is_not_a_panic() {
    // A directory where a file should be.
    let tmp = mnist_copy();
    let path = tmp.path().join(format!("{T10K_LABELS}.gz"));
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    assert!(load(DatasetKind::Mnist, tmp.path()).is_err());
    assert!(read_labels(&path).is_err());
}

#[test]
fn the_real_files_still_load() {
    // Guard for the cases above: the copies they start from are valid.
    let tmp = mnist_copy();
    assert!(load(DatasetKind::Mnist, tmp.path()).is_ok());
    assert!(bundled().is_dir());
}

#[test]
fn cifar_wrong_length() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar(tmp.path(), 2);
    let mut batch = cifar_batch(2, 2);
    batch.extend_from_slice(&[0; 100]);
    fs::write(tmp.path().join("data_batch_3.bin"), batch).unwrap();
    insta::assert_snapshot!("cifar_wrong_length", cifar_error(tmp.path()));
}

#[test]
fn cifar_bad_label() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar(tmp.path(), 3);
    let mut batch = cifar_batch(5, 3);
    batch[3073] = 42;
    fs::write(tmp.path().join("test_batch.bin"), batch).unwrap();
    insta::assert_snapshot!("cifar_bad_label", cifar_error(tmp.path()));
}

#[test]
fn cifar_missing_batches() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar(tmp.path(), 1);
    fs::remove_file(tmp.path().join("data_batch_3.bin")).unwrap();
    fs::remove_file(tmp.path().join("data_batch_5.bin")).unwrap();
    insta::assert_snapshot!("cifar_missing_batches", cifar_error(tmp.path()));
}

#[test]
fn cifar_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    insta::assert_snapshot!("cifar_empty_dir", cifar_error(tmp.path()));
}

#[test]
fn cifar_empty_batch() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar(tmp.path(), 1);
    fs::write(tmp.path().join("data_batch_1.bin"), b"").unwrap();
    insta::assert_snapshot!("cifar_empty_batch", cifar_error(tmp.path()));
}
