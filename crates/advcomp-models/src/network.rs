//! A network: named layers applied in order, with hooks.

use burn::Tensor;
use burn::module::{Module, Param, ParamId};
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::tensor::Device;

use crate::activation::Activation;
use crate::architecture::Architecture;
use crate::hook::{LayerHook, LayerInfo, NoHook};
use crate::layer::{BatchNorm, Layer, LayerKind};
use crate::params::{ParamInfo, ParamKind, flat, unflat};

/// A classifier network built from an [`Architecture`].
///
/// The layers are data, not code, so compressors and defences can rewrite
/// weights ([`Network::map_params`]) and insert operations
/// ([`Network::forward_hooked`]) without this crate knowing about them.
#[derive(Module, Debug)]
pub struct Network {
    layers: Vec<Layer>,
    #[module(skip)]
    infos: Vec<LayerInfo>,
    #[module(skip)]
    architecture: Architecture,
    /// Whether [`Network::fold_batch_norm`] removed batch norms.
    #[module(skip)]
    batch_norm_folded: bool,
}

impl Network {
    /// A freshly initialised network on `device`, its initial weights fixed
    /// by `seed` alone (not by the backend's global RNG; see [`crate::init`]'s
    /// notes), so two networks with the same seed are identical on any
    /// backend and any thread.
    pub fn new(architecture: Architecture, device: &Device, seed: u64) -> Self {
        Self::zeroed(architecture, device).initialised(seed)
    }

    /// The network with all-zero parameters, to load a checkpoint into.
    pub(crate) fn zeroed(architecture: Architecture, device: &Device) -> Self {
        let (infos, layers) = architecture
            .layers(device)
            .into_iter()
            .enumerate()
            .map(|(index, (name, layer))| {
                let info = LayerInfo {
                    index,
                    name,
                    kind: layer.kind(),
                };
                (info, layer)
            })
            .unzip();
        Self {
            layers,
            infos,
            architecture,
            batch_norm_folded: false,
        }
    }

    /// Replaces every parameter with its seeded initial value, under a
    /// parameter id derived from the seed too: burn writes ids into
    /// checkpoints, so counter-based ids would make two identical trainings
    /// save different bytes.
    fn initialised(mut self, seed: u64) -> Self {
        let device = self.device();
        let mut index = 0;
        let mut weight_shape = Vec::new();
        let mut init = |info: &ParamInfo, _: Tensor<1>| {
            if info.kind == ParamKind::Weight {
                weight_shape = info.shape.clone();
            }
            let value = crate::init::draw(info, &weight_shape, seed, index, &device);
            index += 1;
            value
        };
        let mut ids = |info: &ParamInfo| crate::init::param_id(seed, &info.name);
        for (info, layer) in self.infos.iter().zip(self.layers.iter_mut()) {
            for_each_param(info, layer, &mut init, &mut Some(&mut ids), Mode::Rewrite);
            if let Layer::BatchNorm(bn) = layer {
                // Batch norm starts at γ = 1, β = 0, mean 0, variance 1;
                // only its ids need fixing.
                let name = |field: &str| format!("{}.{field}", info.name);
                let id = |field: &str| crate::init::param_id(seed, &name(field));
                let BatchNorm {
                    gamma,
                    beta,
                    running_mean,
                    running_var,
                    ..
                } = bn;
                for (field, param) in [
                    ("gamma", gamma),
                    ("beta", beta),
                    ("running_mean", running_mean),
                    ("running_var", running_var),
                ] {
                    let (_, value, mapper) = param.clone().consume();
                    *param = Param::from_mapped_value(id(field), value, mapper);
                }
            }
        }
        self
    }

    /// Which architecture this is.
    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    /// The layers in forward order.
    pub fn layer_infos(&self) -> &[LayerInfo] {
        &self.infos
    }

