//! What every keyed defence provides: a training penalty built from recorded
//! activations, and a run-time detector that is a forward hook.

use std::cell::RefCell;
use std::collections::BTreeMap;

use advcomp_data::Dataset;
use advcomp_models::{Activation, ActivationRecorder, Classifier, LayerHook, LayerInfo, Network};
use advcomp_train::TrainHooks;
use burn::Tensor;
use burn::module::Module;
use burn::tensor::Device;

/// A per-sample verdict of one monitored layer, as device tensors `[batch]`.
///
/// A sample is flagged when `margin > 0` anywhere; `score` is the size of the
/// worst violation relative to its threshold (≤ 1 means "within bounds").
#[derive(Debug, Clone)]
pub struct LayerCheck {
    /// Worst ratio of a monitored quantity to its threshold, `[batch]`.
    pub score: Tensor<1>,
    /// Worst difference quantity − threshold, `[batch]` (flag when > 0; a
    /// comparison, so a sample exactly at its threshold is not flagged).
    pub margin: Tensor<1>,
}

impl LayerCheck {
    /// The element-wise worse of two checks.
    pub fn worst(self, other: LayerCheck) -> LayerCheck {
        LayerCheck {
            score: self.score.max_pair(other.score),
            margin: self.margin.max_pair(other.margin),
        }
    }
}

/// A keyed defence.
///
/// The training side is [`Defence::penalty`] (turned into
/// [`TrainHooks`] by [`DefenceTraining`]); the run-time side is
/// [`Defence::check`] (run as a forward hook by [`Detector`]). Both read
/// only the activations of [`Defence::layers`]. Everything a defence needs
/// at run time except its [`Key`](crate::Key) is in [`Defence::config`],
/// which is what a checkpoint records.
pub trait Defence {
    /// Registry name (`"taboo"`, `"sitatapatra"`), recorded in checkpoints.
    fn name(&self) -> &str;

    /// The public id of the key ([`Key::id`](crate::Key::id)).
    fn key_id(&self) -> String;

    /// Everything but the key: hyper-parameters and learnt thresholds.
    fn config(&self) -> serde_json::Value;

    /// The layers whose outputs the defence reads.
    fn layers(&self) -> Vec<String>;

    /// The run-time check of one layer's output, or `None` when the layer is
    /// not monitored or the defence is not calibrated yet.
    fn check(&self, layer: &str, activation: &Activation) -> Option<LayerCheck>;

    /// The training penalty (a differentiable scalar `[1]`, already weighted)
    /// for one layer's output, or `None` when it adds nothing.
    fn penalty(&self, layer: &str, activation: &Activation) -> Option<Tensor<1>>;

    /// What an attacker who knows the key minimises to stay undetected: per
    /// sample, the sum of `relu(q − (1 − headroom) · τ)` over the layer's
    /// monitored quantities `q` and their run-time thresholds `τ`, `[batch]`
    /// and differentiable; `None` when the layer is not monitored or the
    /// defence is not calibrated. Unlike [`Defence::penalty`] it uses the
    /// run-time thresholds and is neither weighted nor averaged.
    fn evasion(&self, layer: &str, activation: &Activation, headroom: f64) -> Option<Tensor<1>>;

    /// Multiplies every run-time threshold by `factor` (> 0): a sample's
    /// score is divided by it. How [`crate::recalibrate`] sets a compressed
    /// copy's false-positive rate without changing which units are watched
    /// or the thresholds' shape.
    fn scale_thresholds(&mut self, factor: f32);

    /// The forward hook that checks a batch.
    fn detector(&self) -> Detector<'_>
    where
        Self: Sized,
    {
        Detector::new(self)
    }
}

/// Per-sample result of a detector.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Whether each sample broke a monitored constraint.
    pub flag: Vec<bool>,
    /// Worst violation ratio per sample (> 1 is a violation; 0 when nothing
    /// was monitored).
    pub score: Vec<f32>,
    /// The class the model predicts for each sample.
    pub predicted: Vec<usize>,
    /// The softmax probability of the predicted class (how sure the model
    /// is of its answer; traceback evidence).
    pub confidence: Vec<f32>,
}

impl Detection {
    /// Share of flagged samples.
    pub fn flag_rate(&self) -> f64 {
        if self.flag.is_empty() {
            0.0
        } else {
            self.flag.iter().filter(|&&f| f).count() as f64 / self.flag.len() as f64
        }
    }
}

/// The run-time side of a defence: a [`LayerHook`] that leaves activations
/// unchanged and records, per sample, the worst [`LayerCheck`] of the
/// monitored layers. Only comparisons (and one division per monitored unit
/// for the score) are added to the forward pass.
pub struct Detector<'a> {
    defence: &'a dyn Defence,
    state: RefCell<Option<LayerCheck>>,
}

impl<'a> Detector<'a> {
    /// A detector for `defence`.
    pub fn new(defence: &'a dyn Defence) -> Self {
        Self {
            defence,
            state: RefCell::default(),
        }
    }

