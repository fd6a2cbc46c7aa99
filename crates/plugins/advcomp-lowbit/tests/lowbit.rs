//! The low-bit plugin through advcomp's public API only: steps built by
//! name from the registry, run by the compression pipeline, saved and
//! loaded as checkpoints.

use advcomp_compress::{
    CompressedModel, CompressionReport, Context, ProjectionStep, Step, compress,
};
use advcomp_models::{Classifier, Network, ParamKind};
use advcomp_testkit::{cpu, lenet, test, train};
use burn::Tensor;
use serde_json::{Value, json};

// Links the plugin, so its registrations are in the registry.
use advcomp_lowbit as _;

fn step(op: &str, method: &str, params: Value) -> Step {
    Step::from_parts(op, method, params.as_object().expect("a map"))
        .unwrap_or_else(|e| panic!("{op} {method}: {e}"))
}

fn projection(method: &str, params: Value) -> ProjectionStep {
    match step("quantise", method, params) {
        Step::Project(p) => p,
        other => panic!("`quantise {method}` is a plugin step, got {other:?}"),
    }
}

fn run(steps: &[Step], train_n: usize) -> (CompressedModel, CompressionReport) {
    let device = cpu();
    let (train, test) = (train(train_n), test(500));
    let parent = CompressedModel::uncompressed(lenet().clone());
    let done = compress(
        &parent,
        steps,
        Context {
            train: &train,
            device: &device,
            observer: &mut (),
        },
    )
    .expect("compression runs");
    let report = done.report(&parent, steps, &test, &device);
    (done.model, report)
}

/// Each weight tensor's distinct magnitudes, and whether biases are as in
/// `reference`.
fn magnitudes(network: &Network) -> Vec<(String, Vec<f32>)> {
    network
        .params()
        .into_iter()
        .filter(|(info, _)| info.kind == ParamKind::Weight)
        .map(|(info, t)| {
            let mut m: Vec<f32> = t
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.abs())
                .collect();
            m.sort_by(f32::total_cmp);
            m.dedup();
            (info.name, m)
        })
        .collect()
}

fn biases(network: &Network) -> Vec<Vec<f32>> {
    network
        .params()
        .into_iter()
        .filter(|(info, _)| info.kind == ParamKind::Bias)
        .map(|(_, t)| t.into_data().try_into_vec_as::<f32>().unwrap())
        .collect()
}

/// The contract on a trained and a random network: ternary weights take
/// the values {-a, 0, +a} per layer (a > 0), binary ones {-a, +a}; biases
/// are untouched; and projecting again changes nothing beyond rounding.
#[test]
fn projected_weights_lie_on_their_sets_and_biases_stay_float() {
    let random = Network::new(advcomp_models::Architecture::LENET5, &cpu(), 3);
    for net in [lenet().clone(), random] {
        for (method, allowed) in [("ternary", 2usize), ("binary", 1)] {
            let p = projection(method, json!({}));
            let baked = p.bake(net.clone());
            for (name, mags) in magnitudes(&baked) {
                let nonzero: Vec<f32> = mags.iter().copied().filter(|m| *m > 0.0).collect();
                assert_eq!(nonzero.len(), 1, "{method} {name}: {mags:?}");
                assert!(mags.len() <= allowed, "{method} {name}: {mags:?}");
            }
            assert_eq!(biases(&baked), biases(&net), "{method}: biases stay float");
            let again = p.bake(baked.clone());
            for ((name, a), (_, b)) in magnitudes(&baked).iter().zip(magnitudes(&again)) {
                assert_eq!(a.len(), b.len(), "{method} {name}: the pattern holds");
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() <= 1e-6 * x.abs(),
                        "{method} {name}: {x} vs {y}"
                    );
                }
            }
        }
    }
}

/// Training sees the projection and the gradient passes straight through:
/// every float weight gets exactly the gradient of the projected one.
#[test]
fn the_gradient_passes_straight_through() {
    let device = cpu().autodiff();
    let info = lenet()
        .param_infos()
        .into_iter()
        .find(|i| i.name == "conv2.weight")
        .unwrap();
    let n = info.numel();
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 37) % 101) as f32 / 101.0 - 0.5)
        .collect();
    let p = projection("ternary", json!({"threshold": 0.5}));
    let w = Tensor::<1>::from_floats(values.as_slice(), &device).require_grad();
    let used = p.project(&info, w.clone());
    let seen = used.clone().into_data().try_into_vec_as::<f32>().unwrap();
    let direct = projection("ternary", json!({"threshold": 0.5}))
        .project(&info, Tensor::<1>::from_floats(values.as_slice(), &cpu()))
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert_eq!(seen, direct, "training sees exactly what the bake stores");
    let coeffs: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
    let loss = (used * Tensor::<1>::from_floats(coeffs.as_slice(), &device)).sum();
    let g = w
        .grad(&loss.backward())
        .expect("weight gradient")
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert_eq!(g, coeffs);
}