    /// The layers with their descriptions.
    pub fn layers(&self) -> impl Iterator<Item = (&LayerInfo, &Layer)> {
        self.infos.iter().zip(&self.layers)
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.devices()
            .into_iter()
            .next()
            .expect("a network always has parameters")
    }

    /// Logits `[batch, classes]` for images `[batch, c, h, w]` in `[0,1]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_hooked(images, &NoHook)
    }

    /// The forward pass with `hook` applied to every parameter as it is used
    /// and to every layer's output, in evaluation mode: batch norm uses its
    /// running statistics and dropout is the identity, whatever the device
    /// (attacks differentiate this on an autodiff device).
    pub fn forward_hooked(&self, images: Tensor<4>, hook: &dyn LayerHook) -> Tensor<2> {
        let transform = hook.transforms_params();
        let mut x = Activation::Spatial(images);
        for (info, layer) in self.infos.iter().zip(&self.layers) {
            x = if transform && info.kind.has_params() {
                transformed(info, layer, hook).forward(x)
            } else {
                layer.forward(x)
            };
            x = hook.after(info, x);
        }
        logits(x)
    }

    /// The forward pass in training mode, for one optimiser step: batch norm
    /// normalises by the batch's statistics and moves its running statistics
    /// towards them (the only change to `self`), dropout drops activations
    /// with masks drawn from `seed` (one per step) and the layer's position.
    /// Hooks apply as in [`Network::forward_hooked`]. For a network without
    /// batch norm or dropout (LeNet-5) this is exactly `forward_hooked`.
    pub fn forward_train(
        &mut self,
        images: Tensor<4>,
        hook: &dyn LayerHook,
        seed: u64,
    ) -> Tensor<2> {
        let transform = hook.transforms_params();
        let mut x = Activation::Spatial(images);
        for (info, layer) in self.infos.iter().zip(self.layers.iter_mut()) {
            x = if transform && info.kind.has_params() {
                transformed(info, layer, hook).forward(x)
            } else {
                layer.forward_train(x, seed, info.index)
            };
            x = hook.after(info, x);
        }
        logits(x)
    }

    /// Folds every batch norm into the convolution before it and removes it:
    /// with `s = γ/√(var + ε)` per output channel, `W' = W·s` and
    /// `b' = β + (b − mean)·s` (`b = 0` for a convolution without bias, which
    /// then gets one, under β's parameter id). The result computes what the
    /// network computes in evaluation mode (within float rounding) with
    /// ordinary convolutions, so pruning masks and fixed-point grids apply to
    /// the weights the deployed network really uses. Layers after a folded
    /// batch norm move up one position; names are kept. The identity on a
    /// network without batch norm.
    ///
    /// Training a folded network trains the folded weights directly (there is
    /// no batch norm left); compressors fold before they start.
    pub fn fold_batch_norm(self) -> Self {
        let Network {
            layers: old_layers,
            infos: old_infos,
            architecture,
            batch_norm_folded,
        } = self;
        let had_batch_norm = old_infos.iter().any(|i| i.kind == LayerKind::BatchNorm);
        let mut layers: Vec<Layer> = Vec::with_capacity(old_layers.len());
        let mut infos: Vec<LayerInfo> = Vec::with_capacity(old_infos.len());
        for (info, layer) in old_infos.into_iter().zip(old_layers) {
            let bn = match layer {
                Layer::BatchNorm(bn) => bn,
                layer => {
                    infos.push(LayerInfo {
                        index: infos.len(),
                        ..info
                    });
                    layers.push(layer);
                    continue;
                }
            };
            match layers.last_mut() {
                Some(Layer::Conv(conv)) => fold_into(conv, &bn),
                _ => panic!(
                    "architecture bug: batch norm `{}` does not follow a convolution",
                    info.name
                ),
            }
        }
        Network {
            layers,
            infos,
            architecture,
            batch_norm_folded: batch_norm_folded || had_batch_norm,
        }
    }

    /// Whether this network's batch norms were folded into its convolutions
    /// ([`Network::fold_batch_norm`]); false for an architecture without
    /// batch norm.
    pub fn batch_norm_folded(&self) -> bool {
        self.batch_norm_folded
    }

    /// Every parameter's description, in forward order (weight before bias).
    pub fn param_infos(&self) -> Vec<ParamInfo> {
        self.params().into_iter().map(|(info, _)| info).collect()
    }

    /// Every parameter, flattened to rank 1, with its description.
    pub fn params(&self) -> Vec<(ParamInfo, Tensor<1>)> {
        let mut out = Vec::new();
        for (info, layer) in self.infos.iter().zip(&self.layers) {
            let mut layer = layer.clone();
            for_each_param(
                info,
                &mut layer,
                &mut |p, t| {
                    out.push((p.clone(), t.clone()));
                    t
                },
                &mut None,
                Mode::InGraph,
            );
        }
        out
    }

    /// One parameter by name (`conv1.weight`), flattened.
    pub fn param(&self, name: &str) -> Option<Tensor<1>> {
        self.params()
            .into_iter()
            .find(|(info, _)| info.name == name)
            .map(|(_, t)| t)
    }

    /// Rewrites every parameter through `f` (given and returning the flattened
    /// tensor). Parameter ids are kept, so optimiser state still applies; `f`
    /// sees the value without autodiff and the result is stored as a leaf
    /// with the old value's autodiff state, so this is safe between
    /// optimiser steps (re-applying a pruning mask after each one).
    pub fn map_params(mut self, f: &mut dyn FnMut(&ParamInfo, Tensor<1>) -> Tensor<1>) -> Self {
        for (info, layer) in self.infos.iter().zip(self.layers.iter_mut()) {
            for_each_param(info, layer, f, &mut None, Mode::Rewrite);
        }
        self
    }
}

