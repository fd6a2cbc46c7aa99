//! Keyed guards after Sitatapatra (Shumailov, Gao, Zhao, Mullins, Anderson,
//! Xu 2019, arXiv:1901.08121), with traceback.
//!
//! What is implemented (a simplification of the paper, documented in
//! `docs/defences.md`): the key selects ReLU layers among
//! `candidate_layers` and, for each, `guards` keyed *checksums*: sparse ±1
//! weight vectors over the layer's channels (each reads about `density` of
//! them, scaled by `1/√nnz`). A guard's value is `g = |Σ_c s_c · a_c|` at
//! every position of the feature map (or on channel means). Procedure
//! ([`Hardening::harden_with`](crate::defence::Hardening::harden_with)), after the Taboo Trap's:
//!
//! 1. on the trained network, every guard column (guard × position) gets a
//!    threshold `τ`: the `detect_percentile`-th percentile of `g` on clean
//!    training images plus `slack` × the guard's largest such percentile;
//! 2. fine-tuning adds `λ · Σ relu(g − train_margin · τ)` per image, so
//!    clean activations satisfy the keyed relations with head-room;
//! 3. at run time an image is flagged when any `g > τ`; its score is the
//!    largest `g / τ`.
//!
//! The overhead is one small matrix product per guarded layer
//! (`channels × guards` multiply-adds per position).
//!
//! [`traceback`](crate::traceback::traceback) runs several keyed models on the same
//! images and attributes each flagged image with
//! [`attribute`](crate::attribute).

use std::collections::BTreeMap;

use advcomp_data::Dataset;
use advcomp_models::{Activation, LayerHook, Network, NoHook};
use advcomp_params::{Param, ParamType};
use advcomp_train::{TrainError, Trainer};
use burn::Tensor;
use burn::tensor::Device;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::defence::{
    Defence, Fit, Hardening, LayerCheck, collect_stats, column_percentiles, harden,
};
use crate::key::Key;
use crate::units::{relu_units, row, select_layers};

/// Registry name of the keyed guards.
pub const NAME: &str = "sitatapatra";

/// Hyper-parameters of the keyed guards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SitatapatraConfig {
    /// The ReLU layers the key may guard (empty: all). Default `["relu1"]`:
    /// on MNIST LeNet-5 the first ReLU is where gradient-sign perturbations
    /// stand out (as for the Taboo Trap, see `docs/defences.md`).
    pub candidate_layers: Vec<String>,
    /// Probability that the key guards each candidate layer (at least one
    /// is). Default 1 (with one candidate layer).
    pub layer_probability: f64,
    /// Guards (checksums) per guarded layer. Default 16.
    pub guards: usize,
    /// Share of the layer's channels each guard reads (at least one).
    /// Default 0.1 (about 2 of LeNet-5's 20 `relu1` channels): sparse guards
    /// see a perturbation that a sum over many channels would average out.
    pub density: f64,
    /// Keyed ±1 signs on the channels a guard reads (a checksum that
    /// cancels); false: every read channel counts positively. Default true.
    pub signed: bool,
    /// Weight λ of the hinge penalty (summed over guard columns, averaged
    /// over images). Default 0.05.
    pub lambda: f64,
    /// Fine-tuning pushes every guard value under `train_margin · τ` (< 1
    /// leaves clean test images head-room under the run-time threshold).
    /// Default 0.9.
    pub train_margin: f64,
    /// Percentile (0–100) of `g` on clean calibration images that becomes a
    /// guard column's threshold `τ`. Default 100 (the maximum).
    pub detect_percentile: f64,
    /// Check the guards at every position of a feature map (a checksum
    /// across channels per pixel) rather than on channel means. Default true.
    pub per_position: bool,
    /// Learn the thresholds again on the fine-tuned network (losing the
    /// head-room `train_margin` made). Default false.
    pub recalibrate: bool,
    /// Head-room added to every run-time threshold, as a share of the
    /// largest threshold of the same guard (over positions). Default 0.07.
    pub slack: f64,
}

impl SitatapatraConfig {
    /// Every field, declared once (the scenario checker, `--list` and the
    /// catalogue snapshot read this; a test holds it to the fields).
    pub const PARAMS: &'static [Param] = &[
        Param::new(
            "candidate_layers",
            ParamType::TextList,
            "ReLU layers the key may guard (empty: all)",
        ),
        Param::new(
            "layer_probability",
            ParamType::SHARE,
            "probability that the key guards each candidate layer",
        ),
        Param::new(
            "guards",
            ParamType::COUNT,
            "guards (checksums) per guarded layer",
        ),
        Param::new(
            "density",
            ParamType::SHARE,
            "share of the layer's channels each guard reads",
        ),
        Param::new(
            "signed",
            ParamType::Bool,
            "keyed +-1 signs on the channels a guard reads",
        ),
        Param::new(
            "lambda",
            ParamType::NON_NEGATIVE,
            "weight of the hinge penalty",
        ),
        Param::new(
            "train_margin",
            ParamType::POSITIVE,
            "fine-tuning pushes every guard value under train_margin * threshold",
        ),
        Param::new(
            "detect_percentile",
            ParamType::between(0.0, 100.0),
            "percentile of clean guard values that becomes a threshold",
        ),
        Param::new(
            "per_position",
            ParamType::Bool,
            "check the guards at every position of a feature map",
        ),
        Param::new(
            "recalibrate",
            ParamType::Bool,
            "learn the thresholds again after the hardening fine-tune",
        ),
        Param::new(
            "slack",
            ParamType::NON_NEGATIVE,
            "head-room added to every threshold, as a share of the guard's largest",
        ),
    ];
}

