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
        signed in any::<bool>(),
    ) {
        let f = FixedPoint { bits, frac, signed };
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

/// Mayo's fixed point (`override/quantize/fixed.py`): width `w`, point `p`
/// (integer bits, sign included), `Q(x) = clip(round(x·2^(w−p)),
/// −2^(w−1), 2^(w−1)−1) / 2^(w−p)`, rounding half to even as TensorFlow's
/// `round` does. Expected values worked by hand from the formula.
#[test]
fn fixed_point_with_integer_bits_is_mayos_formula() {
    let table: &[(u8, i32, f32, f32)] = &[
        // w = 8, p = 2 (Mayo's weight default): step 1/64, range [-2, 2 - 1/64].
        (8, 2, 0.3, 19.0 / 64.0),
        (8, 2, 5.0, 127.0 / 64.0),
        (8, 2, -5.0, -2.0),
        (8, 2, 1.0 / 128.0, 0.0),        // half a step: ties to even (0)
        (8, 2, 3.0 / 128.0, 2.0 / 64.0), // 1.5 steps: ties to even (2)
        // w = 8, p = 4 (Mayo's activation default): step 1/16, range [-8, 8 - 1/16].
        (8, 4, 7.99, 127.0 / 16.0),
        (8, 4, 0.1, 2.0 / 16.0),
        // w = 4, p = 1: step 1/8, range [-1, 7/8].
        (4, 1, 0.9, 0.875),
        (4, 1, -0.06, 0.0),
        (4, 1, -1.5, -1.0),
        // w = 4, p = 4: integers in [-8, 7].
        (4, 4, 3.5, 4.0),
        (4, 4, 2.5, 2.0),
        (4, 4, -9.0, -8.0),
        // w = 8, p = 10: fraction bits -2, step 4, range [-512, 508].
        (8, 10, 6.0, 8.0),
        (8, 10, 1000.0, 508.0),
        // w = 2, p = 1: {-1, -0.5, 0, 0.5}.
        (2, 1, 0.7, 0.5),
        (2, 1, -0.3, -0.5),
    ];
    for &(w, p, x, want) in table {
        let f = FixedPoint::with_integer_bits(w, p);
        assert_eq!((f.bits, f.integer_bits()), (w, p));
        let t = Tensor::<1>::from_floats([x], &cpu());
        let got = fake_quant(t, f)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap()[0];
        assert_eq!(got, want, "w={w} p={p} x={x}");
    }
}

/// `weight_int_bits` / `act_int_bits` put every layer on the one grid they
/// name, whatever the layer's own range (`fixed` only).
#[test]
fn integer_bits_set_one_split_for_every_layer() {
    let (model, _) = run(
        &[step(
            "quantise",
            "fixed",
            json!({ "bits": 6, "weight_int_bits": 1, "act_int_bits": 3, "calibration_images": 100 }),
        )],
        100,
    );
    let q = model.state.quant.as_ref().unwrap();
    assert!(!q.weight_formats.is_empty() && !q.act_formats.is_empty());
    for f in q.weight_formats.values() {
        assert_eq!((f.bits, f.integer_bits()), (6, 1), "{f:?}");
    }
    for f in q.act_formats.values() {
        assert_eq!((f.bits, f.integer_bits()), (6, 3), "{f:?}");
    }
    for (info, w) in host_params(&model.network) {
        let f = q.weight_formats[&info.name];
        assert!(w.iter().all(|&v| f.contains(f64::from(v))), "{}", info.name);
    }
    // `dynamic` chooses its split per layer: a fixed one is refused.
    let err = advcomp_compress::Step::from_parts(
        "quantise",
        "dynamic",
        &json!({ "bits": 6, "int_bits": 2 })
            .as_object()
            .unwrap()
            .clone(),
    )
    .and_then(|s| s.validate().map(|_| s))
    .unwrap_err();
    assert_eq!(err.field(), Some("weight_int_bits"), "{err}");
}

/// ReLU outputs are never negative: at 2 bits a signed activation is 0 or
/// one step (the sign bit is wasted), an unsigned one has four levels over
/// the same range, and its values still lie on its grid.
#[test]
fn unsigned_activations_spend_the_sign_bit_on_the_grid() {
    let levels = |signed: bool| {
        let (model, _) = run(
            &[step(
                "quantise",
                "fixed",
                json!({ "bits": 2, "act_signed": signed, "calibration_images": 100 }),
            )],
            100,
        );
        let act = model.state.quant.as_ref().unwrap().act_formats.clone();
        assert!(act.values().all(|f| f.signed == signed), "{act:?}");
        let data = test(30);
        let rows: Vec<usize> = (0..data.len()).collect();
        let recorder = ActivationRecorder::all();
        let hook = advcomp_models::HookChain::new()
            .with(model.hook())
            .with(&recorder);
        let _ = model
            .network
            .forward_hooked(batch::images(&data, &rows, &cpu()), &hook);
        let mut most = 0;
        for (name, a) in recorder.take() {
            let Some(f) = act.get(&name) else { continue };
            let mut seen: Vec<f32> = Vec::new();
            for v in a.flatten().into_data().try_into_vec_as::<f32>().unwrap() {
                assert!(f.contains(f64::from(v)), "{name}: {v} not on {f:?}");
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            most = most.max(seen.len());
        }
        most
    };
    assert!(levels(true) <= 2);
    assert!(
        levels(false) > 2,
        "an unsigned 2-bit layer uses more than two levels"
    );
}
