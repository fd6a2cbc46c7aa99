//! Target rules: every rule aims each sample at a class other than its own,
//! `random` does not depend on the batching, and a targeted batched run
//! succeeds exactly where the model predicts the recorded target.

use advcomp_attack::{TargetChoice, registry, run_batched};
use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::Int;

use crate::support::*;

fn ints(t: Tensor<1, Int>) -> Vec<i64> {
    advcomp_attack::ops::host_i64(t)
}

#[test]
fn every_rule_aims_at_another_class() {
    let (x, y) = digits(40, 5);
    let labels = ints(y.clone());
    for rule in [
        TargetChoice::Next,
        TargetChoice::Random { seed: 3 },
        TargetChoice::LeastLikely,
        TargetChoice::Class(labels[0] as usize),
    ] {
        let t = ints(rule.targets(lenet(), x.clone(), y.clone(), 0).unwrap());
        assert_eq!(t.len(), labels.len());
        for (target, label) in t.iter().zip(&labels) {
            assert!((0..10).contains(target), "{rule}: {target}");
            assert_ne!(target, label, "{rule}: a sample aimed at its own label");
        }
    }
    // Next is label + 1; a fixed class keeps the class except on its own
    // samples, which aim at the next one; least likely is the argmin.
    let next = ints(
        TargetChoice::Next
            .targets(lenet(), x.clone(), y.clone(), 0)
            .unwrap(),
    );
    assert!(next.iter().zip(&labels).all(|(t, l)| *t == (l + 1) % 10));
    let k = labels[0];
    let fixed = ints(
        TargetChoice::Class(k as usize)
            .targets(lenet(), x.clone(), y.clone(), 0)
            .unwrap(),
    );
    for ((t, l), n) in fixed.iter().zip(&labels).zip(&next) {
        assert_eq!(*t, if *l == k { *n } else { k });
    }
    let logits = floats(lenet().logits(x.clone()).reshape([40 * 10]));
    let least = ints(TargetChoice::LeastLikely.targets(lenet(), x, y, 0).unwrap());
    for (i, t) in least.iter().enumerate() {
        let row = &logits[i * 10..(i + 1) * 10];
        let min = row.iter().cloned().fold(f32::INFINITY, f32::min);
        assert_eq!(row[*t as usize], min, "sample {i}");
    }
}

#[test]
fn random_targets_do_not_depend_on_the_batching() {
    let (x, y) = digits(12, 40);
    let rule = TargetChoice::Random { seed: 9 };
    let whole = ints(rule.targets(lenet(), x.clone(), y.clone(), 0).unwrap());
    let mut parts = Vec::new();
    for start in [0, 5] {
        let len = if start == 0 { 5 } else { 7 };
        let xs = x.clone().narrow(0, start, len);
        let ys = y.clone().narrow(0, start, len);
        parts.extend(ints(rule.targets(lenet(), xs, ys, start).unwrap()));
    }
    assert_eq!(whole, parts);
    let other = ints(
        TargetChoice::Random { seed: 10 }
            .targets(lenet(), x, y, 0)
            .unwrap(),
    );
    assert_ne!(whole, other, "another seed, other targets");
}

#[test]
fn a_targeted_batched_run_records_its_targets_and_succeeds_where_they_are_reached() {
    let (x, y) = digits(10, 200);
    let attack = registry::build("pgd", &serde_json::json!({})).unwrap();
    let out = run_batched(
        attack.as_ref(),
        lenet(),
        x.clone(),
        y.clone(),
        Some(TargetChoice::Next),
        4,
        &cpu(),
        &mut |_| {},
    )
    .unwrap();
    let labels = ints(y);
    let targets: Vec<i64> = out.metrics.targets.iter().map(|&t| i64::from(t)).collect();
    assert_eq!(
        targets,
        labels.iter().map(|l| (l + 1) % 10).collect::<Vec<_>>()
    );
    let images =
        Tensor::<1>::from_floats(out.adversarial.as_slice(), &cpu()).reshape([10, 1, 28, 28]);
    let predicted = ints(lenet().predict(images));
    for i in 0..10 {
        assert_eq!(
            out.metrics.success[i],
            predicted[i] == targets[i],
            "sample {i}: success must mean the target was reached"
        );
    }
    // Not vacuous: PGD-40 reaches most targets (see effect.rs).
    assert!(out.metrics.success.iter().filter(|s| **s).count() >= 5);
    // Untargeted-only attacks refuse targets before doing any work.
    let deepfool = registry::build("deepfool", &serde_json::json!({})).unwrap();
    let (x, y) = digits(2, 0);
    let err = run_batched(
        deepfool.as_ref(),
        lenet(),
        x,
        y,
        Some(TargetChoice::Next),
        2,
        &cpu(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("untargeted only"), "{err}");
}
