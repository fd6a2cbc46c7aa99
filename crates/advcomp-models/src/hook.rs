//! Operations inserted into the forward pass without editing the network.

use std::cell::RefCell;

use burn::Tensor;

use crate::activation::Activation;
use crate::layer::LayerKind;
use crate::params::ParamInfo;

/// Describes a layer to a hook.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerInfo {
    /// Position in the network (0 is the normalisation layer).
    pub index: usize,
    /// Unique name, e.g. `conv1`, `relu3`, `fc2`.
    pub name: String,
    /// What the layer is.
    pub kind: LayerKind,
}

/// Something inserted into a network's forward pass.
///
/// Both methods default to the identity, so a hook overrides only what it
/// changes. Whatever a hook does is part of the autodiff graph: training sees
/// its effect in the loss and attacks get input gradients through it (a
/// quantising hook supplies its own straight-through estimator).
pub trait LayerHook {
    /// Called with each layer's output; returns what the next layer receives.
    fn after(&self, layer: &LayerInfo, activation: Activation) -> Activation {
        let _ = layer;
        activation
    }

    /// Whether [`LayerHook::param`] does anything. When false the forward pass
    /// skips the flatten/reshape round trip for every parameter.
    fn transforms_params(&self) -> bool {
        false
    }

    /// Called with each parameter (flattened) as the forward pass uses it;
    /// returns the value to use. The stored parameter is not changed.
    fn param(&self, param: &ParamInfo, value: Tensor<1>) -> Tensor<1> {
        let _ = param;
        value
    }
}

/// The hook that changes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl LayerHook for NoHook {}

/// Several hooks applied in order (the first hook's output feeds the second).
#[derive(Default)]
pub struct HookChain<'a> {
    hooks: Vec<&'a dyn LayerHook>,
}

impl<'a> HookChain<'a> {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a hook.
    pub fn with(mut self, hook: &'a dyn LayerHook) -> Self {
        self.hooks.push(hook);
        self
    }
}

impl LayerHook for HookChain<'_> {
    fn after(&self, layer: &LayerInfo, activation: Activation) -> Activation {
        self.hooks.iter().fold(activation, |a, h| h.after(layer, a))
    }

    fn transforms_params(&self) -> bool {
        self.hooks.iter().any(|h| h.transforms_params())
    }

    fn param(&self, param: &ParamInfo, value: Tensor<1>) -> Tensor<1> {
        self.hooks.iter().fold(value, |v, h| {
            if h.transforms_params() {
                h.param(param, v)
            } else {
                v
            }
        })
    }
}

/// Records intermediate activations by layer name during a forward pass.
///
/// The recorded tensors are the live graph nodes, so a loss built from them
/// (a Taboo Trap penalty, say) back-propagates into the network.
#[derive(Debug, Default)]
pub struct ActivationRecorder {
    only: Option<Vec<String>>,
    recorded: RefCell<Vec<(String, Activation)>>,
}

impl ActivationRecorder {
    /// Records every layer's output.
    pub fn all() -> Self {
        Self::default()
    }

    /// Records only the named layers' outputs.
    pub fn only<S: Into<String>>(layers: impl IntoIterator<Item = S>) -> Self {
        Self {
            only: Some(layers.into_iter().map(Into::into).collect()),
            recorded: RefCell::default(),
        }
    }

    /// Removes and returns what was recorded, in forward order.
    pub fn take(&self) -> Vec<(String, Activation)> {
        self.recorded.take()
    }

    /// The most recent activation recorded for `layer`.
    pub fn get(&self, layer: &str) -> Option<Activation> {
        self.recorded
            .borrow()
            .iter()
            .rev()
            .find(|(n, _)| n == layer)
            .map(|(_, a)| a.clone())
    }
}

impl LayerHook for ActivationRecorder {
    fn after(&self, layer: &LayerInfo, activation: Activation) -> Activation {
        let wanted = self
            .only
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == &layer.name));
        if wanted {
            self.recorded
                .borrow_mut()
                .push((layer.name.clone(), activation.clone()));
        }
        activation
    }
}
