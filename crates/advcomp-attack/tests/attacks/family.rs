//! The FGSM family on the gradient-iteration engine: each transfer-enhancing
//! variant does what its paper adds, so none of them is a plain I-FGSM under
//! another name, and each reduces to I-FGSM or MI-FGSM when its addition is
//! switched off.

use advcomp_attack::{AttackOutput, ops, registry};
use serde_json::{Value, json};

use crate::support::*;

/// Runs `name` with `params` untargeted on `n` correctly classified digits.
fn run(name: &str, params: Value, n: usize) -> (AttackOutput, burn::Tensor<4>) {
    let (x, y) = correct_digits(n, 300);
    let out = registry::build(name, &params)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .run(lenet(), x.clone(), y.clone(), None, &cpu())
        .unwrap();
    check_output(lenet(), &out, &x, &y, None).unwrap();
    (out, x)
}

fn same(a: &AttackOutput, b: &AttackOutput) -> bool {
    floats(a.adversarial.clone()) == floats(b.adversarial.clone())
}

/// I-FGSM with the family's budget: 10 steps of ε/10.
fn ifgsm(epsilon: f64) -> Value {
    json!({ "epsilon": epsilon, "steps": 10, "step_size": epsilon / 10.0 })
}

#[test]
fn switched_off_additions_reduce_to_ifgsm_and_mifgsm() {
    let eps = 0.2;
    let (plain, _) = run("ifgsm", ifgsm(eps), 6);
    // DI never transforming, TI without momentum and a 1-pixel kernel.
    let (di, _) = run("difgsm", json!({ "epsilon": eps, "probability": 0.0 }), 6);
    assert!(same(&di, &plain), "DI with p = 0 is I-FGSM");
    let (ti, _) = run("tifgsm", json!({ "epsilon": eps, "kernel_size": 1 }), 6);
    assert!(same(&ti, &plain), "TI with a 1 × 1 kernel is I-FGSM");
    // NI's look-ahead vanishes with its momentum: NI(μ = 0) is I-FGSM.
    let (ni, _) = run("nifgsm", json!({ "epsilon": eps, "decay": 0.0 }), 6);
    assert!(same(&ni, &plain), "NI with μ = 0 is I-FGSM");
}

#[test]
fn every_addition_changes_the_samples() {
    let eps = 0.2;
    let (plain, _) = run("ifgsm", ifgsm(eps), 6);
    let (mi, _) = run("mifgsm", json!({ "epsilon": eps }), 6);
    for (name, params, reference) in [
        (
            "difgsm",
            json!({ "epsilon": eps, "probability": 1.0 }),
            &plain,
        ),
        (
            "tifgsm",
            json!({ "epsilon": eps, "kernel_size": 5 }),
            &plain,
        ),
        ("nifgsm", json!({ "epsilon": eps }), &mi),
        ("vmifgsm", json!({ "epsilon": eps, "samples": 4 }), &mi),
    ] {
        let (out, _) = run(name, params, 6);
        assert!(
            !same(&out, reference),
            "{name} made the reference's samples"
        );
    }
}

#[test]
fn ti_perturbations_are_smoother_than_ifgsm_ones() {
    // The mean absolute difference between horizontally adjacent pixels of
    // the perturbation: the Gaussian-smoothed gradient changes sign less
    // often from one pixel to the next.
    fn roughness(out: &AttackOutput, x: &burn::Tensor<4>) -> f64 {
        let delta = out.adversarial.clone() - x.clone();
        let [n, c, h, w] = delta.dims();
        let left = delta.clone().slice([0..n, 0..c, 0..h, 0..w - 1]);
        let right = delta.slice([0..n, 0..c, 0..h, 1..w]);
        let v = floats((left - right).abs());
        v.iter().map(|d| f64::from(*d)).sum::<f64>() / v.len() as f64
    }
    let eps = 0.2;
    let (plain, x) = run("ifgsm", ifgsm(eps), 8);
    let (ti, _) = run("tifgsm", json!({ "epsilon": eps, "kernel_size": 7 }), 8);
    let (rough_plain, rough_ti) = (roughness(&plain, &x), roughness(&ti, &x));
    assert!(
        rough_ti < 0.7 * rough_plain,
        "TI roughness {rough_ti:.4} against I-FGSM's {rough_plain:.4}"
    );
}

#[test]
fn vmi_pays_for_its_neighbours_and_stays_in_budget() {
    let n = 5;
    let (out, x) = run(
        "vmifgsm",
        json!({ "epsilon": 0.1, "steps": 3, "samples": 4 }),
        n,
    );
    // Each step: one gradient at the point and 4 at its neighbours.
    assert_eq!(out.counters.gradient_evaluations, (3 * (1 + 4) * n) as u64);
    for v in floats(ops::linf_norm(out.adversarial - x)) {
        assert!(v <= 0.1 + 1e-6, "L∞ {v}");
    }
}

#[test]
fn random_variants_repeat_with_their_seed() {
    for name in ["difgsm", "vmifgsm"] {
        let params = |seed: u64| json!({ "epsilon": 0.2, "steps": 4, "samples": 3, "probability": 1.0, "seed": seed });
        let strip = |mut p: Value| {
            let obj = p.as_object_mut().unwrap();
            if name == "difgsm" {
                obj.remove("samples");
            } else {
                obj.remove("probability");
            }
            p
        };
        let (a, _) = run(name, strip(params(1)), 4);
        let (b, _) = run(name, strip(params(1)), 4);
        let (c, _) = run(name, strip(params(2)), 4);
        assert!(same(&a, &b), "{name}: same seed, same samples");
        assert!(!same(&a, &c), "{name}: another seed, other samples");
    }
}
