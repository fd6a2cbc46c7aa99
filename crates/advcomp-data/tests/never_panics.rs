//! Byte-level fuzzing: the readers return `Ok` or an error naming the file
//! for any input, and never panic.
//!
//! cargo-fuzz needs a nightly compiler, so this is proptest with byte-level
//! generators: arbitrary bytes, and arbitrary mutations (bit flips, byte
//! changes, truncations, cuts, appended bytes, header fields set to edge
//! values) of small valid files — IDX images and labels, raw and gzipped,
//! mutated before or after compression; a CIFAR-10 batch; and a CIFAR-10
//! `.tar.gz` fetched, extracted and loaded. Where the answer is known from the
//! format alone (raw IDX content, CIFAR batches), the reader must also accept
//! exactly the well-formed inputs.
//!
//! Each property runs [`DEFAULT_CASES`] cases, so the file takes a few
//! seconds; set `PROPTEST_CASES` to run more, e.g.
//! `PROPTEST_CASES=20000 cargo test -p advcomp-data --test never_panics`.
//! An input that ever breaks a property is kept below as a plain test.

mod common;

use std::borrow::Cow;
use std::fs;
use std::path::Path;

use advcomp_data::cifar::{BATCHES_DIR, RECORD_LEN, parse_batch};
use advcomp_data::mnist::{IMAGES_MAGIC, LABELS_MAGIC, parse_images, parse_labels};
use advcomp_data::{
    DatasetKind, FetchOptions, MAX_PIXEL_BYTES, RemoteFile, Unpack, fetch_files, load,
};
use common::{CIFAR_FILES, cifar_batch, gzip, idx_images, idx_labels};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 64;

/// Proptest's defaults (which read `PROPTEST_CASES` and the other
/// `PROPTEST_*` variables) with our smaller default case count.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

// ---------------------------------------------------------------- mutations

/// One change to a file's bytes. Positions are taken modulo the length, so
/// every mutation applies to every input.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    /// Sets the big-endian `u32` at byte `4 * word` (an IDX header field).
    SetWord {
        word: usize,
        value: u32,
    },
    Truncate {
        len: usize,
    },
    Cut {
        at: usize,
        len: usize,
    },
    Append(Vec<u8>),
}

/// Values that sit on the edges of the readers' checks.
fn edge_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(27),
        Just(28),
        Just(29),
        Just(IMAGES_MAGIC),
        Just(LABELS_MAGIC),
        Just(1_369_000),
        // Images of 28x28 whose f32 pixels just fit / just exceed the limit.
        Just((MAX_PIXEL_BYTES / 4 / 784) as u32),
        Just((MAX_PIXEL_BYTES / 4 / 784) as u32 + 1),
        Just(0x8000_0000),
        Just(u32::MAX),
        any::<u32>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        (0usize..4, edge_u32()).prop_map(|(word, value)| Mutation::SetWord { word, value }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Cut { at, len }),
        prop::collection::vec(any::<u8>(), 1..32).prop_map(Mutation::Append),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

fn apply(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::FlipBit { at, bit } if len > 0 => bytes[at % len] ^= 1 << bit,
            Mutation::SetByte { at, value } if len > 0 => bytes[at % len] = *value,
            Mutation::SetWord { word, value } => {
                let at = 4 * word;
                if at + 4 <= len {
                    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
                }
            }
            Mutation::Truncate { len: to } => bytes.truncate(to % (len + 1)),
            Mutation::Cut { at, len: n } if len > 0 => {
                let start = at % len;
                bytes.drain(start..(start + n).min(len));
            }
            Mutation::Append(extra) => bytes.extend_from_slice(extra),
            _ => {}
        }
    }
}

/// Where a mutation hits a file that is stored gzipped.
#[derive(Debug, Clone, Copy)]
enum Layer {
    /// A raw file, mutated.
    Raw,
    /// The content is mutated, then gzipped: a valid stream of bad content.
    UnderGzip,
    /// The gzip file itself is mutated: mostly a bad stream.
    OverGzip,
}

fn layer() -> impl Strategy<Value = Layer> {
    prop_oneof![
        Just(Layer::Raw),
        Just(Layer::UnderGzip),
        Just(Layer::OverGzip)
    ]
}

/// `content` stored as `layer` says, with `mutations` applied where it says.
/// Also returns the content a reader will find when that is known (`None`
/// when the gzip stream itself was mutated).
fn store(content: &[u8], layer: Layer, mutations: &[Mutation]) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut bytes = content.to_vec();
    match layer {
        Layer::Raw => {
            apply(&mut bytes, mutations);
            (bytes.clone(), Some(bytes))
        }
        Layer::UnderGzip => {
            apply(&mut bytes, mutations);
            (gzip(&bytes), Some(bytes))
        }
        Layer::OverGzip => {
            let mut packed = gzip(&bytes);
            apply(&mut packed, mutations);
            (packed, None)
        }
    }
}

// ------------------------------------------------------------ valid inputs