/// The logits at the end of a forward pass.
fn logits(x: Activation) -> Tensor<2> {
    match x {
        Activation::Flat(logits) => logits,
        Activation::Spatial(t) => panic!(
            "architecture bug: network ends with feature maps {:?}",
            t.dims()
        ),
    }
}

/// A copy of a parametrised layer with the hook's parameter values.
fn transformed(info: &LayerInfo, layer: &Layer, hook: &dyn LayerHook) -> Layer {
    let mut layer = layer.clone();
    for_each_param(
        info,
        &mut layer,
        &mut |p, t| hook.param(p, t),
        &mut None,
        Mode::InGraph,
    );
    layer
}

/// Folds `bn` (evaluation mode) into `conv`; see [`Network::fold_batch_norm`].
fn fold_into(conv: &mut Conv2d, bn: &BatchNorm) {
    let (scale, shift) = bn.affine();
    let channels = bn.channels();
    let weight_scale = scale.clone().reshape([channels, 1, 1, 1]);
    conv.weight = rewrite(conv.weight.clone(), |w| {
        let w_scale = weight_scale.to_device(&w.device());
        w * w_scale
    });
    conv.bias = Some(match conv.bias.take() {
        Some(bias) => rewrite(bias, |b| {
            let device = b.device();
            b * scale.to_device(&device) + shift.to_device(&device)
        }),
        None => rewrite(bn.beta.clone(), |beta| shift.to_device(&beta.device())),
    });
}

