//! Attacks on Mayo's CifarNet: input gradients flow through its batch norms
//! in evaluation mode (running statistics) and its dropout layers (the
//! identity outside training). The network is randomly initialised and the
//! images random: the property is the budget and the gradient, not success.

use advcomp_attack::{ops, registry};
use advcomp_models::{Architecture, Classifier, Network};
use burn::Tensor;
use burn::tensor::{Distribution, Int};
use serde_json::json;

use crate::support::*;

#[test]
fn fgsm_on_a_cifarnet_moves_every_pixel_within_its_epsilon_ball() {
    let device = cpu();
    let model = Network::new(Architecture::CIFARNET, &device, 4);
    let x = Tensor::<4>::random([3, 3, 32, 32], Distribution::Uniform(0.2, 0.8), &device);
    let y = model.predict(x.clone());
    let y = Tensor::<1, Int>::from_data(y.into_data(), &device);
    let epsilon = 0.05;
    let attack = registry::build("fgsm", &json!({ "epsilon": epsilon })).unwrap();
    let out = attack.run(&model, x.clone(), y, None, &device).unwrap();
    assert_eq!(out.adversarial.dims(), [3, 3, 32, 32]);
    let delta = (out.adversarial - x).abs();
    for v in floats(ops::linf_norm(delta.clone())) {
        assert!(f64::from(v) <= epsilon + 1e-6, "L∞ {v} > ε {epsilon}");
    }
    // A non-zero gradient reached the pixels: FGSM moved (nearly) each by ε
    // (the images are ε away from the pixel range, so nothing is clipped).
    let moved = floats(delta.reshape([3 * 3 * 32 * 32]))
        .into_iter()
        .filter(|&v| f64::from(v) >= epsilon - 1e-6)
        .count();
    assert!(
        moved >= 3 * 3 * 32 * 32 * 99 / 100,
        "{moved} pixels moved by ε"
    );
}
