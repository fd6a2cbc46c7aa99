//! What the label-only (decision-based) attacks share: a yes/no oracle,
//! a random adversarial starting point, and the blend search that walks it
//! back towards the clean image.
//!
//! A label-only attacker sees only the model's answer, the threat of a
//! compressed model on a device that returns its class and nothing else.
//! These helpers read nothing but [`Goal::achieved`] of the logits, i.e.
//! the predicted class; every call is counted as one query per image.

use burn::Tensor;
use burn::tensor::{Bool, Int};

use crate::context::AttackContext;
use crate::goal::Goal;
use crate::ops::{self, AttackRng};
use crate::registry::{Param, ParamType};

/// Parameters both label-only attacks declare.
pub(crate) const MAX_QUERIES: Param = Param::new(
    "max_queries",
    ParamType::COUNT,
    "label queries per image, the starting point's included",
);
pub(crate) const INIT_TRIES: Param = Param::new(
    "init_tries",
    ParamType::COUNT,
    "random images tried per sample for an adversarial starting point",
);
pub(crate) const SEED: Param = Param::new(
    "seed",
    ParamType::NATURAL,
    "seeds the starting points and the random directions",
);

/// Whether each image of `x` meets `goal` (one query per image).
pub(crate) fn is_adversarial(
    context: &mut AttackContext<'_>,
    goal: &Goal,
    x: Tensor<4>,
) -> Tensor<1, Bool> {
    goal.achieved(context.logits(x))
}

/// The goal of `goal`'s `n` samples, each repeated `times` times in a row
/// (for oracle calls on `times` perturbations per sample).
pub(crate) fn repeated(goal: &Goal, n: usize, times: usize, context: &AttackContext<'_>) -> Goal {
    let rows: Vec<i64> = (0..n as i64)
        .flat_map(|i| std::iter::repeat_n(i, times))
        .collect();
    goal.select(Tensor::<1, Int>::from_ints(
        rows.as_slice(),
        context.device(),
    ))
}

/// A starting point that meets the goal, walked back towards the clean
/// image by a blend search of `steps` halvings. Targeted, it is another
/// image of the batch the model puts in the sample's target class (as
/// HopSkipJump's reference code starts targeted attacks from an image of
/// the target class); otherwise, or when the batch has none, the first of
/// up to `tries` uniform-noise images that meets the goal (Brendel et
/// al.'s initialisation). Returns the points and whether each sample found
/// one (those that did not stay clean).
pub(crate) fn start(
    context: &mut AttackContext<'_>,
    goal: &Goal,
    images: &Tensor<4>,
    rng: &mut AttackRng,
    tries: usize,
    steps: usize,
) -> (Tensor<4>, Tensor<1, Bool>) {
    let dims = images.dims();
    let device = context.device().clone();
    let mut found = Tensor::<1>::zeros([dims[0]], &device).greater_elem(0.5);
    let mut noise = images.clone();
    if let Some(targets) = goal.targets() {
        let predicted = ops::host_i64(ops::predictions(context.logits(images.clone())));
        let targets = ops::host_i64(targets);
        let donors: Vec<i64> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                predicted
                    .iter()
                    .position(|p| p == t)
                    .map_or(i as i64, |j| j as i64)
            })
            .collect();
        let has: Vec<bool> = donors
            .iter()
            .enumerate()
            .map(|(i, &j)| j != i as i64)
            .collect();
        let has = Tensor::<1, Int>::from_ints(
            has.iter()
                .map(|&b| i64::from(b))
                .collect::<Vec<_>>()
                .as_slice(),
            &device,
        )
        .equal_elem(1);
        let rows = Tensor::<1, Int>::from_ints(donors.as_slice(), &device);
        noise = ops::where_samples(has.clone(), images.clone().select(0, rows), noise);
        found = found.bool_or(has);
    }
    for _ in 0..tries {
        if ops::count(found.clone()) == dims[0] {
            break;
        }
        let candidate = rng.uniform(dims, 0.0, 1.0, &device);
        let hit =
            is_adversarial(context, goal, candidate.clone()).bool_and(found.clone().bool_not());
        noise = ops::where_samples(hit.clone(), candidate, noise);
        found = found.bool_or(hit);
    }
    let point = towards(context, goal, images, &noise, &found, steps);
    (point, found)
}

/// Per sample, the point of the segment from `clean` to `adversarial`
/// closest to `clean` that still meets the goal, to within `2^-steps` of
/// the segment's length (binary search over the blend factor; samples not
/// in `active` are returned unchanged).
pub(crate) fn towards(
    context: &mut AttackContext<'_>,
    goal: &Goal,
    clean: &Tensor<4>,
    adversarial: &Tensor<4>,
    active: &Tensor<1, Bool>,
    steps: usize,
) -> Tensor<4> {
    let n = clean.dims()[0];
    let device = context.device().clone();
    let mut low = Tensor::<1>::zeros([n], &device);
    let mut high = Tensor::<1>::ones([n], &device);
    let blend = |alpha: Tensor<1>| {
        let a = ops::per_sample(alpha);
        clean.clone() * (a.clone().neg().add_scalar(1.0)) + adversarial.clone() * a
    };
    for _ in 0..steps {
        let mid = (low.clone() + high.clone()).mul_scalar(0.5);
        let hit = is_adversarial(context, goal, blend(mid.clone()));
        high = high.mask_where(hit.clone(), mid.clone());
        low = low.mask_where(hit.bool_not(), mid);
    }
    ops::where_samples(active.clone(), blend(high), adversarial.clone())
}
