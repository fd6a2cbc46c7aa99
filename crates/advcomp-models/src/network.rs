//! A network: named layers applied in order, with hooks.

use burn::Tensor;
use burn::module::{Module, Param, ParamId};
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::tensor::Device;

use crate::activation::Activation;
use crate::architecture::Architecture;
use crate::hook::{LayerHook, LayerInfo, NoHook};
use crate::layer::Layer;
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
    /// and to every layer's output.
    pub fn forward_hooked(&self, images: Tensor<4>, hook: &dyn LayerHook) -> Tensor<2> {
        let transform = hook.transforms_params();
        let mut x = Activation::Spatial(images);
        for (info, layer) in self.infos.iter().zip(&self.layers) {
            x = if transform && info.kind.has_params() {
                self.transformed(info, layer, hook).forward(x)
            } else {
                layer.forward(x)
            };
            x = hook.after(info, x);
        }
        match x {
            Activation::Flat(logits) => logits,
            Activation::Spatial(t) => panic!(
                "architecture bug: network ends with feature maps {:?}",
                t.dims()
            ),
        }
    }

    /// A copy of a parametrised layer with the hook's parameter values.
    fn transformed(&self, info: &LayerInfo, layer: &Layer, hook: &dyn LayerHook) -> Layer {
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
        Layer::Normalize(_) | Layer::MaxPool(_) | Layer::Flatten(_) | Layer::Relu(_) => {}
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
            let autodiff = value.is_autodiff();
            let trainable = value.is_require_grad();
            let strategy = value.gradient_checkpointing_strategy();
            let mut new: Tensor<D> = unflat(&info, f(&info, flat(value.without_autodiff())));
            if autodiff {
                new = new.autodiff();
                if let Some(strategy) = strategy {
                    new = new.with_gradient_checkpointing_strategy(strategy);
                }
            }
            if trainable { new.require_grad() } else { new }
        }
    };
    *param = Param::from_mapped_value(id, value, mapper);
}
