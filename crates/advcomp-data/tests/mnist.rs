//! Reading the real MNIST sample bundled with the repository.

mod common;

use std::fs;

use advcomp_data::mnist::{self, read_images, read_labels};
use advcomp_data::{DatasetKind, load};
use common::{bundled, bundled_raw, mnist_copy, replace};

#[test]
fn bundled_sample_loads_with_expected_counts_and_ranges() {
    let split = load(DatasetKind::Mnist, &bundled()).unwrap();
    assert_eq!(split.train.len(), 8000);
    assert_eq!(split.test.len(), 2000);
    for set in [&split.train, &split.test] {
        assert_eq!(set.kind, DatasetKind::Mnist);
        assert_eq!(set.images.len(), set.len() * 784);
        assert!(set.images.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!(set.labels.iter().all(|&l| l < 10));
        let counts = set.class_counts();
        assert!(
            counts.iter().all(|&c| c > 0),
            "every digit occurs: {counts:?}"
        );
        assert_eq!(counts.iter().sum::<usize>(), set.len());
    }
    // Both extremes occur: the scaling is u8 / 255, not something else.
    assert!(split.train.images.contains(&0.0));
    assert!(split.train.images.contains(&1.0));
    // MNIST's well-known mean intensity is 0.1307.
    let mean = split
        .train
        .images
        .iter()
        .map(|&p| f64::from(p))
        .sum::<f64>()
        / split.train.images.len() as f64;
    assert!((0.12..0.14).contains(&mean), "mean pixel {mean}");
}

#[test]
fn labels_belong_to_their_images() {
    // Nearest class mean scores about 80% on MNIST; if images and labels were
    // misaligned (an off-by-one in a header, a shuffled labels file) it would
    // fall to chance, 10%.
    let split = load(DatasetKind::Mnist, &bundled()).unwrap();
    let n = split.train.shape.len();
    let mut means = vec![vec![0f64; n]; 10];
    for i in 0..split.train.len() {
        let class = usize::from(split.train.labels[i]);
        for (m, &p) in means[class].iter_mut().zip(split.train.image(i)) {
            *m += f64::from(p);
        }
    }
    for (mean, count) in means.iter_mut().zip(split.train.class_counts()) {
        mean.iter_mut().for_each(|m| *m /= count as f64);
    }
    let correct = (0..split.test.len())
        .filter(|&i| {
            let image = split.test.image(i);
            let distance = |mean: &Vec<f64>| -> f64 {
                mean.iter()
                    .zip(image)
                    .map(|(m, &p)| (m - f64::from(p)).powi(2))
                    .sum()
            };
            let best = (0..10)
                .min_by(|&a, &b| distance(&means[a]).total_cmp(&distance(&means[b])))
                .unwrap();
            best == usize::from(split.test.labels[i])
        })
        .count();
    let accuracy = correct as f64 / split.test.len() as f64;
    assert!(accuracy > 0.7, "nearest-mean accuracy {accuracy}");
}

#[test]
fn fingerprint_is_stable() {
    let a = load(DatasetKind::Mnist, &bundled()).unwrap();
    let b = load(DatasetKind::Mnist, &bundled()).unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.fingerprint.len(), 64);
    insta::assert_snapshot!("bundled_mnist_fingerprint", a.fingerprint);
}

#[test]
fn files_read_one_by_one() {
    let images = read_images(&bundled().join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!((images.count, images.rows, images.cols), (2000, 28, 28));
    assert_eq!(images.pixels.len(), 2000 * 784);
    let labels = read_labels(&bundled().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(labels.len(), 2000);
}

#[test]
fn raw_files_load_the_same_pixels_with_a_different_fingerprint() {
    let gz = load(DatasetKind::Mnist, &bundled()).unwrap();
    let tmp = mnist_copy();
    for stem in mnist::FILES {
        replace(tmp.path(), stem, &bundled_raw(stem), false);
    }
    let raw = load(DatasetKind::Mnist, tmp.path()).unwrap();
    assert_eq!(raw.train, gz.train);
    assert_eq!(raw.test, gz.test);
    // The fingerprint is over the bytes on disk: a different encoding of the
    // same digits is a different provenance.
    assert_ne!(raw.fingerprint, gz.fingerprint);
}

#[test]
fn gzip_is_detected_by_content_and_gz_name_is_preferred() {
    let tmp = mnist_copy();
    // A gzip file without the .gz suffix still reads.
    let stem = "t10k-labels-idx1-ubyte";
    let gz = tmp.path().join(format!("{stem}.gz"));
    fs::rename(&gz, tmp.path().join(stem)).unwrap();
    assert_eq!(read_labels(&tmp.path().join(stem)).unwrap().len(), 2000);
    // When both names exist the .gz one is read: the raw one here is garbage.
    fs::write(tmp.path().join(stem), b"garbage").unwrap();
    fs::copy(bundled().join(format!("{stem}.gz")), &gz).unwrap();
    let split = load(DatasetKind::Mnist, tmp.path()).unwrap();
    assert_eq!(split.test.len(), 2000);
}

#[test]
fn bundled_mnist_is_found() {
    let dir = advcomp_data::bundled_mnist().expect("the bundled sample is in the repository");
    assert!(dir.join("train-images-idx3-ubyte.gz").is_file());
}
