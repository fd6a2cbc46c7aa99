//! Properties: exact densities, whole filters, values on their grids, the
//! straight-through estimator's gradient.

use advcomp_compress::fixed_point::FixedPoint;
use advcomp_compress::mask::{self, Masks};
use advcomp_compress::{fake_quant, hook::CompressHook};
use advcomp_models::{ActivationRecorder, LayerKind, ParamKind};
use advcomp_train::batch;
use burn::Tensor;
use proptest::prelude::*;
use serde_json::json;

use crate::support::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Each layer keeps round(density × weights) weights, the largest ones.
    #[test]
    fn magnitude_pruning_hits_the_density_per_layer(density in 0.001f64..=1.0) {
        let masks = mask::magnitude_per_layer(lenet(), density);
        let pruned = masks.apply(lenet().clone());
        for (info, w) in host_params(&pruned) {
            if info.kind != ParamKind::Weight { continue; }
            let nonzero = w.iter().filter(|v| **v != 0.0).count();
            let asked = density * w.len() as f64;
            prop_assert!((nonzero as f64 - asked).abs() <= 1.0,
                "{}: {nonzero} non-zero of {}, asked {asked}", info.name, w.len());
            // Every kept weight is at least as large as every pruned one.
            let original = lenet().param(&info.name).unwrap().into_data().try_into_vec_as::<f32>().unwrap();
            let min_kept = original.iter().zip(&w).filter(|(_, p)| **p != 0.0).map(|(o, _)| o.abs()).fold(f32::INFINITY, f32::min);
            let max_cut = original.iter().zip(&w).filter(|(_, p)| **p == 0.0).map(|(o, _)| o.abs()).fold(0.0, f32::max);
            prop_assert!(min_kept >= max_cut);
        }
    }

    /// The global variant hits the density over all weights together.
    #[test]
    fn global_pruning_hits_the_overall_density(density in 0.001f64..=1.0) {
        let pruned = mask::magnitude_global(lenet(), density).apply(lenet().clone());
        let (mut n, mut nz) = (0usize, 0usize);
        for (info, w) in host_params(&pruned) {
            if info.kind == ParamKind::Weight {
                n += w.len();
                nz += w.iter().filter(|v| **v != 0.0).count();
            }
        }
        prop_assert!((nz as f64 - density * n as f64).abs() <= 1.0);
    }

    /// Every quantised weight and bias lies on its grid and in range.
    #[test]
    fn quantised_weights_lie_on_their_grids(bits in 2u8..=16, dynamic in any::<bool>()) {
        let method = if dynamic { "dynamic" } else { "fixed" };
        let (model, _) = run(&[step("quantise", method, json!({ "weight_bits": bits, "calibration_images": 100 }))], 100);
        let formats = &model.state.quant.as_ref().unwrap().weight_formats;
        for (info, w) in host_params(&model.network) {
            let f = formats[&info.name];
            prop_assert_eq!(f.bits, bits);
            for v in w {
                prop_assert!(f.contains(f64::from(v)), "{}: {v} not on {f:?}", info.name);
            }
        }
    }

    /// The clipped straight-through estimator: gradient 1 inside the range,
    /// 0 outside; value on the grid.
    #[test]
    fn ste_passes_gradients_inside_the_range_only(
        values in proptest::collection::vec(-4.0f32..4.0, 1..64),
        bits in 2u8..=8,
        frac in 0i32..6,
    ) {
        let f = FixedPoint { bits, frac };
        let device = cpu().autodiff();
        let x = Tensor::<1>::from_floats(values.as_slice(), &device).require_grad();
        let y = fake_quant(x.clone(), f);
        let out = y.clone().into_data().try_into_vec_as::<f32>().unwrap();
        let grads = y.sum().backward();
        let g = x.grad(&grads).unwrap().into_data().try_into_vec_as::<f32>().unwrap();
        for ((v, q), g) in values.iter().zip(out).zip(g) {
            prop_assert!(f.contains(f64::from(q)));
            prop_assert!((f64::from(q) - f.quantise(f64::from(*v))).abs() < 1e-9, "{v} -> {q}");
            let inside = f64::from(*v) >= f.min() && f64::from(*v) <= f.max();
            prop_assert_eq!(g, if inside { 1.0 } else { 0.0 }, "value {} in {:?}", v, f);
        }
    }
}

#[test]
fn activations_lie_on_their_grids() {
    let (model, _) = run(
        &[step(
            "quantise",
            "fixed",
            json!({ "bits": 4, "calibration_images": 200 }),
        )],
        200,
    );
    let act = &model.state.quant.as_ref().unwrap().act_formats;
    assert_eq!(act.len(), 3, "one format per ReLU: {act:?}");
    let data = test(50);
    let rows: Vec<usize> = (0..data.len()).collect();
    let x = batch::images(&data, &rows, &cpu());
    let recorder = ActivationRecorder::all();
    let hook = advcomp_models::HookChain::new()
        .with(model.hook())
        .with(&recorder);
    let _ = model.network.forward_hooked(x, &hook);
    let relus: Vec<String> = model
        .network
        .layer_infos()
        .iter()
        .filter(|l| l.kind == LayerKind::Relu)
        .map(|l| l.name.clone())
        .collect();
    for (name, a) in recorder.take() {
        if !relus.contains(&name) {
            continue;
        }
        let f = act[&name];
        for v in a.flatten().into_data().try_into_vec_as::<f32>().unwrap() {
            assert!(f.contains(f64::from(v)), "{name}: {v} not on {f:?}");
        }
    }
}

#[test]
fn filter_pruning_removes_whole_filters_and_neurons() {
    let masks = mask::filters_by_l1(lenet(), 0.5);
    let pruned = masks.apply(lenet().clone());
    for (info, w) in host_params(&pruned) {
        match (info.name.as_str(), info.shape.as_slice()) {
            ("conv1.weight" | "conv2.weight", [out, rest @ ..]) => {
                let per: usize = rest.iter().product();
                let dead = w
                    .chunks(per)
                    .filter(|f| f.iter().all(|v| *v == 0.0))
                    .count();
                let live = w
                    .chunks(per)
                    .filter(|f| f.iter().all(|v| *v != 0.0))
                    .count();
                assert_eq!(
                    dead + live,
                    *out,
                    "{}: every filter is whole or gone",
                    info.name
                );
                assert_eq!(live, Masks::kept_count(0.5, *out));
            }
            ("fc2.weight", _) => {
                assert!(w.iter().all(|v| *v != 0.0), "the classifier layer is kept")
            }
            _ => {}
        }
    }
}

#[test]
fn the_hook_without_formats_changes_nothing() {
    let data = test(20);
    let rows: Vec<usize> = (0..20).collect();
    let x = batch::images(&data, &rows, &cpu());
    let a = lenet().forward(x.clone());
    let b = lenet().forward_hooked(x, &CompressHook::default());
    assert_eq!(a.into_data(), b.into_data());
}
