//! Attacks need input gradients through quantised models.

use advcomp_models::Classifier;
use advcomp_train::batch;
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