impl Default for SitatapatraConfig {
    fn default() -> Self {
        Self {
            candidate_layers: vec!["relu1".into()],
            layer_probability: 1.0,
            guards: 16,
            density: 0.1,
            signed: true,
            lambda: 0.05,
            train_margin: 0.9,
            detect_percentile: 100.0,
            per_position: true,
            recalibrate: false,
            slack: 0.07,
        }
    }
}

/// What a checkpoint records (everything but the key and the guards the
/// key derives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    config: SitatapatraConfig,
    units: Vec<(String, usize)>,
    /// Run-time threshold `τ` per guard column, by layer.
    thresholds: BTreeMap<String, Vec<f32>>,
}

/// Keyed guards for one network.
#[derive(Debug, Clone)]
pub struct Sitatapatra {
    key: Key,
    record: Record,
    /// Guard weights `[channels, guards]` (row-major) by guarded layer.
    weights: BTreeMap<String, (usize, Vec<f32>)>,
}

impl Sitatapatra {
    /// Guards for `network`'s architecture with thresholds still to learn.
    pub fn new(key: Key, config: SitatapatraConfig, network: &Network) -> Self {
        Self::from_record(
            key,
            Record {
                config,
                units: relu_units(network),
                thresholds: BTreeMap::new(),
            },
        )
    }

    /// Rebuilds the guards from [`Defence::config`] and the key.
    pub fn from_config(key: Key, config: &serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(Self::from_record(
            key,
            serde_json::from_value(config.clone())?,
        ))
    }

