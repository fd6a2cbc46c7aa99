//! Command-line definitions.
//!
//! Numeric options set `allow_negative_numbers`, so that `--lr -0.1` reaches
//! the command's own range check ("learning_rate must be a positive
//! number") instead of clap's baffling "unexpected argument '-0'".

use std::path::PathBuf;

use advcomp_models::{Architecture, UnknownArchitecture};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Study how adversarial samples transfer between a neural network and its
/// pruned or quantised versions.
///
/// Quick start (bundled MNIST sample, CPU):
///
///   advcomp train --model lenet5 --epochs 8 --out runs/lenet5
///
///   advcomp eval runs/lenet5
#[derive(Debug, Parser)]
#[command(name = "advcomp", version, about, long_about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a network from scratch and save a checkpoint directory.
    ///
    /// Writes DIR/model.bpk (weights), DIR/checkpoint.json (what and how),
    /// DIR/metrics.json (test accuracy, per-class accuracy) and
    /// DIR/train_log.json (per-epoch loss and accuracy). The same seed on the
    /// same CPU backend gives the same bytes.
    Train(TrainArgs),
    /// Evaluate a saved checkpoint on its dataset's test split.
    ///
    /// Prints accuracy and per-class accuracy; with --json, prints exactly
    /// what the checkpoint's metrics.json holds when the data is the same.
    Eval(EvalArgs),
    /// Attack a checkpoint's test images; write the adversarial set and metrics.
    ///
    /// Writes DIR/adversarial-images.idx (float32 IDX, [n, c, h, w] in [0,1]),
    /// DIR/labels.idx (true labels), DIR/success.idx (1 where the attack
    /// succeeded) and DIR/metrics.json (success rate, accuracy under attack,
    /// L0/L2/L∞ norms of successful perturbations, gradient evaluations).
    Attack(AttackArgs),
    /// Prune and/or quantise a checkpoint, fine-tune it, save the result.
    ///
    /// Steps run in the order prune, quantise, fine-tune (fine-tuning keeps
    /// pruned weights at zero and trains through the quantisers). Writes a
    /// checkpoint directory that `eval` and `attack` read like any other
    /// (the compression is recorded in its checkpoint.json), plus
    /// DIR/report.json — per layer: shape, non-zeros, density, weight /
    /// bias / activation formats; model size; accuracy before compression,
    /// after it and after fine-tuning — and prints the per-layer table.
    ///
    ///   advcomp compress --model runs/lenet5 --prune magnitude --density 0.1 --finetune 2 --out runs/lenet5-p10
    ///
    ///   advcomp compress --model runs/lenet5 --prune dns --alpha 1.0 --finetune 2 --out runs/lenet5-dns
    ///
    ///   advcomp compress --model runs/lenet5 --quantise fixed --weight-bits 4 --act-bits 4 --finetune 2 --out runs/lenet5-q4
    Compress(CompressArgs),
    /// Run a .scn scenario: train, compress, attack, transfer, report.
    ///
    /// Every step's output is cached under a hash of its inputs (in
    /// --cache), so a rerun skips finished work and an interrupted run
    /// resumes. Writes results.json, transfer.csv, models.csv, report.md
    /// and SVG plots into --out (default runs/<scenario name>).
    ///
    ///   advcomp run scenarios/lenet5-scenario1.scn
    Run(RunScenarioArgs),
    /// Check a .scn scenario: syntax, names, parameters. Exit 0 when valid.
    Check(CheckArgs),
    /// Print a .scn scenario in canonical form (or rewrite it with --write).
    Fmt(FmtArgs),
    /// Find, inspect and download datasets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Compute one step of a scenario's plan (what `run --jobs` and
    /// `run --executor slurm` start for each step).
    ///
    ///   advcomp step run KEY --plan CACHE/plans/FILE.json --cache CACHE
    Step {
        #[command(subcommand)]
        command: StepCommand,
    },
    /// List the artifact cache, or remove what no scenario needs any more.
    ///
    ///   advcomp cache ls scenarios/*.scn
    ///
    ///   advcomp cache gc scenarios/*.scn
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Print every component this binary has (plugins included) with every
    /// parameter, its type, range and meaning: architectures, attacks,
    /// compressors, fine-tuning and defences, as `.scn` files name them.
    ///
    ///   advcomp catalogue --kind defence
    Catalogue(CatalogueArgs),
}

#[derive(Debug, Args)]
pub struct CatalogueArgs {
    /// Only this kind of component.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Print the JSON snapshot (`crates/advcomp-scenario/catalog.json`'s
    /// format) instead of Markdown.
    #[arg(long)]
    pub json: bool,
}

