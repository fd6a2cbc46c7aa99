//! Fine-tuning under compression constraints.

use advcomp_data::Dataset;
use advcomp_models::{LayerHook, Network};
use advcomp_train::{LrSchedule, OptimizerConfig, TrainConfig, TrainHooks, TrainObserver, Trainer};
use burn::module::Module;
use burn::tensor::Device;

use crate::calibrate;
use crate::config::{FinetuneConfig, PruneTarget, QuantMethod, Scope};
use crate::dns::Surgery;
use crate::hook::CompressHook;
use crate::mask::{self, Masks};
use crate::registry::CompressorKind;
use crate::state::{CompressionState, PrunePhase};

/// DNS hysteresis with a density: with `t` the magnitude that keeps exactly
/// the target share, weights below `(1 - BAND)·t` are cut, weights above
/// `(1 + BAND)·t` are spliced (back) in, and the ones between keep their
/// state — Guo et al.'s two thresholds `a_k < b_k`, placed around the
/// target density's threshold rather than at `μ + cσ` so the density asked
/// is the density reached. With `alpha`, [`crate::dns`] applies the paper's
/// own `μ + α·σ` rule.
pub const DNS_BAND: f32 = 0.1;

/// Zhu & Gupta's gradual pruning reaches its final density at this share of
/// the fine-tuning steps; the rest fine-tunes at that density.
pub const GRADUAL_END: f64 = 0.75;

/// Number of mask updates on the gradual schedule.
pub const GRADUAL_UPDATES: usize = 10;

/// The training-side hooks: the forward hook plus what happens after each
/// optimiser step.
struct Hooks<'a> {
    hook: CompressHook,
    state: &'a mut CompressionState,
    train: &'a Dataset,
    device: &'a Device,
    step: usize,
    steps_per_epoch: usize,
    total_steps: usize,
    /// DNS with `alpha`: the update draws.
    surgery: Option<Surgery>,
}

/// Zhu & Gupta's cubic schedule: the density after `step` of `total` steps,
/// from 1 down to `final_density`, reached at [`GRADUAL_END`] of the steps.
pub fn gradual_density(step: usize, total: usize, final_density: f64) -> f64 {
    let end = (GRADUAL_END * total as f64).max(1.0);
    let progress = (step as f64 / end).min(1.0);
    final_density + (1.0 - final_density) * (1.0 - progress).powi(3)
}

impl TrainHooks for Hooks<'_> {
    fn layer_hook(&self) -> Option<&dyn LayerHook> {
        (!self.hook.is_identity()).then_some(&self.hook as &dyn LayerHook)
    }

    fn after_step(&mut self, network: Network) -> Network {
        self.step += 1;
        let mut network = network;
        if let Some(p) = self.state.pruning.as_mut() {
            match p.phase {
                PrunePhase::Fixed => network = p.masks.apply(network),
                PrunePhase::Gradual => {
                    let every = (self.total_steps / GRADUAL_UPDATES).max(1);
                    if self.step.is_multiple_of(every) || self.step == self.total_steps {
                        let d = gradual_density(
                            self.step,
                            self.total_steps,
                            crate::pipeline::density_of(&p.config),
                        );
                        p.masks = match p.config.scope {
                            Scope::Layer => mask::magnitude_per_layer(&network, d),
                            Scope::Global => mask::magnitude_global(&network, d),
                        };
                    }
                    network = p.masks.apply(network);
                }
                PrunePhase::Surgery => {
                    if let Some(surgery) = self.surgery.as_mut() {
                        // With `alpha`: Guo et al.'s rule, at random iterations.
                        p.iterations += 1;
                        if surgery.step(&network, &mut p.masks, p.iterations) {
                            self.hook.surgery = p.masks.keep.clone();
                        }
                    } else {
                        let density = crate::pipeline::density_of(&p.config);
                        p.masks = surgery_update(&network, &p.masks, density);
                        self.hook.surgery = p.masks.keep.clone();
                    }
                }
            }
        }
        let epoch_end = self.step.is_multiple_of(self.steps_per_epoch);
        if epoch_end
            && let Some(q) = self.state.quant.as_mut()
            && q.config.method == QuantMethod::Dynamic
        {
            q.weight_formats = calibrate::weight_formats(&network, &q.config);
            q.act_formats =
                calibrate::activation_formats(&network, self.train, &q.config, self.device);
            self.hook.weight_formats = q.weight_formats.clone();
            self.hook.act_formats = q.act_formats.clone();
        }
        network
    }
}

