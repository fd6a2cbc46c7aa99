//! Saving and loading a compressed model keeps its behaviour and state.

use advcomp_compress::CompressedModel;
use advcomp_models::{Classifier, Sidecar};
use advcomp_train::batch;
use serde_json::json;

use crate::support::*;

#[test]
fn a_saved_compressed_model_loads_identically() {
    let (model, report) = run(
        &[
            step("prune", "magnitude", json!({ "density": 0.3 })),
            step(
                "quantise",
                "fixed",
                json!({ "weight_bits": 8, "act_bits": 6, "calibration_images": 200 }),
            ),
        ],
        200,
    );
    let dir = tempfile::tempdir().unwrap();
    model
        .save(dir.path(), Sidecar::new(&model.network, 7), &report)
        .unwrap();
    let (loaded, sidecar) = CompressedModel::load(dir.path(), &cpu()).unwrap();
    assert_eq!(loaded.state.quant, model.state.quant);
    assert_eq!(
        loaded.state.pruning.as_ref().map(|p| p.config.clone()),
        model.state.pruning.as_ref().map(|p| p.config.clone())
    );
    assert!(sidecar.extra["compression"]["report"]["layers"].is_array());
    let data = test(40);
    let rows: Vec<usize> = (0..data.len()).collect();
    let x = batch::images(&data, &rows, &cpu());
    assert_eq!(
        model.logits(x.clone()).into_data(),
        loaded.logits(x).into_data()
    );
}

#[test]
fn bad_steps_name_the_field() {
    let bad = advcomp_compress::Step::from_parts(
        "quantise",
        "fixed",
        json!({ "weight_bits": 20 }).as_object().unwrap(),
    )
    .unwrap_err();
    assert_eq!(bad.field.as_deref(), Some("weight_bits"));
    assert!(bad.to_string().contains("2..=16"), "{bad}");
}
