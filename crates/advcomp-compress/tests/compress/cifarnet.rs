//! Mayo's CifarNet under compression: its batch norms are folded into the
//! convolutions first, so masks and weight grids apply to the weights the
//! deployed network uses. CIFAR-10 is not bundled: the images are MNIST
//! digits padded to 32×32 and repeated over three channels, and the network
//! is randomly initialised (its batch norms moved off the identity by a few
//! training-mode passes), which is all these properties need.

use advcomp_compress::{CompressedModel, Context, compress};
use advcomp_data::{Dataset, DatasetKind};
use advcomp_models::{Architecture, Classifier, LayerKind, Network, NoHook, ParamKind};
use burn::Tensor;
use burn::module::Module;
use serde_json::json;

use crate::support::{cpu, host_params, step, test};

/// `n` MNIST test digits as 3×32×32 CIFAR-shaped images.
fn padded_digits(n: usize) -> Dataset {
    let digits = test(n);
    let shape = DatasetKind::Cifar10.image_shape();
    let mut images = Vec::with_capacity(n * 3 * 32 * 32);
    for i in 0..digits.len() {
        let digit = digits.image(i);
        let mut plane = vec![0.0f32; 32 * 32];
        for y in 0..28 {
            plane[(y + 2) * 32 + 2..(y + 2) * 32 + 30]
                .copy_from_slice(&digit[y * 28..(y + 1) * 28]);
        }
        for _ in 0..3 {
            images.extend_from_slice(&plane);
        }
    }
    Dataset {
        kind: DatasetKind::Cifar10,
        shape,
        images,
        labels: digits.labels.clone(),
    }
}

/// A random CifarNet whose batch norms have non-trivial running statistics.
fn cifarnet() -> Network {
    let device = cpu();
    let mut net = Network::new(Architecture::CIFARNET, &device.clone().autodiff(), 9);
    let data = padded_digits(8);
    let x = advcomp_train::batch::images(&data, &(0..8).collect::<Vec<_>>(), &device.autodiff());
    for seed in 0..3 {
        let _ = net.forward_train(x.clone(), &NoHook, seed);
    }
    net.valid()
}

fn run(steps: &[advcomp_compress::Step]) -> CompressedModel {
    let device = cpu();
    let data = padded_digits(16);
    compress(
        &CompressedModel::uncompressed(cifarnet()),
        steps,
        Context {
            train: &data,
            device: &device,
            observer: &mut (),
        },
    )
    .expect("compression runs")
    .model
}

#[test]
fn a_compressed_cifarnet_has_its_batch_norms_folded() {
    let net = cifarnet();
    let data = padded_digits(4);
    let x = advcomp_train::batch::images(&data, &[0, 1, 2, 3], &cpu());
    let before = net.forward(x.clone());
    let model = CompressedModel::uncompressed(net);
    assert!(model.network.batch_norm_folded());
    assert!(
        model
            .network
            .layer_infos()
            .iter()
            .all(|l| l.kind != LayerKind::BatchNorm)
    );
    let diff: f32 = (before - model.logits(x)).abs().max().into_scalar();
    assert!(diff <= 1e-4, "{diff}");
}

#[test]
fn pruning_a_cifarnet_hits_the_density_on_the_folded_weights() {
    let density = 0.25;
    let model = run(&[step("prune", "magnitude", json!({ "density": density }))]);
    assert!(model.network.batch_norm_folded());
    let mut convs = 0;
    for (info, w) in host_params(&model.network) {
        if info.kind != ParamKind::Weight {
            continue;
        }
        convs += 1;
        let nonzero = w.iter().filter(|v| **v != 0.0).count();
        let asked = density * w.len() as f64;
        assert!(
            (nonzero as f64 - asked).abs() <= 1.0,
            "{}: {nonzero} non-zero of {}, asked {asked}",
            info.name,
            w.len()
        );
    }
    assert_eq!(convs, 9);
}

#[test]
fn quantising_a_cifarnet_puts_the_folded_weights_on_their_grids() {
    let model = run(&[step(
        "quantise",
        "fixed",
        json!({ "bits": 6, "calibration_images": 16 }),
    )]);
    let formats = &model.state.quant.as_ref().unwrap().weight_formats;
    // The folded biases (batch norm's β and mean) are quantised too.
    assert!(formats.contains_key("conv0.bias"));
    let mut checked = 0;
    for (info, w) in host_params(&model.network) {
        let f = formats[&info.name];
        for v in w {
            assert!(f.contains(f64::from(v)), "{}: {v} not on {f:?}", info.name);
            checked += 1;
        }
    }
    assert!(checked > 300_000);
    // And the quantised model still gives attacks input gradients.
    let data = padded_digits(2);
    let x = advcomp_train::batch::images(&data, &[0, 1], &cpu())
        .autodiff()
        .require_grad();
    let grads = model.logits(x.clone()).sum().backward();
    let g: Tensor<4> = x.grad(&grads).expect("input gradient");
    assert!(g.abs().max().into_scalar::<f32>() > 0.0);
}
