//! Executing a plan: each step computed once, cached, skipped when cached.

use std::path::{Path, PathBuf};
use std::time::Instant;

use advcomp_compress::{CompressedModel, Context, Step as CompressStep, compress};
use advcomp_data::{Dataset, Split};
use advcomp_defence::spec::Method;
use advcomp_defence::{AdversarialTraining, CalibratedDetector, Defence, DefenceSpec, Key};
use advcomp_models::{Architecture, Classifier, Network, checkpoint};
use advcomp_train::{Limits, LrSchedule, TrainConfig, TrainObserver, Trainer, batch, job};
use burn::module::Module;
use burn::tensor::Device;
use serde_json::Value;

use crate::artifacts::{self, AttackRecord, DefenceRecord, Predictions, StepRecord};
use crate::cache::{Cache, STEP_RECORD, write_json};
use crate::deployed::{Deployed, load_at, redeploy};
use crate::error::RunError;
use crate::plan::{Plan, PlanStep, StepKind};

/// Images per evaluation batch.
const EVAL_BATCH: usize = 500;

/// A compress step's report, in its cache directory.
pub const REPORT: &str = "report.json";

/// Told about a run's progress (the CLI draws bars with it).
pub trait RunObserver {
    /// A step starts; `cached` says it will be read from the cache.
    fn step_start(&mut self, index: usize, total: usize, step: &PlanStep, cached: bool) {
        let _ = (index, total, step, cached);
    }
    /// Progress inside a step: `done` of `total` units (epochs, batches).
    fn step_progress(&mut self, done: usize, total: usize) {
        let _ = (done, total);
    }
    /// A step finished.
    fn step_end(&mut self, index: usize, step: &PlanStep, cached: bool, seconds: f64) {
        let _ = (index, step, cached, seconds);
    }
}

/// Observes nothing.
impl RunObserver for () {}

/// Everything the steps read.
pub struct Inputs<'a> {
    /// The dataset.
    pub split: &'a Split,
    /// Training images used.
    pub train: &'a Dataset,
    /// Test images used (the scenario's test subset).
    pub test: &'a Dataset,
    /// Training/test limits as the trainer records them.
    pub limits: Limits,
    /// The device (autodiff for training and attacks is derived from it).
    pub device: &'a Device,
    /// The scenario seed.
    pub seed: u64,
}

/// Runs every step of `plan` not already in `cache`. `stop_after` (tests)
/// stops after that many computed steps, as a kill would.
pub fn execute(
    plan: &Plan,
    cache: &Cache,
    inputs: &Inputs<'_>,
    observer: &mut dyn RunObserver,
    stop_after: Option<usize>,
) -> Result<bool, RunError> {
    let total = plan.steps.len();
    let mut computed = 0;
    cache.sweep_stale()?;
    for (i, step) in plan.steps.iter().enumerate() {
        let cached = cache.has(&step.key);
        observer.step_start(i, total, step, cached);
        if cached {
            let record: StepRecord =
                crate::cache::read_json(&cache.dir(&step.key).join(STEP_RECORD))?;
            observer.step_end(i, step, true, record.seconds);
            continue;
        }
        if stop_after.is_some_and(|n| computed >= n) {
            return Ok(false);
        }
        let seconds = compute(plan, i, cache, inputs, observer)?;
        computed += 1;
        observer.step_end(i, step, false, seconds);
    }
    Ok(true)
}

/// Computes step `index` of `plan` (its parents must be cached) in a
/// staging directory and publishes it; returns its wall time. Every
/// executor ends here: the sequential loop above in this process, the
/// others in an `advcomp step run` worker ([`crate::run_step`]).
pub fn compute(
    plan: &Plan,
    index: usize,
    cache: &Cache,
    inputs: &Inputs<'_>,
    observer: &mut dyn RunObserver,
) -> Result<f64, RunError> {
    let step = &plan.steps[index];
    let started = Instant::now();
    let staging = cache.staging(&step.key)?;
    run_step(plan, step, cache, inputs, &staging, observer).map_err(|e| match e {
        RunError::Step { .. } | RunError::Corrupt { .. } | RunError::Io { .. } => e,
        other => RunError::Step {
            step: step.label.clone(),
            message: other.to_string(),
        },
    })?;
    let seconds = started.elapsed().as_secs_f64();
    write_json(
        &staging.join(STEP_RECORD),
        &StepRecord {
            key: step.key.clone(),
            label: step.label.clone(),
            seconds,
        },
    )?;
    cache.commit(staging, &step.key)?;
    Ok(seconds)
}

