//! Fine-tuning under constraints: zeros stay zero, DNS and gradual pruning
//! end at their density, composed pipelines keep both constraints.

use advcomp_compress::mask::Masks;
use advcomp_models::ParamKind;
use serde_json::json;

use crate::support::*;

fn weight_densities(model: &advcomp_compress::CompressedModel) -> Vec<(String, usize, usize)> {
    host_params(&model.network)
        .into_iter()
        .filter(|(i, _)| i.kind == ParamKind::Weight)
        .map(|(i, w)| (i.name, w.iter().filter(|v| **v != 0.0).count(), w.len()))
        .collect()
}

#[test]
fn pruned_weights_stay_zero_through_finetuning() {
    let prune = step("prune", "magnitude", json!({ "density": 0.1 }));
    let (oneshot, _) = run(std::slice::from_ref(&prune), 500);
    let (tuned, report) = run(&[prune, step("finetune", "", json!({ "epochs": 1 }))], 500);
    for ((info, before), (_, after)) in host_params(&oneshot.network)
        .into_iter()
        .zip(host_params(&tuned.network))
    {
        if info.kind != ParamKind::Weight {
            continue;
        }
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(*b == 0.0, *a == 0.0, "{}: a zero moved", info.name);
        }
    }
    assert!(
        report.accuracy.finetuned >= report.accuracy.compressed - 0.02,
        "{report:?}"
    );
}

#[test]
fn dns_and_gradual_pruning_end_at_their_density() {
    for (method, extra) in [
        ("dns", json!({})),
        ("magnitude", json!({ "schedule": "gradual" })),
    ] {
        let mut params = json!({ "density": 0.2 });
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (model, _) = run(
            &[
                step("prune", method, params),
                step("finetune", "", json!({ "epochs": 1 })),
            ],
            500,
        );
        for (name, nonzero, n) in weight_densities(&model) {
            assert!(
                nonzero.abs_diff(Masks::kept_count(0.2, n)) <= 1,
                "{method} {name}: {nonzero} of {n}"
            );
        }
    }
}

#[test]
fn prune_then_quantise_keeps_both() {
    let (model, report) = run(
        &[
            step("prune", "magnitude", json!({ "density": 0.2 })),
            step(
                "quantise",
                "dynamic",
                json!({ "bits": 6, "calibration_images": 200 }),
            ),
            step("finetune", "", json!({ "epochs": 1 })),
        ],
        500,
    );
    let formats = &model.state.quant.as_ref().unwrap().weight_formats;
    for (info, w) in host_params(&model.network) {
        for v in &w {
            assert!(formats[&info.name].contains(f64::from(*v)));
        }
    }
    for (name, nonzero, n) in weight_densities(&model) {
        assert!(
            nonzero <= Masks::kept_count(0.2, n) + 1,
            "{name}: {nonzero} of {n}"
        );
    }
    assert!(report.table().contains("Q"), "{}", report.table());
}
