//! The training loop.

use std::time::Instant;

use advcomp_data::Dataset;
use advcomp_models::{LayerHook, Network, NoHook};
use burn::Tensor;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int};

use crate::batch;
use crate::config::{OptimizerConfig, TrainConfig};
use crate::schedule::Progress;

/// What a caller can insert into training: used by compressors (masks after
/// each step, quantisation in the forward pass) and defences (penalty terms).
pub trait TrainHooks {
    /// A hook for the forward pass, if any.
    fn layer_hook(&self) -> Option<&dyn LayerHook> {
        None
    }

    /// An extra loss term for this batch, computed after the forward pass
    /// (e.g. from activations a recording hook captured), added to the
    /// cross-entropy. Must be a scalar tensor `[1]`.
    fn extra_loss(&self, logits: &Tensor<2>) -> Option<Tensor<1>> {
        let _ = logits;
        None
    }

    /// Rewrites the network after each optimiser step (e.g. re-applies a pruning mask).
    fn after_step(&mut self, network: Network) -> Network {
        network
    }

    /// Replaces the batch's images before the forward pass (e.g. with
    /// adversarial examples made on the current `network`, for adversarial
    /// training). `images` and the result are `[batch, c, h, w]` in `[0,1]`
    /// on the training (autodiff) device; `labels` are the batch's true
    /// classes. The default keeps the images, so plain training, compressors
    /// and penalty-only defences are unaffected.
    fn transform_batch(
        &mut self,
        network: &Network,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
    ) -> Tensor<4> {
        let _ = (network, labels);
        images
    }
}

/// No hooks: plain training.
impl TrainHooks for () {}

/// Two sets of hooks in one training run: `inner` (e.g. a compression's
/// constraints) and `outer` (e.g. a defence's penalty). In the forward
/// pass `inner`'s hook runs first, so `outer` sees what the deployed model
/// computes (fake-quantised activations); their extra losses add; after a
/// step `outer` runs first and `inner` last, so `inner`'s constraints
/// (masks) hold on the weights the step leaves; a batch goes through
/// `outer`'s transform, then `inner`'s.
pub struct HookPair<'a> {
    inner: &'a mut dyn TrainHooks,
    outer: &'a mut dyn TrainHooks,
}

impl<'a> HookPair<'a> {
    /// `inner` and `outer` together (see [`HookPair`]).
    pub fn new(inner: &'a mut dyn TrainHooks, outer: &'a mut dyn TrainHooks) -> Self {
        Self { inner, outer }
    }
}

impl LayerHook for HookPair<'_> {
    fn after(
        &self,
        layer: &advcomp_models::LayerInfo,
        activation: advcomp_models::Activation,
    ) -> advcomp_models::Activation {
        let activation = match self.inner.layer_hook() {
            Some(h) => h.after(layer, activation),
            None => activation,
        };
        match self.outer.layer_hook() {
            Some(h) => h.after(layer, activation),
            None => activation,
        }
    }

    fn transforms_params(&self) -> bool {
        [self.inner.layer_hook(), self.outer.layer_hook()]
            .into_iter()
            .flatten()
            .any(|h| h.transforms_params())
    }

    fn param(&self, param: &advcomp_models::ParamInfo, value: Tensor<1>) -> Tensor<1> {
        let value = match self.inner.layer_hook() {
            Some(h) => h.param(param, value),
            None => value,
        };
        match self.outer.layer_hook() {
            Some(h) => h.param(param, value),
            None => value,
        }
    }
}

impl TrainHooks for HookPair<'_> {
    fn layer_hook(&self) -> Option<&dyn LayerHook> {
        (self.inner.layer_hook().is_some() || self.outer.layer_hook().is_some())
            .then_some(self as &dyn LayerHook)
    }

    fn extra_loss(&self, logits: &Tensor<2>) -> Option<Tensor<1>> {
        match (self.inner.extra_loss(logits), self.outer.extra_loss(logits)) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        }
    }

    fn after_step(&mut self, network: Network) -> Network {
        let network = self.outer.after_step(network);
        self.inner.after_step(network)
    }

    fn transform_batch(
        &mut self,
        network: &Network,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
    ) -> Tensor<4> {
        let images = self.outer.transform_batch(network, images, labels.clone());
        self.inner.transform_batch(network, images, labels)
    }
}

