//! Reading a synthetic CIFAR-10 directory back exactly.

mod common;

use std::fs;

use advcomp_data::cifar::{BATCHES_DIR, read_batch};
use advcomp_data::{DatasetKind, load};
use common::{CIFAR_FILES, cifar_batch, cifar_pixel, write_cifar};
use sha2::{Digest, Sha256};

#[test]
fn synthetic_batches_read_back_pixel_for_pixel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(BATCHES_DIR);
    write_cifar(&dir, 3);

    // The parent directory works too: the reader looks in cifar-10-batches-bin/.
    let split = load(DatasetKind::Cifar10, tmp.path()).unwrap();
    assert_eq!(split.dir, dir);
    assert_eq!(split.train.len(), 15);
    assert_eq!(split.test.len(), 3);
    assert_eq!(split.train.shape.to_string(), "3x32x32");

    for (set, batches) in [(&split.train, 0..5), (&split.test, 5..6)] {
        let mut i = 0;
        for batch in batches {
            for record in 0..3 {
                assert_eq!(usize::from(set.labels[i]), (batch + record) % 10);
                let image = set.image(i);
                for c in 0..3 {
                    for y in 0..32 {
                        for x in 0..32 {
                            let want = f32::from(cifar_pixel(batch, record, c, y, x)) / 255.0;
                            // Channel-major: the red plane, then green, then blue.
                            assert_eq!(
                                image[c * 1024 + y * 32 + x],
                                want,
                                "{batch}/{record}/{c}/{y}/{x}"
                            );
                        }
                    }
                }
                i += 1;
            }
        }
    }
}

#[test]
fn fingerprint_follows_the_documented_scheme() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar(tmp.path(), 2);
    let split = load(DatasetKind::Cifar10, tmp.path()).unwrap();
    assert_eq!(split.dir, tmp.path());
    let mut hasher = Sha256::new();
    for name in CIFAR_FILES {
        let bytes = fs::read(tmp.path().join(name)).unwrap();
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    assert_eq!(split.fingerprint, hex::encode(hasher.finalize()));
}

#[test]
fn one_batch_reads_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("b.bin");
    fs::write(&path, cifar_batch(2, 4)).unwrap();
    let d = read_batch(&path).unwrap();
    assert_eq!(d.labels, vec![2, 3, 4, 5]);
    assert_eq!(
        d.image(3)[2048],
        f32::from(cifar_pixel(2, 3, 2, 0, 0)) / 255.0
    );
}