/// `param` with its value replaced by `f` of its plain value, as a fresh
/// leaf with the old value's autodiff state and the same id (see
/// [`Mode::Rewrite`]).
fn rewrite<const D: usize>(
    param: Param<Tensor<D>>,
    f: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Param<Tensor<D>> {
    let (id, value, mapper) = param.consume();
    let autodiff = value.is_autodiff();
    let trainable = value.is_require_grad();
    let strategy = value.gradient_checkpointing_strategy();
    let mut new = f(value.without_autodiff());
    if autodiff {
        new = new.autodiff();
        if let Some(strategy) = strategy {
            new = new.with_gradient_checkpointing_strategy(strategy);
        }
    }
    let new = if trainable { new.require_grad() } else { new };
    Param::from_mapped_value(id, new, mapper)
}

/// Rewrites a parameter's value; the id is kept unless a new one is given.
type ValueFn<'a> = &'a mut dyn FnMut(&ParamInfo, Tensor<1>) -> Tensor<1>;
/// How a parameter function is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Inside the forward pass: the result stays in the autodiff graph, so
    /// gradients reach the stored parameter (straight-through estimators).
    InGraph,
    /// Replacing the stored value: the function sees the value without
    /// autodiff and the result becomes a fresh leaf with the old autodiff
    /// state (trainable or not).
    Rewrite,
}

/// Gives a parameter a new id.
type IdFn<'a> = Option<&'a mut dyn FnMut(&ParamInfo) -> ParamId>;

/// Calls `f` on each parameter of `layer`, replacing it with the result.
fn for_each_param(info: &LayerInfo, layer: &mut Layer, f: ValueFn, ids: &mut IdFn, mode: Mode) {
    match layer {
        Layer::Conv(Conv2d { weight, bias, .. }) => {
            map_param(info, ParamKind::Weight, weight, f, ids, mode);
            if let Some(bias) = bias {
                map_param(info, ParamKind::Bias, bias, f, ids, mode);
            }
        }
        Layer::Linear(Linear { weight, bias, .. }) => {
            map_param(info, ParamKind::Weight, weight, f, ids, mode);
            if let Some(bias) = bias {
                map_param(info, ParamKind::Bias, bias, f, ids, mode);
            }
        }
        // Batch norm's γ and β are not listed: compressors work on the
        // folded network (`Network::fold_batch_norm`), where they are part
        // of the convolution's weight and bias.
        Layer::Normalize(_)
        | Layer::MaxPool(_)
        | Layer::Flatten(_)
        | Layer::Relu(_)
        | Layer::Standardize(_)
        | Layer::BatchNorm(_)
        | Layer::Dropout(_)
        | Layer::AvgPool(_) => {}
    }
}

