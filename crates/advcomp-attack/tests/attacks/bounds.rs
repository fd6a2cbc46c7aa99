//! Properties every attack keeps, on small batches of real digits: budgets,
//! pixel range, and a success mask equal to re-classifying the output.

use advcomp_attack::{ops, registry};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::*;

fn with_epsilon(mut params: Value, epsilon: f64) -> Value {
    params["epsilon"] = json!(epsilon);
    params
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn linf_attacks_stay_in_the_epsilon_ball(
        epsilon in 0.01f64..0.3,
        offset in 0usize..2000,
        targeted in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let model = lenet();
        let (x, y) = digits(4, offset);
        let targets = targeted.then(|| next_class(y.clone()));
        for (name, params) in [
            ("fgsm", json!({})),
            ("ifgsm", json!({ "steps": 4 })),
            ("pgd", json!({ "steps": 4, "seed": seed })),
            ("mifgsm", json!({ "steps": 4 })),
            ("difgsm", json!({ "steps": 4, "probability": 1.0, "seed": seed })),
            ("tifgsm", json!({ "steps": 4, "kernel_size": 5 })),
            ("nifgsm", json!({ "steps": 4 })),
            ("vmifgsm", json!({ "steps": 2, "samples": 3, "seed": seed })),
            ("apgd_ce", json!({ "steps": 5, "seed": seed })),
            ("apgd_dlr", json!({ "steps": 5, "seed": seed })),
            ("adaptive_pgd", json!({ "steps": 5, "step_size": 0.05 })),
        ] {
            let attack = registry::build(name, &with_epsilon(params, epsilon)).unwrap();
            let out = attack.run(model, x.clone(), y.clone(), targets.clone(), &cpu()).unwrap();
            check_output(model, &out, &x, &y, targets.as_ref()).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            let linf = floats(ops::linf_norm(out.adversarial - x.clone()));
            for v in linf {
                prop_assert!(f64::from(v) <= epsilon + 1e-6, "{name}: L∞ {v} > ε {epsilon}");
            }
        }
    }

    #[test]
    fn l2_attacks_stay_in_the_epsilon_ball(
        epsilon in 0.1f64..4.0,
        offset in 0usize..2000,
        targeted in any::<bool>(),
        random_start in any::<bool>(),
    ) {
        let model = lenet();
        let (x, y) = digits(4, offset);
        let targets = targeted.then(|| next_class(y.clone()));
        // IFGM is PGD L2 without the random start.
        let attack = if random_start {
            registry::build("pgd_l2", &json!({ "epsilon": epsilon, "steps": 5 })).unwrap()
        } else {
            registry::build("ifgm", &json!({ "epsilon": epsilon, "steps": 5 })).unwrap()
        };
        let out = attack.run(model, x.clone(), y.clone(), targets.clone(), &cpu()).unwrap();
        check_output(model, &out, &x, &y, targets.as_ref()).map_err(TestCaseError::fail)?;
        for v in floats(ops::l2_norm(out.adversarial - x.clone())) {
            prop_assert!(f64::from(v) <= epsilon * (1.0 + 1e-5), "L2 {v} > ε {epsilon}");
        }
    }

    #[test]
    fn minimal_perturbation_attacks_return_valid_images(
        offset in 0usize..2000,
        targeted in any::<bool>(),
    ) {
        let model = lenet();
        let (x, y) = digits(3, offset);
        let targets = targeted.then(|| next_class(y.clone()));
        for (name, params, can_target) in [
            ("deepfool", json!({ "steps": 10 }), false),
            ("deepfool_linf", json!({ "steps": 10, "candidates": 4 }), false),
            ("cw_l2", json!({ "binary_search_steps": 2, "max_iterations": 20, "initial_const": 1.0 }), true),
        ] {
            let targets = if can_target { targets.clone() } else { None };
            let attack = registry::build(name, &params).unwrap();
            let out = attack.run(model, x.clone(), y.clone(), targets.clone(), &cpu()).unwrap();
            check_output(model, &out, &x, &y, targets.as_ref()).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn jsma_changes_at_most_its_feature_budget(
        gamma in 0.01f64..0.06,
        offset in 0usize..2000,
        targeted in any::<bool>(),
        decrease in any::<bool>(),
    ) {
        let model = lenet();
        let (x, y) = digits(3, offset);
        let targets = targeted.then(|| next_class(y.clone()));
        let theta = if decrease { -1.0 } else { 1.0 };
        let attack = registry::build("jsma", &json!({ "gamma": gamma, "theta": theta })).unwrap();
        let out = attack.run(model, x.clone(), y.clone(), targets.clone(), &cpu()).unwrap();
        check_output(model, &out, &x, &y, targets.as_ref()).map_err(TestCaseError::fail)?;
        let budget = (gamma * 784.0).floor() as usize;
        let delta = floats(ops::flat(out.adversarial - x.clone()));
        for (i, image) in delta.chunks(784).enumerate() {
            let changed = image.iter().filter(|v| **v != 0.0).count();
            prop_assert!(changed <= budget, "image {i}: {changed} features changed, budget {budget}");
        }
    }
}
