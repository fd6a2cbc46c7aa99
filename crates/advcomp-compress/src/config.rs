//! What a compression step is asked to do: the serde configurations that
//! the CLI and the scenario language fill in, with documented defaults.

use advcomp_params::{Param, ParamError, ParamType};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::fixed_point::BITS;
use crate::projection::{ProjectionStep, split_op_method};
use crate::registry::{self, Build, CompressorKind};

/// How weights are chosen for removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneMethod {
    /// Fine-grained magnitude pruning (Han, Pool, Tran & Dally, NIPS 2015).
    Magnitude,
    /// Dynamic Network Surgery (Guo, Yao & Chen, NIPS 2016): pruning and
    /// splicing during fine-tuning.
    Dns,
    /// Structured pruning of whole filters / neurons by L1 norm (Li, Kadav,
    /// Durdanovic, Samet & Graf, ICLR 2017).
    Filter,
}

impl PruneMethod {
    /// The registry name (`"magnitude"`).
    pub fn name(self) -> &'static str {
        match self {
            PruneMethod::Magnitude => "magnitude",
            PruneMethod::Dns => "dns",
            PruneMethod::Filter => "filter",
        }
    }
}

/// Whether the density applies to each layer or to the network as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every layer keeps `density` of its weights.
    #[default]
    Layer,
    /// One magnitude threshold for all layers; the network keeps `density`
    /// of all its weights.
    Global,
}

/// When magnitude pruning reaches its density.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// At once, before fine-tuning.
    #[default]
    Oneshot,
    /// Over the next fine-tuning, on Zhu & Gupta's cubic schedule (2017).
    Gradual,
}

/// A pruning step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneConfig {
    /// The method.
    pub method: PruneMethod,
    /// Share of weights (filter pruning: of output units) kept, in `(0, 1]`.
    /// Required, except by `dns` given `alpha` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<f64>,
    /// DNS only, instead of `density`: Guo et al.'s per-layer threshold
    /// `t = mean|W| + alpha·std|W|` (Mayo's default `-0.1`), so the density
    /// reached follows from the weights. Absent from the serialised form
    /// when not given, so density configurations hash as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Per layer (default) or global threshold (magnitude pruning only).
    #[serde(default)]
    pub scope: Scope,
    /// One-shot (default) or gradual (magnitude pruning only).
    #[serde(default)]
    pub schedule: Schedule,
}

/// What a pruning aims at: a share of weights, or DNS's threshold rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PruneTarget {
    /// Keep this share of weights (of output units for filter pruning).
    Density(f64),
    /// DNS's per-layer threshold `mean|W| + alpha·std|W|`.
    Alpha(f64),
}

impl PruneConfig {
    /// What the (validated) configuration aims at; `alpha` wins if both
    /// were given, which [`Step::validate`] refuses.
    pub fn target(&self) -> PruneTarget {
        match (self.alpha, self.density) {
            (Some(a), _) => PruneTarget::Alpha(a),
            (None, d) => PruneTarget::Density(d.unwrap_or(1.0)),
        }
    }
}

/// How the fixed-point formats are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantMethod {
    /// Fixed point: per layer, the integer/fraction split that covers the
    /// whole observed range (maximum magnitude), chosen once.
    Fixed,
    /// Dynamic fixed point (Courbariaux, Bengio & David 2014; Gysel's
    /// Ristretto): per layer, the finest split that leaves at most
    /// `overflow_rate` of the values saturated, re-estimated from training
    /// data after every fine-tuning epoch.
    Dynamic,
}

impl QuantMethod {
    /// The registry name (`"fixed"`).
    pub fn name(self) -> &'static str {
        match self {
            QuantMethod::Fixed => "fixed",
            QuantMethod::Dynamic => "dynamic",
        }
    }
}

/// Where a fixed-point format's binary point sits: its integer bits, sign
/// included (Mayo's `point`; the fraction has `bits - int_bits` bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "IntBitsRepr", into = "IntBitsRepr")]
pub enum IntBits {
    /// Per tensor, the split whose range covers its largest magnitude
    /// ([`FixedPoint::covering`](crate::FixedPoint::covering)); written `"auto"`.
    #[default]
    Auto,
    /// The same split for every layer, as in Mayo: `x ↦ clip(round(x ·
    /// 2^(bits−n)), −2^(bits−1), 2^(bits−1)−1) / 2^(bits−n)`, range
    /// `±2^(n−1)`. Written as the number `n`.
    Fixed(i32),
}