fn step_error(step: &PlanStep, message: impl std::fmt::Display) -> RunError {
    RunError::Step {
        step: step.label.clone(),
        message: message.to_string(),
    }
}

/// The cache directory of the step that made model `id` (the last of the
/// steps that build it).
pub fn model_dir(plan: &Plan, cache: &Cache, id: &str) -> Option<PathBuf> {
    plan.steps.iter().rev().find_map(|s| match &s.kind {
        StepKind::Train { model, .. }
        | StepKind::Compress { model, .. }
        | StepKind::Defend { model, .. }
        | StepKind::Ensemble { model }
            if model == id =>
        {
            Some(cache.dir(&s.key))
        }
        _ => None,
    })
}

/// The cache directory of the step of `kind` that matches.
pub fn find_dir(plan: &Plan, cache: &Cache, pred: impl Fn(&StepKind) -> bool) -> Option<PathBuf> {
    plan.steps
        .iter()
        .find(|s| pred(&s.kind))
        .map(|s| cache.dir(&s.key))
}

/// The `defend` step of a plugin input detector: the parent (compressed or
/// not) unchanged, with the detector calibrated on it and recorded in its
/// sidecar, and the parent's compression report kept beside it (the
/// weights are the parent's). Nothing is trained, so the "twin" is the
/// parent itself.
fn guard(
    step: &PlanStep,
    mut detector: CalibratedDetector,
    (parent, parent_dir): (CompressedModel, &Path),
    mut sidecar: checkpoint::Sidecar,
    inputs: &Inputs<'_>,
    out: &Path,
) -> Result<(), RunError> {
    let report = parent_dir.join(REPORT);
    if report.is_file() {
        let report: advcomp_compress::CompressionReport = crate::cache::read_json(&report)?;
        write_json(&out.join(REPORT), &report)?;
    }
    let plain = inputs.device.clone().without_autodiff();
    detector.calibrate(&parent, inputs.train, &plain);
    detector.save_into(&mut sidecar);
    let accuracy = advcomp_train::evaluate(&parent, inputs.test, &plain, EVAL_BATCH).accuracy;
    checkpoint::save(&parent.network, &sidecar, out).map_err(|e| step_error(step, e))?;
    write_json(
        &out.join(artifacts::DEFENCE),
        &DefenceRecord {
            defence: detector.name().to_string(),
            key_id: None,
            detects: true,
            epochs: 0,
            accuracy,
            twin_accuracy: accuracy,
        },
    )
}

