//! Byte-level fuzzing of the cache entry readers (issue #11, item 7): any
//! `attack.json`, `predictions.json` or `adversarial.f32`, random or a
//! mutation of a valid one, is read into a record whose sizes the rest of
//! the runner can index without checking again, or refused as corrupt.
//! Never a panic. Budget: `PROPTEST_CASES` (default 64 per property).

use advcomp_runner::artifacts::{self, ADVERSARIAL, ATTACK, PREDICTIONS};
use advcomp_runner::error::RunError;
use proptest::prelude::*;
use serde_json::{Value, json};

const TEST_IMAGES: usize = 20;

fn summary() -> Value {
    json!({
        "samples": 3, "clean_correct": 3, "successes": 1, "successes_on_correct": 1,
        "clean_accuracy": 1.0, "accuracy_under_attack": 0.66, "success_rate": 0.33,
        "success_rate_on_correct": 0.33,
        "l0": {"mean": 1.0, "median": 1.0}, "l2": {"mean": 1.0, "median": 1.0},
        "linf": {"mean": 0.1, "median": 0.1},
        "gradient_evaluations": 3, "model_queries": 6,
        "gradient_evaluations_per_sample": 1.0, "model_queries_per_sample": 2.0
    })
}

/// A valid record of `rows`, with lists of the given lengths.
fn record(rows: Vec<usize>, dims: [usize; 4], lens: [usize; 6], detection: Option<usize>) -> Value {
    let list = |n: usize, v: Value| Value::Array(vec![v; n]);
    let mut r = json!({
        "rows": rows,
        "dims": dims,
        "metrics": {
            "clean_correct": list(lens[0], json!(true)),
            "adversarial_correct": list(lens[1], json!(false)),
            "success": list(lens[2], json!(true)),
            "l0": list(lens[3], json!(1.0)),
            "l2": list(lens[4], json!(1.0)),
            "linf": list(lens[5], json!(0.1)),
        },
        "counters": {"gradient_evaluations": 3, "model_queries": 6},
        "summary": summary(),
    });
    if let Some(n) = detection {
        r["detection"] = json!({
            "flag": list(n, json!(false)), "score": list(n, json!(0.5)),
            "confidence": list(n, json!(0.9)), "predicted": list(n, json!(3)),
        });
    }
    r
}

fn read_attack_from(bytes: &[u8]) -> Result<artifacts::AttackRecord, RunError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ATTACK), bytes).unwrap();
    artifacts::read_attack(dir.path(), TEST_IMAGES)
}

/// What every reader of an accepted record indexes.
fn assert_consistent(r: &artifacts::AttackRecord) {
    let n = r.rows.len();
    assert!(r.rows.iter().all(|&row| row < TEST_IMAGES));
    assert_eq!(r.dims[0], n);
    let m = &r.metrics;
    for len in [
        m.clean_correct.len(),
        m.success.len(),
        m.l0.len(),
        m.l2.len(),
        m.linf.len(),
    ] {
        assert_eq!(len, n);
    }
    assert!(r.detection.as_ref().is_none_or(|d| d.has_len(n)));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_as_an_attack_record(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = read_attack_from(&bytes) {
            assert_consistent(&r);
        }
    }

    #[test]
    fn attack_records_with_inconsistent_sizes_are_refused_or_consistent(
        rows in prop::collection::vec(0usize..40, 0..6),
        n0 in 0usize..8,
        lens in prop::array::uniform6(0usize..8),
        detection in prop::option::of(0usize..8),
        chw in prop::array::uniform3(0usize..4),
    ) {
        let v = record(rows, [n0, chw[0], chw[1], chw[2]], lens, detection);
        match read_attack_from(v.to_string().as_bytes()) {
            Ok(r) => assert_consistent(&r),
            Err(e) => prop_assert!(matches!(e, RunError::Corrupt { .. }), "{e}"),
        }
    }

    #[test]
    fn any_predictions_are_refused_or_have_the_size_asked(
        n in 0usize..6,
        predicted in prop::collection::vec(any::<u8>(), 0..8),
        accuracy in prop_oneof![Just(0.5), any::<f64>()],
        detection in prop::option::of(0usize..8),
        garbage in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut v = json!({ "predicted": predicted, "accuracy": accuracy });
        if let Some(k) = detection {
            v["detection"] = json!({
                "flag": vec![true; k], "score": vec![1.0; k],
                "confidence": vec![0.5; k], "predicted": vec![1; k],
            });
        }
        let bytes = garbage.unwrap_or_else(|| v.to_string().into_bytes());
        std::fs::write(dir.path().join(PREDICTIONS), bytes).unwrap();
        if let Ok(p) = artifacts::read_predictions(dir.path(), n) {
            prop_assert_eq!(p.predicted.len(), n);
            prop_assert!(p.detection.as_ref().is_none_or(|d| d.has_len(n)));
        }
    }

    #[test]
    fn adversarial_images_of_any_size_and_dims_never_panic(
        len in 0usize..64,
        dims in prop::array::uniform4(prop_oneof![0usize..4, Just(usize::MAX / 2)]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ADVERSARIAL), vec![0u8; len]).unwrap();
        let shape = [dims[1], dims[2], dims[3]];
        if let Ok(images) = artifacts::read_images(dir.path(), dims, shape) {
            prop_assert_eq!(images.len() * 4, len);
            prop_assert_eq!(images.len(), dims.iter().product::<usize>());
        }
    }
}

#[test]
fn a_missing_entry_file_is_corrupt_with_the_hint() {
    let dir = tempfile::tempdir().unwrap();
    let err = artifacts::read_attack(dir.path(), TEST_IMAGES).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("attack.json") && text.contains("to recompute it"),
        "{text}"
    );
}

#[test]
fn rows_out_of_range_and_edited_dims_are_named() {
    let v = record(vec![0, 99], [2, 1, 28, 28], [2; 6], None);
    let text = read_attack_from(v.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(text.contains("row 99 is out of range"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ADVERSARIAL), vec![0u8; 4 * 2 * 28 * 28]).unwrap();
    // Same byte count, other shape: "chunk size must be non-zero" before.
    let text = artifacts::read_images(dir.path(), [2, 0, 28, 28], [1, 28, 28])
        .unwrap_err()
        .to_string();
    assert!(text.contains("shape") && text.contains("corrupt"), "{text}");
}
