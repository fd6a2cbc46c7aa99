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

/// `prune dns { alpha }`: without fine-tuning the masks are one update of
/// Guo et al.'s rule from all-kept; fine-tuning splices some cut weights
/// back; the report gives the density reached; the same seed gives the
/// same model.
#[test]
fn dns_with_alpha_splices_cut_weights_back_and_reports_its_density() {
    let alpha = 0.5;
    let initial = advcomp_compress::dns::initial_masks(lenet(), alpha);
    let prune = step("prune", "dns", json!({ "alpha": alpha }));
    let (oneshot, _) = run(std::slice::from_ref(&prune), 500);
    for (info, w) in host_params(&oneshot.network) {
        if info.kind == ParamKind::Weight {
            let nonzero: Vec<bool> = w.iter().map(|v| *v != 0.0).collect();
            assert_eq!(Some(nonzero.as_slice()), initial.get(&info.name));
        }
    }
    let finetune = step("finetune", "", json!({ "epochs": 2, "lr": 0.05 }));
    let steps = [prune, finetune];
    let (tuned, report) = run(&steps, 1000);
    let mut returned = 0;
    for (info, w) in host_params(&tuned.network) {
        if let Some(mask) = initial.get(&info.name) {
            returned += w
                .iter()
                .zip(mask)
                .filter(|(v, kept)| !**kept && **v != 0.0)
                .count();
        }
    }
    assert!(returned > 0, "no cut weight came back");
    let densities = weight_densities(&tuned);
    let (nonzero, n) = densities
        .iter()
        .fold((0, 0), |(a, b), (_, nz, n)| (a + nz, b + n));
    assert_eq!(report.density, nonzero as f64 / n as f64);
    assert!(report.density > 0.05 && report.density < 0.6, "{report:?}");
    for ((name, nz, n), layer) in densities.iter().zip(&report.layers) {
        assert!(name.starts_with(&layer.layer), "{name} {}", layer.layer);
        assert_eq!(layer.density, *nz as f64 / *n as f64);
    }
    let (again, _) = run(&steps, 1000);
    assert_eq!(host_params(&again.network), host_params(&tuned.network));
}
