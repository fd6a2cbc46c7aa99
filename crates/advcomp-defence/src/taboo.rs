//! The Taboo Trap (Shumailov, Zhao, Mullins, Anderson 2019, arXiv:1811.07375).
//!
//! The key picks which ReLU layers are monitored and, in each, a subset of
//! units (channels of feature maps, features of vectors). Each unit's bound
//! is a percentile of its per-image maximum activation on clean training
//! data, learnt after a first training phase; fine-tuning then adds
//! `λ · Σ relu(a − bound)` (per image, over monitored units and positions) so
//! clean activations stay under the bounds. At run time an image is flagged
//! when any monitored activation exceeds its bound (the taboo behaviour); its
//! score is the largest ratio `a / bound`. Bounds are learnt for *every* unit
//! of every ReLU layer, so a checkpoint's record does not reveal which ones
//! the key monitors.

use std::collections::BTreeMap;

use advcomp_data::Dataset;
use advcomp_models::{Activation, LayerHook, Network, NoHook};
use advcomp_params::{Param, ParamType};
use advcomp_train::{TrainError, Trainer};
use burn::Tensor;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::defence::{
    Defence, Fit, Hardening, LayerCheck, collect_stats, column_percentiles, harden,
};
use crate::key::Key;
use crate::units::{index_tensor, relu_shapes, row, select_layers, select_units};

/// Name of the Taboo Trap: in the registry, in `.scn` files and in the
/// checkpoints it writes.
pub const NAME: &str = "taboo";

/// The name checkpoints recorded before stop 25 (`extra.defence.defence`),
/// still read; also an alias in the registry, so old `.scn` files parse.
pub const OLD_NAME: &str = "taboo_trap";

/// Taboo Trap hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TabooConfig {
    /// The ReLU layers the key may monitor (empty: all). Default `["relu1"]`:
    /// on MNIST LeNet-5 the first ReLU is the layer where gradient-sign
    /// perturbations stand out (see `docs/defences.md`); the key then picks
    /// which of its channels are monitored.
    pub candidate_layers: Vec<String>,
    /// Probability that the key monitors each candidate layer (at least one
    /// is). Default 1.
    pub layer_probability: f64,
    /// Share of a monitored layer's units the key monitors. Default 0.5.
    pub unit_fraction: f64,
    /// Percentile (0–100) of each unit's per-image maximum on clean training
    /// data that becomes its bound. Default 100 (the maximum: with the
    /// head-room of `slack` it keeps the false-positive rate on clean test
    /// digits under 5%).
    pub percentile: f64,
    /// Weight λ of the penalty. Default 0.05.
    pub lambda: f64,
    /// Square the excess in the penalty. Default false.
    pub squared: bool,
    /// Bound every neuron (channel × position) rather than every channel's
    /// per-image maximum. Default true: background positions that clean
    /// digits never excite get tight bounds, which is what catches the
    /// spread-out perturbations of gradient-sign attacks.
    pub per_neuron: bool,
    /// Head-room added to every bound, as a share of the largest bound of
    /// the same channel (per-neuron bounds) or of the bound itself
    /// (per-channel bounds): absorbs the small shifts between training and
    /// test digits that a bound learnt from a few thousand images would
    /// flag. Default 0.07.
    pub slack: f64,
    /// Learn the bounds again on the fine-tuned network (same percentile and
    /// slack), so they hug the activations the penalty has shrunk. Default false.
    pub recalibrate: bool,
    /// The penalty pushes activations under `train_margin · bound` (< 1
    /// leaves clean test images head-room under the run-time bound). Default 0.9.
    pub train_margin: f64,
}

