//! Architectures by name, open to other crates.
//!
//! Every architecture submits one [`Registration`] with
//! [`inventory::submit!`](crate::inventory::submit): the study's three in
//! this module's children ([`lenet5`], [`cifarnet`], [`cifarnet_tf`]), a
//! plugin crate's in its own. An [`Architecture`] is a handle to one
//! registration: what `.scn` files, the command line and checkpoints name
//! by [`Architecture::name`], and what [`Network::new`](crate::Network::new)
//! builds. Nothing outside the registration matches on which one it is.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use burn::tensor::Device;

use crate::layer::Layer;

pub mod cifarnet;
pub mod cifarnet_tf;
pub mod lenet5;

/// How an architecture is found and built. Submit one per architecture
/// with [`inventory::submit!`](crate::inventory::submit).
#[derive(Debug)]
pub struct Registration {
    /// The canonical name, lower case: what `.scn` files, `advcomp train
    /// --model` and checkpoints write (`"lenet5"`).
    pub name: &'static str,
    /// One line: what the network is.
    pub summary: &'static str,
    /// Where the network comes from.
    pub paper: &'static str,
    /// The data set it is trained on unless told otherwise (`"mnist"`,
    /// `"cifar10"`), as `advcomp data` names it.
    pub dataset: &'static str,
    /// Input shape `[channels, height, width]` of `[0,1]` pixels.
    pub input_shape: [usize; 3],
    /// Number of output classes (logits).
    pub num_classes: usize,
    /// Which definition of the network the name stands for, part of the
    /// cache key of every model trained from it. Bump it whenever the layer
    /// list changes, so a model trained under the old definition is never
    /// reused (`cifarnet` is 2: the name meant the TF-tutorial network,
    /// now `cifarnet-tf`, until it became Mayo's).
    pub version: u32,
    /// The named layers on a device, with any weights (they are replaced:
    /// [`Network::new`](crate::Network::new) fills every parameter from its
    /// seed). The first layer takes `[0,1]` pixels, so it normalises:
    /// attacks see pixels and their ε means what the papers mean.
    pub layers: fn(&Device) -> Vec<(String, Layer)>,
}

inventory::collect!(Registration);

/// Every registered architecture (plugins included), sorted by name.
pub fn registrations() -> Vec<&'static Registration> {
    let mut all: Vec<&'static Registration> = inventory::iter::<Registration>().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// Names claimed by more than one registration, as [`Architecture::find`]
/// compares them (case, `-` and `_` ignored): empty when every name finds
/// one architecture.
pub fn duplicates() -> Vec<String> {
    let mut claimed: Vec<String> = registrations().iter().map(|r| canonical(r.name)).collect();
    claimed.sort_unstable();
    let mut twice: Vec<String> = claimed
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].clone())
        .collect();
    twice.dedup();
    twice
}

/// A name as lookups compare it.
fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '_'], "")
}

impl Registration {
    /// What is wrong with this registration's declaration, empty if
    /// nothing: a lower-case name, a summary, a paper and a data set, a
    /// non-empty input and at least two classes. Whether the layers fit
    /// the declared shapes needs a device: the registry's tests build every
    /// registered network and run it.
    pub fn declaration_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.is_empty()
            || self.name != self.name.to_ascii_lowercase()
            || self.name.contains(char::is_whitespace)
        {
            problems.push(format!(
                "the name `{}` is not one lower-case word",
                self.name
            ));
        }
        if self.summary.is_empty() || self.paper.is_empty() || self.dataset.is_empty() {
            problems.push("no summary, paper or data set".into());
        }
        if self.input_shape.contains(&0) {
            problems.push(format!("the input shape {:?} is empty", self.input_shape));
        }
        if self.num_classes < 2 {
            problems.push(format!(
                "{} classes: a classifier needs two",
                self.num_classes
            ));
        }
        if self.version == 0 {
            problems.push("versions start at 1".into());
        }
        problems
    }
}

/// A network architecture: a handle to its [`Registration`], compared,
/// hashed and serialised by name.
#[derive(Clone, Copy)]
pub struct Architecture(&'static Registration);

/// The name given is not a registered architecture.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown model `{0}`; known models: {known}", known = known_names())]
pub struct UnknownArchitecture(pub String);

fn known_names() -> String {
    registrations()
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Architecture {
    /// LeNet-5 ([`lenet5`]).
    pub const LENET5: Architecture = Architecture(&lenet5::REGISTRATION);
    /// Mayo's CifarNet ([`cifarnet`]).
    pub const CIFARNET: Architecture = Architecture(&cifarnet::REGISTRATION);
    /// The TF-tutorial CifarNet ([`cifarnet_tf`]).
    pub const CIFARNET_TF: Architecture = Architecture(&cifarnet_tf::REGISTRATION);

    /// Every registered architecture (plugins included), sorted by name.
    pub fn all() -> Vec<Architecture> {
        registrations().into_iter().map(Architecture).collect()
    }

    /// The registered architecture `name` names. Case, `-` and `_` do not
    /// matter (`CifarNet_TF` is `cifarnet-tf`).
    pub fn find(name: &str) -> Result<Architecture, UnknownArchitecture> {
        let wanted = canonical(name);
        registrations()
            .into_iter()
            .find(|r| canonical(r.name) == wanted)
            .map(Architecture)
            .ok_or_else(|| UnknownArchitecture(name.to_string()))
    }

    /// Its registration.
    pub fn registration(self) -> &'static Registration {
        self.0
    }

    /// The name used on the command line, in `.scn` files and in checkpoints.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Which definition of the network the name stands for
    /// ([`Registration::version`]).
    pub fn revision(self) -> u32 {
        self.0.version
    }

    /// Input shape `[channels, height, width]`.
    pub fn input_shape(self) -> [usize; 3] {
        self.0.input_shape
    }

    /// Number of output classes.
    pub fn num_classes(self) -> usize {
        self.0.num_classes
    }

    /// The data set it is trained on unless told otherwise.
    pub fn dataset(self) -> &'static str {
        self.0.dataset
    }

    /// The named layers on `device`, with zero weights:
    /// [`Network::new`](crate::Network::new) fills them from its seed.
    pub fn layers(self, device: &Device) -> Vec<(String, Layer)> {
        (self.0.layers)(device)
    }
}

impl PartialEq for Architecture {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Architecture {}

impl Hash for Architecture {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Architecture").field(&self.name()).finish()
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = UnknownArchitecture;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Architecture::find(s)
    }
}

impl serde::Serialize for Architecture {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Architecture {
    /// By exact canonical name: a checkpoint records the name it was
    /// written with, so a near miss is an unknown architecture.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        registrations()
            .into_iter()
            .find(|r| r.name == name)
            .map(Architecture)
            .ok_or_else(|| serde::de::Error::custom(UnknownArchitecture(name)))
    }
}

inventory::submit!(lenet5::REGISTRATION);
inventory::submit!(cifarnet::REGISTRATION);
inventory::submit!(cifarnet_tf::REGISTRATION);

#[cfg(test)]
mod tests;
