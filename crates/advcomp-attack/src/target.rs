//! Which class a targeted attack aims at, per sample.
//!
//! A targeted attack succeeds when the model predicts the target class; a
//! study names the rule that picks the targets, not the targets themselves:
//!
//! - `next` — `(label + 1) mod classes`, the usual deterministic choice;
//! - `random` (or `random:SEED`) — a class drawn uniformly among the other
//!   classes, from the seed and the sample's position in the attacked set,
//!   so a sample gets the same target however the set is batched;
//! - `least_likely` — the class the model finds least likely on the clean
//!   image (Kurakin et al.'s "iterative least-likely class" method), the
//!   hardest target;
//! - a class index `K` — every sample aims at `K`; samples whose label is
//!   already `K` aim at the next class instead, since reaching their own
//!   label is not an attack.
//!
//! Every rule gives each sample a target different from its label.

use std::fmt;
use std::str::FromStr;

use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::{Int, TensorData};
use serde::{Deserialize, Serialize};

use crate::ops;

/// The rule that picks each sample's target class. See the [module
/// docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetChoice {
    /// `(label + 1) mod classes`.
    Next,
    /// Uniform among the other classes, from `seed` and the sample's index.
    Random {
        /// Seeds the draws.
        seed: u64,
    },
    /// The clean image's least likely class.
    LeastLikely,
    /// One class for all (the next class for samples already of it).
    Class(usize),
}

/// Why a target rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The text is no rule.
    #[error(
        "unknown target `{0}`; expected `next`, `random`, `random:SEED`, `least_likely` or a class index"
    )]
    Unknown(String),
    /// A class index the model does not have.
    #[error("target class {class} is not a class of the model (it has {classes})")]
    NoSuchClass {
        /// The class asked for.
        class: usize,
        /// The model's number of classes.
        classes: usize,
    },
    /// A model with fewer than two classes has no other class to aim at.
    #[error("a targeted attack needs a model with at least 2 classes, this one has {0}")]
    TooFewClasses(usize),
}

/// The rule names a target may be given by (besides a class index),
/// matched case-insensitively with `-` and `_` alike.
pub const RULE_WORDS: &[&str] = &["next", "random", "least_likely", "ll"];
/// The rules that also take a seed, written `RULE:SEED` (`random:7`).
pub const SEEDED_RULES: &[&str] = &["random"];

impl FromStr for TargetChoice {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('-', "_");
        match t.as_str() {
            "next" => Ok(TargetChoice::Next),
            "random" => Ok(TargetChoice::Random { seed: 0 }),
            "least_likely" | "ll" => Ok(TargetChoice::LeastLikely),
            other => {
                if let Some(seed) = other.strip_prefix("random:") {
                    return seed
                        .parse()
                        .map(|seed| TargetChoice::Random { seed })
                        .map_err(|_| TargetError::Unknown(s.to_string()));
                }
                other
                    .parse()
                    .map(TargetChoice::Class)
                    .map_err(|_| TargetError::Unknown(s.to_string()))
            }
        }
    }
}

impl fmt::Display for TargetChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetChoice::Next => f.write_str("next"),
            TargetChoice::Random { seed: 0 } => f.write_str("random"),
            TargetChoice::Random { seed } => write!(f, "random:{seed}"),
            TargetChoice::LeastLikely => f.write_str("least_likely"),
            TargetChoice::Class(k) => write!(f, "{k}"),
        }
    }
}

impl TargetChoice {
    /// Checks the rule against a model with `classes` classes.
    pub fn check(&self, classes: usize) -> Result<(), TargetError> {
        if classes < 2 {
            return Err(TargetError::TooFewClasses(classes));
        }
        match *self {
            TargetChoice::Class(class) if class >= classes => {
                Err(TargetError::NoSuchClass { class, classes })
            }
            _ => Ok(()),
        }
    }

    /// The targets of a batch: `images` with true `labels`, the batch's
    /// first sample being sample `first` of the attacked set. `model` is
    /// asked for the clean logits only by `least_likely` (one forward pass,
    /// outside the attack's counters).
    pub fn targets(
        &self,
        model: &dyn Classifier,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        first: usize,
    ) -> Result<Tensor<1, Int>, TargetError> {
        let classes = model.num_classes();
        self.check(classes)?;
        let n = labels.dims()[0];
        let next = labels
            .clone()
            .add_scalar(1)
            .remainder_scalar(classes as i64);
        Ok(match *self {
            TargetChoice::Next => next,
            TargetChoice::LeastLikely => {
                let logits = model.logits(images.without_autodiff()).without_autodiff();
                logits.argmin(1).reshape([n])
            }
            TargetChoice::Class(class) => {
                let fixed = labels.zeros_like().add_scalar(class as i64);
                let own = labels.equal_elem(class as i64);
                fixed.mask_where(own, next)
            }
            TargetChoice::Random { seed } => {
                let device = labels.device();
                let host = ops::host_i64(labels);
                let drawn: Vec<i64> = host
                    .iter()
                    .enumerate()
                    .map(|(i, &label)| {
                        let r = (splitmix64(seed ^ splitmix64((first + i) as u64))
                            % (classes as u64 - 1)) as i64;
                        if r >= label { r + 1 } else { r }
                    })
                    .collect();
                Tensor::from_data(TensorData::new(drawn, [n]), &device)
            }
        })
    }
}

/// SplitMix64's output function: a well-mixed 64-bit hash of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words the catalogue snapshot lists are exactly the ones that
    /// parse as rules (and their seeded forms).
    #[test]
    fn listed_rule_words_parse() {
        for word in RULE_WORDS {
            assert!(word.parse::<TargetChoice>().is_ok(), "{word}");
        }
        for rule in SEEDED_RULES {
            assert!(
                format!("{rule}:7").parse::<TargetChoice>().is_ok(),
                "{rule}"
            );
        }
        for word in ["nxt", "next:7", "least_likely:7"] {
            assert!(word.parse::<TargetChoice>().is_err(), "{word}");
        }
    }

    #[test]
    fn rules_parse_and_print_back() {
        for (text, rule) in [
            ("next", TargetChoice::Next),
            ("random", TargetChoice::Random { seed: 0 }),
            ("random:7", TargetChoice::Random { seed: 7 }),
            ("least_likely", TargetChoice::LeastLikely),
            ("3", TargetChoice::Class(3)),
        ] {
            assert_eq!(text.parse::<TargetChoice>(), Ok(rule), "{text}");
            assert_eq!(rule.to_string(), text);
        }
        assert_eq!(
            "Least-Likely".parse::<TargetChoice>(),
            Ok(TargetChoice::LeastLikely)
        );
        assert!(matches!(
            "nxt".parse::<TargetChoice>(),
            Err(TargetError::Unknown(_))
        ));
        assert!("random:x".parse::<TargetChoice>().is_err());
        assert_eq!(
            TargetChoice::Class(10).check(10),
            Err(TargetError::NoSuchClass {
                class: 10,
                classes: 10
            })
        );
        assert_eq!(
            TargetChoice::Next.check(1),
            Err(TargetError::TooFewClasses(1))
        );
    }
}
