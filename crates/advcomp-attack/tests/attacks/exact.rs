//! Attacks against answers computed independently: FGSM's one step, and
//! DeepFool on a linear classifier, where the minimal perturbation is known
//! in closed form.

use advcomp_attack::ops::AttackRng;
use advcomp_attack::{Attack, registry};
use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, TensorData};
use proptest::prelude::*;
use serde_json::json;

use crate::support::*;

/// `x + ε · sign(∇ₓ Σ CE)` (or `−` towards a target), clipped, computed here
/// without the attack crate: a one-hot cross-entropy on burn's autodiff.
fn fgsm_by_hand(x: &Tensor<4>, classes: &Tensor<1, Int>, epsilon: f32, towards: bool) -> Tensor<4> {
    let leaf = x.clone().autodiff().require_grad();
    let logits = lenet().logits(leaf.clone());
    let one_hot: Tensor<2> = classes.clone().one_hot(10).float();
    let loss = (log_softmax(logits, 1) * one_hot).sum().neg();
    let grads = loss.backward();
    let g = leaf.grad(&grads).unwrap();
    let step = g.sign().mul_scalar(epsilon);
    let moved = if towards {
        x.clone() - step
    } else {
        x.clone() + step
    };
    moved.clamp(0.0, 1.0)
}

#[test]
fn fgsm_is_one_signed_gradient_step() {
    let (x, y) = digits(8, 321);
    for epsilon in [0.05f32, 0.3] {
        let attack = registry::build("fgsm", &json!({ "epsilon": epsilon })).unwrap();
        let out = attack
            .run(lenet(), x.clone(), y.clone(), None, &cpu())
            .unwrap();
        let expected = fgsm_by_hand(&x, &y, epsilon, false);
        let diff = (out.adversarial - expected)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(
            diff <= 1e-6,
            "untargeted ε={epsilon}: max difference {diff}"
        );

        let t = next_class(y.clone());
        let out = attack
            .run(lenet(), x.clone(), y.clone(), Some(t.clone()), &cpu())
            .unwrap();
        let expected = fgsm_by_hand(&x, &t, epsilon, true);
        let diff = (out.adversarial - expected)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff <= 1e-6, "targeted ε={epsilon}: max difference {diff}");
    }
}

/// `logits = W · flatten(x) + b`.
struct Linear {
    w: Tensor<2>,
    b: Tensor<1>,
}

impl Classifier for Linear {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let classes = self.b.dims()[0];
        images.flatten::<2>(1, 3).matmul(self.w.clone().transpose())
            + self.b.clone().reshape([1, classes])
    }

    fn num_classes(&self) -> usize {
        self.b.dims()[0]
    }
}

/// The exact minimal Lp distance from `x` (a row) to the region of another
/// class: `min_k |f_k − f_y| / ‖w_k − w_y‖_q` with `q` the dual norm.
fn closest_boundary(w: &[f32], f: &[f32], d: usize, y: usize, dual: fn(&[f32]) -> f32) -> f32 {
    (0..f.len())
        .filter(|&k| k != y)
        .map(|k| {
            let diff: Vec<f32> = (0..d).map(|i| w[k * d + i] - w[y * d + i]).collect();
            (f[k] - f[y]).abs() / dual(&diff)
        })
        .fold(f32::INFINITY, f32::min)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn deepfool_finds_the_minimal_perturbation_of_a_linear_classifier(
        seed in 0u64..10_000,
        offset in 0usize..2000,
        classes in 2usize..=10,
    ) {
        let device = cpu();
        let d = 784;
        let mut rng = AttackRng::new(seed);
        let model = Linear {
            w: rng.normal([classes, d], &device).div_scalar((d as f32).sqrt()),
            b: rng.normal([classes], &device).mul_scalar(0.1),
        };
        // Grey-ish digits, far from the [0,1] box so that clipping never binds.
        let (digits, _) = digits(4, offset);
        let x = digits.mul_scalar(0.5).add_scalar(0.25);
        let logits = model.logits(x.clone());
        let y = logits.clone().argmax(1).reshape([4]);
        let (w, f) = (floats(model.w.clone()), floats(logits));
        let labels: Vec<usize> = advcomp_attack::ops::host_i64(y.clone()).into_iter().map(|v| v as usize).collect();

        let l2 = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
        let l1 = |v: &[f32]| v.iter().map(|a| a.abs()).sum::<f32>();
        for (name, dual, norm) in [
            ("deepfool", l2 as fn(&[f32]) -> f32, advcomp_attack::ops::l2_norm as fn(Tensor<4>) -> Tensor<1>),
            ("deepfool_linf", l1, advcomp_attack::ops::linf_norm),
        ] {
            let attack = registry::build(name, &json!({})).unwrap();
            let out = attack.run(&model, x.clone(), y.clone(), None, &device).unwrap();
            check_output(&model, &out, &x, &y, None).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            prop_assert!(bools(out.success.clone()).iter().all(|s| *s), "{name}: not every sample fooled");
            let found = floats(norm(out.adversarial - x.clone()));
            for (i, &label) in labels.iter().enumerate() {
                let exact = closest_boundary(&w, &f[i * classes..(i + 1) * classes], d, label, dual);
                // DeepFool adds 1e-4 to the distance and goes on until the
                // margin is robust (`ROBUST_MARGIN`): allow 1e-3 on top of 5%.
                prop_assert!(
                    found[i] >= exact && found[i] <= 1.05 * exact + 1e-3,
                    "{name} sample {i}: found {} vs minimal {exact}", found[i]
                );
            }
        }
    }
}