    /// Removes and returns what the last forward pass recorded.
    pub fn take(&self) -> Option<LayerCheck> {
        self.state.take()
    }

    /// Classifies `images` with `network` and checks them: one forward pass,
    /// one host read.
    pub fn detect(&self, network: &Network, images: Tensor<4>) -> Detection {
        self.detect_hooked(network, images, &advcomp_models::NoHook)
    }

    /// Like [`Detector::detect`] with `inner` (e.g. a compressor's hook)
    /// applied before the check at every layer.
    pub fn detect_hooked(
        &self,
        network: &Network,
        images: Tensor<4>,
        inner: &dyn LayerHook,
    ) -> Detection {
        self.state.take();
        let batch = images.dims()[0];
        let hook = advcomp_models::HookChain::new().with(inner).with(self);
        let logits = network.forward_hooked(images, &hook).detach();
        let predicted = logits.clone().argmax(1).reshape([batch]).float();
        let confidence = burn::tensor::activation::softmax(logits, 1)
            .max_dim(1)
            .reshape([batch]);
        let check = self.take().unwrap_or_else(|| LayerCheck {
            score: predicted.zeros_like(),
            margin: predicted.zeros_like() - 1.0,
        });
        let all = Tensor::cat(
            vec![
                check.score.detach(),
                check.margin.detach(),
                predicted,
                confidence,
            ],
            0,
        );
        let host = all
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float tensor");
        Detection {
            score: host[..batch].to_vec(),
            flag: host[batch..2 * batch].iter().map(|&m| m > 0.0).collect(),
            predicted: host[2 * batch..3 * batch]
                .iter()
                .map(|&p| p as usize)
                .collect(),
            confidence: host[3 * batch..].to_vec(),
        }
    }
}

impl LayerHook for Detector<'_> {
    fn after(&self, layer: &LayerInfo, activation: Activation) -> Activation {
        if let Some(check) = self.defence.check(&layer.name, &activation) {
            let mut state = self.state.borrow_mut();
            *state = Some(match state.take() {
                Some(previous) => previous.worst(check),
                None => check,
            });
        }
        activation
    }
}

/// A network with a defence: classifies like the network (the detector does
/// not change activations) and detects through [`DefendedModel::detect`].
pub struct DefendedModel {
    /// The (defence-trained) network.
    pub network: Network,
    /// The defence, with its key.
    pub defence: Box<dyn Defence>,
}

impl std::fmt::Debug for DefendedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefendedModel")
            .field("network", &self.network.architecture())
            .field("defence", &self.defence.name())
            .field("key_id", &self.defence.key_id())
            .finish()
    }
}

impl DefendedModel {
    /// Checks a batch (see [`Detector::detect`]).
    pub fn detect(&self, images: Tensor<4>) -> Detection {
        Detector::new(self.defence.as_ref()).detect(&self.network, images)
    }
}

impl Classifier for DefendedModel {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.network.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.network.num_classes()
    }

    fn screen(&self, images: Tensor<4>, headroom: f64) -> Option<advcomp_models::Screened> {
        crate::Guarded::new(&self.network, self.defence.as_ref()).screen(images, headroom)
    }
}

/// The training side of a defence as [`TrainHooks`]: records the monitored
/// layers' outputs (live graph nodes) and adds the defence's penalty to the
/// cross-entropy.
pub struct DefenceTraining<'a> {
    defence: &'a dyn Defence,
    recorder: ActivationRecorder,
}

impl<'a> DefenceTraining<'a> {
    /// Training hooks for `defence`.
    pub fn new(defence: &'a dyn Defence) -> Self {
        Self {
            defence,
            recorder: ActivationRecorder::only(defence.layers()),
        }
    }
}

impl TrainHooks for DefenceTraining<'_> {
    fn layer_hook(&self) -> Option<&dyn LayerHook> {
        Some(&self.recorder)
    }

    fn extra_loss(&self, logits: &Tensor<2>) -> Option<Tensor<1>> {
        let _ = logits;
        self.recorder
            .take()
            .iter()
            .filter_map(|(layer, a)| self.defence.penalty(layer, a))
            .reduce(|a, b| a + b)
    }
}

/// The keyed defences' shared procedure on a trained `network`: learn the
/// thresholds on clean `calibration` images (`calibrate`), fine-tune on
/// `train` with the defence's penalty, and learn them again on the
/// fine-tuned network when `recalibrate`. Returns the network in inference
/// mode.
pub(crate) fn harden<D: Defence>(
    defence: &mut D,
    network: Network,
    fit: &mut Fit<'_>,
    recalibrate: bool,
    calibrate: impl Fn(&mut D, &Network),
) -> Result<Network, advcomp_train::TrainError> {
    calibrate(defence, &network);
    let network = fit(network, &mut DefenceTraining::new(defence))?;
    if recalibrate {
        calibrate(defence, &network);
    }
    Ok(network)
}