/// The `defend` step: fine-tunes the parent with the defence (and, for the
/// accuracy cost, an unkeyed twin: the same fine-tune without it), saves
/// the hardened checkpoint and `defence.json`.
fn defend(
    step: &PlanStep,
    name: &str,
    params: &serde_json::Map<String, Value>,
    parent_dir: &Path,
    inputs: &Inputs<'_>,
    out: &Path,
    observer: &mut dyn RunObserver,
) -> Result<(), RunError> {
    let device = inputs.device;
    let plain = device.clone().without_autodiff();
    let spec = DefenceSpec::from_params(name, params).map_err(|e| step_error(step, e))?;
    let (parent, mut sidecar) =
        CompressedModel::load(parent_dir, &plain).map_err(|e| step_error(step, e))?;
    if let Method::Detector(detector) = &spec.method {
        return guard(
            step,
            detector.clone(),
            (parent, parent_dir),
            sidecar,
            inputs,
            out,
        );
    }
    let trainer = Trainer::new(TrainConfig {
        epochs: spec.epochs,
        learning_rate: spec.lr,
        schedule: LrSchedule::Constant,
        seed: spec.seed.unwrap_or(inputs.seed),
        ..TrainConfig::default()
    })
    .map_err(|e| step_error(step, e))?;
    if parent.state.is_compressed() {
        return defend_compressed(
            step,
            &spec,
            &trainer,
            (parent, parent_dir),
            sidecar,
            inputs,
            out,
            observer,
        );
    }
    let network: Network = parent.network;
    // Twin first: the defence's fine-tune consumes the network.
    let mut progress = Progress {
        observer,
        epochs: 2 * spec.epochs,
    };
    let (twin, _) = trainer
        .fit(
            network.clone(),
            inputs.train,
            device,
            &mut (),
            &mut progress,
        )
        .map_err(|e| step_error(step, e))?;
    let twin_accuracy = accuracy(&twin.valid(), inputs.test, device);
    let key = spec.key();
    let keyed = key
        .clone()
        .and_then(|key| spec.method.hardening(key, &network));
    let (hardened, record): (Network, Option<Box<dyn Defence>>) = match (keyed, &spec.method) {
        (Some(mut defence), _) => {
            let n = defence
                .harden_with(network, inputs.train, inputs.train, &trainer, device)
                .map_err(|e| step_error(step, e))?;
            (n, Some(defence))
        }
        (
            None,
            Method::Adversarial {
                attack,
                params,
                fraction,
            },
        ) => {
            let mut hooks =
                AdversarialTraining::with_attack(attack, &Value::Object(params.clone()), *fraction)
                    .map_err(|e| step_error(step, e))?;
            let (n, _) = trainer
                .fit(network, inputs.train, device, &mut hooks, &mut ())
                .map_err(|e| step_error(step, e))?;
            (n.valid(), None)
        }
        (None, Method::Detector(_)) => {
            return Err(step_error(
                step,
                "an input detector trains nothing (it is applied by `guard`)",
            ));
        }
        (None, _) => return Err(step_error(step, "a keyed defence needs its key")),
    };
    let hardened_accuracy = accuracy(&hardened, inputs.test, device);
    sidecar.metrics = serde_json::json!({ "test_accuracy": hardened_accuracy });
    match &record {
        Some(defence) => {
            advcomp_defence::save(&hardened, defence.as_ref(), sidecar, out)
                .map_err(|e| step_error(step, e))?;
        }
        None => {
            checkpoint::save(&hardened, &sidecar, out).map_err(|e| step_error(step, e))?;
        }
    }
    write_json(
        &out.join(artifacts::DEFENCE),
        &DefenceRecord {
            defence: spec.name.to_string(),
            key_id: key.as_ref().map(Key::id),
            detects: spec.detects(),
            epochs: spec.epochs,
            accuracy: hardened_accuracy,
            twin_accuracy,
        },
    )?;
    Ok(())
}

