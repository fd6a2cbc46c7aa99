//! Plan compilation is linear in the steps it makes, and a plan over the
//! step limit is refused up front with the transfer that multiplies it
//! (issue #11, item 3). Pure planning: nothing is trained.

mod support;

use advcomp_runner::plan::{self, Plan};
use support::{plan_env as env, resolve};

fn seeds(n: usize) -> String {
    let list: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!(
        "model m = lenet5 {{ epochs: 1, seed: [{}] }}\nattack a = fgsm {{}}\ntransfer m -> m using a\n",
        list.join(", ")
    )
}

#[test]
fn a_sweep_crossed_with_itself_is_refused_with_its_size_and_cause() {
    let resolved = resolve(&seeds(1000));
    let err = plan::check_size(&resolved, plan::DEFAULT_MAX_STEPS).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.n_sources, 1000);
    assert_eq!(err.n_targets, 1000);
    assert!(err.estimate >= 1_000_000, "{text}");
    for needle in ["transfer statement 1", "`m -> m`", "--max-steps", "100000"] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
}

#[test]
fn the_size_check_counts_exactly_what_compile_makes() {
    for text in [
        seeds(30),
        r#"
model base = lenet5 { epochs: 1 }
model keyed = lenet5 { epochs: 1 } defend taboo { key_seed: [1, 2], epochs: 1 }
variant pruned = base | prune magnitude { density: [0.5, 0.1] } | finetune { epochs: 1 }
variant both = keyed | finetune { epochs: 1 } | defend adversarial { epochs: 1 } | prune magnitude { density: 0.5 } | quantise fixed { bits: 8 }
attack f = fgsm { epsilon: [0.1, 0.2] }
attack d = deepfool {}
transfer base -> pruned, keyed, both using all
transfer pruned, both -> base, pruned using f
"#
        .to_string(),
    ] {
        let resolved = resolve(&text);
        let steps = Plan::compile(&resolved, &env()).steps.len();
        assert_eq!(plan::check_size(&resolved, usize::MAX), Ok(steps));
        assert_eq!(plan::check_size(&resolved, steps), Ok(steps));
        assert!(plan::check_size(&resolved, steps - 1).is_err());
    }
}