/// How [`IntBits`] is written: a number, or the word `"auto"`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum IntBitsRepr {
    Number(i32),
    Word(String),
}

impl TryFrom<IntBitsRepr> for IntBits {
    type Error = String;
    fn try_from(r: IntBitsRepr) -> Result<Self, String> {
        match r {
            IntBitsRepr::Number(n) => Ok(IntBits::Fixed(n)),
            IntBitsRepr::Word(w) if w == "auto" => Ok(IntBits::Auto),
            IntBitsRepr::Word(w) => Err(format!(
                "integer bits are a number (sign included) or \"auto\", got {w:?}"
            )),
        }
    }
}

impl From<IntBits> for IntBitsRepr {
    fn from(b: IntBits) -> Self {
        match b {
            IntBits::Auto => IntBitsRepr::Word("auto".into()),
            IntBits::Fixed(n) => IntBitsRepr::Number(n),
        }
    }
}

/// Rewrites `frac_bits` (weights and activations), `weight_frac_bits` and
/// `act_frac_bits` as the width they imply with the integer bits given:
/// `bits = int_bits + frac_bits`. A sweep over integer bits at a fixed
/// fraction (the range grows, the resolution stays) is then one list in a
/// scenario, and the step it makes is the same, with the same cache key, as
/// the equivalent `bits`/`int_bits` spelling.
fn frac_bits_to_width(map: &mut Map<String, Value>) -> Result<(), ParamError> {
    if let Some(value) = map.remove("frac_bits") {
        for key in ["weight_frac_bits", "act_frac_bits"] {
            if map.contains_key(key) {
                return Err(ParamError::invalid(
                    key,
                    "give either `frac_bits` (weights and activations) or `weight_frac_bits`/`act_frac_bits`, not both",
                ));
            }
            map.insert(key.into(), value.clone());
        }
    }
    for part in ["weight", "act"] {
        let frac_key = format!("{part}_frac_bits");
        let Some(frac) = map.remove(&frac_key) else {
            continue;
        };
        let Some(frac) = frac.as_u64() else {
            return Err(ParamError::invalid(
                &frac_key,
                format!("must be a whole number of bits, got {frac}"),
            ));
        };
        let int_key = format!("{part}_int_bits");
        let Some(int) = map.get(&int_key).and_then(Value::as_u64) else {
            return Err(ParamError::invalid(
                &frac_key,
                format!(
                    "needs `{int_key}` (or `int_bits`) as a number: the width is integer plus fraction bits"
                ),
            ));
        };
        let width = int.saturating_add(frac);
        let bits_key = format!("{part}_bits");
        match map.get(&bits_key).map(Value::as_u64) {
            Some(Some(b)) if b != width => {
                return Err(ParamError::invalid(
                    &frac_key,
                    format!(
                        "{int_key} {int} + {frac_key} {frac} = {width} bits, but `{bits_key}` (or `bits`) is {b}: give two of the three"
                    ),
                ));
            }
            _ => {
                map.insert(bits_key, Value::from(width));
            }
        }
    }
    Ok(())
}

/// A quantisation step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantConfig {
    /// The method.
    pub method: QuantMethod,
    /// Total bits of weights and biases, sign included (2..=16).
    pub weight_bits: u8,
    /// Integer bits of weights and biases, sign included (`fixed` only):
    /// a number sets Mayo's one split for all layers; `"auto"` (default)
    /// lets each tensor cover its own range.
    #[serde(default)]
    pub weight_int_bits: IntBits,
    /// Total bits of activations (ReLU outputs), 2..=16; `None` leaves
    /// activations in float.
    #[serde(default)]
    pub act_bits: Option<u8>,
    /// Integer bits of activations, sign included (`fixed` only), as
    /// `weight_int_bits`.
    #[serde(default)]
    pub act_int_bits: IntBits,
    /// Activations in a signed format (default, as Mayo) or unsigned:
    /// ReLU outputs are never negative, so unsigned spends the sign bit on
    /// one more fraction bit over the same range.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub act_signed: bool,
    /// Dynamic fixed point: share of values allowed to saturate.
    #[serde(default = "default_overflow_rate")]
    pub overflow_rate: f64,
    /// Training images whose activations set the activation formats.
    #[serde(default = "default_calibration_images")]
    pub calibration_images: usize,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn default_overflow_rate() -> f64 {
    1e-4
}

