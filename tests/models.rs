//! The model representation's contract: shapes, named parameters, hooks,
//! recorded activations and input gradients through hooks.

use advcomp_models::{
    Activation, ActivationRecorder, Architecture, LayerHook, LayerInfo, Network, ParamInfo,
};
use advcomp_tests::cpu;
use burn::Tensor;
use burn::tensor::Distribution;

fn images(arch: Architecture, batch: usize, device: &burn::tensor::Device) -> Tensor<4> {
    let [c, h, w] = arch.input_shape();
    Tensor::random([batch, c, h, w], Distribution::Uniform(0.0, 1.0), device)
}

#[test]
fn output_shapes_are_batch_by_classes() {
    let device = cpu();
    for arch in Architecture::all() {
        let net = Network::new(arch, &device, 0);
        for batch in [1, 3] {
            assert_eq!(
                net.forward(images(arch, batch, &device)).dims(),
                [batch, arch.num_classes()],
                "{arch}"
            );
        }
    }
}

#[test]
fn lenet5_has_the_literature_parameter_count() {
    // conv1 20·1·25+20, conv2 50·20·25+50, fc1 800·500+500, fc2 500·10+10
    let net = Network::new(Architecture::LENET5, &cpu(), 1);
    let counts: Vec<(String, usize)> = net
        .param_infos()
        .iter()
        .map(|p| (p.name.clone(), p.numel()))
        .collect();
    insta::assert_debug_snapshot!(counts);
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<usize>(), 431_080);
}

#[test]
fn layer_names_are_unique_and_stable() {
    for arch in Architecture::all() {
        let net = Network::new(arch, &cpu(), 1);
        let names: Vec<&str> = net.layer_infos().iter().map(|l| l.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{arch}: {names:?}");
        insta::assert_snapshot!(format!("{arch}_layers"), names.join(" → "));
    }
}

#[test]
fn map_params_rewrites_weights_and_keeps_shapes() {
    let device = cpu();
    let net = Network::new(Architecture::LENET5, &device, 1);
    let before = net.param_infos();
    // Zero every weight (a 0%-density "pruning"): the logits become the
    // propagated biases alone, the same for every input.
    let net = net.map_params(&mut |info: &ParamInfo, t: Tensor<1>| {
        if info.kind == advcomp_models::ParamKind::Weight {
            t.zeros_like()
        } else {
            t
        }
    });
    assert_eq!(net.param_infos(), before);
    let w = net.param("conv1.weight").unwrap();
    assert_eq!(w.abs().sum().into_scalar::<f32>(), 0.0);
    let logits = net.forward(images(Architecture::LENET5, 4, &device));
    let spread = (logits.clone().max_dim(0) - logits.min_dim(0))
        .abs()
        .max()
        .into_scalar::<f32>();
    assert_eq!(spread, 0.0);
}

/// Doubles one layer's output: enough to see that hooks run where asked.
struct Double(&'static str);

impl LayerHook for Double {
    fn after(&self, layer: &LayerInfo, a: Activation) -> Activation {
        if layer.name == self.0 {
            a.map(|t| t * 2.0)
        } else {
            a
        }
    }
}

#[test]
fn a_hook_after_the_last_layer_changes_the_logits() {
    let device = cpu();
    let net = Network::new(Architecture::LENET5, &device, 1);
    let x = images(Architecture::LENET5, 2, &device);
    let plain = net.forward(x.clone());
    let doubled = net.forward_hooked(x, &Double("fc2"));
    let diff = (doubled - plain * 2.0).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn recorder_sees_named_activations_with_their_shapes() {
    let device = cpu();
    let net = Network::new(Architecture::LENET5, &device, 1);
    let recorder = ActivationRecorder::only(["conv1", "pool2", "fc1"]);
    net.forward_hooked(images(Architecture::LENET5, 3, &device), &recorder);
    let shapes: Vec<(String, Vec<usize>)> = recorder
        .take()
        .into_iter()
        .map(|(n, a)| (n, a.dims()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("conv1".to_string(), vec![3, 20, 24, 24]),
            ("pool2".to_string(), vec![3, 50, 4, 4]),
            ("fc1".to_string(), vec![3, 500]),
        ]
    );
}

/// A clamp inserted after `relu1`, as an activation-bounding defence would.
struct Clamp;

impl LayerHook for Clamp {
    fn after(&self, layer: &LayerInfo, a: Activation) -> Activation {
        if layer.name == "relu1" {
            a.map(|t| t.clamp(0.0, 0.5))
        } else {
            a
        }
    }
}

#[test]
fn input_gradients_flow_through_hooks() {
    let device = cpu().autodiff();
    let net = Network::new(Architecture::LENET5, &device, 3);
    let x = images(Architecture::LENET5, 2, &device).require_grad();
    let logits = net.forward_hooked(x.clone(), &Clamp);
    let grads = logits.sum().backward();
    let g = x.grad(&grads).expect("input gradient exists");
    assert_eq!(g.dims(), [2, 1, 28, 28]);
    let norm = g.abs().sum().into_scalar::<f32>();
    assert!(norm.is_finite() && norm > 0.0, "gradient norm {norm}");
}

/// Replaces weights as they are used, leaving the stored ones alone.
struct ZeroFc2;

impl LayerHook for ZeroFc2 {
    fn transforms_params(&self) -> bool {
        true
    }
    fn param(&self, p: &ParamInfo, v: Tensor<1>) -> Tensor<1> {
        if p.layer == "fc2" { v.zeros_like() } else { v }
    }
}

#[test]
fn param_hooks_change_the_forward_pass_not_the_weights() {
    let device = cpu();
    let net = Network::new(Architecture::LENET5, &device, 1);
    let logits = net.forward_hooked(images(Architecture::LENET5, 2, &device), &ZeroFc2);
    assert_eq!(logits.abs().sum().into_scalar::<f32>(), 0.0);
    let stored = net
        .param("fc2.weight")
        .unwrap()
        .abs()
        .sum()
        .into_scalar::<f32>();
    assert!(stored > 0.0);
}

#[test]
fn the_seed_alone_fixes_initial_weights_even_across_threads() {
    let weights = |seed| {
        let net = Network::new(Architecture::LENET5, &cpu(), seed);
        net.param("conv1.weight").unwrap().into_data()
    };
    let here = weights(42);
    // Built concurrently on other threads: burn's global RNG is not involved.
    let there: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || weights(42)))
        .collect();
    for t in there {
        assert_eq!(t.join().unwrap(), here);
    }
    assert_ne!(weights(43), here);
}

#[test]
fn initial_weights_are_bounded_by_fan_in() {
    let net = Network::new(Architecture::LENET5, &cpu(), 7);
    for (info, t) in net.params() {
        let fan_in: usize = match info.layer.as_str() {
            "conv1" => 25,
            "conv2" => 20 * 25,
            "fc1" => 800,
            "fc2" => 500,
            other => panic!("unexpected layer {other}"),
        };
        let bound = 1.0 / (fan_in as f32).sqrt();
        let max = t.clone().abs().max().into_scalar::<f32>();
        assert!(
            max <= bound && max > 0.5 * bound,
            "{}: max {max}, bound {bound}",
            info.name
        );
    }
}