/// Told about progress; the CLI draws progress bars with it.
pub trait TrainObserver {
    /// An epoch of `batches` steps begins.
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        let _ = (epoch, batches);
    }
    /// A step finished with this mini-batch loss.
    fn batch_end(&mut self, epoch: usize, batch: usize, loss: f32) {
        let _ = (epoch, batch, loss);
    }
    /// An epoch finished.
    fn epoch_end(&mut self, stats: &EpochStats) {
        let _ = stats;
    }
}

/// Observes nothing.
impl TrainObserver for () {}

/// Per-epoch training statistics. `seconds` is wall time and so differs
/// between runs; everything else is deterministic on CPU.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate of the epoch's first step (a schedule may lower it at
    /// every step: [`LrSchedule`](crate::LrSchedule)).
    pub learning_rate: f64,
    /// Mean mini-batch loss (cross-entropy plus any extra term).
    pub train_loss: f64,
    /// Accuracy on the training batches as they were seen (before each step).
    pub train_accuracy: f64,
    /// Wall time of the epoch.
    #[serde(skip)]
    pub seconds: f64,
}

/// The outcome of a training run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainReport {
    /// One entry per epoch.
    pub epochs: Vec<EpochStats>,
    /// Wall time of the whole run (not part of the deterministic record).
    #[serde(skip)]
    pub seconds: f64,
    /// Training images per second.
    #[serde(skip)]
    pub images_per_second: f64,
}

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A hyper-parameter is out of range.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The data does not fit the network.
    #[error(
        "{architecture} expects images of shape {expected:?}, but the {dataset} data has {found:?}"
    )]
    ShapeMismatch {
        /// The network's architecture name.
        architecture: String,
        /// The dataset's name.
        dataset: String,
        /// `[c, h, w]` the network takes.
        expected: [usize; 3],
        /// `[c, h, w]` the data has.
        found: [usize; 3],
    },
    /// There is nothing to train on.
    #[error("the training set is empty")]
    EmptyData,
    /// The loss became NaN or infinite.
    #[error("training diverged in epoch {epoch} (loss {loss}); lower the learning rate")]
    Diverged {
        /// 0-based epoch.
        epoch: usize,
        /// The offending loss.
        loss: f64,
    },
}

/// Trains networks with a [`TrainConfig`].
#[derive(Debug, Clone)]
pub struct Trainer {
    config: TrainConfig,
}