/// The pipeline end to end: ternarise, fine-tune under the projection; the
/// deployed weights are ternary, the report says 2 bits, and the checkpoint
/// loads back to the same logits with the plugin step in its state.
#[test]
fn ternary_fine_tunes_saves_and_loads() {
    let steps = [
        step("quantise", "ternary", json!({})),
        step("finetune", "", json!({"epochs": 1})),
    ];
    let (model, report) = run(&steps, 2000);
    for (name, mags) in magnitudes(&model.network) {
        assert!(mags.len() <= 2, "{name}: {mags:?}");
    }
    for layer in &report.layers {
        assert_eq!(layer.weight_bits, 2, "{}", layer.layer);
        assert_eq!(layer.weight_format.as_deref(), Some("ternary"));
        assert_eq!(layer.bias_format, None, "biases stay float");
    }
    // Training through the straight-through estimator works: on these 500
    // images the quick LeNet-5 (0.802) drops to 0.752 when ternarised and
    // one epoch on 2,000 digits brings it to 0.902 (measured, avx2). A
    // broken estimator (no gradient, or the float weights deployed) would
    // leave it near 0.75; the margin asked is a third of the gain.
    assert!(
        report.accuracy.finetuned > report.accuracy.compressed + 0.05,
        "{:?}",
        report.accuracy
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ternary");
    model
        .save(
            &path,
            advcomp_models::Sidecar::new(&model.network, 7),
            &report,
        )
        .unwrap();
    let (loaded, _) = CompressedModel::load(&path, &cpu()).unwrap();
    assert_eq!(loaded.state.projections, model.state.projections);
    let (x, _) = advcomp_testkit::digits(16, 0);
    let same: bool = loaded
        .logits(x.clone())
        .equal(model.logits(x))
        .all()
        .into_scalar();
    assert!(same, "a loaded ternary model gives the same logits");
    // The report round-trips too, plugin step included.
    let json = serde_json::to_string(&report).unwrap();
    let back: CompressionReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

/// After pruning, a binary quantiser keeps the pruned weights at zero, so
/// the density asked is the density deployed.
#[test]
fn binary_after_pruning_keeps_the_density() {
    let steps = [
        step("prune", "magnitude", json!({"density": 0.3})),
        step("quantise", "binary", json!({})),
    ];
    let (model, report) = run(&steps, 500);
    for layer in &report.layers {
        let kept = (0.3 * layer.weights as f64).round() as usize;
        assert_eq!(layer.nonzeros, kept, "{}", layer.layer);
        assert_eq!(layer.weight_bits, 1);
    }
    for (name, mags) in magnitudes(&model.network) {
        assert_eq!(mags.len(), 2, "{name}: zero and one magnitude, {mags:?}");
    }
}

/// Parameters are checked against the declaration, with the field named,
/// and a default written out is the same step (the same cache key).
#[test]
fn parameters_are_checked_and_canonical() {
    let err = |method: &str, params: Value| {
        Step::from_parts("quantise", method, params.as_object().unwrap()).unwrap_err()
    };
    let e = err("ternary", json!({"bits": 2}));
    assert_eq!(e.field(), Some("bits"), "{e}");
    let e = err("ternary", json!({"treshold": 0.5}));
    assert!(e.to_string().contains("did you mean `threshold`"), "{e}");
    let e = err("ternary", json!({"threshold": 0.0}));
    assert_eq!(e.field(), Some("threshold"), "{e}");
    let e = err("binary", json!({"threshold": 0.7}));
    assert_eq!(e.field(), Some("threshold"), "{e}");
    let e = err("ternery", json!({}));
    assert!(e.to_string().contains("did you mean `ternary`"), "{e}");
    assert_eq!(
        step("quantise", "ternary", json!({})).identity(),
        step("quantise", "ternary", json!({"threshold": 0.7})).identity()
    );
    assert_ne!(
        step("quantise", "ternary", json!({})).identity(),
        step("quantise", "ternary", json!({"threshold": 0.5})).identity()
    );
    assert_eq!(
        serde_json::to_value(step("quantise", "ternary", json!({}))).unwrap(),
        json!({"op": "quantise", "method": "ternary", "threshold": 0.7})
    );
}