/// A small, valid, non-square IDX images file: 3 images of 4x5.
fn small_images() -> Vec<u8> {
    let pixels: Vec<u8> = (0..60u8).map(|i| i.wrapping_mul(37)).collect();
    idx_images(3, 4, 5, &pixels)
}

/// A small, valid IDX labels file.
fn small_labels() -> Vec<u8> {
    idx_labels(5, &[0, 9, 3, 3, 7])
}

/// `count` MNIST-sized images, each pixel depending on image and position.
fn mnist_images(count: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..count as usize * 784)
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    idx_images(count, 28, 28, &pixels)
}

fn mnist_labels(count: u32) -> Vec<u8> {
    let labels: Vec<u8> = (0..count as u8).map(|i| i % 10).collect();
    idx_labels(count, &labels)
}

/// The four files of a tiny MNIST set (3 training, 2 test images), in
/// `mnist::FILES` order.
fn mnist_set() -> [(&'static str, Vec<u8>); 4] {
    [
        ("train-images-idx3-ubyte", mnist_images(3)),
        ("train-labels-idx1-ubyte", mnist_labels(3)),
        ("t10k-images-idx3-ubyte", mnist_images(2)),
        ("t10k-labels-idx1-ubyte", mnist_labels(2)),
    ]
}

// ---------------------------------------------------------------- oracles

/// Whether raw IDX images `content` is well-formed: the format's rules and
/// the pixel limit, nothing else.
fn images_well_formed(content: &[u8]) -> bool {
    if content.len() < 16 || content.starts_with(&[0x1f, 0x8b]) {
        return false;
    }
    let word = |i: usize| {
        u128::from(u32::from_be_bytes(
            content[4 * i..4 * i + 4].try_into().unwrap(),
        ))
    };
    let pixels = word(1) * word(2) * word(3);
    word(0) == u128::from(IMAGES_MAGIC)
        && content.len() as u128 == 16 + pixels
        && pixels * 4 <= u128::from(MAX_PIXEL_BYTES)
}

fn labels_well_formed(content: &[u8]) -> bool {
    if content.len() < 8 || content.starts_with(&[0x1f, 0x8b]) {
        return false;
    }
    let word = |i: usize| u32::from_be_bytes(content[4 * i..4 * i + 4].try_into().unwrap());
    word(0) == LABELS_MAGIC
        && content.len() as u64 == 8 + u64::from(word(1))
        && content[8..].iter().all(|&l| l <= 9)
}

fn batch_well_formed(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len().is_multiple_of(RECORD_LEN)
        && bytes.chunks(RECORD_LEN).all(|r| r[0] <= 9)
}

/// Checks what a whole-set load returned: on success the invariants of
/// [`advcomp_data::Dataset`], on failure a message naming a path in `dir`.
fn check_load(
    result: Result<advcomp_data::Split, advcomp_data::DataError>,
    dir: &Path,
) -> Result<(), TestCaseError> {
    match result {
        Ok(split) => {
            for set in [&split.train, &split.test] {
                prop_assert_eq!(set.images.len(), set.len() * set.shape.len());
                prop_assert!(set.labels.iter().all(|&l| l <= 9));
                prop_assert!(set.images.iter().all(|p| (0.0..=1.0).contains(p)));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.contains(&*dir.to_string_lossy()), "{}", msg);
        }
    }
    Ok(())
}

// ------------------------------------------------------------- properties

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
    #![proptest_config(config(DEFAULT_CASES))]

    #[test]
    fn idx_readers_never_panic(bytes in any_input()) {
        for result in [
            parse_images(&bytes, Path::new("fuzz")).map(drop),
            parse_labels(&bytes, Path::new("fuzz")).map(drop),
        ] {
            if let Err(e) = result {
                prop_assert!(e.to_string().starts_with("fuzz: "), "{}", e);
            }
        }
    }

    #[test]
    fn mutated_idx_images_are_read_or_refused(layer in layer(), mutations in mutations()) {
        let (bytes, content) = store(&small_images(), layer, &mutations);
        match parse_images(&bytes, Path::new("fuzz.idx")) {
            Ok(img) => prop_assert_eq!(img.pixels.len(), img.count * img.rows * img.cols),
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.idx: "), "{}", e),
        }
        if let Some(content) = content {
            let ok = parse_images(&bytes, Path::new("fuzz.idx")).is_ok();
            prop_assert_eq!(ok, images_well_formed(&content));
        }
    }

    #[test]
    fn mutated_idx_labels_are_read_or_refused(layer in layer(), mutations in mutations()) {
        let (bytes, content) = store(&small_labels(), layer, &mutations);
        let result = parse_labels(&bytes, Path::new("fuzz.idx"));
        if let Err(e) = &result {
            prop_assert!(e.to_string().starts_with("fuzz.idx: "), "{}", e);
        }
        if let Some(content) = content {
            prop_assert_eq!(result.is_ok(), labels_well_formed(&content));
            if let Ok(labels) = result {
                prop_assert_eq!(&labels[..], &content[8..]);
            }
        }
    }

    #[test]
    fn mnist_loads_with_one_mutated_file_or_names_it(
        file in 0usize..4,
        layer in layer(),
        mutations in mutations(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        for (i, (stem, content)) in mnist_set().iter().enumerate() {
            let (bytes, gz) = if i == file {
                (store(content, layer, &mutations).0, !matches!(layer, Layer::Raw))
            } else {
                (gzip(content), true)
            };
            let name = if gz { format!("{stem}.gz") } else { stem.to_string() };
            fs::write(tmp.path().join(name), bytes).unwrap();
        }
        check_load(load(DatasetKind::Mnist, tmp.path()), tmp.path())?;
    }

    #[test]
    fn cifar_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..8000)) {
        let result = parse_batch(&bytes, Path::new("fuzz"));
        prop_assert_eq!(result.is_ok(), batch_well_formed(&bytes));
    }

    #[test]
    fn mutated_cifar_batches_are_read_iff_well_formed(mutations in mutations()) {
        let mut bytes = cifar_batch(3, 2);
        apply(&mut bytes, &mutations);
        match parse_batch(&bytes, Path::new("fuzz.bin")) {
            Ok(d) => {
                prop_assert!(batch_well_formed(&bytes));
                prop_assert_eq!(d.images.len(), d.len() * 3072);
            }
            Err(e) => {
                prop_assert!(!batch_well_formed(&bytes));
                prop_assert!(e.to_string().starts_with("fuzz.bin: "), "{}", e);
            }
        }
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

proptest! {
    // Each case downloads (file://), hashes, extracts and loads: fewer cases.
    #![proptest_config(config(DEFAULT_CASES / 2))]

    #[test]
    fn mutated_cifar_archives_extract_and_load_or_fail_cleanly(
        under_gzip in any::<bool>(),
        tar_size in prop::option::of((0usize..7, prop_oneof![
            Just(0u64), Just(1), Just(RECORD_LEN as u64 - 1), Just(RECORD_LEN as u64),
            Just(RECORD_LEN as u64 + 1), Just(2 * RECORD_LEN as u64), Just(1 << 33),
            Just(0o77_777_777_777), any::<u64>(),
        ])),
        mutations in prop::collection::vec(mutation(), 0..3),
    ) {
        let mut tar = common::cifar_tar(1, &format!("{BATCHES_DIR}/readme.html"));
        // A header field change that keeps the header valid: entry `i`'s
        // size, with the checksum recomputed.
        if let Some((i, size)) = tar_size {
            let entry_len = 512 + RECORD_LEN.div_ceil(512) * 512;
            let at = i * entry_len;
            let mut header = tar::Header::new_gnu();
            header.as_mut_bytes().copy_from_slice(&tar[at..at + 512]);
            header.set_size(size);
            header.set_cksum();
            tar[at..at + 512].copy_from_slice(header.as_bytes());
        }
        let archive = if under_gzip {
            apply(&mut tar, &mutations);
            gzip(&tar)
        } else {
            let mut packed = gzip(&tar);
            apply(&mut packed, &mutations);
            packed
        };

        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("fuzz.tar.gz"), &archive).unwrap();
        let file = RemoteFile {
            name: Cow::Borrowed("fuzz.tar.gz"),
            sha256: Cow::Owned(hex::encode(Sha256::digest(&archive))),
            size: archive.len() as u64,
            mirrors: &[],
            unpack: Unpack::TarGz {
                dir: BATCHES_DIR,
                files: &CIFAR_FILES,
                max_file_bytes: 2 * RECORD_LEN as u64,
            },
        };
        let dest = tempfile::tempdir().unwrap();
        let opts = FetchOptions {
            mirrors: Some(vec![format!("file://{}", src.path().display())]),
            progress: false,
        };
        match fetch_files(std::slice::from_ref(&file), dest.path(), &opts) {
            Ok(_) => check_load(load(DatasetKind::Cifar10, dest.path()), dest.path())?,
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains("fuzz.tar.gz"), "{}", msg);
            }
        }
    }
}

#[test]
fn the_valid_inputs_the_mutations_start_from_are_valid() {
    // Guard: without it, a broken generator would make every case an error
    // and the properties above would pass while testing nothing.
    assert!(images_well_formed(&small_images()));
    assert!(labels_well_formed(&small_labels()));
    assert_eq!(
        parse_images(&small_images(), Path::new("x")).unwrap().count,
        3
    );
    assert_eq!(
        parse_labels(&gzip(&small_labels()), Path::new("x"))
            .unwrap()
            .len(),
        5
    );
    let tmp = tempfile::tempdir().unwrap();
    for (stem, content) in mnist_set() {
        fs::write(tmp.path().join(format!("{stem}.gz")), gzip(&content)).unwrap();
    }
    let split = load(DatasetKind::Mnist, tmp.path()).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (3, 2));
    assert!(batch_well_formed(&cifar_batch(3, 2)));
}
