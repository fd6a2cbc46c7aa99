//! The attacks work: on digits a quickly trained LeNet-5 classifies
//! correctly, each attack at its defaults (cheaper settings for C&W and
//! JSMA) fools the model on most of them, with perturbations of the expected
//! size; counters and metrics add up.

use advcomp_attack::{AttackOutput, SampleMetrics, registry};
use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::Int;
use serde_json::{Value, json};

use crate::support::*;

fn attack(
    name: &str,
    params: Value,
    n: usize,
    targeted: bool,
) -> (AttackOutput, SampleMetrics, Tensor<4>) {
    let (x, y) = correct_digits(n, 1000);
    let targets: Option<Tensor<1, Int>> = targeted.then(|| next_class(y.clone()));
    let out = registry::build(name, &params)
        .unwrap()
        .run(lenet(), x.clone(), y.clone(), targets.clone(), &cpu())
        .unwrap();
    check_output(lenet(), &out, &x, &y, targets.as_ref()).unwrap();
    let metrics = SampleMetrics::measure(lenet(), x.clone(), y, &out);
    (out, metrics, x)
}

#[test]
fn gradient_attacks_at_their_defaults_fool_most_digits() {
    let n = 12;
    // Observed on this model: 11, 12, 12, 11 and 11 of 12.
    for (name, at_least) in [
        ("fgsm", 0.5),
        ("ifgsm", 0.8),
        ("pgd", 0.8),
        ("mifgsm", 0.75),
        ("pgd_l2", 0.6),
    ] {
        let (out, m, _) = attack(name, json!({}), n, false);
        let s = m.summary(out.counters);
        eprintln!("{name}: {s:?}");
        assert!(
            s.success_rate >= at_least,
            "{name}: success {}",
            s.success_rate
        );
        assert_eq!(s.clean_accuracy, 1.0);
        assert_eq!(s.success_rate_on_correct, Some(s.success_rate));
        assert!((s.accuracy_under_attack - (1.0 - s.success_rate)).abs() < 1e-12);
    }
}

#[test]
fn apgd_ce_fools_at_least_as_many_digits_as_pgd_with_the_same_budget() {
    // A small budget, where PGD's fixed step leaves room: APGD-CE adapts
    // its step per sample and must not do worse (Croce & Hein's claim, and
    // issue #12's acceptance). PGD's step is Madry et al.'s rule scaled to
    // the budget (2.5 ε / steps). Observed: APGD-CE 13, PGD 12 and
    // APGD-DLR 11 of 24 (DLR trades some success on an undefended model for
    // its invariance to the logits' scale; no claim is made for it here).
    let (n, steps) = (24, 20);
    let (pgd, mp, _) = attack(
        "pgd",
        json!({ "epsilon": 0.1, "steps": steps, "step_size": 2.5 * 0.1 / steps as f64 }),
        n,
        false,
    );
    let pgd_rate = mp.summary(pgd.counters).success_rate;
    let (out, m, _) = attack(
        "apgd_ce",
        json!({ "epsilon": 0.1, "steps": steps }),
        n,
        false,
    );
    let rate = m.summary(out.counters).success_rate;
    assert!(rate >= pgd_rate, "APGD-CE {rate} < PGD's {pgd_rate}");
    for name in ["apgd_ce", "apgd_dlr"] {
        let (out, _, _) = attack(name, json!({ "epsilon": 0.1, "steps": steps }), n, false);
        // One gradient at the start, one per step.
        assert_eq!(out.counters.gradient_evaluations, ((steps + 1) * n) as u64);
    }
}

#[test]
fn counters_count_per_image() {
    let n = 12;
    let (out, ..) = attack("fgsm", json!({}), n, false);
    assert_eq!(out.counters.gradient_evaluations, n as u64);
    assert_eq!(out.counters.model_queries, 2 * n as u64);
    let (out, ..) = attack("pgd", json!({ "steps": 7 }), n, false);
    assert_eq!(out.counters.gradient_evaluations, 7 * n as u64);
    assert_eq!(out.counters.model_queries, 8 * n as u64);
}

#[test]
fn targeted_pgd_reaches_the_target() {
    let (out, m, _) = attack("pgd", json!({}), 12, true);
    let s = m.summary(out.counters);
    assert!(s.success_rate >= 0.75, "{s:?}");
}

