//! Defences by name, open to other crates.
//!
//! Every defence submits one [`Registration`] with
//! [`inventory::submit!`](crate::inventory::submit): the built-in ones below
//! (the Taboo Trap, Sitatapatra, PGD adversarial training), plugin crates in
//! theirs. The scenario checker, the catalogue and cache keys read a
//! defence's name, aliases, parameters and version from here.
//!
//! A plugin defence is an [`InputDetector`]: a per-sample suspicion score of
//! inputs, computed through the model as deployed. The framework
//! ([`crate::input_detector::CalibratedDetector`]) owns the rest: it sets the
//! flagging threshold on clean training images at the false-positive rate
//! asked, records it in the checkpoint, sets it again on every compressed
//! variant (the model it guards has changed), and turns scores into the
//! detection records the runner reports. An input detector trains nothing,
//! so unlike the keyed defences it may guard a model that is already
//! compressed.

use std::fmt;

use advcomp_models::Classifier;
use burn::Tensor;
use serde_json::{Map, Value};

use crate::sitatapatra::SitatapatraConfig;
use crate::spec::{ADVERSARIAL_PARAMS, COMMON_PARAMS, KEYED_PARAMS};
use crate::taboo::TabooConfig;

pub use advcomp_params::{Param, ParamError, ParamType, nearest};

/// What every input detector takes besides its own parameters: how its
/// threshold is set. Declared by the framework, listed by each plugin's
/// registration (`params: &[DETECTOR_PARAMS, MY_PARAMS]`).
pub const DETECTOR_PARAMS: &[Param] = &[
    Param::new(
        "false_positive_rate",
        ParamType::strictly_between(0.0, 1.0),
        "share of clean calibration images the threshold lets through as flagged",
    ),
    Param::new(
        "calibration_images",
        ParamType::COUNT,
        "clean training images whose scores set the threshold",
    ),
];

/// A plugin defence as built from its parameters: a per-sample score of
/// how suspicious an input is, higher meaning more suspicious.
pub trait InputDetector: fmt::Debug + Send + Sync {
    /// Its own parameters as used, every default filled in (what cache keys
    /// hash, what checkpoints record and [`Registration::build`] rebuilds
    /// it from). Excludes [`DETECTOR_PARAMS`], which the framework keeps.
    fn config(&self) -> Value;

    /// The score of each image of `images` (`[batch, c, h, w]`, plain
    /// device), `[batch]`, computed through `model` as deployed. Must be
    /// deterministic and must not mix samples.
    fn scores(&self, model: &dyn Classifier, images: Tensor<4>) -> Tensor<1>;
}

/// A plugin's constructor: the detector from its own parameters (a map
/// already checked against the registration's declaration, with
/// [`DETECTOR_PARAMS`] taken out).
pub type BuildDetector = fn(&Map<String, Value>) -> Result<Box<dyn InputDetector>, ParamError>;

/// How a registered defence is made.
#[derive(Clone, Copy)]
pub enum Build {
    /// One of this crate's defences ([`crate::spec::Method`]).
    Builtin,
    /// A plugin input detector.
    Detector(BuildDetector),
}

impl fmt::Debug for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Build::Builtin => f.write_str("Builtin"),
            Build::Detector(_) => f.write_str("Detector(..)"),
        }
    }
}

/// How a defence is found and built. Submit one per defence with
/// [`inventory::submit!`](crate::inventory::submit).
#[derive(Debug)]
pub struct Registration {
    /// The canonical name, lower case (`"taboo"`, `"squeeze"`).
    pub name: &'static str,
    /// Other names that find it (`"taboo_trap"`).
    pub aliases: &'static [&'static str],
    /// One line: what it does.
    pub summary: &'static str,
    /// The paper it implements.
    pub paper: &'static str,
    /// Its parameters, in groups listed in order (a plugin detector:
    /// `&[DETECTOR_PARAMS, ITS_OWN]`).
    pub params: &'static [&'static [Param]],
    /// Whether parameters it does not declare go to the attack its `attack`
    /// parameter names (adversarial training).
    pub forwards_to_attack: bool,
    /// The implementation's version, part of the cache key of every `defend`
    /// step that uses it. Bump it whenever a change makes it harden or
    /// detect differently for the same parameters.
    pub version: u32,
    /// How it is made.
    pub build: Build,
}

inventory::collect!(Registration);

impl Registration {
    /// Every parameter, in declaration order.
    pub fn params(&self) -> Vec<Param> {
        self.params.concat()
    }

    /// Whether this is a plugin input detector.
    pub fn is_detector(&self) -> bool {
        matches!(self.build, Build::Detector(_))
    }