/// The `defend` step of a keyed defence on a compressed parent: the twin
/// and the hardening fine-tune train under the parent's compression
/// (`advcomp_compress::finetune::train_constrained`: masks held, grids and
/// projections in the forward pass), the thresholds are learnt through the
/// parent's activation hook, and the result is saved as a compressed model
/// with the defence's record, a compression report measured on its new
/// weights, and any input detector's threshold set again on it.
#[allow(clippy::too_many_arguments)]
fn defend_compressed(
    step: &PlanStep,
    spec: &DefenceSpec,
    trainer: &Trainer,
    (parent, parent_dir): (CompressedModel, &Path),
    mut sidecar: checkpoint::Sidecar,
    inputs: &Inputs<'_>,
    out: &Path,
    observer: &mut dyn RunObserver,
) -> Result<(), RunError> {
    use advcomp_compress::finetune::train_constrained;
    let device = inputs.device;
    let err = |e: &dyn std::fmt::Display| step_error(step, e);
    let mut progress = Progress {
        observer,
        epochs: 2 * spec.epochs,
    };
    let twin = train_constrained(
        &parent,
        trainer,
        &mut (),
        inputs.train,
        device,
        &mut progress,
    )
    .map_err(|e| err(&e))?;
    let twin_accuracy = model_accuracy(&twin, inputs.test, device);
    let key = spec.key().ok_or_else(|| {
        err(&"adversarial training needs an uncompressed model (defend before prune/quantise)")
    })?;
    let mut trained = None;
    let defence: Box<dyn Defence> = {
        let mut fit = |network: Network, hooks: &mut dyn advcomp_train::TrainHooks| {
            let start = CompressedModel::new(network, parent.state.clone());
            let model = train_constrained(&start, trainer, hooks, inputs.train, device, &mut ())?;
            let network = model.network.clone();
            trained = Some(model);
            Ok(network)
        };
        let start = parent.network.clone();
        let mut defence = spec
            .method
            .hardening(key.clone(), &parent.network)
            .ok_or_else(|| err(&"only a keyed defence trains under a compression"))?;
        defence
            .harden_deployed(start, parent.hook(), inputs.train, device, &mut fit)
            .map_err(|e| err(&e))?;
        defence
    };
    let model = trained.ok_or_else(|| err(&"the hardening fine-tune did not run"))?;
    let accuracy = model_accuracy(&model, inputs.test, device);
    let parent_report: advcomp_compress::CompressionReport =
        crate::cache::read_json(&parent_dir.join(REPORT))?;
    let report = advcomp_compress::CompressionReport::measure(
        &model,
        &parent_report.steps,
        advcomp_compress::report::Accuracy {
            finetuned: accuracy,
            ..parent_report.accuracy
        },
        inputs.test.len(),
    );
    sidecar.metrics = serde_json::json!({ "test_accuracy": accuracy });
    sidecar.extra.remove(crate::deployed::RECALIBRATION);
    sidecar.extra.insert(
        advcomp_defence::EXTRA_KEY.into(),
        advcomp_defence::persist::record(defence.as_ref()),
    );
    if let Some(mut detector) =
        CalibratedDetector::from_sidecar(&sidecar, parent_dir).map_err(|e| err(&e))?
    {
        detector.calibrate(&model, inputs.train, &device.clone().without_autodiff());
        detector.save_into(&mut sidecar);
    }
    model.save(out, sidecar, &report).map_err(|e| err(&e))?;
    write_json(&out.join(REPORT), &report)?;
    write_json(
        &out.join(artifacts::DEFENCE),
        &DefenceRecord {
            defence: spec.name.to_string(),
            key_id: Some(key.id()),
            detects: spec.detects(),
            epochs: spec.epochs,
            accuracy,
            twin_accuracy,
        },
    )
}

fn accuracy(network: &Network, data: &Dataset, device: &Device) -> f64 {
    model_accuracy(
        &CompressedModel::uncompressed(network.clone()),
        data,
        device,
    )
}

/// Test accuracy of `model` as deployed (with its compression hook).
fn model_accuracy(model: &CompressedModel, data: &Dataset, device: &Device) -> f64 {
    let predicted = predict_dataset(model, data, device);
    let correct = predicted
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| p == l)
        .count();
    correct as f64 / data.len().max(1) as f64
}

/// Host values of the scenario's test images `rows`.
fn test_images(data: &Dataset, rows: &[usize]) -> (Vec<f32>, [usize; 4]) {
    let s = &data.shape;
    let mut v = Vec::with_capacity(rows.len() * s.channels * s.height * s.width);
    for &r in rows {
        v.extend_from_slice(data.image(r));
    }
    (v, [rows.len(), s.channels, s.height, s.width])
}

struct Progress<'a> {
    observer: &'a mut dyn RunObserver,
    epochs: usize,
}

impl TrainObserver for Progress<'_> {
    fn epoch_end(&mut self, stats: &advcomp_train::EpochStats) {
        self.observer.step_progress(stats.epoch + 1, self.epochs);
    }
}

