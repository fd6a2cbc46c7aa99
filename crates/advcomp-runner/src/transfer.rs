//! The transfer metric (defined in `docs/metrics.md`) as a pure count over
//! samples, apart from the cache reads that feed it, so that it is tested
//! on hand-made tables: for an attack, a source S and a target T, among the
//! attacked test samples that S and T both classify correctly when clean
//! and on which the attack succeeds against S, the fraction that T
//! misclassifies.

/// What the transfer metric needs to know about one attacked sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The true class.
    pub label: u8,
    /// Whether the source classifies the clean image correctly.
    pub source_clean_correct: bool,
    /// The target's class for the clean image.
    pub target_clean: u8,
    /// Whether the attack succeeded against the source.
    pub fooled_source: bool,
    /// The target's class for the adversarial image.
    pub target_adversarial: u8,
    /// Whether the target's detector flags the adversarial image (`None`
    /// when the target has no detector).
    pub flagged: Option<bool>,
    /// The class a targeted attack aimed at (`None` for untargeted ones).
    pub aimed_at: Option<u32>,
}

impl Sample {
    /// Whether the sample counts at all: both models right on the clean
    /// image, and the attack successful against the source.
    pub fn eligible(&self) -> bool {
        self.source_clean_correct && self.target_clean == self.label && self.fooled_source
    }
}

/// The counts behind one transfer cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Eligible samples (see [`Sample::eligible`]).
    pub eligible: usize,
    /// Eligible samples the target misclassifies.
    pub transferred: usize,
    /// Eligible samples the target's detector flags.
    pub detected: usize,
    /// Eligible samples that fool the target and are not flagged.
    pub evaded: usize,
    /// Eligible samples the target puts in the class the attack aimed at.
    pub reached: usize,
}

impl Counts {
    /// Counts `samples`; ineligible ones are skipped.
    pub fn of(samples: impl IntoIterator<Item = Sample>) -> Self {
        let mut c = Counts::default();
        for s in samples.into_iter().filter(Sample::eligible) {
            let fooled = s.target_adversarial != s.label;
            let flagged = s.flagged.unwrap_or(false);
            c.eligible += 1;
            c.transferred += usize::from(fooled);
            c.detected += usize::from(flagged);
            c.evaded += usize::from(fooled && !flagged);
            c.reached += usize::from(s.aimed_at == Some(u32::from(s.target_adversarial)));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row of the table: a sample and the counts it alone gives
    /// (eligible, transferred, detected, evaded, reached).
    struct Row {
        why: &'static str,
        sample: Sample,
        counts: [usize; 5],
    }

    /// A sample of class 3 that both models get right and that fools the
    /// source; each row changes what it is about.
    const BASE: Sample = Sample {
        label: 3,
        source_clean_correct: true,
        target_clean: 3,
        fooled_source: true,
        target_adversarial: 5,
        flagged: None,
        aimed_at: None,
    };

    fn table() -> Vec<Row> {
        vec![
            Row {
                why: "eligible, and the target is fooled",
                sample: BASE,
                counts: [1, 1, 0, 1, 0],
            },
            Row {
                why: "eligible, the target keeps the true class",
                sample: Sample {
                    target_adversarial: 3,
                    ..BASE
                },
                counts: [1, 0, 0, 0, 0],
            },
            Row {
                why: "the source gets the clean image wrong",
                sample: Sample {
                    source_clean_correct: false,
                    ..BASE
                },
                counts: [0; 5],
            },
            Row {
                why: "the target gets the clean image wrong",
                sample: Sample {
                    target_clean: 4,
                    ..BASE
                },
                counts: [0; 5],
            },
            Row {
                why: "the attack failed on the source",
                sample: Sample {
                    fooled_source: false,
                    ..BASE
                },
                counts: [0; 5],
            },
            Row {
                why: "defended target: fooled and flagged",
                sample: Sample {
                    flagged: Some(true),
                    ..BASE
                },
                counts: [1, 1, 1, 0, 0],
            },
            Row {
                why: "defended target: fooled and not flagged",
                sample: Sample {
                    flagged: Some(false),
                    ..BASE
                },
                counts: [1, 1, 0, 1, 0],
            },
            Row {
                why: "defended target: not fooled but flagged",
                sample: Sample {
                    target_adversarial: 3,
                    flagged: Some(true),
                    ..BASE
                },
                counts: [1, 0, 1, 0, 0],
            },
            Row {
                why: "ineligible samples are not counted, flagged or not",
                sample: Sample {
                    fooled_source: false,
                    flagged: Some(true),
                    ..BASE
                },
                counts: [0; 5],
            },
            Row {
                why: "targeted: the target lands on the class aimed at",
                sample: Sample {
                    aimed_at: Some(5),
                    ..BASE
                },
                counts: [1, 1, 0, 1, 1],
            },
            Row {
                why: "targeted: fooled, but into another class",
                sample: Sample {
                    aimed_at: Some(7),
                    ..BASE
                },
                counts: [1, 1, 0, 1, 0],
            },
        ]
    }

    fn array(c: Counts) -> [usize; 5] {
        [c.eligible, c.transferred, c.detected, c.evaded, c.reached]
    }

    #[test]
    fn each_row_counts_as_the_definition_says() {
        for row in table() {
            assert_eq!(array(Counts::of([row.sample])), row.counts, "{}", row.why);
        }
    }

    #[test]
    fn a_cell_is_the_sum_of_its_samples() {
        let rows = table();
        let mut sum = [0; 5];
        for row in &rows {
            for (s, c) in sum.iter_mut().zip(row.counts) {
                *s += c;
            }
        }
        assert_eq!(array(Counts::of(rows.iter().map(|r| r.sample))), sum);
        assert_eq!(sum, [7, 5, 2, 4, 1]);
    }
}
