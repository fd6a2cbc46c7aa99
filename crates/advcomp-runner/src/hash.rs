//! Content hashes of step inputs: what makes a cached artifact reusable.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Hex digits of a [`content_hash`]: a cache entry's name has this length.
pub const KEY_HEX_LEN: usize = 32;

/// SHA-256 (hex, first 16 bytes) of the canonical JSON of `value`.
///
/// serde_json writes maps with sorted keys (no `preserve_order`), so equal
/// inputs give equal hashes whatever order a scenario wrote them in.
pub fn content_hash<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("step inputs serialise");
    let digest = Sha256::digest(&json);
    hex::encode(&digest[..16])
}
