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
    assert_eq!(bad.field(), Some("weight_bits"));
    assert!(bad.to_string().contains("[2, 16]"), "{bad}");
}

/// A sidecar's compression record is checked like user input: each bad
/// field is refused, named with its path in checkpoint.json, instead of
/// evaluating to NaN (a zero grid step) or panicking (a shift overflow).
#[test]
fn a_loaded_compression_state_is_validated_field_by_field() {
    use advcomp_models::{Architecture, Network, checkpoint};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let net = Network::new(Architecture::LENET5, &cpu(), 3);
    let good = json!({
        "pruning": { "config": { "method": "magnitude", "density": 0.5 } },
        "quant": {
            "config": { "method": "fixed", "weight_bits": 8, "act_bits": 6 },
            "weight_formats": { "conv1.weight": { "bits": 8, "frac": 7 } },
            "act_formats": { "relu1": { "bits": 6, "frac": 3 } }
        }
    });
    let save_with = |state: &serde_json::Value| {
        let mut sidecar = Sidecar::new(&net, 3);
        sidecar
            .extra
            .insert("compression".into(), json!({ "state": state }));
        checkpoint::save(&net, &sidecar, dir).unwrap();
    };
    save_with(&good);
    let (loaded, _) = CompressedModel::load(dir, &cpu()).expect("the good state loads");
    assert_eq!(loaded.state.quant.unwrap().act_formats["relu1"].frac, 3);

    let cases: &[(&str, &str, serde_json::Value)] = &[
        (
            "activation bits 0",
            "/quant/act_formats/relu1",
            json!({ "bits": 0, "frac": 5000 }),
        ),
        (
            "activation bits 200",
            "/quant/act_formats/relu1",
            json!({ "bits": 200, "frac": 3 }),
        ),
        (
            "activation bits 300",
            "/quant/act_formats/relu1",
            json!({ "bits": 300, "frac": 3 }),
        ),
        (
            "fraction 5000",
            "/quant/act_formats/relu1",
            json!({ "bits": 6, "frac": 5000 }),
        ),
        (
            "fraction -5000",
            "/quant/weight_formats/conv1.weight",
            json!({ "bits": 8, "frac": -5000 }),
        ),
        (
            "bits unlike the config",
            "/quant/weight_formats/conv1.weight",
            json!({ "bits": 4, "frac": 3 }),
        ),
        (
            "unknown parameter",
            "/quant/weight_formats/conv9.weight",
            json!({ "bits": 8, "frac": 7 }),
        ),
        (
            "not a ReLU",
            "/quant/act_formats/pool1",
            json!({ "bits": 6, "frac": 3 }),
        ),
        ("act_bits out of range", "/quant/config/act_bits", json!(1)),
        (
            "activation formats without act_bits",
            "/quant/config/act_bits",
            json!(null),
        ),
        (
            "weight_bits out of range",
            "/quant/config/weight_bits",
            json!(17),
        ),
        ("overflow rate", "/quant/config/overflow_rate", json!(1.5)),
        ("density 0", "/pruning/config/density", json!(0.0)),
        ("density 2", "/pruning/config/density", json!(2.0)),
        ("unknown method", "/pruning/config/method", json!("lottery")),
    ];
    let mut report = String::new();
    for (name, pointer, value) in cases {
        let mut state = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        state
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.to_string(), value.clone());
        save_with(&state);
        let err = CompressedModel::load(dir, &cpu())
            .map(|_| ())
            .expect_err(name)
            .to_string()
            .replace(&dir.display().to_string(), "[DIR]");
        assert!(
            err.contains("checkpoint.json: extra.compression.state."),
            "{name}: {err}"
        );
        report.push_str(&format!("{name}: {err}\n"));
    }
    insta::assert_snapshot!(report);
}