fn run_step(
    plan: &Plan,
    step: &PlanStep,
    cache: &Cache,
    inputs: &Inputs<'_>,
    out: &Path,
    observer: &mut dyn RunObserver,
) -> Result<(), RunError> {
    let device = inputs.device;
    match &step.kind {
        StepKind::Train { arch, params, .. } => {
            let architecture: Architecture = arch.parse().map_err(|e| step_error(step, e))?;
            let config =
                TrainConfig::from_params(params, inputs.seed).map_err(|e| step_error(step, e))?;
            let mut progress = Progress {
                observer,
                epochs: config.epochs,
            };
            job::train_to_checkpoint(
                architecture,
                inputs.split,
                inputs.limits,
                &config,
                device,
                out,
                &mut progress,
            )
            .map_err(|e| step_error(step, e))?;
        }
        StepKind::Compress { steps, .. } => {
            let parent_dir = cache.dir(&plan.steps[step.deps[0]].key);
            let (parent, sidecar) =
                CompressedModel::load(&parent_dir, &device.clone().without_autodiff())
                    .map_err(|e| step_error(step, e))?;
            let steps: Vec<CompressStep> = steps
                .iter()
                .map(|(op, method, params)| {
                    let mut params = params.clone();
                    if op == "finetune" && !params.contains_key("seed") {
                        params.insert("seed".into(), Value::from(inputs.seed));
                    }
                    CompressStep::from_parts(op, method, &params)
                })
                .collect::<Result<_, _>>()
                .map_err(|e| step_error(step, e))?;
            let epochs: usize = steps
                .iter()
                .map(|s| match s {
                    CompressStep::Finetune(f) => f.epochs,
                    _ => 0,
                })
                .sum();
            let mut progress = Progress { observer, epochs };
            let done = compress(
                &parent,
                &steps,
                Context {
                    train: inputs.train,
                    device,
                    observer: &mut progress,
                },
            )
            .map_err(|e| step_error(step, e))?;
            let report = done.report(&parent, &steps, inputs.test, device);
            let model = done.model;
            let mut sidecar = sidecar;
            sidecar.metrics = serde_json::json!({ "test_accuracy": report.accuracy.finetuned });
            // The parent's detectors keep guarding the compressed model,
            // with their thresholds learnt again on it.
            redeploy(
                &parent,
                &model,
                &mut sidecar,
                &parent_dir,
                step.secret.as_ref(),
                inputs.train,
                device,
            )
            .map_err(|e| step_error(step, e))?;
            model
                .save(out, sidecar, &report)
                .map_err(|e| step_error(step, e))?;
            write_json(&out.join(REPORT), &report)?;
        }
        StepKind::Defend {
            defence,
            resolved_params,
            ..
        } => {
            let parent_dir = cache.dir(&plan.steps[step.deps[0]].key);
            defend(
                step,
                defence,
                &plan.secrets.revealed(resolved_params),
                &parent_dir,
                inputs,
                out,
                observer,
            )?;
        }
        StepKind::Ensemble { .. } => {}
        StepKind::Evaluate { .. } => {
            let loaded = load_at(plan, cache, step.deps[0], device)?;
            let detection = match &loaded {
                Deployed::One(one) if one.detects() => {
                    let rows: Vec<usize> = (0..inputs.test.len()).collect();
                    let (images, dims) = test_images(inputs.test, &rows);
                    loaded.detect(&images, dims, &device.clone().without_autodiff())
                }
                _ => None,
            };
            let predicted = match &detection {
                // The detector's forward pass already classified them.
                Some(d) => d.predicted.clone(),
                None => predict_dataset(loaded.classifier()?.as_ref(), inputs.test, device),
            };
            let correct = predicted
                .iter()
                .zip(&inputs.test.labels)
                .filter(|(p, l)| p == l)
                .count();
            artifacts::write_predictions(
                out,
                &Predictions {
                    accuracy: correct as f64 / inputs.test.len().max(1) as f64,
                    predicted,
                    detection,
                },
            )?;
        }
        StepKind::Attack {
            name,
            params,
            images,
            batch_size,
            target,
            ..
        } => {
            let loaded = load_at(plan, cache, step.deps[0], device)?;
            let model = loaded.classifier()?;
            let attack = advcomp_attack::build(name, &Value::Object(params.clone()))
                .map_err(|e| step_error(step, e))?;
            let target = target
                .as_ref()
                .map(|t| crate::catalog::target_choice(&Value::String(t.clone())))
                .transpose()
                .map_err(|e| step_error(step, e))?;
            let rows = job::spread(inputs.test.len(), (*images).min(inputs.test.len()));
            let plain = device.clone().without_autodiff();
            let x = batch::images(inputs.test, &rows, &plain);
            let y = batch::labels(inputs.test, &rows, &plain);
            let total = rows.len();
            let result = advcomp_attack::run_batched(
                attack.as_ref(),
                model.as_ref(),
                x,
                y,
                target,
                *batch_size,
                device,
                &mut |done| observer.step_progress(done, total),
            )
            .map_err(|e| step_error(step, e))?;
            let s = inputs.test.shape;
            let dims = [rows.len(), s.channels, s.height, s.width];
            artifacts::write_images(out, &result.adversarial)?;
            let detection = loaded.detect(&result.adversarial, dims, &plain);
            let summary = result.metrics.summary(result.counters);
            write_json(
                &out.join(artifacts::ATTACK),
                &AttackRecord {
                    rows,
                    dims,
                    metrics: result.metrics,
                    counters: result.counters,
                    summary,
                    detection,
                },
            )?;
        }
        StepKind::Apply { .. } => {
            let attack_dir = cache.dir(&plan.steps[step.deps[0]].key);
            let record = artifacts::read_attack(&attack_dir, inputs.test.len())?;
            let s = inputs.test.shape;
            let shape = [s.channels, s.height, s.width];
            let images = artifacts::read_images(&attack_dir, record.dims, shape)?;
            let loaded = load_at(plan, cache, step.deps[1], device)?;
            let plain = device.clone().without_autodiff();
            let detection = loaded.detect(&images, record.dims, &plain);
            let predicted = match &detection {
                // The detector's forward pass already classified them.
                Some(d) => d.predicted.clone(),
                None => predict_images(loaded.classifier()?.as_ref(), &images, record.dims, &plain),
            };
            let labels: Vec<u8> = record.rows.iter().map(|&r| inputs.test.labels[r]).collect();
            let correct = predicted
                .iter()
                .zip(&labels)
                .filter(|(p, l)| p == l)
                .count();
            artifacts::write_predictions(
                out,
                &Predictions {
                    accuracy: correct as f64 / labels.len().max(1) as f64,
                    predicted,
                    detection,
                },
            )?;
        }
    }
    Ok(())
}

/// Predicted class of host images `[n, c, h, w]`.
fn predict_images(
    model: &dyn Classifier,
    images: &[f32],
    dims: [usize; 4],
    plain: &Device,
) -> Vec<u8> {
    let per: usize = dims[1..].iter().product();
    let mut predicted = Vec::with_capacity(dims[0]);
    for chunk in images.chunks(EVAL_BATCH * per) {
        let x = burn::Tensor::<1>::from_floats(chunk, plain).reshape([
            chunk.len() / per,
            dims[1],
            dims[2],
            dims[3],
        ]);
        predicted.extend(
            advcomp_attack::ops::host_i64(model.predict(x))
                .into_iter()
                .map(|p| p as u8),
        );
    }
    predicted
}

/// Predicted class of every image of `data`.
pub fn predict_dataset(model: &dyn Classifier, data: &Dataset, device: &Device) -> Vec<u8> {
    let plain = device.clone().without_autodiff();
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut out = Vec::with_capacity(data.len());
    for chunk in rows.chunks(EVAL_BATCH) {
        let x = batch::images(data, chunk, &plain);
        out.extend(
            advcomp_attack::ops::host_i64(model.predict(x))
                .into_iter()
                .map(|p| p as u8),
        );
    }
    out
}