fn map_param<const D: usize>(
    layer: &LayerInfo,
    kind: ParamKind,
    param: &mut Param<Tensor<D>>,
    f: ValueFn,
    ids: &mut IdFn,
    mode: Mode,
) {
    let info = ParamInfo {
        name: format!(
            "{}.{}",
            layer.name,
            match kind {
                ParamKind::Weight => "weight",
                ParamKind::Bias => "bias",
            }
        ),
        layer: layer.name.clone(),
        layer_index: layer.index,
        kind,
        shape: param.shape().to_vec(),
    };
    // `consume` takes the parameter by value; cloning it only bumps reference
    // counts. The mapper carries the training state (is it trainable) over.
    let (id, value, mapper) = param.clone().consume();
    let id = ids.as_mut().map_or(id, |ids| ids(&info));
    let value = match mode {
        Mode::InGraph => unflat(&info, f(&info, flat(value))),
        Mode::Rewrite => {
            // What burn's optimiser captures and restores around its own
            // update: the new value must be a leaf with the old one's
            // autodiff state, or the next backward pass meets a node of a
            // graph whose tape is already consumed.
            let rewritten = rewrite(Param::from_mapped_value(id, value, mapper), |v| {
                unflat(&info, f(&info, flat(v)))
            });
            *param = rewritten;
            return;
        }
    };
    *param = Param::from_mapped_value(id, value, mapper);
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::layer::{Flatten, GlobalAvgPool, Standardize};

    fn cpu() -> Device {
        advcomp_backend::device(advcomp_backend::BackendKind::Cpu).expect("default CPU backend")
    }

    fn random(n: usize, lo: f64, hi: f64, device: &Device) -> Tensor<1> {
        Tensor::random([n], Distribution::Uniform(lo, hi), device)
    }

    /// Gives every batch norm of `net` random γ, β and running statistics,
    /// as after training.
    fn randomise_batch_norms(mut net: Network) -> Network {
        let device = net.device();
        for layer in &mut net.layers {
            if let Layer::BatchNorm(bn) = layer {
                let c = bn.channels();
                bn.gamma = Param::from_tensor(random(c, 0.5, 1.5, &device));
                bn.beta = Param::from_tensor(random(c, -0.5, 0.5, &device));
                bn.running_mean =
                    Param::from_tensor(random(c, -0.5, 0.5, &device)).set_require_grad(false);
                bn.running_var =
                    Param::from_tensor(random(c, 0.2, 2.0, &device)).set_require_grad(false);
            }
        }
        net
    }

    /// conv (with bias) → bn → relu → conv (no bias) → bn → relu → pool →
    /// 1×1 conv → flatten, on 3×8×8 inputs.
    fn small_net(device: &Device) -> Network {
        let conv = |cin, cout, k, bias| {
            Layer::Conv(
                Conv2dConfig::new([cin, cout], [k, k])
                    .with_bias(bias)
                    .init(device),
            )
        };
        let bn = |c| Layer::BatchNorm(BatchNorm::new(c, 0.9, 1e-3, device));
        let layers = vec![
            ("normalize", Layer::Standardize(Standardize {})),
            ("conv0", conv(3, 6, 3, true)),
            ("bn0", bn(6)),
            ("relu0", Layer::relu()),
            ("conv1", conv(6, 5, 3, false)),
            ("bn1", bn(5)),
            ("relu1", Layer::relu()),
            ("pool", Layer::AvgPool(GlobalAvgPool {})),
            ("logits", conv(5, 10, 1, true)),
            ("flatten", Layer::Flatten(Flatten {})),
        ];
        let (infos, layers) = layers
            .into_iter()
            .enumerate()
            .map(|(index, (name, layer))| {
                let info = LayerInfo {
                    index,
                    name: name.to_string(),
                    kind: layer.kind(),
                };
                (info, layer)
            })
            .unzip();
        randomise_batch_norms(Network {
            layers,
            infos,
            architecture: Architecture::CIFARNET,
            batch_norm_folded: false,
        })
    }

    fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn folding_batch_norm_keeps_the_logits() {
        let device = cpu();
        let net = small_net(&device);
        let x = Tensor::<4>::random([4, 3, 8, 8], Distribution::Uniform(0.0, 1.0), &device);
        let unfolded = net.forward(x.clone());
        let folded = net.clone().fold_batch_norm();
        assert!(folded.batch_norm_folded());
        assert!(!net.batch_norm_folded());
        let diff = max_abs_diff(unfolded.clone(), folded.forward(x));
        assert!(diff <= 1e-5, "folded logits differ by {diff}");
        assert!(unfolded.abs().max().into_scalar::<f32>() > 0.01);
        // Both convolutions have a bias after folding, and no batch norm is left.
        let names: Vec<String> = folded.param_infos().into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "conv0.weight",
                "conv0.bias",
                "conv1.weight",
                "conv1.bias",
                "logits.weight",
                "logits.bias"
            ]
        );
        let kinds: Vec<LayerKind> = folded.layer_infos().iter().map(|l| l.kind).collect();
        assert!(!kinds.contains(&LayerKind::BatchNorm));
        let indices: Vec<usize> = folded.layer_infos().iter().map(|l| l.index).collect();
        assert_eq!(indices, (0..indices.len()).collect::<Vec<_>>());
        // Folding twice changes nothing.
        let again = folded.clone().fold_batch_norm();
        assert_eq!(again.layer_infos(), folded.layer_infos());
    }

    #[test]
    fn folding_cifarnet_keeps_the_logits() {
        let device = cpu();
        let net = randomise_batch_norms(Network::new(Architecture::CIFARNET, &device, 3));
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &device);
        let unfolded = net.forward(x.clone());
        let folded = net.fold_batch_norm().forward(x);
        let scale = unfolded.clone().abs().max().into_scalar::<f32>().max(1.0);
        let diff = max_abs_diff(unfolded, folded);
        assert!(
            diff <= 1e-5 * scale,
            "folded logits differ by {diff} (scale {scale})"
        );
    }

    #[test]
    fn cifarnet_trains_and_differentiates_with_the_right_shapes() {
        let device = cpu().autodiff();
        let mut net = Network::new(Architecture::CIFARNET, &device, 5);
        let x = Tensor::<4>::random([3, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &device);
        let before = net.valid().forward(x.clone().without_autodiff());
        let logits = net.forward_train(x.clone(), &NoHook, 11);
        assert_eq!(logits.dims(), [3, 10]);
        let grads = logits.sum().backward();
        let mut shapes = Vec::new();
        for (_, layer) in net.layers() {
            match layer {
                Layer::Conv(c) => shapes.push(
                    c.weight
                        .val()
                        .grad(&grads)
                        .expect("conv weight grad")
                        .dims()
                        .to_vec(),
                ),
                Layer::BatchNorm(bn) => {
                    shapes.push(
                        bn.gamma
                            .val()
                            .grad(&grads)
                            .expect("gamma grad")
                            .dims()
                            .to_vec(),
                    );
                    shapes.push(
                        bn.beta
                            .val()
                            .grad(&grads)
                            .expect("beta grad")
                            .dims()
                            .to_vec(),
                    );
                    assert!(bn.running_mean.val().grad(&grads).is_none());
                }
                _ => {}
            }
        }
        assert_eq!(shapes.len(), 9 + 16);
        assert_eq!(shapes[0], [64, 3, 3, 3]);
        assert_eq!(shapes[1], [64]);
        assert_eq!(shapes.last().unwrap(), &[10, 192, 1, 1]);
        // The training step moved the running statistics, so evaluation changed.
        let after = net.valid().forward(x.without_autodiff());
        assert!(max_abs_diff(before, after) > 0.0);
    }

    #[test]
    fn dropout_drops_in_training_only_and_repeats_with_its_seed() {
        let device = cpu();
        let mut dropout = Layer::Dropout(crate::layer::Dropout { prob: 0.5 });
        let x = Tensor::<2>::ones([4, 1000], &device);
        let eval = match dropout.forward(Activation::Flat(x.clone())) {
            Activation::Flat(t) => t,
            _ => unreachable!(),
        };
        assert_eq!(max_abs_diff(eval, x.clone()), 0.0);
        let mut train = |seed| match dropout.forward_train(Activation::Flat(x.clone()), seed, 3) {
            Activation::Flat(t) => t.into_data().try_to_vec::<f32>().unwrap(),
            _ => unreachable!(),
        };
        let (a, b, c) = (train(1), train(1), train(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|&v| v == 0.0 || v == 2.0));
        let kept = a.iter().filter(|&&v| v != 0.0).count();
        assert!((1800..2200).contains(&kept), "{kept} of 4000 kept");
    }

    #[test]
    fn input_gradients_flow_through_eval_mode_batch_norm() {
        let device = cpu();
        let net = randomise_batch_norms(Network::new(Architecture::CIFARNET, &device, 2));
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &device)
            .autodiff()
            .require_grad();
        let logits = net.forward(x.clone());
        let grads = logits.slice([0..2, 0..1]).sum().backward();
        let g = x.grad(&grads).expect("input gradient");
        assert_eq!(g.dims(), [2, 3, 32, 32]);
        let g = g.abs();
        assert!(g.clone().max().into_scalar::<f32>() > 0.0);
        assert!(g.sum().into_scalar::<f32>().is_finite());
    }
}
