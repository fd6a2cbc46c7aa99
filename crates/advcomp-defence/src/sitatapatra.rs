//! Keyed guards after Sitatapatra (Shumailov, Gao, Zhao, Mullins, Anderson,
//! Xu 2019, arXiv:1901.08121), with traceback.
//!
//! What is implemented (a simplification of the paper, documented in
//! `docs/defences.md`): the key selects ReLU layers and, for each, `guards`
//! keyed *checksums*: sparse ±1 weight vectors over the layer's channels.
//! A guard's value for an image is `g = Σ_c s_c · μ_c / √nnz`, with `μ_c` the
//! channel's mean activation. Training squeezes every guard into a narrow
//! band around zero (hinge `λ · Σ relu(|g| − t)`, `t` a low percentile of
//! `|g|` on the clean data before fine-tuning), so clean activations satisfy
//! a keyed linear relation they would not satisfy by chance. After
//! fine-tuning each guard's run-time threshold `τ` is a high percentile of
//! `|g|` on clean training data; an image with `|g| > τ` for any guard is
//! flagged, and its score is `max |g| / τ`. The overhead is one small
//! matrix product per guarded layer (`channels × guards` multiply-adds).
//!
//! [`traceback`] runs several keyed models on the same images and attributes
//! each flagged image to the key whose guards it violates least.

use std::collections::BTreeMap;

use advcomp_data::Dataset;
use advcomp_models::{Activation, Network};
use advcomp_train::{TrainError, Trainer};
use burn::Tensor;
use burn::module::Module;
use burn::tensor::Device;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::defence::{Defence, DefenceTraining, LayerCheck, collect_stats, column_percentiles};
use crate::key::Key;
use crate::units::{relu_units, row, select_layers};

/// Registry name of the keyed guards.
pub const NAME: &str = "sitatapatra";

/// Hyper-parameters of the keyed guards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SitatapatraConfig {
    /// Probability that the key guards each ReLU layer (at least one is).
    /// Default 0.5.
    pub layer_probability: f64,
    /// Guards (checksums) per guarded layer. Default 8.
    pub guards: usize,
    /// Share of the layer's channels each guard reads. Default 0.5.
    pub density: f64,
    /// Weight λ of the hinge penalty. Default 1.
    pub lambda: f64,
    /// Percentile (0–100) of `|g|` before fine-tuning that becomes the
    /// training band `t`. Default 50 (fine-tuning halves the natural spread).
    pub squeeze_percentile: f64,
    /// Percentile (0–100) of `|g|` after fine-tuning that becomes the run-time
    /// threshold `τ`. Default 100 (the maximum on clean training data).
    pub detect_percentile: f64,
    /// Check the guards at every position of a feature map (a checksum
    /// across channels per pixel) rather than on channel means. Default true.
    pub per_position: bool,
    /// Head-room added to every run-time threshold, as a share of the
    /// largest threshold of the same guard. Default 0.1.
    pub slack: f64,
}

impl Default for SitatapatraConfig {
    fn default() -> Self {
        Self {
            layer_probability: 0.5,
            guards: 8,
            density: 0.5,
            lambda: 1.0,
            squeeze_percentile: 50.0,
            detect_percentile: 100.0,
            per_position: true,
            slack: 0.1,
        }
    }
}

/// What a checkpoint records (everything but the key and the guards the
/// key derives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    config: SitatapatraConfig,
    units: Vec<(String, usize)>,
    /// Training band `t` per guard, by layer.
    targets: BTreeMap<String, Vec<f32>>,
    /// Run-time threshold `τ` per guard, by layer.
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
                targets: BTreeMap::new(),
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
        let names: Vec<String> = record.units.iter().map(|(n, _)| n.clone()).collect();
        let cfg = &record.config;
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
                            w[c * guards + g] = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
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

    /// The run-time thresholds `τ` per guard, by layer.
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

    fn percentiles(
        &self,
        network: &Network,
        data: &Dataset,
        device: &Device,
        p: f64,
    ) -> BTreeMap<String, Vec<f32>> {
        let layers: Vec<String> = self.weights.keys().cloned().collect();
        let stats = collect_stats(network, data, device, &layers, 500, &|l, a| {
            self.guard_values(l, a).expect("guarded layer")
        });
        stats
            .into_iter()
            .map(|(l, rows)| (l, column_percentiles(&rows, p)))
            .collect()
    }

    /// Sets the training band `t` of every guard to the `p`-th percentile of
    /// `|g|` on `data` under `network`.
    pub fn calibrate_targets(
        &mut self,
        network: &Network,
        data: &Dataset,
        device: &Device,
        p: f64,
    ) {
        self.record.targets = self.percentiles(network, data, device, p);
    }

    /// Sets the run-time threshold `τ` of every guard to the `p`-th
    /// percentile of `|g|` on `data` under `network`.
    pub fn calibrate_thresholds(
        &mut self,
        network: &Network,
        data: &Dataset,
        device: &Device,
        p: f64,
    ) {
        let slack = self.record.config.slack as f32;
        let mut thresholds = self.percentiles(network, data, device, p);
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

    /// The whole procedure on a trained `network`: learn the bands, fine-tune
    /// with the hinge penalty using `trainer`, learn the thresholds. Returns
    /// the fine-tuned network in inference mode.
    pub fn harden(
        &mut self,
        network: Network,
        data: &Dataset,
        trainer: &Trainer,
        device: &Device,
    ) -> Result<Network, TrainError> {
        self.harden_with(network, data, data, trainer, device)
    }

    /// [`Sitatapatra::harden`] with bands and thresholds learnt on
    /// `calibration` and the fine-tuning done on `train`.
    pub fn harden_with(
        &mut self,
        network: Network,
        train: &Dataset,
        calibration: &Dataset,
        trainer: &Trainer,
        device: &Device,
    ) -> Result<Network, TrainError> {
        let cfg = self.record.config.clone();
        self.calibrate_targets(&network, calibration, device, cfg.squeeze_percentile);
        let (network, _) = trainer.fit(
            network,
            train,
            device,
            &mut DefenceTraining::new(self),
            &mut (),
        )?;
        let network = network.valid();
        self.calibrate_thresholds(&network, calibration, device, cfg.detect_percentile);
        Ok(network)
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

    fn penalty(&self, layer: &str, activation: &Activation) -> Option<Tensor<1>> {
        let t = self.record.targets.get(layer)?;
        let g = self.guard_values(layer, activation)?;
        let device = g.device();
        let b = g.dims()[0];
        let cols = g.dims()[1];
        let excess = burn::tensor::activation::relu(g - row(t, &device));
        Some(excess.sum() * (self.record.config.lambda / (b * cols) as f64))
    }
}