    fn from_record(key: Key, record: Record) -> Self {
        let cfg = &record.config;
        let names: Vec<String> = record
            .units
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| cfg.candidate_layers.is_empty() || cfg.candidate_layers.contains(n))
            .collect();
        let layers = select_layers(&key, "sitatapatra/layers", &names, cfg.layer_probability);
        let guards = cfg.guards.max(1);
        let weights = record
            .units
            .iter()
            .filter(|(n, _)| layers.contains(n))
            .map(|(n, channels)| {
                let channels = *channels;
                let mut rng = key.rng(&format!("sitatapatra/guards/{n}"));
                let mut w = vec![0.0f32; channels * guards];
                for g in 0..guards {
                    let mut nnz = 0usize;
                    for c in 0..channels {
                        if rng.random_bool(cfg.density.clamp(0.0, 1.0)) {
                            let negative = rng.random_bool(0.5) && cfg.signed;
                            w[c * guards + g] = if negative { -1.0 } else { 1.0 };
                            nnz += 1;
                        }
                    }
                    if nnz == 0 {
                        let c = rng.random_range(0..channels);
                        w[c * guards + g] = 1.0;
                        nnz = 1;
                    }
                    let scale = 1.0 / (nnz as f32).sqrt();
                    for c in 0..channels {
                        w[c * guards + g] *= scale;
                    }
                }
                (n.clone(), (guards, w))
            })
            .collect();
        Self {
            key,
            record,
            weights,
        }
    }

    /// The hyper-parameters.
    pub fn sitatapatra_config(&self) -> &SitatapatraConfig {
        &self.record.config
    }

    /// The keyed guard weights `(guards, [channels × guards] row-major)` by
    /// guarded layer (secret).
    pub fn guard_weights(&self) -> &BTreeMap<String, (usize, Vec<f32>)> {
        &self.weights
    }

    /// The run-time thresholds `τ` per guard column (position-major), by
    /// layer.
    pub fn thresholds(&self) -> &BTreeMap<String, Vec<f32>> {
        &self.record.thresholds
    }

    /// `|g|` per image, `[batch, columns]`, for a guarded layer: one column
    /// per guard (channel means), or per guard and position (position-major).
    fn guard_values(&self, layer: &str, a: &Activation) -> Option<Tensor<2>> {
        let (guards, w) = self.weights.get(layer)?;
        let t = a.channels();
        let [b, c, p] = t.dims();
        let device = t.device();
        let w = Tensor::<1>::from_floats(w.as_slice(), &device).reshape([c, *guards]);
        if self.record.config.per_position {
            // [b, p, c] x [c, G] -> [b, p, G]
            let g = t.swap_dims(1, 2).reshape([b * p, c]).matmul(w);
            Some(g.reshape([b, p * guards]).abs())
        } else {
            let mean = t.mean_dim(2).reshape([b, c]);
            Some(mean.matmul(w).abs())
        }
    }

    /// Sets the run-time threshold `τ` of every guard column to the `p`-th
    /// percentile of `|g|` on `data` under `network`, plus `slack` times the
    /// largest such percentile of the same guard (over positions).
    pub fn calibrate_thresholds(
        &mut self,
        network: &Network,
        data: &Dataset,
        device: &Device,
        p: f64,
    ) {
        self.calibrate_deployed(network, &NoHook, data, device, p);
    }

    /// [`Sitatapatra::calibrate_thresholds`] through `network` as deployed
    /// with `hook` (a compressor's activation hook).
    pub fn calibrate_deployed(
        &mut self,
        network: &Network,
        hook: &dyn LayerHook,
        data: &Dataset,
        device: &Device,
        p: f64,
    ) {
        let slack = self.record.config.slack as f32;
        let layers: Vec<String> = self.weights.keys().cloned().collect();
        let stats = collect_stats(network, hook, data, device, &layers, 500, &|l, a| {
            self.guard_values(l, a).expect("guarded layer")
        });
        let mut thresholds: BTreeMap<String, Vec<f32>> = stats
            .into_iter()
            .map(|(l, rows)| (l, column_percentiles(&rows, p)))
            .collect();
        for (layer, t) in thresholds.iter_mut() {
            let guards = self.weights.get(layer).map_or(1, |(g, _)| *g);
            for g in 0..guards {
                let top = t
                    .iter()
                    .skip(g)
                    .step_by(guards)
                    .copied()
                    .fold(0.0f32, f32::max);
                for x in t.iter_mut().skip(g).step_by(guards) {
                    *x += slack * top;
                }
            }
        }
        self.record.thresholds = thresholds;
    }

    /// The whole procedure on a trained `network`: learn the thresholds,
    /// fine-tune with the hinge penalty using `trainer` (and learn the
    /// thresholds again if `recalibrate`). Returns the fine-tuned network in
    /// inference mode.
    pub fn harden(
        &mut self,
        network: Network,
        data: &Dataset,
        trainer: &Trainer,
        device: &Device,
    ) -> Result<Network, TrainError> {
        self.harden_with(network, data, data, trainer, device)
    }
}

impl Defence for Sitatapatra {
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
        self.weights.keys().cloned().collect()
    }

    fn scale_thresholds(&mut self, factor: f32) {
        for row in self.record.thresholds.values_mut() {
            for x in row.iter_mut() {
                *x *= factor;
            }
        }
    }

    fn check(&self, layer: &str, activation: &Activation) -> Option<LayerCheck> {
        let tau = self.record.thresholds.get(layer)?;
        let g = self.guard_values(layer, activation)?;
        let device = g.device();
        let b = g.dims()[0];
        let safe: Vec<f32> = tau.iter().map(|&x| x.max(1e-6)).collect();
        let score = (g.clone() / row(&safe, &device)).max_dim(1).reshape([b]);
        let margin = (g - row(tau, &device)).max_dim(1).reshape([b]);
        Some(LayerCheck { score, margin })
    }

    fn evasion(&self, layer: &str, activation: &Activation, headroom: f64) -> Option<Tensor<1>> {
        let tau = self.record.thresholds.get(layer)?;
        let g = self.guard_values(layer, activation)?;
        let b = g.dims()[0];
        let limit = row(tau, &g.device()) * (1.0 - headroom);
        Some(
            burn::tensor::activation::relu(g - limit)
                .sum_dim(1)
                .reshape([b]),
        )
    }

    fn penalty(&self, layer: &str, activation: &Activation) -> Option<Tensor<1>> {
        let tau = self.record.thresholds.get(layer)?;
        let g = self.guard_values(layer, activation)?;
        let device = g.device();
        let b = g.dims()[0];
        let cfg = &self.record.config;
        let excess = burn::tensor::activation::relu(g - row(tau, &device) * cfg.train_margin);
        Some(excess.sum() * (cfg.lambda / b as f64))
    }
}

impl Hardening for Sitatapatra {
    fn harden_deployed(
        &mut self,
        network: Network,
        hook: &dyn LayerHook,
        calibration: &Dataset,
        device: &Device,
        fit: &mut Fit<'_>,
    ) -> Result<Network, TrainError> {
        let cfg = self.record.config.clone();
        harden(self, network, fit, cfg.recalibrate, |d, n| {
            d.calibrate_deployed(n, hook, calibration, device, cfg.detect_percentile)
        })
    }
}
