//! The readers return `Ok` or `Err` for any input, never panic.

use std::path::Path;

use advcomp_data::cifar::{RECORD_LEN, parse_batch};
use advcomp_data::mnist::{IMAGES_MAGIC, LABELS_MAGIC, parse_images, parse_labels};
use proptest::prelude::*;

/// A plausible IDX header (right magic, small dimensions) followed by random
/// bytes, so the size checks past the header are exercised too.
fn idx_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(IMAGES_MAGIC), Just(LABELS_MAGIC), any::<u32>()],
        prop::collection::vec(0u32..8, 0..4),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(magic, dims, body)| {
            let mut v = magic.to_be_bytes().to_vec();
            for d in dims {
                v.extend_from_slice(&d.to_be_bytes());
            }
            v.extend(body);
            v
        })
}

/// Random bytes behind the gzip magic, to exercise the decoder's error paths.
fn gzip_like() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..300).prop_map(|tail| {
        let mut v = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
        v.extend(tail);
        v
    })
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        idx_like(),
        gzip_like(),
    ]
}

proptest! {
    #[test]
    fn idx_readers_never_panic(bytes in any_input()) {
        let _ = parse_images(&bytes, Path::new("fuzz"));
        let _ = parse_labels(&bytes, Path::new("fuzz"));
    }

    #[test]
    fn cifar_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..8000)) {
        let _ = parse_batch(&bytes, Path::new("fuzz"));
    }

    #[test]
    fn whole_cifar_records_parse_iff_labels_are_in_range(
        records in prop::collection::vec((any::<u8>(), any::<u8>()), 1..4)
    ) {
        let mut bytes = Vec::new();
        for &(label, fill) in &records {
            bytes.push(label);
            bytes.extend(std::iter::repeat_n(fill, RECORD_LEN - 1));
        }
        let result = parse_batch(&bytes, Path::new("fuzz"));
        prop_assert_eq!(result.is_ok(), records.iter().all(|&(l, _)| l <= 9));
    }
}