#[test]
fn deepfool_on_a_linear_classifier_takes_one_step() {
    let device = cpu();
    let mut rng = AttackRng::new(3);
    let model = Linear {
        w: rng.normal([10, 784], &device).div_scalar(28.0),
        b: Tensor::from_data(TensorData::new(vec![0.0f32; 10], [10]), &device),
    };
    let (digits, _) = digits(4, 5);
    let x = digits.mul_scalar(0.5).add_scalar(0.25);
    let y = model.logits(x.clone()).argmax(1).reshape([4]);
    let attack = registry::build("deepfool", &json!({})).unwrap();
    let out = attack.run(&model, x, y, None, &device).unwrap();
    // One clean query, one step of 9 candidate gradients per sample, one
    // check that finds every sample fooled, one final classification.
    assert_eq!(out.counters.gradient_evaluations, 2 * 9 * 4);
    assert_eq!(out.counters.model_queries, 4 + 2 * 9 * 4 + 4);
    let _: &dyn Attack = attack.as_ref();
}

/// IFGM is PGD L2 started at the clean image: the same budget gives the
/// same adversarial images, bit for bit, and differs from PGD L2's random
/// start.
#[test]
fn ifgm_is_pgd_l2_without_the_random_start() {
    let (x, y) = digits(8, 100);
    let params = json!({ "epsilon": 1.5, "steps": 6 });
    let run = |name: &str, params: &serde_json::Value| {
        let attack = registry::build(name, params).unwrap();
        let out = attack
            .run(lenet(), x.clone(), y.clone(), None, &cpu())
            .unwrap();
        out.adversarial.into_data()
    };
    let ifgm = run("ifgm", &params);
    let mut no_start = params.clone();
    no_start["random_start"] = json!(false);
    assert_eq!(ifgm, run("pgd_l2", &no_start));
    assert_ne!(ifgm, run("pgd_l2", &params));
}

/// On MNIST digits, where clipping to [0,1] eats part of every step,
/// DeepFool's successes on a linear classifier stay misclassified when the
/// logits are recomputed in f64 from the same weights and images.
#[test]
fn deepfool_successes_hold_in_f64() {
    let device = cpu();
    let d = 784;
    for seed in 0..4u64 {
        let mut rng = AttackRng::new(seed);
        let classes = 10;
        let model = Linear {
            w: rng
                .normal([classes, d], &device)
                .div_scalar((d as f32).sqrt()),
            b: rng.normal([classes], &device).mul_scalar(0.1),
        };
        let (x, _) = digits(16, 40 * seed as usize);
        let y = model.logits(x.clone()).argmax(1).reshape([16]);
        let labels = advcomp_attack::ops::host_i64(y.clone());
        let (w, b) = (floats(model.w.clone()), floats(model.b.clone()));
        for name in ["deepfool", "deepfool_linf"] {
            let attack = registry::build(name, &json!({})).unwrap();
            let out = attack
                .run(&model, x.clone(), y.clone(), None, &device)
                .unwrap();
            let adv = floats(out.adversarial.clone());
            for (i, success) in bools(out.success.clone()).into_iter().enumerate() {
                if !success {
                    continue;
                }
                let image = &adv[i * d..(i + 1) * d];
                let logit = |k: usize| {
                    f64::from(b[k])
                        + (0..d)
                            .map(|j| f64::from(w[k * d + j]) * f64::from(image[j]))
                            .sum::<f64>()
                };
                let z: Vec<f64> = (0..classes).map(logit).collect();
                let y = labels[i] as usize;
                let best_other = (0..classes)
                    .filter(|&k| k != y)
                    .map(|k| z[k])
                    .fold(f64::MIN, f64::max);
                assert!(
                    best_other > z[y],
                    "{name} seed {seed} sample {i}: f64 margin {}",
                    best_other - z[y]
                );
            }
        }
    }
}