    /// What is wrong with this registration, empty if nothing: parameters
    /// declared once each and documented, a summary and a paper, a lower
    /// case name; for a detector, [`DETECTOR_PARAMS`] listed, and its
    /// defaults build a detector whose configuration has exactly its own
    /// declared fields and builds the same detector again.
    pub fn declaration_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let params = self.params();
        let mut declared: Vec<&str> = params.iter().map(|p| p.name).collect();
        declared.sort_unstable();
        if declared.windows(2).any(|w| w[0] == w[1]) {
            problems.push(format!("a parameter is declared twice: {declared:?}"));
        }
        for p in params.iter().filter(|p| p.doc.is_empty()) {
            problems.push(format!("`{}` has no doc", p.name));
        }
        if self.summary.is_empty() || self.paper.is_empty() {
            problems.push("no summary or no paper".into());
        }
        if self.name.is_empty() || self.name != self.name.to_ascii_lowercase() {
            problems.push(format!("the name `{}` is not lower case", self.name));
        }
        if let Build::Detector(build) = self.build {
            // By value: a `const` has no one address across crates.
            if !self.params.contains(&DETECTOR_PARAMS) {
                problems.push("a detector must list DETECTOR_PARAMS".into());
            }
            let own: Vec<&str> = {
                let mut own: Vec<&str> = declared
                    .iter()
                    .copied()
                    .filter(|n| !DETECTOR_PARAMS.iter().any(|p| p.name == *n))
                    .collect();
                own.dedup();
                own
            };
            match build(&Map::new()) {
                Err(e) => problems.push(format!("the defaults do not build: {e}")),
                Ok(d) => match d.config() {
                    Value::Object(map) => {
                        let mut fields: Vec<&str> = map.keys().map(String::as_str).collect();
                        fields.sort_unstable();
                        if fields != own {
                            problems.push(format!(
                                "declares {own:?} but the configuration has {fields:?}"
                            ));
                        }
                        match build(&map) {
                            Ok(again) if again.config() == Value::Object(map.clone()) => {}
                            Ok(again) => problems.push(format!(
                                "its configuration builds one whose configuration is {}",
                                again.config()
                            )),
                            Err(e) => {
                                problems.push(format!("its own configuration does not build: {e}"))
                            }
                        }
                    }
                    other => problems.push(format!("the configuration is not a map: {other}")),
                },
            }
        }
        problems
    }

    fn answers_to(&self, key: &str) -> bool {
        self.name == key || self.aliases.contains(&key)
    }
}

/// Every linked registration, sorted by name.
pub fn registrations() -> Vec<&'static Registration> {
    let mut all: Vec<&'static Registration> = inventory::iter::<Registration>.into_iter().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// Every canonical name, sorted.
pub fn names() -> Vec<&'static str> {
    registrations().into_iter().map(|r| r.name).collect()
}

/// The registration answering to `name` or an alias (any case), if exactly
/// one does.
pub fn find(name: &str) -> Option<&'static Registration> {
    let key = name.trim().to_ascii_lowercase();
    let matches: Vec<&'static Registration> = registrations()
        .into_iter()
        .filter(|r| r.answers_to(&key))
        .collect();
    match matches.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// Names or aliases claimed by more than one registration (should be
/// empty; a test checks it over every linked crate).
pub fn duplicates() -> Vec<String> {
    let mut claimed: Vec<&str> = registrations()
        .iter()
        .flat_map(|r| std::iter::once(r.name).chain(r.aliases.iter().copied()))
        .collect();
    claimed.sort_unstable();
    let mut twice: Vec<String> = claimed
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].to_string())
        .collect();
    twice.dedup();
    twice
}

inventory::submit! {
    Registration {
        name: "taboo",
        aliases: &["taboo_trap"],
        summary: "the Taboo Trap: keyed activation bounds learnt in training, a sample that crosses one is flagged",
        paper: "Shumailov, Zhao, Mullins & Anderson, The Taboo Trap, arXiv:1811.07375, 2019",
        params: &[COMMON_PARAMS, KEYED_PARAMS, TabooConfig::PARAMS],
        forwards_to_attack: false,
        version: 1,
        build: Build::Builtin,
    }
}

inventory::submit! {
    Registration {
        name: "sitatapatra",
        aliases: &[],
        summary: "Sitatapatra-style keyed guards over activations, a sample whose guard fails is flagged and traced",
        paper: "Shumailov, Gao, Zhao, Mullins, Anderson & Xu, Sitatapatra, arXiv:1901.08121, 2019",
        params: &[COMMON_PARAMS, KEYED_PARAMS, SitatapatraConfig::PARAMS],
        forwards_to_attack: false,
        version: 1,
        build: Build::Builtin,
    }
}

inventory::submit! {
    Registration {
        name: "adversarial",
        aliases: &["pgd_at", "adversarial_training"],
        summary: "adversarial training: part of each batch replaced by a registered attack's samples (no detector)",
        paper: "Madry, Makelov, Schmidt, Tsipras & Vladu, Towards Deep Learning Models Resistant to Adversarial Attacks, ICLR 2018",
        params: &[COMMON_PARAMS, ADVERSARIAL_PARAMS],
        forwards_to_attack: true,
        version: 1,
        build: Build::Builtin,
    }
}