/// Every sample DeepFool returns as fooled is misclassified with the
/// margin its documentation promises (1e-4 of the logits' scale,
/// `ROBUST_MARGIN`), not on the boundary where float noise decides.
fn assert_robustly_fooled(out: &AttackOutput, name: &str) {
    use advcomp_models::Classifier;
    const PROMISED: f32 = 1e-4;
    let logits = floats(lenet().logits(out.adversarial.clone()));
    let classes = 10;
    // The labels `attack` used.
    let labels = advcomp_attack::ops::host_i64(correct_digits(out.success.dims()[0], 1000).1);
    for (i, success) in bools(out.success.clone()).into_iter().enumerate() {
        if !success {
            continue;
        }
        let z = &logits[i * classes..(i + 1) * classes];
        let y = labels[i] as usize;
        let other = (0..classes)
            .filter(|&k| k != y)
            .map(|k| z[k])
            .fold(f32::MIN, f32::max);
        let needed = PROMISED * (1.0 + z[y].abs());
        // The final classification is a second forward pass over the same
        // images: allow it float noise far below the margin.
        assert!(
            other - z[y] >= 0.5 * needed,
            "{name} sample {i}: margin {} below {needed}",
            other - z[y]
        );
    }
}

#[test]
fn deepfool_finds_small_perturbations() {
    let (out, m, _) = attack("deepfool", json!({}), 12, false);
    let s = m.summary(out.counters);
    eprintln!("deepfool: {s:?}");
    assert!(s.success_rate >= 0.9, "{s:?}");
    assert!(s.l2.mean.unwrap() < 4.0, "{s:?}");
    assert_robustly_fooled(&out, "deepfool");

    let (out, m, _) = attack("deepfool_linf", json!({}), 12, false);
    let s = m.summary(out.counters);
    eprintln!("deepfool_linf: {s:?}");
    assert!(s.success_rate >= 0.9, "{s:?}");
    assert!(s.linf.mean.unwrap() < 0.3, "{s:?}");
    assert_robustly_fooled(&out, "deepfool_linf");
}

#[test]
fn carlini_wagner_finds_small_l2_perturbations() {
    // Far fewer iterations than the default 10,000, so a larger learning
    // rate: pixels at 0 or 1 sit deep in the flat part of tanh.
    let params = json!({
        "binary_search_steps": 4,
        "max_iterations": 100,
        "initial_const": 1.0,
        "learning_rate": 0.1,
    });
    let (out, m, _) = attack("cw_l2", params.clone(), 8, false);
    let s = m.summary(out.counters);
    eprintln!("cw_l2: {s:?}");
    assert!(s.success_rate >= 0.85, "{s:?}");
    assert!(s.l2.mean.unwrap() < 4.0, "{s:?}");
    let (out, m, _) = attack("cw_l2", params, 8, true);
    let s = m.summary(out.counters);
    assert!(s.success_rate >= 0.75, "targeted {s:?}");
}

#[test]
fn jsma_fools_with_few_pixels() {
    for targeted in [false, true] {
        let (out, m, _) = attack("jsma", json!({}), 8, targeted);
        let s = m.summary(out.counters);
        eprintln!("jsma targeted={targeted}: {s:?}");
        // Steering a weakly trained LeNet-5 to (label + 1) with 10% of the
        // pixels is hard; a 3-epoch model is fooled on 93% of digits
        // untargeted and 63% targeted.
        let floor = if targeted { 0.25 } else { 0.5 };
        assert!(s.success_rate >= floor, "{s:?}");
        assert!(s.l0.mean.unwrap() <= 78.0, "{s:?}");
    }
}

/// `adaptive_pgd`'s confidence κ is honoured: with κ = 0 it stops at the
/// first point past the boundary, with κ = 5 it keeps going towards a
/// logit margin of 5 (on a model without a detector).
#[test]
fn adaptive_pgd_keeps_going_until_its_confidence_margin() {
    let (x, y) = correct_digits(12, 1000);
    let margin = |confidence: f64| -> Vec<f32> {
        let out = registry::build("adaptive_pgd", &json!({ "confidence": confidence }))
            .unwrap()
            .run(lenet(), x.clone(), y.clone(), None, &cpu())
            .unwrap();
        let logits = lenet().logits(out.adversarial);
        let labels = y.clone();
        // max over other classes minus the label's logit.
        let own = logits
            .clone()
            .gather(1, labels.unsqueeze_dim::<2>(1))
            .reshape([12]);
        let mask = advcomp_attack::ops::class_mask(y.clone(), 10);
        let others = logits.mask_fill(mask, f32::MIN).max_dim(1).reshape([12]);
        floats(others - own)
    };
    let zero = margin(0.0);
    let five = margin(5.0);
    eprintln!("adaptive_pgd margins, kappa 0: {zero:?}; kappa 5: {five:?}");
    // Some digits cannot reach a margin of 5 inside the ε-ball; most go
    // well past where κ = 0 stops.
    let further = zero
        .iter()
        .zip(&five)
        .filter(|(z, f)| **f > **z + 3.0)
        .count();
    assert!(
        further >= 10,
        "{further} of 12: kappa 0 {zero:?}, kappa 5 {five:?}"
    );
    assert!(
        zero.iter().all(|&m| m < 1.0),
        "kappa 0 stops near the boundary: {zero:?}"
    );
}