/// A kind of component, as `advcomp catalogue --kind` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Architectures (their parameters are the training options).
    Architecture,
    /// Attacks.
    Attack,
    /// Pruning methods.
    Prune,
    /// Quantisation methods.
    Quantise,
    /// Fine-tuning.
    Finetune,
    /// Defences.
    Defence,
}

#[derive(Debug, Subcommand)]
pub enum StepCommand {
    /// Compute step KEY, whose parents must be cached; returns at once if
    /// it is cached already. Two workers on one key both succeed and leave
    /// one entry.
    Run(StepRunArgs),
}

#[derive(Debug, Args)]
pub struct StepRunArgs {
    /// The step's key (as `advcomp run --dry-run` prints its prefix).
    #[arg(value_name = "KEY")]
    pub key: String,
    /// The plan file `advcomp run` wrote (in CACHE/plans/).
    #[arg(long, value_name = "FILE")]
    pub plan: PathBuf,
    /// The artifact cache.
    #[arg(long, value_name = "DIR")]
    pub cache: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List every entry (key, size, step); given scenarios, mark each entry
    /// that their plans use.
    Ls(CacheArgs),
    /// Remove every entry that none of the given scenarios' plans uses
    /// (a plan depends on the backend and the data: pass the same --backend
    /// and --data as to `advcomp run`).
    Gc(CacheArgs),
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Scenario files whose plans decide which entries are in use.
    #[arg(value_name = "FILE")]
    pub scenarios: Vec<PathBuf>,
    /// The artifact cache.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "runs/cache",
        env = "ADVCOMP_CACHE"
    )]
    pub cache: PathBuf,
    /// Show what would be removed and remove nothing (gc).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where to run and which data to use.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Execution backend: cpu (the measured-faster CPU backend), flex,
    /// ndarray, wgpu or cuda. GPU backends need a build with `--features wgpu`
    /// or `--features cuda`.
    #[arg(long, default_value = "cpu", env = "ADVCOMP_BACKEND")]
    pub backend: String,
    /// Dataset directory. Default: $ADVCOMP_DATA/<dataset>, else ./data/<dataset>,
    /// else (MNIST) the bundled 10,000-digit sample in data/mnist-10k.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// List the registered architectures (plugins included) and the training parameters.
    #[arg(long, exclusive = true)]
    pub list: bool,
    /// Architecture to train: lenet5, cifarnet, cifarnet-tf or a plugin's
    /// (`advcomp train --list`).
    #[arg(long, value_parser = parse_architecture, required_unless_present = "list")]
    pub model: Option<Architecture>,
    /// Dataset (default: the architecture's own, `advcomp train --list`).
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetArg>,
    /// Passes over the training set.
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Seed for weight initialisation and batch order.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Output checkpoint directory (created; existing files are replaced atomically).
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub out: Option<PathBuf>,
    /// Images per optimiser step.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Base learning rate.
    #[arg(long = "lr", default_value_t = 0.05, allow_negative_numbers = true)]
    pub learning_rate: f64,
    /// Optimiser.
    #[arg(long, value_enum, default_value = "sgd")]
    pub optimizer: OptimizerArg,
    /// SGD momentum (default 0.9).
    #[arg(long, allow_negative_numbers = true)]
    pub momentum: Option<f64>,
    /// Use Nesterov momentum with SGD.
    #[arg(long)]
    pub nesterov: bool,
    /// L2 weight decay.
    #[arg(long, default_value_t = 5e-4, allow_negative_numbers = true)]
    pub weight_decay: f64,
    /// Learning-rate schedule over the epochs.
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleArg,
    /// Step schedule: epochs between decays (default 3).
    #[arg(long, allow_negative_numbers = true)]
    pub step_every: Option<usize>,
    /// Step schedule: factor of each decay, in (0, 1) (default 0.1).
    #[arg(long, allow_negative_numbers = true)]
    pub gamma: Option<f64>,
    /// Train on only the first N training images (quick experiments; N >= 1).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N test images (N >= 1).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub test_limit: Option<usize>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Checkpoint directory written by `advcomp train`.
    #[arg(value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// Print the metrics as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct AttackArgs {
    /// List the registered attacks (plugins included) with their parameters and defaults.
    #[arg(long, exclusive = true)]
    pub list: bool,
    /// Checkpoint directory of the model to attack.
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub model: Option<PathBuf>,
    /// Attack name, e.g. fgsm, ifgsm, ifgm, pgd, pgd_l2, mifgsm, difgsm, tifgsm, nifgsm, vmifgsm, apgd_ce, apgd_dlr, autoattack, adaptive_pgd, hop_skip_jump, boundary, deepfool, cw_l2, jsma, square (`advcomp attack --list`).
    #[arg(long, required_unless_present = "list")]
    pub attack: Option<String>,
    /// Attack parameter as NAME=VALUE (repeatable, each NAME once), e.g. --param epsilon=0.1.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Make the attack targeted: aim each image at `next` (label + 1),
    /// `random` (or `random:SEED`), `least_likely` (the clean image's least
    /// likely class) or class K. Success then means reaching the target;
    /// the targets are written to targets.idx.
    #[arg(long, value_name = "RULE")]
    pub target: Option<String>,
    /// Number of test images to attack (evenly spaced over the test set).
    /// If N exceeds the test set, all of it is attacked and a warning says so.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub n: usize,
    /// Images per attack batch.
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Output directory.
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct CompressArgs {
    /// List the registered compressors (plugins included) with their parameters.
    #[arg(long, exclusive = true)]
    pub list: bool,
    /// Checkpoint directory of the model to compress (trained or already compressed).
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub model: Option<PathBuf>,
    /// Pruning method: magnitude (Han 2015), dns (Dynamic Network Surgery,
    /// Guo 2016; prunes and splices during --finetune), filter (whole
    /// filters by L1 norm, Li 2017) or a plugin's (`advcomp compress --list`).
    #[arg(long, value_name = "METHOD")]
    pub prune: Option<String>,
    /// Pruning parameter as NAME=VALUE (repeatable), for parameters without
    /// a flag of their own (a plugin's).
    #[arg(long = "prune-param", value_name = "NAME=VALUE", requires = "prune")]
    pub prune_params: Vec<String>,
    /// Share of weights kept, in (0, 1] (filter: share of filters / neurons kept).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "alpha")]
    pub density: Option<f64>,
    /// DNS only, instead of --density: Guo et al.'s per-layer threshold
    /// mean|W| + ALPHA·std|W| (Mayo's default -0.1); the density reached
    /// follows from it.
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// Magnitude pruning: one threshold per layer (the default) or one for
    /// the whole network.
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Magnitude pruning: at once (the default), or gradually over the
    /// fine-tuning (Zhu & Gupta 2017).
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleKindArg>,
    /// Quantisation: fixed (per-layer format covering the range), dynamic
    /// (per-layer format from training-data statistics, re-estimated each
    /// fine-tuning epoch) or a plugin's (`advcomp compress --list`).
    #[arg(long, value_name = "METHOD")]
    pub quantise: Option<String>,
    /// Quantisation parameter as NAME=VALUE (repeatable), for parameters
    /// without a flag of their own (a plugin's).
    #[arg(long = "quant-param", value_name = "NAME=VALUE", requires = "quantise")]
    pub quant_params: Vec<String>,
    /// Bits of weights and biases, sign included (2..=16).
    #[arg(long, allow_negative_numbers = true)]
    pub weight_bits: Option<u8>,
    /// Integer bits of weights and biases, sign included (fixed only): one
    /// binary point for every layer, as in Mayo. Omit for each tensor's own
    /// range.
    #[arg(long, allow_negative_numbers = true)]
    pub weight_int_bits: Option<i32>,
    /// Bits of activations (2..=16); omit to keep activations in float.
    #[arg(long, allow_negative_numbers = true)]
    pub act_bits: Option<u8>,
    /// Integer bits of activations, sign included (fixed only), as
    /// --weight-int-bits.
    #[arg(long, allow_negative_numbers = true)]
    pub act_int_bits: Option<i32>,
    /// Quantise activations (ReLU outputs, never negative) in an unsigned
    /// format: one more fraction bit than the signed default.
    #[arg(long)]
    pub act_unsigned: bool,
    /// Fine-tuning epochs after compressing (0: none).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub finetune: usize,
    /// Fine-tuning learning rate (SGD, momentum 0.9, cosine decay).
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub lr: f64,
    /// Seeds the fine-tuning batch order.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Output checkpoint directory.
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub out: Option<PathBuf>,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct RunScenarioArgs {
    /// The scenario file.
    #[arg(value_name = "FILE")]
    pub scenario: PathBuf,
    /// Print the plan (steps, and which are cached) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Output directory (default: the scenario's `output` setting, else runs/<file stem>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Artifact cache shared by all scenarios.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "runs/cache",
        env = "ADVCOMP_CACHE"
    )]
    pub cache: PathBuf,
    /// Refuse a plan of more steps than this (a sweep crossed with itself
    /// grows quadratically); raise it for a deliberately huge study.
    #[arg(long, value_name = "N", default_value_t = advcomp_runner::plan::DEFAULT_MAX_STEPS)]
    pub max_steps: usize,
    /// Exit with a failure status unless every `expect` claim holds (a
    /// failing or inconclusive claim fails the run, e.g. in CI).
    #[arg(long)]
    pub strict: bool,
    /// Who computes the steps: `local` (this machine) or `slurm` (one batch
    /// job per step; see docs/cluster.md).
    #[arg(long, value_enum, default_value = "local")]
    pub executor: ExecutorArg,
    /// Steps computed at once by the local executor, each in a worker
    /// process with the cores shared among the steps that can run beside
    /// it (at most N). 1: one at a time, in this process.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 1, env = "ADVCOMP_JOBS",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    #[command(flatten)]
    pub slurm: SlurmArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorArg {
    /// This machine.
    Local,
    /// A SLURM cluster: every step a batch job.
    Slurm,
}

