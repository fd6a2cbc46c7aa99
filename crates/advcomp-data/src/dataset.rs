//! In-memory image sets and train/test splits.
//!
//! Images are kept as one flat `Vec<f32>` rather than a tensor so that this
//! crate stays independent of the tensor backend: the training crate copies a
//! batch into whatever backend the CLI chose.

use std::path::PathBuf;

use crate::kind::{DatasetKind, ImageShape};

/// In-memory image set: pixels as f32 in \[0,1\], NCHW (channel-major per image), labels u8.
///
/// Invariant (kept by the readers and by every method here):
/// `images.len() == labels.len() * shape.len()` and every label is below
/// `kind.num_classes()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Which data set the images come from.
    pub kind: DatasetKind,
    /// Shape of each image.
    pub shape: ImageShape,
    /// All pixels, image after image, each image channel-major.
    pub images: Vec<f32>,
    /// One class index per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// An empty set of the given kind, to build on.
    pub fn empty(kind: DatasetKind) -> Self {
        Dataset {
            kind,
            shape: kind.image_shape(),
            images: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`; indices come from the program, not from a file.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.shape.len();
        &self.images[i * n..(i + 1) * n]
    }

    /// A new set holding the given images, in the given order (repeats allowed),
    /// e.g. for a fixed evaluation subset or a shuffled epoch.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * self.shape.len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            kind: self.kind,
            shape: self.shape,
            images,
            labels,
        }
    }

    /// The first `n` images (all of them if there are fewer): the cheap way to
    /// get a small, reproducible subset for quick runs and tests.
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            kind: self.kind,
            shape: self.shape,
            images: self.images[..n * self.shape.len()].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// How many images each class has, indexed by label (length `num_classes`).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.kind.num_classes()];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(usize::from(l)) {
                *c += 1;
            }
        }
        counts
    }
}

/// A data set as loaded from disk: both halves plus where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The training images.
    pub train: Dataset,
    /// The held-out test images.
    pub test: Dataset,
    /// SHA-256 (hex) over the files read, in a fixed order: provenance for
    /// checkpoints and cache keys, so a model trained on one copy of the data is
    /// never silently evaluated against another.
    pub fingerprint: String,
    /// The directory the files were read from.
    pub dir: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        let kind = DatasetKind::Mnist;
        let n = kind.image_shape().len();
        let mut images = Vec::new();
        for i in 0..4 {
            images.extend(std::iter::repeat_n(i as f32 / 4.0, n));
        }
        Dataset {
            kind,
            shape: kind.image_shape(),
            images,
            labels: vec![3, 1, 3, 9],
        }
    }

    #[test]
    fn select_and_take_keep_images_and_labels_together() {
        let d = tiny();
        let s = d.select(&[3, 0, 3]);
        assert_eq!(s.labels, vec![9, 3, 9]);
        assert_eq!(s.image(0), d.image(3));
        assert_eq!(s.image(1), d.image(0));
        assert_eq!(s.images.len(), 3 * 784);

        let t = d.take(2);
        assert_eq!(t.labels, vec![3, 1]);
        assert_eq!(t.image(1), d.image(1));
        assert_eq!(d.take(100), d);
        assert!(d.take(0).is_empty());
    }

    #[test]
    fn class_counts_cover_every_class() {
        let counts = tiny().class_counts();
        assert_eq!(counts, vec![0, 1, 0, 2, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            Dataset::empty(DatasetKind::Cifar10).class_counts(),
            vec![0; 10]
        );
    }
}
