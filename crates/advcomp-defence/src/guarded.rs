//! A defended model as an attacker who knows the key sees it: the
//! classifier plus a differentiable view of its detector
//! ([`Classifier::screen`]), which adaptive attacks such as `adaptive_pgd`
//! minimise so their samples fool the model *and* pass its detector.

use std::cell::RefCell;

use advcomp_models::{
    Activation, Classifier, HookChain, LayerHook, LayerInfo, Network, NoHook, Screened,
};
use burn::Tensor;

use crate::defence::{Defence, LayerCheck};

/// A network (optionally behind a compressor's hook) guarded by a keyed
/// defence's detector. Its logits are exactly the unguarded model's: the
/// detector only reads activations.
pub struct Guarded<'a> {
    network: &'a Network,
    hook: Option<&'a dyn LayerHook>,
    defence: &'a dyn Defence,
}

impl<'a> Guarded<'a> {
    /// `network` guarded by `defence`.
    pub fn new(network: &'a Network, defence: &'a dyn Defence) -> Self {
        Self {
            network,
            hook: None,
            defence,
        }
    }

    /// The same with `hook` (e.g. a compressor's) applied before the
    /// detector at every layer, as at deployment.
    pub fn with_hook(mut self, hook: &'a dyn LayerHook) -> Self {
        self.hook = Some(hook);
        self
    }
}

impl Classifier for Guarded<'_> {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.network
            .forward_hooked(images, self.hook.unwrap_or(&NoHook))
    }

    fn num_classes(&self) -> usize {
        self.network.num_classes()
    }

    fn screen(&self, images: Tensor<4>, headroom: f64) -> Option<Screened> {
        let screen = ScreenHook {
            defence: self.defence,
            headroom,
            penalty: RefCell::default(),
            check: RefCell::default(),
        };
        let chain = HookChain::new()
            .with(self.hook.unwrap_or(&NoHook))
            .with(&screen);
        let logits = self.network.forward_hooked(images, &chain);
        let batch = logits.dims()[0];
        let zeros = || Tensor::<1>::zeros([batch], &logits.device());
        let penalty = screen.penalty.take().unwrap_or_else(zeros);
        let excess = screen
            .check
            .take()
            .map_or_else(|| zeros() - 1.0, |c| c.margin);
        Some(Screened {
            logits,
            penalty,
            excess,
        })
    }
}

/// Sums [`Defence::evasion`] and keeps the worst [`Defence::check`] over
/// the monitored layers of one forward pass, leaving activations unchanged.
struct ScreenHook<'a> {
    defence: &'a dyn Defence,
    headroom: f64,
    penalty: RefCell<Option<Tensor<1>>>,
    check: RefCell<Option<LayerCheck>>,
}

impl LayerHook for ScreenHook<'_> {
    fn after(&self, layer: &LayerInfo, activation: Activation) -> Activation {
        if let Some(p) = self
            .defence
            .evasion(&layer.name, &activation, self.headroom)
        {
            let mut sum = self.penalty.borrow_mut();
            *sum = Some(match sum.take() {
                Some(previous) => previous + p,
                None => p,
            });
        }
        if let Some(c) = self.defence.check(&layer.name, &activation) {
            let mut worst = self.check.borrow_mut();
            *worst = Some(match worst.take() {
                Some(previous) => previous.worst(c),
                None => c,
            });
        }
        activation
    }
}