/// The seed of one step's dropout masks: SplitMix64 of the run's seed, the
/// epoch and the batch, so every step draws different masks and a run is
/// repeatable.
fn dropout_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    let mut z = seed
        ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (batch as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Trainer {
    /// A trainer for `config` (checked here, so errors name the field).
    pub fn new(config: TrainConfig) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Checks that `data` fits `network`.
    pub fn check_data(network: &Network, data: &Dataset) -> Result<(), TrainError> {
        let arch = network.architecture();
        let found = [data.shape.channels, data.shape.height, data.shape.width];
        if found != arch.input_shape() {
            return Err(TrainError::ShapeMismatch {
                architecture: arch.to_string(),
                dataset: data.kind.to_string(),
                expected: arch.input_shape(),
                found,
            });
        }
        if data.is_empty() {
            return Err(TrainError::EmptyData);
        }
        Ok(())
    }

    fn optimizer(&self) -> ModuleOptimizer {
        let decay = (self.config.weight_decay > 0.0)
            .then(|| WeightDecayConfig::new(self.config.weight_decay as f32));
        match self.config.optimizer {
            OptimizerConfig::Sgd { momentum, nesterov } => SgdConfig::new()
                .with_momentum((momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_nesterov(nesterov)
                }))
                .with_weight_decay(decay)
                .init(),
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
            } => AdamConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(epsilon as f32)
                .with_weight_decay(decay)
                .init(),
        }
    }

    /// Trains `network` on `data` and returns it (in training mode on an
    /// autodiff version of `device`) with per-epoch statistics.
    ///
    /// The network's initial weights are the caller's business
    /// ([`Network::new`] takes a seed); the batch order follows `config.seed`.
    pub fn fit(
        &self,
        network: Network,
        data: &Dataset,
        device: &Device,
        hooks: &mut dyn TrainHooks,
        observer: &mut dyn TrainObserver,
    ) -> Result<(Network, TrainReport), TrainError> {
        Self::check_data(&network, data)?;
        let cfg = &self.config;
        let device = device.clone().autodiff();
        let mut network = network.fork(&device).train();
        let mut optimizer = self.optimizer();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let started = Instant::now();
        let mut epochs = Vec::with_capacity(cfg.epochs);
        for epoch in 0..cfg.epochs {
            let epoch_started = Instant::now();
            let order = batch::epoch_order(data.len(), cfg.seed, epoch);
            let batches: Vec<&[usize]> = order.chunks(cfg.batch_size).collect();
            let progress = |batch| Progress {
                epoch,
                epochs: cfg.epochs,
                batch,
                batches: batches.len(),
            };
            let epoch_lr = cfg.schedule.rate(cfg.learning_rate, progress(0));
            observer.epoch_start(epoch, batches.len());
            let (mut loss_sum, mut correct) = (0.0f64, 0usize);
            for (b, rows) in batches.iter().enumerate() {
                let images = batch::images(data, rows, &device);
                let targets = batch::labels(data, rows, &device);
                let images = hooks.transform_batch(&network, images, targets.clone());
                let step_seed = dropout_seed(cfg.seed, epoch, b);
                let logits = match hooks.layer_hook() {
                    Some(hook) => network.forward_train(images, hook, step_seed),
                    None => network.forward_train(images, &NoHook, step_seed),
                };
                let mut loss = loss_fn.forward(logits.clone(), targets.clone());
                if let Some(extra) = hooks.extra_loss(&logits) {
                    loss = loss + extra;
                }
                let hits = logits
                    .argmax(1)
                    .squeeze_dim::<1>(1)
                    .equal(targets)
                    .int()
                    .sum();
                let grads = GradientsParams::from_grads(loss.backward(), &network);
                let lr = cfg.schedule.rate(cfg.learning_rate, progress(b));
                network = optimizer.step(lr, network, grads);
                network = hooks.after_step(network);
                // One host read per step: on CPU backends the work is already
                // done; it also lets us stop on divergence at once.
                let loss_value = loss.into_scalar::<f32>();
                if !loss_value.is_finite() {
                    return Err(TrainError::Diverged {
                        epoch,
                        loss: f64::from(loss_value),
                    });
                }
                loss_sum += f64::from(loss_value) * rows.len() as f64;
                correct += hits.into_scalar::<i64>() as usize;
                observer.batch_end(epoch, b, loss_value);
            }
            let stats = EpochStats {
                epoch,
                learning_rate: epoch_lr,
                train_loss: loss_sum / data.len() as f64,
                train_accuracy: correct as f64 / data.len() as f64,
                seconds: epoch_started.elapsed().as_secs_f64(),
            };
            tracing::info!(
                epoch,
                lr = epoch_lr,
                loss = stats.train_loss,
                accuracy = stats.train_accuracy,
                seconds = stats.seconds,
                "epoch finished"
            );
            observer.epoch_end(&stats);
            epochs.push(stats);
        }
        let seconds = started.elapsed().as_secs_f64();
        let images_per_second = (cfg.epochs * data.len()) as f64 / seconds.max(1e-9);
        Ok((
            network,
            TrainReport {
                epochs,
                seconds,
                images_per_second,
            },
        ))
    }
}