/// Resources of the SLURM executor's jobs: a TOML file's `[slurm]` table
/// (with `[slurm.<step kind>]` overrides), then these flags over it.
#[derive(Debug, Args)]
pub struct SlurmArgs {
    /// TOML file with a `[slurm]` table (docs/cluster.md).
    #[arg(long, value_name = "FILE")]
    pub slurm_config: Option<PathBuf>,
    /// `sbatch --partition`.
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
    /// `sbatch --account`.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// `sbatch --time` per step (`30`, `1:00:00`).
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// `sbatch --cpus-per-task`; also each worker's thread count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub cpus_per_task: Option<u32>,
    /// `sbatch --mem` (`4G`).
    #[arg(long, value_name = "SIZE")]
    pub mem: Option<String>,
    /// `sbatch --gres` (`gpu:1` for --backend cuda or wgpu).
    #[arg(long, value_name = "LIST")]
    pub gres: Option<String>,
}

impl SlurmArgs {
    /// Whether any SLURM option was given.
    pub fn any(&self) -> bool {
        self.slurm_config.is_some()
            || self.partition.is_some()
            || self.account.is_some()
            || self.time.is_some()
            || self.cpus_per_task.is_some()
            || self.mem.is_some()
            || self.gres.is_some()
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scenario files.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Refuse a plan of more steps than this (as `advcomp run --max-steps`).
    #[arg(long, value_name = "N", default_value_t = advcomp_runner::plan::DEFAULT_MAX_STEPS)]
    pub max_steps: usize,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The scenario file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Rewrite the file in place instead of printing.
    #[arg(long, conflicts_with = "check")]
    pub write: bool,
    /// Exit 1 if the file is not in canonical form (for CI).
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// Each layer keeps the density.
    Layer,
    /// The whole network keeps the density.
    Global,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScheduleKindArg {
    /// Prune at once.
    Oneshot,
    /// Prune gradually during fine-tuning.
    Gradual,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download an official dataset, verify its SHA-256 and unpack it.
    Fetch {
        /// Which dataset.
        #[arg(value_enum)]
        dataset: DatasetArg,
        /// Destination directory (default: $ADVCOMP_DATA/<dataset>, else ./data/<dataset>).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Base URL to download from instead of the canonical mirrors
        /// (repeatable; http://, https:// or file://).
        #[arg(long, value_name = "URL")]
        mirror: Vec<String>,
    },
    /// Show where a dataset would be loaded from and check it.
    Info {
        /// Which dataset.
        #[arg(value_enum, default_value = "mnist")]
        dataset: DatasetArg,
        /// Dataset directory to check instead of the default location.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

/// `--model`: a registered architecture by name (the error lists them).
fn parse_architecture(name: &str) -> Result<Architecture, UnknownArchitecture> {
    name.parse()
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DatasetArg {
    /// MNIST handwritten digits.
    Mnist,
    /// CIFAR-10 colour images.
    Cifar10,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OptimizerArg {
    /// SGD with momentum.
    Sgd,
    /// Adam.
    Adam,
}

impl OptimizerArg {
    /// The model block's `optimizer` value.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerArg::Sgd => "sgd",
            OptimizerArg::Adam => "adam",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScheduleArg {
    /// Constant learning rate.
    Constant,
    /// Multiply by --gamma every --step-every epochs.
    Step,
    /// Cosine decay to zero.
    Cosine,
}

impl ScheduleArg {
    /// The model block's `schedule` value.
    pub fn name(self) -> &'static str {
        match self {
            ScheduleArg::Constant => "constant",
            ScheduleArg::Step => "step",
            ScheduleArg::Cosine => "cosine",
        }
    }
}