fn default_calibration_images() -> usize {
    1000
}

/// A fine-tuning step: training continues with every active compression
/// constraint in place (masks re-applied after each step, quantisation
/// simulated with straight-through gradients).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Passes over the training set.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Initial learning rate (SGD, momentum 0.9, cosine decay); a fifth of
    /// the training default, as fine-tuning starts from a good solution.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Images per step.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Seeds the batch order.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_epochs() -> usize {
    2
}
fn default_lr() -> f64 {
    0.01
}
fn default_batch() -> usize {
    64
}
fn default_seed() -> u64 {
    1
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            epochs: default_epochs(),
            lr: default_lr(),
            batch_size: default_batch(),
            seed: default_seed(),
        }
    }
}

/// One step of a compression pipeline.
///
/// Serialised as `{"op": "prune", "method": "magnitude", …}` (fine-tuning:
/// `{"op": "finetune", …}`) with every parameter at the value used: what
/// reports record and cache keys hash.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Remove weights.
    Prune(PruneConfig),
    /// Restrict weights and activations to fixed-point grids.
    Quantise(QuantConfig),
    /// Train with the constraints in place.
    Finetune(FinetuneConfig),
    /// A plugin compressor (of either kind): a projection of the weights,
    /// trained through the straight-through estimator.
    Project(ProjectionStep),
}

/// The built-in steps as serde sees them (internally tagged by `op`), so
/// their serialised form, and so their cache keys, are what they were
/// before plugins existed.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum BuiltinRef<'a> {
    Prune(&'a PruneConfig),
    Quantise(&'a QuantConfig),
    Finetune(&'a FinetuneConfig),
}

/// [`BuiltinRef`], owned, for reading.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Builtin {
    Prune(PruneConfig),
    Quantise(QuantConfig),
    Finetune(FinetuneConfig),
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Step::Prune(c) => BuiltinRef::Prune(c).serialize(serializer),
            Step::Quantise(c) => BuiltinRef::Quantise(c).serialize(serializer),
            Step::Finetune(c) => BuiltinRef::Finetune(c).serialize(serializer),
            Step::Project(p) => p.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let kind = value
            .get("op")
            .and_then(Value::as_str)
            .and_then(CompressorKind::from_keyword);
        let method = value
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let (Some(kind), Some(method)) = (kind, method.as_deref())
            && let Ok(r) = registry::find(kind, method)
            && matches!(r.build, Build::Projection(_))
        {
            let Value::Object(mut map) = value else {
                unreachable!("a value with fields is a map")
            };
            split_op_method(&mut map).map_err(D::Error::custom)?;
            return ProjectionStep::build(kind, method, &map)
                .map(Step::Project)
                .map_err(D::Error::custom);
        }
        let builtin = Builtin::deserialize(value).map_err(D::Error::custom)?;
        Ok(match builtin {
            Builtin::Prune(c) => Step::Prune(c),
            Builtin::Quantise(c) => Step::Quantise(c),
            Builtin::Finetune(c) => Step::Finetune(c),
        })
    }
}

/// The share of weights kept; pruning methods declare it.
const DENSITY: Param = Param::new(
    "density",
    ParamType::SHARE,
    "share of weights kept (filter pruning: of output units), in (0, 1]",
);
const SCOPE: Param = Param::new(
    "scope",
    ParamType::choice(&["layer", "global"]),
    "one threshold per layer (default) or one for the network (magnitude only)",
);
const SCHEDULE: Param = Param::new(
    "schedule",
    ParamType::choice(&["oneshot", "gradual"]),
    "prune at once (default) or gradually over the next fine-tuning (magnitude only)",
);

/// Parameters of `prune magnitude` and `prune filter`.
pub const PRUNE_PARAMS: &[Param] = &[DENSITY, SCOPE, SCHEDULE];

/// Parameters of `prune dns`: `density`, or instead Guo et al.'s threshold.
pub const DNS_PARAMS: &[Param] = &[
    DENSITY,
    Param::new(
        "alpha",
        ParamType::REAL,
        "instead of density: per-layer threshold mean|W| + alpha*std|W| (Mayo: -0.1)",
    ),
    SCOPE,
    SCHEDULE,
];