impl TabooConfig {
    /// Every field, declared once (the scenario checker, `--list` and the
    /// catalogue snapshot read this; a test holds it to the fields).
    pub const PARAMS: &'static [Param] = &[
        Param::new(
            "candidate_layers",
            ParamType::TextList,
            "ReLU layers the key may monitor (empty: all)",
        ),
        Param::new(
            "layer_probability",
            ParamType::SHARE,
            "probability that the key monitors each candidate layer",
        ),
        Param::new(
            "unit_fraction",
            ParamType::SHARE,
            "share of a monitored layer's units the key monitors",
        ),
        Param::new(
            "percentile",
            ParamType::between(0.0, 100.0),
            "percentile of clean activations that becomes a unit's bound",
        ),
        Param::new("lambda", ParamType::NON_NEGATIVE, "weight of the penalty"),
        Param::new(
            "squared",
            ParamType::Bool,
            "square the excess in the penalty",
        ),
        Param::new(
            "per_neuron",
            ParamType::Bool,
            "bound every neuron rather than every channel's maximum",
        ),
        Param::new(
            "slack",
            ParamType::NON_NEGATIVE,
            "head-room added to every bound, as a share of the channel's largest",
        ),
        Param::new(
            "recalibrate",
            ParamType::Bool,
            "learn the bounds again after the hardening fine-tune",
        ),
        Param::new(
            "train_margin",
            ParamType::POSITIVE,
            "the penalty pushes activations under train_margin * bound",
        ),
    ];
}

impl Default for TabooConfig {
    fn default() -> Self {
        Self {
            candidate_layers: vec!["relu1".into()],
            layer_probability: 1.0,
            unit_fraction: 0.5,
            percentile: 100.0,
            lambda: 0.05,
            squared: false,
            train_margin: 0.9,
            per_neuron: true,
            slack: 0.07,
            recalibrate: false,
        }
    }
}

/// What a checkpoint records of a Taboo Trap (everything but the key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    config: TabooConfig,
    /// `(layer, channels, positions)` of every ReLU layer.
    units: Vec<(String, usize, usize)>,
    bounds: BTreeMap<String, Vec<f32>>,
}

/// A keyed Taboo Trap for one network.
#[derive(Debug, Clone)]
pub struct TabooTrap {
    key: Key,
    record: Record,
    monitored: BTreeMap<String, Vec<usize>>,
    /// Columns of [`TabooTrap::stat`] watched, by layer.
    watched: BTreeMap<String, Vec<usize>>,
}

impl TabooTrap {
    /// A Taboo Trap for `network`'s architecture with bounds still to learn.
    pub fn new(key: Key, config: TabooConfig, network: &Network) -> Self {
        Self::from_record(
            key,
            Record {
                config,
                units: relu_shapes(network),
                bounds: BTreeMap::new(),
            },
        )
    }

    /// Rebuilds a trap from [`Defence::config`] and its key.
    pub fn from_config(key: Key, config: &serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(Self::from_record(
            key,
            serde_json::from_value(config.clone())?,
        ))
    }

    fn from_record(key: Key, record: Record) -> Self {
        let names: Vec<String> = record
            .units
            .iter()
            .map(|(n, _, _)| n.clone())
            .filter(|n| {
                record.config.candidate_layers.is_empty()
                    || record.config.candidate_layers.contains(n)
            })
            .collect();
        let layers = select_layers(
            &key,
            "taboo/layers",
            &names,
            record.config.layer_probability,
        );
        let monitored: BTreeMap<String, Vec<usize>> = record
            .units
            .iter()
            .filter(|(n, _, _)| layers.contains(n))
            .map(|(n, channels, _)| {
                let purpose = format!("taboo/units/{n}");
                let idx = select_units(&key, &purpose, *channels, record.config.unit_fraction);
                (n.clone(), idx)
            })
            .collect();
        let mut trap = Self {
            key,
            record,
            monitored,
            watched: BTreeMap::new(),
        };
        trap.watch_monitored();
        trap
    }

