//! Attacks need input gradients through quantised models; DNS needs
//! weight gradients through its masks.

use advcomp_compress::hook::CompressHook;
use advcomp_models::{Classifier, LayerHook};
use advcomp_train::batch;
use burn::Tensor;
use burn::nn::loss::CrossEntropyLossConfig;
use serde_json::json;

use crate::support::*;

#[test]
fn a_4_bit_model_gives_nonzero_finite_input_gradients() {
    let (model, _) = run(
        &[step(
            "quantise",
            "fixed",
            json!({ "bits": 4, "calibration_images": 200 }),
        )],
        200,
    );
    let device = cpu().autodiff();
    let data = test(32);
    let rows: Vec<usize> = (0..data.len()).collect();
    let x = batch::images(&data, &rows, &device).require_grad();
    let y = batch::labels(&data, &rows, &device);
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(model.logits(x.clone()), y);
    let grads = loss.backward();
    let g = x
        .grad(&grads)
        .expect("input gradient")
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert!(g.iter().all(|v| v.is_finite()));
    let nonzero = g.iter().filter(|v| **v != 0.0).count();
    assert!(
        nonzero > g.len() / 10,
        "{nonzero} of {} gradient entries non-zero",
        g.len()
    );
}

/// Dynamic Network Surgery: the forward pass sees `W ⊙ M`, but every `W`,
/// cut or kept, receives the gradient it would have unmasked.
#[test]
fn dns_cut_weights_receive_gradients() {
    let device = cpu().autodiff();
    let info = lenet()
        .param_infos()
        .into_iter()
        .find(|i| i.name == "conv1.weight")
        .unwrap();
    let n = info.numel();
    let values: Vec<f32> = (0..n).map(|i| i as f32 / n as f32 - 0.5).collect();
    let mask: Vec<bool> = values.iter().map(|v| v.abs() > 0.25).collect();
    assert!(mask.iter().any(|k| !k) && mask.iter().any(|k| *k));
    let hook = CompressHook {
        surgery: [(info.name.clone(), mask.clone())].into(),
        ..CompressHook::default()
    };
    let w = Tensor::<1>::from_floats(values.as_slice(), &device).require_grad();
    let coeffs: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
    let used = hook.param(&info, w.clone());
    let seen = used.clone().into_data().try_into_vec_as::<f32>().unwrap();
    for ((s, v), k) in seen.iter().zip(&values).zip(&mask) {
        assert_eq!(*s, if *k { *v } else { 0.0 });
    }
    let loss = (used * Tensor::<1>::from_floats(coeffs.as_slice(), &device)).sum();
    let g = w
        .grad(&loss.backward())
        .expect("weight gradient")
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert_eq!(g, coeffs, "cut weights must get their gradient too");
}
