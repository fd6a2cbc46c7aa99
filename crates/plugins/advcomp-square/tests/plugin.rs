//! The plugin is found by name through advcomp-attack's registry when
//! linked, and its adversarials stay in the ε-ball.

// A binary links a plugin crate by naming it once; nothing else is needed.
use advcomp_square as _;

use advcomp_attack::{SampleMetrics, ops, registry};
use advcomp_models::Classifier;
use advcomp_testkit::{cpu, digits, lenet};
use serde_json::json;

#[test]
fn square_is_found_by_name_through_the_registry() {
    let reg = registry::find("square").expect("linked plugins are registered");
    assert_eq!(reg.name, "square");
    assert!(registry::known_names().contains(&"square".to_string()));
    let attack = registry::build("Square", &json!({ "epsilon": 0.1, "max_queries": 50 })).unwrap();
    assert_eq!(attack.name(), "square");
    assert_eq!(attack.epsilon(), Some(0.1));
    let err = registry::build("square", &json!({ "p": 0.5 }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown parameter `p`"), "{err}");
    let err = registry::find("sqare").unwrap_err().to_string();
    assert!(err.contains("did you mean `square`"), "{err}");
    assert!(registry::duplicates().is_empty());
}

#[test]
fn square_stays_in_the_epsilon_ball_and_reports_success_truthfully() {
    let model = lenet();
    for (epsilon, targeted, offset) in [(0.05, false, 3), (0.3, false, 50), (0.2, true, 400)] {
        let (x, y) = digits(8, offset);
        let targets = targeted.then(|| y.clone().add_scalar(1).remainder_scalar(10));
        let params = json!({ "epsilon": epsilon, "max_queries": 150, "seed": offset });
        let out = registry::build("square", &params)
            .unwrap()
            .run(model, x.clone(), y.clone(), targets.clone(), &cpu())
            .unwrap();
        let delta = out.adversarial.clone() - x.clone();
        for v in ops::host_f32(ops::linf_norm(delta)) {
            assert!(f64::from(v) <= epsilon + 1e-6, "L∞ {v} > ε {epsilon}");
        }
        let min = out.adversarial.clone().min().into_scalar::<f32>();
        let max = out.adversarial.clone().max().into_scalar::<f32>();
        assert!(min >= 0.0 && max <= 1.0, "[{min}, {max}]");
        let predicted = model.predict(out.adversarial.clone());
        let expected = match &targets {
            Some(t) => predicted.equal(t.clone()),
            None => predicted.not_equal(y.clone()),
        };
        assert_eq!(
            ops::host_bool(expected),
            ops::host_bool(out.success.clone())
        );
        assert_eq!(
            out.counters.gradient_evaluations, 0,
            "score-based: no gradients"
        );
        assert!(out.counters.model_queries <= 8 * 150 + 8);
    }
}

#[test]
fn square_fools_most_digits_at_the_mnist_budget() {
    let (x, y) = digits(12, 1000);
    let out = registry::build("square", &json!({ "max_queries": 300 }))
        .unwrap()
        .run(lenet(), x.clone(), y.clone(), None, &cpu())
        .unwrap();
    let s = SampleMetrics::measure(lenet(), x, y, &out).summary(out.counters);
    eprintln!("square: {s:?}");
    assert!(s.success_rate_on_correct.unwrap() >= 0.75, "{s:?}");
    // Fooled samples stop costing queries.
    assert!(s.model_queries_per_sample < 300.0, "{s:?}");
}

/// AutoAttack (in advcomp-attack) finds this plugin through the registry for
/// its last part, and its per-image worst case fools at least every image
/// that each of its parts fools alone: at least as many as APGD-CE and as
/// PGD with the same budget.
#[test]
fn autoattack_is_the_worst_case_over_its_parts() {
    let model = lenet();
    let (x, y) = digits(16, 7);
    let fooled = |name: &str, params: serde_json::Value| {
        let out = registry::build(name, &params)
            .unwrap()
            .run(model, x.clone(), y.clone(), None, &cpu())
            .unwrap();
        let delta = out.adversarial.clone() - x.clone();
        for v in ops::host_f32(ops::linf_norm(delta)) {
            assert!(f64::from(v) <= 0.1 + 1e-6, "{name}: L∞ {v}");
        }
        let wrong = ops::host_bool(model.predict(out.adversarial).not_equal(y.clone()));
        assert_eq!(
            wrong,
            ops::host_bool(out.success),
            "{name}: success is misclassification"
        );
        wrong
    };
    let auto = fooled(
        "autoattack",
        json!({ "epsilon": 0.1, "steps": 10, "target_classes": 3, "square_queries": 100 }),
    );
    let ce = fooled("apgd_ce", json!({ "epsilon": 0.1, "steps": 10 }));
    let pgd = fooled(
        "pgd",
        json!({ "epsilon": 0.1, "steps": 10, "step_size": 0.025 }),
    );
    let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
    eprintln!(
        "fooled of 16 at eps 0.1: autoattack {}, apgd_ce {}, pgd {}",
        count(&auto),
        count(&ce),
        count(&pgd)
    );
    // APGD-CE with the same seed is AutoAttack's first part: every digit it
    // fools, AutoAttack fools.
    assert!(
        ce.iter().zip(&auto).all(|(c, a)| !c || *a),
        "{ce:?} {auto:?}"
    );
    assert!(count(&auto) >= count(&pgd));
}