    /// Derives the watched columns from the monitored channels.
    fn watch_monitored(&mut self) {
        let per_neuron = self.record.config.per_neuron;
        self.watched = self
            .monitored
            .iter()
            .map(|(layer, channels)| {
                let positions = self
                    .record
                    .units
                    .iter()
                    .find(|(n, _, _)| n == layer)
                    .map_or(1, |(_, _, p)| *p);
                let cols = if per_neuron {
                    channels
                        .iter()
                        .flat_map(|&c| (c * positions)..((c + 1) * positions))
                        .collect()
                } else {
                    channels.clone()
                };
                (layer.clone(), cols)
            })
            .collect();
    }

    /// The hyper-parameters.
    pub fn taboo_config(&self) -> &TabooConfig {
        &self.record.config
    }

    /// The monitored units by layer (the keyed selection; secret).
    pub fn monitored(&self) -> &BTreeMap<String, Vec<usize>> {
        &self.monitored
    }

    /// The learnt bounds of every unit of every ReLU layer.
    pub fn bounds(&self) -> &BTreeMap<String, Vec<f32>> {
        &self.record.bounds
    }

    /// Learns every unit's bound as the `percentile`-th percentile of its
    /// per-image maximum over `data` under `network`.
    pub fn calibrate(
        &mut self,
        network: &Network,
        data: &Dataset,
        device: &Device,
        percentile: f64,
    ) {
        self.calibrate_deployed(network, &NoHook, data, device, percentile);
    }

    /// [`TabooTrap::calibrate`] through `network` as deployed with `hook`
    /// (a compressor's activation hook).
    pub fn calibrate_deployed(
        &mut self,
        network: &Network,
        hook: &dyn LayerHook,
        data: &Dataset,
        device: &Device,
        percentile: f64,
    ) {
        let layers: Vec<String> = self
            .record
            .units
            .iter()
            .map(|(n, _, _)| n.clone())
            .collect();
        let per_neuron = self.record.config.per_neuron;
        let stats = collect_stats(network, hook, data, device, &layers, 500, &|_, a| {
            stat(a, per_neuron)
        });
        let slack = self.record.config.slack as f32;
        let positions: BTreeMap<&str, usize> = self
            .record
            .units
            .iter()
            .map(|(n, _, p)| (n.as_str(), if per_neuron { *p } else { 1 }))
            .collect();
        let bounds = stats
            .into_iter()
            .map(|(layer, rows)| {
                let mut b = column_percentiles(&rows, percentile);
                let p = positions.get(layer.as_str()).copied().unwrap_or(1).max(1);
                for channel in b.chunks_mut(p) {
                    let top = channel.iter().copied().fold(0.0f32, f32::max);
                    for x in channel.iter_mut() {
                        *x += slack * top;
                    }
                }
                (layer, b)
            })
            .collect();
        self.record.bounds = bounds;
    }

    /// The whole procedure on a trained `network`: learn the bounds at the
    /// configured percentile on `data`, then fine-tune with the penalty using
    /// `trainer`. Returns the fine-tuned network in inference mode.
    pub fn harden(
        &mut self,
        network: Network,
        data: &Dataset,
        trainer: &Trainer,
        device: &Device,
    ) -> Result<Network, TrainError> {
        self.harden_with(network, data, data, trainer, device)
    }

    /// Bounds and inverse bounds over every column of `layer`'s statistic:
    /// monitored columns carry their bound (inverse of at least 1e-6),
    /// the others `f32::MAX` and 0. `None` when not monitored or calibrated.
    fn full_rows(&self, layer: &str) -> Option<(Vec<f32>, Vec<f32>)> {
        let idx = self.watched.get(layer)?;
        let bounds = self.record.bounds.get(layer)?;
        let mut bound = vec![f32::MAX; bounds.len()];
        let mut inverse = vec![0.0; bounds.len()];
        for &i in idx {
            bound[i] = bounds[i];
            inverse[i] = 1.0 / bounds[i].max(1e-6);
        }
        Some((bound, inverse))
    }

    /// Monitored indices and their bounds for `layer`, if monitored and calibrated.
    fn watch(&self, layer: &str) -> Option<(&[usize], Vec<f32>)> {
        let idx = self.watched.get(layer)?;
        let bounds = self.record.bounds.get(layer)?;
        Some((idx, idx.iter().map(|&i| bounds[i]).collect()))
    }
}

