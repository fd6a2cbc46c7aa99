//! Running a list of compression steps.

use advcomp_data::Dataset;
use advcomp_models::Network;
use advcomp_train::{TrainObserver, evaluate};
use burn::tensor::Device;

use crate::calibrate;
use crate::config::{PruneMethod, PruneTarget, Schedule, Scope, Step};
use crate::dns;
use crate::error::CompressError;
use crate::finetune;
use crate::fixed_point::fake_quant;
use crate::mask::{self, Masks};
use crate::model::CompressedModel;
use crate::registry::CompressorKind;
use crate::report::{Accuracy, CompressionReport};
use crate::state::{CompressionState, PrunePhase, Pruning, Quantisation};

/// Images per evaluation batch.
const EVAL_BATCH: usize = 500;

/// Where the pipeline gets its data and runs.
pub struct Context<'a> {
    /// Training data (fine-tuning, activation calibration).
    pub train: &'a Dataset,
    /// The device; fine-tuning uses its autodiff version.
    pub device: &'a Device,
    /// Told about fine-tuning progress.
    pub observer: &'a mut dyn TrainObserver,
}

/// What [`compress`] made.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// The compressed model, every step applied and baked in.
    pub model: CompressedModel,
    /// The model as the first fine-tuning step found it (the compression
    /// before any fine-tuning, baked in), on which "accuracy before
    /// fine-tuning" is measured; `None` when no step fine-tunes.
    pub before_finetune: Option<CompressedModel>,
}

impl Compressed {
    /// The pipeline's report: `model`'s structure (density, sizes, per
    /// layer) and the test accuracy of `parent`, of the compression before
    /// fine-tuning and of the result on `test`. A measurement the caller
    /// asks for, apart from [`compress`], which needs no test data.
    pub fn report(
        &self,
        parent: &CompressedModel,
        steps: &[Step],
        test: &Dataset,
        device: &Device,
    ) -> CompressionReport {
        let plain = device.clone().without_autodiff();
        let accuracy_of = |m: &CompressedModel| evaluate(m, test, &plain, EVAL_BATCH).accuracy;
        let finetuned = accuracy_of(&self.model);
        let accuracy = Accuracy {
            original: accuracy_of(parent),
            compressed: self.before_finetune.as_ref().map_or(finetuned, accuracy_of),
            finetuned,
        };
        CompressionReport::measure(&self.model, steps, accuracy, test.len())
    }
}

/// Applies `steps` in order to `parent` (a plain or already compressed
/// model, on the plain device) and returns the compressed model.
///
/// Steps compose: a pruning's masks hold through later fine-tuning and
/// quantisation; a quantisation's formats hold through later fine-tuning
/// and pruning. Each `finetune` trains under every constraint in force.
/// Nothing is evaluated here: [`Compressed::report`] measures accuracy.
pub fn compress(
    parent: &CompressedModel,
    steps: &[Step],
    ctx: Context<'_>,
) -> Result<Compressed, CompressError> {
    for step in steps {
        step.validate()?;
    }
    let mut network = parent.network.clone();
    let mut state = parent.state.clone();
    let mut before_finetune = None;
    for step in steps {
        match step {
            Step::Prune(config) => {
                let masks = match (config.method, config.scope, config.target()) {
                    (_, _, PruneTarget::Alpha(alpha)) => dns::initial_masks(&network, alpha),
                    (PruneMethod::Filter, _, PruneTarget::Density(d)) => {
                        mask::filters_by_l1(&network, d)
                    }
                    (_, Scope::Global, PruneTarget::Density(d)) => {
                        mask::magnitude_global(&network, d)
                    }
                    (_, Scope::Layer, PruneTarget::Density(d)) => {
                        mask::magnitude_per_layer(&network, d)
                    }
                };
                let phase = match (config.method, config.schedule) {
                    (PruneMethod::Dns, _) => PrunePhase::Surgery,
                    (_, Schedule::Gradual) => PrunePhase::Gradual,
                    _ => PrunePhase::Fixed,
                };
                let masks = if phase == PrunePhase::Gradual {
                    Masks::default()
                } else {
                    masks
                };
                if phase == PrunePhase::Fixed {
                    network = masks.apply(network);
                }
                state.replace(CompressorKind::Prune);
                state.pruning = Some(Pruning {
                    config: config.clone(),
                    masks,
                    phase,
                    iterations: 0,
                });
            }
            Step::Quantise(config) => {
                // Formats describe the weights as deployed (pruned).
                let (deployed, _) = finalize(network.clone(), state.clone());
                state.replace(CompressorKind::Quantise);
                state.quant = Some(Quantisation {
                    config: config.clone(),
                    weight_formats: calibrate::weight_formats(&deployed, config),
                    act_formats: calibrate::activation_formats(
                        &deployed, ctx.train, config, ctx.device,
                    ),
                });
            }
            Step::Project(projection) => {
                state.replace(projection.kind());
                state.projections.push(projection.clone());
            }
            Step::Finetune(config) => {
                if before_finetune.is_none() {
                    let (n, s) = finalize(network.clone(), state.clone());
                    before_finetune = Some(CompressedModel::new(n, s));
                }
                network = finetune::finetune(
                    network,
                    &mut state,
                    config,
                    ctx.train,
                    ctx.device,
                    ctx.observer,
                )?;
            }
        }
    }
    let (network, state) = finalize(network, state);
    Ok(Compressed {
        model: CompressedModel::new(network, state),
        before_finetune,
    })
}

/// Bakes the state into the weights: DNS with a density and unfinished
/// gradual pruning end at exactly their density (DNS with `alpha` keeps the
/// surgery's last masks: its density is what they reach), masks are
/// applied, weights are put on their grids, and plugin projections replace
/// the weights they apply to (prune before quantise, as in training).
pub fn finalize(network: Network, mut state: CompressionState) -> (Network, CompressionState) {
    let mut network = network;
    if let Some(p) = state.pruning.as_mut() {
        match p.phase {
            PrunePhase::Fixed => {}
            PrunePhase::Surgery => {
                if let PruneTarget::Density(density) = p.config.target() {
                    let keep = mask::weights(&network)
                        .into_iter()
                        .filter_map(|(info, w)| {
                            let prefer = p.masks.get(&info.name)?.to_vec();
                            let k = Masks::kept_count(density, w.len());
                            Some((info.name, mask::top_preferring(&w, &prefer, k)))
                        })
                        .collect();
                    p.masks = Masks { keep };
                }
            }
            PrunePhase::Gradual => {
                let density = density_of(&p.config);
                p.masks = match p.config.scope {
                    Scope::Layer => mask::magnitude_per_layer(&network, density),
                    Scope::Global => mask::magnitude_global(&network, density),
                };
            }
        }
        p.phase = PrunePhase::Fixed;
        network = p.masks.apply(network);
    }
    if let Some(q) = &state.quant {
        network = network.map_params(&mut |info, value| match q.weight_formats.get(&info.name) {
            Some(&format) => fake_quant(value, format),
            None => value,
        });
    }
    for kind in CompressorKind::ALL {
        for projection in state.projections.iter().filter(|p| p.kind() == kind) {
            network = projection.bake(network);
        }
    }
    (network, state)
}

/// The density of a validated configuration that has one (every method but
/// DNS given `alpha`).
pub(crate) fn density_of(config: &crate::config::PruneConfig) -> f64 {
    match config.target() {
        PruneTarget::Density(d) => d,
        PruneTarget::Alpha(_) => 1.0,
    }
}
