//! Named access to every trainable tensor.
//!
//! Compressors rewrite weights without knowing the layer types, so parameters
//! are exposed flattened to rank 1 under a stable name (`conv1.weight`,
//! `fc2.bias`) with their real shape alongside. Rewriting keeps each
//! parameter's id, so optimiser state (momentum) carries over.

use burn::Tensor;

/// Whether a parameter is a weight or a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    /// Convolution kernel or fully connected weight matrix.
    Weight,
    /// Bias vector.
    Bias,
}

/// Describes one parameter tensor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ParamInfo {
    /// `"<layer>.<weight|bias>"`, e.g. `conv1.weight`.
    pub name: String,
    /// The layer's name, e.g. `conv1`.
    pub layer: String,
    /// The layer's position in the network.
    pub layer_index: usize,
    /// Weight or bias.
    pub kind: ParamKind,
    /// The tensor's real shape: `[out, in, kh, kw]` for convolutions,
    /// `[in, out]` for fully connected weights, `[out]` for biases.
    pub shape: Vec<usize>,
}

impl ParamInfo {
    /// Number of scalars in the tensor.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Flattens a tensor of any rank to rank 1.
pub(crate) fn flat<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    let n = t.dims().iter().product::<usize>();
    t.reshape([n])
}

/// Restores a rank-1 tensor to `shape`, checking the element count so that a
/// compressor returning the wrong number of weights fails loudly here rather
/// than deep inside a convolution.
pub(crate) fn unflat<const D: usize>(info: &ParamInfo, t: Tensor<1>) -> Tensor<D> {
    let [n] = t.dims();
    assert_eq!(
        n,
        info.numel(),
        "a parameter transform returned {n} values for {} (shape {:?})",
        info.name,
        info.shape
    );
    let mut shape = [0usize; D];
    shape.copy_from_slice(&info.shape);
    t.reshape(shape)
}