/// A keyed defence that trains the model it guards (the Taboo Trap,
/// Sitatapatra): what the runner, the measurements and the benches call,
/// whichever defence [`crate::spec::Method::hardening`] built.
pub trait Hardening: Defence {
    /// The procedure on a model deployed with `hook` (a compressor's
    /// activation hook; [`NoHook`](advcomp_models::NoHook) for an
    /// uncompressed one): the thresholds are learnt through it on
    /// `calibration`, and `fit` runs the hardening fine-tune with the hooks
    /// it is given (for a compressed model, under its compression).
    /// Returns the fine-tuned network in inference mode.
    fn harden_deployed(
        &mut self,
        network: Network,
        hook: &dyn advcomp_models::LayerHook,
        calibration: &Dataset,
        device: &Device,
        fit: &mut Fit<'_>,
    ) -> Result<Network, advcomp_train::TrainError>;

    /// [`Hardening::harden_deployed`] on an uncompressed model: the
    /// thresholds learnt on `calibration` (clean training images; more
    /// images give tighter false-positive control) and the fine-tune done
    /// by `trainer` on `train`.
    fn harden_with(
        &mut self,
        network: Network,
        train: &Dataset,
        calibration: &Dataset,
        trainer: &advcomp_train::Trainer,
        device: &Device,
    ) -> Result<Network, advcomp_train::TrainError> {
        let fit = &mut plain_fit(trainer, train, device);
        self.harden_deployed(network, &advcomp_models::NoHook, calibration, device, fit)
    }
}

/// How a keyed defence's hardening fine-tune is run: the network and the
/// defence's training hooks in, the fine-tuned network (inference mode,
/// plain device) out. [`plain_fit`] for an uncompressed model; for a
/// compressed one, training under its compression
/// (`advcomp_compress::finetune::train_constrained`).
pub type Fit<'a> = dyn FnMut(Network, &mut dyn advcomp_train::TrainHooks) -> Result<Network, advcomp_train::TrainError>
    + 'a;

/// [`Fit`] by `trainer` on `train`, no other constraint.
pub fn plain_fit<'a>(
    trainer: &'a advcomp_train::Trainer,
    train: &'a Dataset,
    device: &'a Device,
) -> impl FnMut(
    Network,
    &mut dyn advcomp_train::TrainHooks,
) -> Result<Network, advcomp_train::TrainError>
+ 'a {
    move |network, hooks| {
        let (network, _) = trainer.fit(network, train, device, hooks, &mut ())?;
        Ok(network.valid())
    }
}

/// Runs `network` over `data` (batches of `batch_size`) and collects, per
/// layer, the host matrix `stat(layer, activation)` (`[samples, columns]`,
/// one row per image, in data order). Used to learn thresholds.
///
/// `deployed` runs before the recorder at every layer, as
/// [`Detector::detect_hooked`] runs it before the check: a compressed
/// model's thresholds are learnt on the activations it will be checked on
/// (fake-quantised ones; `NoHook` for a plain network).
pub fn collect_stats(
    network: &Network,
    deployed: &dyn LayerHook,
    data: &Dataset,
    device: &Device,
    layers: &[String],
    batch_size: usize,
    stat: &dyn Fn(&str, &Activation) -> Tensor<2>,
) -> BTreeMap<String, Vec<Vec<f32>>> {
    let network = network.valid();
    let device = device.clone().without_autodiff();
    let recorder = ActivationRecorder::only(layers.iter().cloned());
    let hook = advcomp_models::HookChain::new()
        .with(deployed)
        .with(&recorder);
    let mut out: BTreeMap<String, Vec<Vec<f32>>> = BTreeMap::new();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let images = advcomp_train::batch::images(data, chunk, &device);
        let _ = network.forward_hooked(images, &hook);
        for (layer, activation) in recorder.take() {
            let t = stat(&layer, &activation);
            let [rows, cols] = t.dims();
            let host = t.into_data().try_into_vec_as::<f32>().expect("floats");
            let entry = out.entry(layer).or_default();
            for r in 0..rows {
                entry.push(host[r * cols..(r + 1) * cols].to_vec());
            }
        }
    }
    out
}

/// The `p`-th percentile (`0..=100`, nearest rank) of each column of `rows`;
/// `p = 100` is the column maximum.
pub fn column_percentiles(rows: &[Vec<f32>], p: f64) -> Vec<f32> {
    let cols = rows.first().map_or(0, Vec::len);
    (0..cols)
        .map(|c| {
            let mut column: Vec<f32> = rows.iter().map(|r| r[c]).collect();
            percentile(&mut column, p)
        })
        .collect()
}

/// The `p`-th percentile (`0..=100`, nearest rank) of `values` (sorted in
/// place); 0 for an empty slice.
pub fn percentile(values: &mut [f32], p: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    let n = values.len();
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    values[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&mut v, 100.0), 5.0);
        assert_eq!(percentile(&mut v, 0.0), 1.0);
        assert_eq!(percentile(&mut v, 50.0), 3.0);
        assert_eq!(percentile(&mut v, 81.0), 5.0);
    }
}
