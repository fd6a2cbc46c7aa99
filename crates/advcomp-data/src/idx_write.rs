//! Writing IDX files, the format MNIST ships in, for arrays advcomp produces
//! (adversarial image sets, labels, masks).
//!
//! IDX is a 4-byte magic (`0, 0, type, rank`), one big-endian `u32` per
//! dimension, then the values big-endian. Type `0x08` is `u8`, `0x0D` is
//! `f32`; numpy's idx readers and most MNIST loaders understand both.

/// IDX type code for unsigned bytes.
pub const TYPE_U8: u8 = 0x08;
/// IDX type code for 32-bit floats.
pub const TYPE_F32: u8 = 0x0D;

fn header(kind: u8, dims: &[usize], capacity: usize) -> Vec<u8> {
    let rank = u8::try_from(dims.len()).expect("IDX rank fits in a byte");
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + capacity);
    out.extend_from_slice(&[0, 0, kind, rank]);
    for &d in dims {
        let d = u32::try_from(d).expect("IDX dimensions fit in u32");
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

/// Encodes `values` (row-major, `dims.iter().product()` of them) as IDX `u8`.
pub fn encode_u8(dims: &[usize], values: &[u8]) -> Vec<u8> {
    assert_eq!(
        dims.iter().product::<usize>(),
        values.len(),
        "IDX shape and data disagree"
    );
    let mut out = header(TYPE_U8, dims, values.len());
    out.extend_from_slice(values);
    out
}

/// Encodes `values` (row-major) as IDX `f32`, big-endian.
pub fn encode_f32(dims: &[usize], values: &[f32]) -> Vec<u8> {
    assert_eq!(
        dims.iter().product::<usize>(),
        values.len(),
        "IDX shape and data disagree"
    );
    let mut out = header(TYPE_F32, dims, 4 * values.len());
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_labels_read_back_with_the_mnist_reader() {
        let bytes = encode_u8(&[3], &[1, 7, 9]);
        let labels =
            crate::mnist::parse_labels(&bytes, std::path::Path::new("labels.idx")).unwrap();
        assert_eq!(labels, vec![1, 7, 9]);
    }

    #[test]
    fn f32_header_and_values_are_big_endian() {
        let bytes = encode_f32(&[1, 2], &[1.0, -0.5]);
        assert_eq!(&bytes[..4], &[0, 0, 0x0D, 2]);
        assert_eq!(&bytes[4..12], &[0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(f32::from_be_bytes(bytes[12..16].try_into().unwrap()), 1.0);
        assert_eq!(f32::from_be_bytes(bytes[16..20].try_into().unwrap()), -0.5);
    }
}
