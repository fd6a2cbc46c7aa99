//! The label-only attacks (HopSkipJump, Boundary): they use predicted
//! classes only, keep to their query budget, end on adversarial points, and
//! shrink the perturbation as the budget grows.

use advcomp_attack::registry;
use serde_json::json;

use crate::support::*;

/// Median L2 norm of the perturbations of `name` with `max_queries`, after
/// checking the output contract, the budget and that no gradient was taken.
fn median_l2(name: &str, max_queries: usize, targeted: bool) -> f32 {
    // Targeted attacks start from a digit of the batch in the target
    // class: 30 digits hold every class.
    let n = if targeted { 30 } else { 6 };
    let (x, y) = correct_digits(n, 300);
    let targets = targeted.then(|| next_class(y.clone()));
    let attack = registry::build(name, &json!({ "max_queries": max_queries, "seed": 3 })).unwrap();
    let out = attack
        .run(lenet(), x.clone(), y.clone(), targets.clone(), &cpu())
        .unwrap();
    check_output(lenet(), &out, &x, &y, targets.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(out.counters.gradient_evaluations, 0, "{name} is label-only");
    // The budget, plus the framework's final re-classification.
    let per_image = out.counters.model_queries / n as u64;
    assert!(
        per_image <= max_queries as u64 + 1,
        "{name}: {per_image} queries per image"
    );
    let success = bools(out.success.clone());
    // Untargeted, noise gives every digit a start; targeted, a digit whose
    // target class no other digit of the batch shows may find none.
    let failed = success.iter().filter(|&&s| !s).count();
    assert!(
        failed == 0 || (targeted && failed <= n / 10),
        "{name}: {failed} digits without a starting point: {success:?}"
    );
    let mut l2 = floats(advcomp_attack::ops::l2_norm(out.adversarial - x));
    l2.sort_by(f32::total_cmp);
    l2[l2.len() / 2]
}

#[test]
fn hop_skip_jump_shrinks_the_perturbation_with_more_queries() {
    let short = median_l2("hop_skip_jump", 300, false);
    let long = median_l2("hop_skip_jump", 2000, false);
    eprintln!("hop_skip_jump median L2: {short:.3} after 300 queries, {long:.3} after 2000");
    assert!(long < 0.8 * short, "{long} against {short}");
    let targeted = median_l2("hop_skip_jump", 600, true);
    eprintln!("hop_skip_jump targeted (next class) median L2 after 600 queries: {targeted:.3}");
}

#[test]
fn boundary_shrinks_the_perturbation_with_more_queries() {
    let short = median_l2("boundary", 200, false);
    let long = median_l2("boundary", 2000, false);
    eprintln!("boundary median L2: {short:.3} after 200 queries, {long:.3} after 2000");
    assert!(long < 0.8 * short, "{long} against {short}");
}
