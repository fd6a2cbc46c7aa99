//! Which data sets exist and what their images look like.
//!
//! Everything that differs between MNIST and CIFAR-10 apart from the file
//! format lives here, so models and attacks can size themselves from a
//! [`DatasetKind`] without reading any file.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A supported data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Handwritten digits, 28x28 grey levels, 10 classes.
    Mnist,
    /// Small colour photos, 3x32x32, 10 classes.
    #[serde(alias = "cifar-10")]
    Cifar10,
}

const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// In label order, as listed in the data set's `batches.meta.txt`.
const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

impl DatasetKind {
    /// Every supported data set, in a stable order (for help texts and sweeps).
    pub fn all() -> &'static [DatasetKind] {
        &[DatasetKind::Mnist, DatasetKind::Cifar10]
    }

    /// The name used on the command line, in directory names and in serde.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
        }
    }

    /// Number of classes; labels are `0..num_classes()`.
    pub fn num_classes(self) -> usize {
        self.class_names().len()
    }

    /// Shape of one image.
    pub fn image_shape(self) -> ImageShape {
        match self {
            DatasetKind::Mnist => ImageShape {
                channels: 1,
                height: 28,
                width: 28,
            },
            DatasetKind::Cifar10 => ImageShape {
                channels: 3,
                height: 32,
                width: 32,
            },
        }
    }

    /// Human-readable class names, indexed by label.
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Mnist => &MNIST_CLASSES,
            DatasetKind::Cifar10 => &CIFAR10_CLASSES,
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a supported data set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dataset {name:?}; known datasets: {known}")]
pub struct UnknownDataset {
    /// What was asked for.
    pub name: String,
    /// The accepted names, comma separated.
    pub known: String,
}

impl FromStr for DatasetKind {
    type Err = UnknownDataset;

    /// Accepts the canonical names and `cifar-10`, ignoring ASCII case, so that
    /// the spelling on the CIFAR web page works too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "cifar10" | "cifar-10" => Ok(DatasetKind::Cifar10),
            _ => Err(UnknownDataset {
                name: s.to_string(),
                known: DatasetKind::all()
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// Shape of one image, channel-major (NCHW without the N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageShape {
    /// Colour channels (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// Number of values in one image: `channels * height * width`.
    pub fn len(self) -> usize {
        self.channels * self.height * self.width
    }

    /// True for a degenerate shape with no pixels; never true for a real data set.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for ImageShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_and_from_str() {
        for &kind in DatasetKind::all() {
            assert_eq!(kind.to_string().parse::<DatasetKind>(), Ok(kind));
        }
        assert_eq!("CIFAR-10".parse(), Ok(DatasetKind::Cifar10));
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let err = "imagenet".parse::<DatasetKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown dataset "imagenet"; known datasets: mnist, cifar10"#
        );
    }

    #[test]
    fn serde_uses_lowercase_names_and_accepts_the_alias() {
        #[derive(Deserialize)]
        struct Wrap {
            kind: DatasetKind,
        }
        let parsed: Wrap = serde_json::from_str(r#"{"kind":"cifar-10"}"#).unwrap();
        assert_eq!(parsed.kind, DatasetKind::Cifar10);
        assert_eq!(
            serde_json::to_string(&DatasetKind::Cifar10).unwrap(),
            r#""cifar10""#
        );
    }

    #[test]
    fn shapes_and_classes() {
        assert_eq!(DatasetKind::Mnist.image_shape().len(), 784);
        assert_eq!(DatasetKind::Cifar10.image_shape().len(), 3072);
        assert_eq!(DatasetKind::Cifar10.image_shape().to_string(), "3x32x32");
        for &kind in DatasetKind::all() {
            assert_eq!(kind.num_classes(), 10);
        }
        assert_eq!(DatasetKind::Cifar10.class_names()[9], "truck");
    }
}