const WIDTH: ParamType = ParamType::int(2, 16);
const INT_WIDTH: ParamType = ParamType::IntOrAuto { min: -63, max: 65 };
const FRAC_WIDTH: ParamType = ParamType::int(0, 16);

/// Parameters of `quantise fixed` and `quantise dynamic`, shorthands
/// included (`bits` sets `weight_bits` and `act_bits`).
pub const QUANT_PARAMS: &[Param] = &[
    Param::new(
        "bits",
        WIDTH,
        "total bits of weights and activations, sign included",
    ),
    Param::new(
        "weight_bits",
        WIDTH,
        "total bits of weights and biases, sign included",
    ),
    Param::new(
        "act_bits",
        WIDTH,
        "total bits of activations; absent: activations stay float",
    ),
    Param::new(
        "int_bits",
        INT_WIDTH,
        "integer bits (sign included) of weights and activations, or auto (fixed only)",
    ),
    Param::new(
        "weight_int_bits",
        INT_WIDTH,
        "integer bits of weights, sign included, or auto (fixed only)",
    ),
    Param::new(
        "act_int_bits",
        INT_WIDTH,
        "integer bits of activations, sign included, or auto (fixed only)",
    ),
    Param::new(
        "frac_bits",
        FRAC_WIDTH,
        "fraction bits of weights and activations: width = int_bits + frac_bits",
    ),
    Param::new("weight_frac_bits", FRAC_WIDTH, "fraction bits of weights"),
    Param::new("act_frac_bits", FRAC_WIDTH, "fraction bits of activations"),
    Param::new(
        "act_signed",
        ParamType::Bool,
        "activations in a signed format (default) or unsigned",
    ),
    Param::new(
        "overflow_rate",
        ParamType::from_below(0.0, 1.0),
        "dynamic: share of values allowed to saturate",
    ),
    Param::new(
        "calibration_images",
        ParamType::COUNT,
        "training images whose activations set the activation formats",
    ),
];

/// Parameters of `finetune`.
pub const FINETUNE_PARAMS: &[Param] = &[
    Param::new("epochs", ParamType::NATURAL, "passes over the training set"),
    Param::new(
        "lr",
        ParamType::POSITIVE,
        "initial learning rate (SGD, momentum 0.9, cosine decay)",
    ),
    Param::new("batch_size", ParamType::COUNT, "images per step"),
    Param::new("seed", ParamType::NATURAL, "seeds the batch order"),
];

/// The parameters of step `op` (`prune`, `quantise`, `finetune`) with
/// method `method` (ignored for `finetune`), from the compressor registry,
/// or `None` if there is no such step.
pub fn params_of(op: &str, method: &str) -> Option<&'static [Param]> {
    if op == "finetune" {
        return Some(FINETUNE_PARAMS);
    }
    let kind = CompressorKind::from_keyword(op)?;
    registry::find(kind, method).ok().map(|r| r.params)
}

impl Step {
    /// The implementation's version for this step's method, part of the
    /// cache key of every compress step that uses it: the compressor's
    /// [`registry::Registration::version`]; 1 for fine-tuning, whose
    /// training loop has [`advcomp_train::VERSION`] besides.
    pub fn version(&self) -> u32 {
        let registered = |kind, name| {
            registry::find(kind, name)
                .map(|r| r.version)
                .expect("every built-in compressor is registered")
        };
        match self {
            Step::Prune(c) => registered(CompressorKind::Prune, c.method.name()),
            Step::Quantise(c) => registered(CompressorKind::Quantise, c.method.name()),
            Step::Finetune(_) => 1,
            Step::Project(p) => p.version(),
        }
    }

