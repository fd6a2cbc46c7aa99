//! Feature squeezing through advcomp's public API only: built by name from
//! the defence registry, calibrated by the framework, run on clean and
//! adversarial digits, on the model and on a compressed version of it.

use advcomp_compress::{CompressedModel, Context, Step, compress};
use advcomp_defence::spec::Method;
use advcomp_defence::{CalibratedDetector, DefenceSpec};
use advcomp_testkit::measured::{self, percent};
use advcomp_testkit::{batch, cpu, lenet, test, train};
use serde_json::{Value, json};

// Links the plugin, so its registration is in the registry; and the
// low-bit compressors, for the ternary row of the measurement.
use advcomp_lowbit as _;
use advcomp_squeeze as _;

fn detector(params: Value) -> CalibratedDetector {
    let spec = DefenceSpec::from_params("squeeze", params.as_object().unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(spec.detects() && spec.key.is_none() && spec.epochs == 0);
    match spec.method {
        Method::Detector(d) => d,
        other => panic!("squeeze is an input detector, got {other:?}"),
    }
}

/// FGSM (ε = 0.2) on `images` made on `model` itself: for each sample
/// that fools it, whether `d` flags it.
fn fgsm_flags(
    d: &CalibratedDetector,
    model: &CompressedModel,
    images: burn::Tensor<4>,
    labels: burn::Tensor<1, burn::tensor::Int>,
) -> Vec<bool> {
    let dims = images.dims();
    let fgsm = advcomp_attack::build("fgsm", &json!({"epsilon": 0.2})).unwrap();
    let out = advcomp_attack::run_batched(
        fgsm.as_ref(),
        model,
        images,
        labels,
        None,
        500,
        &cpu(),
        &mut |_| {},
    )
    .unwrap();
    let adversarial =
        burn::Tensor::<1>::from_floats(out.adversarial.as_slice(), &cpu()).reshape(dims);
    d.detect(model, adversarial)
        .flag
        .iter()
        .zip(&out.metrics.success)
        .filter(|(_, s)| **s)
        .map(|(f, _)| *f)
        .collect()
}

fn share(flags: &[bool]) -> f64 {
    flags.iter().filter(|f| **f).count() as f64 / flags.len() as f64
}

/// The framework's contract: on its own calibration images the detector
/// flags at most the rate asked; uncalibrated it flags nothing; and a
/// checkpoint record reads back to the same detector, threshold included.
#[test]
fn calibration_keeps_its_false_positive_rate_and_round_trips() {
    let model = CompressedModel::uncompressed(lenet().clone());
    let clean = train(400);
    let (x, _) = batch(&clean);
    let mut d = detector(json!({"calibration_images": 400, "false_positive_rate": 0.1}));
    assert!(d.detect(&model, x.clone()).flag.iter().all(|f| !f));
    d.calibrate(&model, &clean, &cpu());
    let t = d.threshold().expect("calibrated");
    assert!(t > 0.0, "squeezing moves some clean digits: {t}");
    let verdict = d.detect(&model, x);
    assert!(share(&verdict.flag) <= 0.1, "{}", share(&verdict.flag));
    for (flag, score) in verdict.flag.iter().zip(&verdict.score) {
        assert_eq!(*flag, *score > 1.0, "score is relative to the threshold");
    }
    let mut sidecar = advcomp_models::Sidecar::new(&model.network, 1);
    d.save_into(&mut sidecar);
    let back = CalibratedDetector::from_sidecar(&sidecar, std::path::Path::new("m"))
        .unwrap()
        .unwrap();
    assert_eq!(back, d);
    // A record naming an unknown detector is refused, by name.
    sidecar.extra.get_mut("detector").unwrap()["defence"] = json!("unknown_squeezer");
    let e = CalibratedDetector::from_sidecar(&sidecar, std::path::Path::new("m")).unwrap_err();
    assert!(e.to_string().contains("unknown_squeezer"), "{e}");
}

/// It works: FGSM samples that fool the quick LeNet-5 are flagged far more
/// often than clean test digits are.
#[test]
fn fgsm_samples_are_flagged_more_than_clean_digits() {
    let model = CompressedModel::uncompressed(lenet().clone());
    let mut d = detector(json!({}));
    d.calibrate(&model, &train(1000), &cpu());
    let clean = test(500);
    let (x, y) = batch(&clean);
    let clean_flags = d.detect(&model, x.clone()).flag;
    let fooled = fgsm_flags(&d, &model, x, y);
    assert!(fooled.len() > 50, "FGSM fools the model: {}", fooled.len());
    let (false_positives, detected) = (share(&clean_flags), share(&fooled));
    assert!(
        detected > 2.0 * false_positives + 0.1,
        "detected {detected:.3} of {} successful samples, flagged {false_positives:.3} of clean",
        fooled.len()
    );
}

/// A compressed model's scores differ from its parent's, so the threshold
/// set on the parent does not keep its rate there; set again on the
/// compressed model, it does.
#[test]
fn a_compressed_model_gets_its_own_threshold() {
    let parent = CompressedModel::uncompressed(lenet().clone());
    let calibration = train(500);
    let mut d = detector(json!({"calibration_images": 500}));
    d.calibrate(&parent, &calibration, &cpu());
    let steps =
        [Step::from_parts("quantise", "fixed", json!({"bits": 4}).as_object().unwrap()).unwrap()];
    let compressed = compress(
        &parent,
        &steps,
        Context {
            train: &calibration,
            device: &cpu(),
            observer: &mut (),
        },
    )
    .unwrap()
    .model;
    let mut again = d.clone();
    again.calibrate(&compressed, &calibration, &cpu());
    assert_ne!(again.threshold(), d.threshold());
    let (x, _) = batch(&calibration);
    assert!(share(&again.detect(&compressed, x).flag) <= 0.05);
}

/// Parameters are checked against the declaration, field named, and a
/// default written out is the same defence (the same cache key).
#[test]
fn parameters_are_checked_and_canonical() {
    let err = |params: Value| {
        DefenceSpec::from_params("squeeze", params.as_object().unwrap()).unwrap_err()
    };
    let e = err(json!({"bits": 9}));
    assert_eq!(e.field(), Some("bits"), "{e}");
    let e = err(json!({"key": "secret"}));
    assert_eq!(e.field(), Some("key"), "an input detector has no key: {e}");
    let e = err(json!({"false_positive_rate": 0.0}));
    assert_eq!(e.field(), Some("false_positive_rate"), "{e}");
    let e = err(json!({"medain": 2}));
    assert!(
        matches!(&e, advcomp_defence::ParamError::Unknown { suggestion: Some(s), .. } if s == "median"),
        "{e}"
    );
    let spec = |p: Value| {
        DefenceSpec::from_params("feature_squeezing", p.as_object().unwrap())
            .unwrap()
            .identity()
    };
    assert_eq!(
        spec(json!({})),
        spec(
            json!({"bits": 1, "median": 2, "false_positive_rate": 0.05, "calibration_images": 1000})
        )
    );
    assert_ne!(spec(json!({})), spec(json!({"median": 0})));
}

/// The measurement behind docs/defences.md's feature-squeezing section:
/// false positives on clean test digits with the threshold set on the
/// parent and set again on each compressed model, and the share of
/// successful FGSM samples flagged (`cargo xtask measure feature_squeezing`).
#[test]
#[ignore = "statistical measurement (seconds): cargo xtask measure"]
fn measure_feature_squeezing() {
    let parent = CompressedModel::uncompressed(lenet().clone());
    let (calibration, held_out) = (train(1000), test(1000));
    let (x, y) = batch(&held_out);
    let mut d = detector(json!({}));
    d.calibrate(&parent, &calibration, &cpu());
    let mut table = measured::Table::new(
        "feature-squeezing",
        "Feature squeezing on compressed models: threshold from the parent or set again",
        "`defend squeeze {}` (1-bit depth and a 2×2 median, threshold at 5% of 1,000 clean training \
         digits) on the shared quick LeNet-5 (`advcomp_testkit::lenet`) and on compressed versions \
         of it (no fine-tuning). False positives on 1,000 clean test digits; detection: share of the \
         FGSM samples (ε = 0.2, made on the model itself) that fool it and are flagged.",
        &[
            "model",
            "test accuracy",
            "false positives, parent's threshold",
            "false positives, own threshold",
            "FGSM samples flagged (own threshold)",
        ],
    );
    // (row, compression step as op, method and parameters; none for the first)
    let models = [
        ("LeNet-5", "", "", json!({})),
        (
            "pruned, density 0.1",
            "prune",
            "magnitude",
            json!({"density": 0.1}),
        ),
        (
            "fixed point, 4 bits",
            "quantise",
            "fixed",
            json!({"bits": 4}),
        ),
        ("ternary weights", "quantise", "ternary", json!({})),
    ];
    for (label, op, method, params) in models {
        let model = if op.is_empty() {
            parent.clone()
        } else {
            let steps = [Step::from_parts(op, method, params.as_object().unwrap()).unwrap()];
            compress(
                &parent,
                &steps,
                Context {
                    train: &calibration,
                    device: &cpu(),
                    observer: &mut (),
                },
            )
            .unwrap()
            .model
        };
        let inherited = share(&d.detect(&model, x.clone()).flag);
        let mut own = d.clone();
        own.calibrate(&model, &calibration, &cpu());
        let clean = own.detect(&model, x.clone());
        let accuracy = clean
            .predicted
            .iter()
            .zip(&held_out.labels)
            .filter(|(p, l)| **p == usize::from(**l))
            .count() as f64
            / held_out.len() as f64;
        let fooled = fgsm_flags(&own, &model, x.clone(), y.clone());
        table.row(vec![
            label.into(),
            percent(accuracy),
            percent(inherited),
            percent(share(&clean.flag)),
            format!("{} of {}", percent(share(&fooled)), fooled.len()),
        ]);
    }
    table.write();
}
