//! A plugin compressor's step ([`ProjectionStep`]): its registration, the
//! [`Projection`] built from its parameters, and what the framework does
//! with it: the straight-through estimator in training, the bake at the end.

use std::fmt;
use std::sync::Arc;

use advcomp_models::{Network, ParamInfo};
use burn::Tensor;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::registry::{self, Build, CompressorKind, ParamError, Projection, Registration};

/// One step of a plugin compressor (`quantise ternary { threshold: 0.7 }`).
///
/// Serialised as the built-in steps are, `{"op": "quantise", "method":
/// "ternary", …}` with every parameter at the value used, and read back
/// through the registry: a checkpoint or report that names a compressor no
/// linked crate registers fails to load with the name, instead of loading
/// without its compression.
#[derive(Clone)]
pub struct ProjectionStep {
    registration: &'static Registration,
    projection: Arc<dyn Projection>,
}

impl ProjectionStep {
    /// The plugin compressor `kind name` built from `params` (checked
    /// against its declared parameters first).
    pub fn build(
        kind: CompressorKind,
        name: &str,
        params: &Map<String, Value>,
    ) -> Result<Self, ParamError> {
        let registration = registry::find(kind, name)?;
        let Build::Projection(build) = registration.build else {
            return Err(ParamError::invalid(
                "method",
                format!(
                    "`{}` is built in; build it with Step::from_parts",
                    registration.title()
                ),
            ));
        };
        advcomp_params::check(registration.params, params)?;
        Ok(Self {
            registration,
            projection: Arc::from(build(params)?),
        })
    }

    /// `prune` or `quantise`.
    pub fn kind(&self) -> CompressorKind {
        self.registration.kind
    }

    /// The registry name.
    pub fn name(&self) -> &'static str {
        self.registration.name
    }

    /// The registration's version.
    pub fn version(&self) -> u32 {
        self.registration.version
    }

    /// The parameters as used, every default filled in.
    pub fn config(&self) -> Value {
        self.projection.config()
    }

    /// Bits per stored value of a projected parameter.
    pub fn bits(&self) -> u8 {
        self.projection.bits()
    }

    /// Whether `param` is projected.
    pub fn applies_to(&self, param: &ParamInfo) -> bool {
        self.projection.applies_to(param)
    }

    /// `value` projected. When it is tracked (fine-tuning), the forward pass
    /// sees the projection and the gradient reaches `value` unchanged: the
    /// straight-through estimator. `(v − v) + p` is exactly `p` in floating
    /// point, so training sees the very values the bake stores.
    pub fn project(&self, param: &ParamInfo, value: Tensor<1>) -> Tensor<1> {
        if !self.applies_to(param) {
            return value;
        }
        let host = value
            .clone()
            .detach()
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("parameters are float");
        let projected = self.projection.project(param, &host);
        assert_eq!(
            projected.len(),
            host.len(),
            "compressor `{}` returned {} values for the {} of {}",
            self.registration.title(),
            projected.len(),
            host.len(),
            param.name
        );
        let projected = Tensor::<1>::from_floats(projected.as_slice(), &value.device());
        if value.is_tracked() {
            (value.clone() - value.detach()) + projected
        } else {
            projected
        }
    }

    /// `network` with every parameter the projection applies to replaced by
    /// its projection: the deployed weights.
    pub fn bake(&self, network: Network) -> Network {
        network.map_params(&mut |info, value| self.project(info, value))
    }
}

impl fmt::Debug for ProjectionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.registration.title(), self.config())
    }
}

impl PartialEq for ProjectionStep {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind()
            && self.name() == other.name()
            && self.config() == other.config()
    }
}

impl Serialize for ProjectionStep {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = match self.config() {
            Value::Object(m) => m,
            other => {
                return Err(serde::ser::Error::custom(format!(
                    "compressor `{}` has a configuration that is not a map: {other}",
                    self.registration.title()
                )));
            }
        };
        map.insert("op".into(), Value::from(self.kind().keyword()));
        map.insert("method".into(), Value::from(self.name()));
        Value::Object(map).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ProjectionStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let (op, method) = split_op_method(&mut map).map_err(D::Error::custom)?;
        let kind = CompressorKind::from_keyword(&op)
            .ok_or_else(|| D::Error::custom(format!("unknown compression step `{op}`")))?;
        Self::build(kind, &method, &map).map_err(D::Error::custom)
    }
}

/// Takes `op` and `method` out of a serialised step.
pub(crate) fn split_op_method(map: &mut Map<String, Value>) -> Result<(String, String), String> {
    let mut take = |key: &str| match map.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("`{key}` must be a string, got {other}")),
        None => Err(format!("missing field `{key}`")),
    };
    Ok((take("op")?, take("method")?))
}