    /// The registration of this step's compressor; `None` for fine-tuning
    /// (and for a plugin whose crate is no longer linked).
    pub fn registration(&self) -> Option<&'static registry::Registration> {
        let name = match self {
            Step::Prune(c) => c.method.name(),
            Step::Quantise(c) => c.method.name(),
            Step::Finetune(_) => return None,
            Step::Project(p) => p.name(),
        };
        registry::find(self.compressor_kind()?, name).ok()
    }

    /// The compressor kind of this step; `None` for fine-tuning.
    pub fn compressor_kind(&self) -> Option<CompressorKind> {
        match self {
            Step::Prune(_) => Some(CompressorKind::Prune),
            Step::Quantise(_) => Some(CompressorKind::Quantise),
            Step::Finetune(_) => None,
            Step::Project(p) => Some(p.kind()),
        }
    }

    /// What determines this step's result, for hashing: the configuration
    /// with every default filled in, [`Step::version`] and, for a fine-tune,
    /// the training loop's [`advcomp_train::VERSION`].
    pub fn identity(&self) -> Value {
        match self {
            Step::Finetune(_) => serde_json::json!({
                "step": self,
                "version": self.version(),
                "train_version": advcomp_train::VERSION,
            }),
            _ => serde_json::json!({ "step": self, "version": self.version() }),
        }
    }

    /// Builds a step from the scenario language's parts: the operation
    /// (`prune`, `quantise`, `finetune`), the method (`magnitude`, `fixed`;
    /// ignored for `finetune`) and a parameter map. For quantisation,
    /// `bits: N` sets both `weight_bits` and `act_bits`.
    pub fn from_parts(
        op: &str,
        method: &str,
        params: &Map<String, Value>,
    ) -> Result<Step, ParamError> {
        if op == "finetune" {
            advcomp_params::check(FINETUNE_PARAMS, params)?;
            let step = Step::Finetune(advcomp_params::decode(params.clone())?);
            step.validate()?;
            return Ok(step);
        }
        let kind = CompressorKind::from_keyword(op).ok_or_else(|| {
            ParamError::invalid(
                "method",
                format!("unknown compression step `{op}`; known: prune, quantise, finetune"),
            )
        })?;
        let registration = registry::find(kind, method)?;
        if let Build::Projection(_) = registration.build {
            return ProjectionStep::build(kind, method, params).map(Step::Project);
        }
        advcomp_params::check(registration.params, params)?;
        let method = registration.name;
        let mut map = params.clone();
        let step = match kind {
            CompressorKind::Prune => {
                map.insert("method".into(), Value::String(method.into()));
                Step::Prune(advcomp_params::decode(map)?)
            }
            CompressorKind::Quantise => {
                for (both, keys) in [
                    ("bits", ["weight_bits", "act_bits"]),
                    ("int_bits", ["weight_int_bits", "act_int_bits"]),
                ] {
                    let Some(value) = map.remove(both) else {
                        continue;
                    };
                    for key in keys {
                        if map.contains_key(key) {
                            return Err(ParamError::invalid(
                                key,
                                format!(
                                    "give either `{both}` (weights and activations) or `{}`/`{}`, not both",
                                    keys[0], keys[1]
                                ),
                            ));
                        }
                        map.insert(key.into(), value.clone());
                    }
                }
                frac_bits_to_width(&mut map)?;
                map.insert("method".into(), Value::String(method.into()));
                Step::Quantise(advcomp_params::decode(map)?)
            }
        };
        step.validate()?;
        Ok(step)
    }

    /// Checks ranges the types cannot express, naming the field. A plugin's
    /// step was checked when it was built.
    pub fn validate(&self) -> Result<(), ParamError> {
        match self {
            Step::Project(_) => {}
            Step::Prune(p) => {
                match (p.density, p.alpha) {
                    (Some(_), Some(_)) => {
                        return Err(ParamError::invalid(
                            "alpha",
                            "give either `density` (the share kept) or `alpha` (DNS's threshold `mean|W| + alpha·std|W|`), not both",
                        ));
                    }
                    (None, None) if p.method == PruneMethod::Dns => {
                        return Err(ParamError::invalid(
                            "density",
                            "missing: give `density` (the share kept) or `alpha` (DNS's threshold `mean|W| + alpha·std|W|`)",
                        ));
                    }
                    (None, None) => {
                        return Err(ParamError::invalid(
                            "density",
                            "missing: give the share of weights kept, in (0, 1]",
                        ));
                    }
                    (Some(d), None) if !(d > 0.0 && d <= 1.0) => {
                        return Err(ParamError::invalid(
                            "density",
                            format!("must be in (0, 1], got {d}"),
                        ));
                    }
                    (None, Some(_)) if p.method != PruneMethod::Dns => {
                        return Err(ParamError::invalid(
                            "alpha",
                            "applies to `dns` only (give `density`)",
                        ));
                    }
                    (None, Some(a)) if !a.is_finite() => {
                        return Err(ParamError::invalid(
                            "alpha",
                            format!("must be a finite number, got {a}"),
                        ));
                    }
                    _ => {}
                }
                if p.method != PruneMethod::Magnitude && p.scope == Scope::Global {
                    return Err(ParamError::invalid(
                        "scope",
                        "`global` applies to magnitude pruning only",
                    ));
                }
                if p.method != PruneMethod::Magnitude && p.schedule == Schedule::Gradual {
                    return Err(ParamError::invalid(
                        "schedule",
                        "`gradual` applies to magnitude pruning only (DNS prunes during fine-tuning by itself)",
                    ));
                }
            }
            Step::Quantise(q) => {
                for (field, bits) in [
                    ("weight_bits", Some(q.weight_bits)),
                    ("act_bits", q.act_bits),
                ] {
                    if let Some(b) = bits
                        && !BITS.contains(&b)
                    {
                        return Err(ParamError::invalid(
                            field,
                            format!("must be in 2..=16, got {b}"),
                        ));
                    }
                }
                for (field, int_bits) in [
                    ("weight_int_bits", q.weight_int_bits),
                    ("act_int_bits", q.act_int_bits),
                ] {
                    let IntBits::Fixed(n) = int_bits else {
                        continue;
                    };
                    if q.method != QuantMethod::Fixed {
                        return Err(ParamError::invalid(
                            field,
                            "a fixed integer width applies to `fixed` only (`dynamic` chooses it per layer)",
                        ));
                    }
                    if !crate::fixed_point::INTEGER_BITS.contains(&n) {
                        return Err(ParamError::invalid(
                            field,
                            format!(
                                "must be in {}..={} or \"auto\", got {n}",
                                crate::fixed_point::INTEGER_BITS.start(),
                                crate::fixed_point::INTEGER_BITS.end()
                            ),
                        ));
                    }
                }
                if !q.act_signed && q.act_bits.is_none() {
                    return Err(ParamError::invalid(
                        "act_signed",
                        "needs `act_bits` (activations stay in float without it)",
                    ));
                }
                if field_given_without(q.act_int_bits, q.act_bits) {
                    return Err(ParamError::invalid(
                        "act_int_bits",
                        "needs `act_bits` (activations stay in float without it)",
                    ));
                }
                if !(0.0..1.0).contains(&q.overflow_rate) {
                    return Err(ParamError::invalid(
                        "overflow_rate",
                        format!("must be in [0, 1), got {}", q.overflow_rate),
                    ));
                }
                if q.calibration_images == 0 {
                    return Err(ParamError::invalid(
                        "calibration_images",
                        "must be at least 1",
                    ));
                }
            }
            Step::Finetune(f) => {
                if f.batch_size == 0 {
                    return Err(ParamError::invalid("batch_size", "must be at least 1"));
                }
                if !(f.lr.is_finite() && f.lr > 0.0) {
                    return Err(ParamError::invalid(
                        "lr",
                        format!("must be positive, got {}", f.lr),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether integer bits were fixed for activations that are not quantised.
fn field_given_without(int_bits: IntBits, bits: Option<u8>) -> bool {
    matches!(int_bits, IntBits::Fixed(_)) && bits.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(op: &str, method: &str, v: Value) -> Result<Step, ParamError> {
        Step::from_parts(op, method, v.as_object().unwrap())
    }

    #[test]
    fn bits_sets_both_widths() {
        let Step::Quantise(q) = parts("quantise", "fixed", json!({"bits": 4})).unwrap() else {
            panic!()
        };
        assert_eq!((q.weight_bits, q.act_bits), (4, Some(4)));
    }

    #[test]
    fn fraction_bits_give_the_width_and_the_same_step() {
        let a = parts("quantise", "fixed", json!({"int_bits": 3, "frac_bits": 4})).unwrap();
        let b = parts("quantise", "fixed", json!({"bits": 7, "int_bits": 3})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.identity(), b.identity(), "one step, one cache key");
        let Step::Quantise(q) = parts(
            "quantise",
            "fixed",
            json!({"weight_bits": 8, "weight_int_bits": 2, "act_int_bits": 4, "act_frac_bits": 2}),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!((q.weight_bits, q.act_bits), (8, Some(6)));
        // Consistent with a given width: fine; inconsistent: the field.
        assert!(
            parts(
                "quantise",
                "fixed",
                json!({"bits": 7, "int_bits": 3, "frac_bits": 4})
            )
            .is_ok()
        );
        let e = parts(
            "quantise",
            "fixed",
            json!({"bits": 8, "int_bits": 3, "frac_bits": 4}),
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("weight_frac_bits"), "{e}");
        let e = parts("quantise", "fixed", json!({"frac_bits": 4})).unwrap_err();
        assert!(e.to_string().contains("weight_int_bits"), "{e}");
        let e = parts(
            "quantise",
            "fixed",
            json!({"int_bits": "auto", "frac_bits": 4}),
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("weight_frac_bits"), "{e}");
        let e = parts(
            "quantise",
            "fixed",
            json!({"int_bits": 2, "frac_bits": 4, "act_frac_bits": 2}),
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("act_frac_bits"), "{e}");
    }

    #[test]
    fn errors_name_the_field() {
        let e = parts("prune", "magnitude", json!({"density": 1.5})).unwrap_err();
        assert_eq!(e.field(), Some("density"));
        let e = parts("prune", "magnitude", json!({"densty": 0.5})).unwrap_err();
        assert_eq!(e.field(), Some("densty"), "{e}");
        let e = parts("prune", "magnitude", json!({"density": "half"})).unwrap_err();
        assert_eq!(e.field(), Some("density"), "{e}");
        let e = parts("quantise", "fixed", json!({"bits": 1})).unwrap_err();
        assert_eq!(e.field(), Some("bits"), "the shorthand written: {e}");
        let e = parts("prune", "lottery", json!({"density": 0.5})).unwrap_err();
        assert_eq!(e.field(), Some("method"), "{e}");
        assert!(parts("finetune", "", json!({})).is_ok());
    }

    #[test]
    fn dns_takes_density_or_alpha_exactly_once() {
        let Step::Prune(p) = parts("prune", "dns", json!({"alpha": -0.1})).unwrap() else {
            panic!()
        };
        assert_eq!(p.target(), PruneTarget::Alpha(-0.1));
        let e = parts("prune", "dns", json!({"alpha": -0.1, "density": 0.1})).unwrap_err();
        assert_eq!(e.field(), Some("alpha"), "{e}");
        assert!(e.to_string().contains("not both"), "{e}");
        let e = parts("prune", "dns", json!({})).unwrap_err();
        assert_eq!(e.field(), Some("density"), "{e}");
        assert!(e.to_string().contains("alpha"), "{e}");
        let e = parts("prune", "magnitude", json!({})).unwrap_err();
        assert_eq!(e.field(), Some("density"), "{e}");
        let e = parts("prune", "magnitude", json!({"alpha": 0.5})).unwrap_err();
        assert_eq!(e.field(), Some("alpha"), "{e}");
        let e = parts("prune", "dns", json!({"alpha": "high"})).unwrap_err();
        assert_eq!(e.field(), Some("alpha"), "{e}");
    }

    /// The canonical form of a density configuration (what cache keys hash)
    /// is what it was before `alpha` existed.
    #[test]
    fn density_configs_serialise_as_before() {
        let step = parts("prune", "dns", json!({"density": 0.1})).unwrap();
        assert_eq!(
            serde_json::to_string(&step.identity()).unwrap(),
            r#"{"step":{"density":0.1,"method":"dns","op":"prune","schedule":"oneshot","scope":"layer"},"version":1}"#
        );
        let step = parts("prune", "dns", json!({"alpha": 1.5})).unwrap();
        assert_eq!(
            serde_json::to_value(&step).unwrap(),
            json!({"op": "prune", "method": "dns", "alpha": 1.5, "scope": "layer", "schedule": "oneshot"})
        );
    }

    /// A fine-tune runs the training loop, so a new training version must
    /// rebuild it; a step that does not train keeps its key.
    #[test]
    fn only_steps_that_train_carry_the_training_version() {
        let finetune = parts("finetune", "", json!({"epochs": 2})).unwrap();
        assert_eq!(
            finetune.identity()["train_version"],
            json!(advcomp_train::VERSION)
        );
        let quantise = parts("quantise", "fixed", json!({"bits": 8})).unwrap();
        assert!(quantise.identity().get("train_version").is_none());
    }
}