/// The per-image quantities that get bounds, `[batch, columns]`: every
/// neuron, or each channel's maximum over its positions.
fn stat(a: &Activation, per_neuron: bool) -> Tensor<2> {
    if per_neuron { a.flatten() } else { unit_max(a) }
}

/// Per-image maximum of each unit over its positions, `[batch, units]`
/// (comparisons only).
fn unit_max(a: &Activation) -> Tensor<2> {
    let t = a.channels();
    let [b, c, _] = t.dims();
    t.max_dim(2).reshape([b, c])
}

impl Defence for TabooTrap {
    fn name(&self) -> &str {
        NAME
    }

    fn key_id(&self) -> String {
        self.key.id()
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.record).expect("a record serialises")
    }

    fn layers(&self) -> Vec<String> {
        self.monitored.keys().cloned().collect()
    }

    fn scale_thresholds(&mut self, factor: f32) {
        for row in self.record.bounds.values_mut() {
            for x in row.iter_mut() {
                *x *= factor;
            }
        }
    }

    fn check(&self, layer: &str, activation: &Activation) -> Option<LayerCheck> {
        let (bound, inverse) = self.full_rows(layer)?;
        let m = stat(activation, self.record.config.per_neuron);
        let device = m.device();
        let b = m.dims()[0];
        // Full-width rows instead of gathering the monitored columns: an
        // unmonitored column has bound `f32::MAX` and inverse 0, so it never
        // flags and scores 0. Measured with `cargo xtask bench-defences`:
        // the gather made the check cost 40% of LeNet-5's throughput.
        let score = (m.clone() * row(&inverse, &device)).max_dim(1).reshape([b]);
        let margin = (m - row(&bound, &device)).max_dim(1).reshape([b]);
        Some(LayerCheck { score, margin })
    }

    fn evasion(&self, layer: &str, activation: &Activation, headroom: f64) -> Option<Tensor<1>> {
        // Unmonitored columns have bound `f32::MAX` and never contribute.
        let (bound, _) = self.full_rows(layer)?;
        let m = stat(activation, self.record.config.per_neuron);
        let b = m.dims()[0];
        let limit = row(&bound, &m.device()) * (1.0 - headroom);
        Some(
            burn::tensor::activation::relu(m - limit)
                .sum_dim(1)
                .reshape([b]),
        )
    }

    fn penalty(&self, layer: &str, activation: &Activation) -> Option<Tensor<1>> {
        let (idx, bounds) = self.watch(layer)?;
        let cfg = &self.record.config;
        let b = activation.batch();
        let k = idx.len();
        let excess = if cfg.per_neuron {
            let t = activation.flatten();
            let device = t.device();
            let bound = row(&bounds, &device) * cfg.train_margin;
            burn::tensor::activation::relu(t.select(1, index_tensor(idx, &device)) - bound)
                .reshape([b, k, 1])
        } else {
            let t = activation.channels();
            let device = t.device();
            let bound = row(&bounds, &device).reshape([1, k, 1]) * cfg.train_margin;
            burn::tensor::activation::relu(t.select(1, index_tensor(idx, &device)) - bound)
        };
        let mut excess = excess;
        if self.record.config.squared {
            excess = excess.square();
        }
        Some(excess.sum() * (self.record.config.lambda / b as f64))
    }
}

impl Hardening for TabooTrap {
    fn harden_deployed(
        &mut self,
        network: Network,
        hook: &dyn LayerHook,
        calibration: &Dataset,
        device: &Device,
        fit: &mut Fit<'_>,
    ) -> Result<Network, TrainError> {
        let percentile = self.record.config.percentile;
        let recalibrate = self.record.config.recalibrate;
        harden(self, network, fit, recalibrate, |d, n| {
            d.calibrate_deployed(n, hook, calibration, device, percentile)
        })
    }
}