/// One DNS mask update (see [`DNS_BAND`]).
pub fn surgery_update(network: &Network, masks: &Masks, density: f64) -> Masks {
    let mut keep = masks.keep.clone();
    for (info, w) in mask::weights(network) {
        let Some(current) = keep.get_mut(&info.name) else {
            continue;
        };
        let k = Masks::kept_count(density, w.len());
        let mut mags: Vec<f32> = w.iter().map(|v| v.abs()).collect();
        let t = if k == 0 {
            f32::INFINITY
        } else {
            let (_, kth, _) = mags.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            *kth
        };
        let (lo, hi) = ((1.0 - DNS_BAND) * t, (1.0 + DNS_BAND) * t);
        for (keep, v) in current.iter_mut().zip(&w) {
            let a = v.abs();
            if a < lo {
                *keep = false;
            } else if a >= hi {
                *keep = true;
            }
        }
    }
    Masks { keep }
}

/// The hook for training a network in `state`.
pub fn training_hook(state: &CompressionState) -> CompressHook {
    let mut hook = CompressHook::default();
    if let Some(p) = &state.pruning
        && p.phase == PrunePhase::Surgery
    {
        hook.surgery = p.masks.keep.clone();
    }
    if let Some(q) = &state.quant {
        hook.weight_formats = q.weight_formats.clone();
        hook.act_formats = q.act_formats.clone();
    }
    for kind in CompressorKind::ALL {
        hook.projections.extend(
            state
                .projections
                .iter()
                .filter(|p| p.kind() == kind)
                .cloned(),
        );
    }
    hook
}

/// Fine-tunes `network` (plain device) under `state`'s constraints and
/// returns it in inference mode on the plain device; `state` is updated
/// (DNS masks, dynamic formats).
pub fn finetune(
    network: Network,
    state: &mut CompressionState,
    config: &FinetuneConfig,
    train: &Dataset,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<Network, advcomp_train::TrainError> {
    if config.epochs == 0 {
        return Ok(network);
    }
    let train_config = TrainConfig {
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.lr,
        schedule: LrSchedule::Cosine { min_lr: 0.0 },
        optimizer: OptimizerConfig::sgd(),
        weight_decay: 5e-4,
        seed: config.seed,
    };
    let trainer = Trainer::new(train_config)?;
    let steps_per_epoch = train.len().div_ceil(config.batch_size).max(1);
    let surgery = state
        .pruning
        .as_ref()
        .and_then(|p| match p.config.target() {
            PruneTarget::Alpha(alpha) if p.phase == PrunePhase::Surgery => {
                Some(Surgery::new(alpha, config.seed, p.iterations))
            }
            _ => None,
        });
    let mut hooks = Hooks {
        hook: training_hook(state),
        state,
        train,
        device,
        step: 0,
        steps_per_epoch,
        total_steps: steps_per_epoch * config.epochs,
        surgery,
    };
    let network = network.fork(&device.clone().autodiff());
    let (network, _) = trainer.fit(network, train, device, &mut hooks, observer)?;
    if let Some(p) = hooks.state.pruning.as_mut()
        && p.phase == PrunePhase::Gradual
    {
        // The schedule has reached its final density.
        p.phase = PrunePhase::Fixed;
    }
    Ok(network.valid().fork(&device.clone().without_autodiff()))
}

/// Trains `model`'s network with `trainer` and the caller's `extra` hooks
/// (a defence's penalty) under `model`'s compression, as a `finetune` step
/// trains: masks re-applied after every optimiser step, grids and
/// projections in the forward pass with the straight-through estimator
/// (`extra` sees the activations the compressed model computes), dynamic
/// formats recomputed at each epoch's end. Returns the compressed model,
/// everything baked in. This is how a keyed defence hardens a model that
/// is already compressed without undoing its compression.
pub fn train_constrained(
    model: &crate::CompressedModel,
    trainer: &Trainer,
    extra: &mut dyn TrainHooks,
    train: &Dataset,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<crate::CompressedModel, advcomp_train::TrainError> {
    let mut state = model.state.clone();
    let config = trainer.config();
    let steps_per_epoch = train.len().div_ceil(config.batch_size.max(1)).max(1);
    let mut hooks = Hooks {
        hook: training_hook(&state),
        state: &mut state,
        train,
        device,
        step: 0,
        steps_per_epoch,
        total_steps: steps_per_epoch * config.epochs,
        surgery: None,
    };
    let network = model.network.clone().fork(&device.clone().autodiff());
    let mut both = advcomp_train::HookPair::new(&mut hooks, extra);
    let (network, _) = trainer.fit(network, train, device, &mut both, observer)?;
    let network = network.valid().fork(&device.clone().without_autodiff());
    let (network, state) = crate::pipeline::finalize(network, state);
    Ok(crate::CompressedModel::new(network, state))
}
