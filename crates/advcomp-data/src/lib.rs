//! Data sets for advcomp: finding them, downloading them, and reading them
//! into memory with every byte checked.
//!
//! Experiments compare models before and after compression under attack, so a
//! silently wrong data set would corrupt every number downstream. This crate
//! therefore treats each file as untrusted input: sizes are checked against
//! headers in both directions, labels against the class count, and every load
//! returns a fingerprint of the exact bytes read for provenance. Files are
//! streamed, and every size a header or file length declares is checked
//! against [`MAX_CONTENT_BYTES`] and [`MAX_PIXEL_BYTES`] before anything is
//! decompressed or allocated, so a hostile file cannot exhaust memory. It
//! knows nothing about tensors or backends; other crates copy from [`Dataset`].
//!
//! # Map
//! - [`kind`]: [`DatasetKind`] (MNIST, CIFAR-10), image shapes, class names.
//! - [`dataset`]: [`Dataset`] (flat NCHW `f32` pixels + labels) and [`Split`].
//! - [`mod@split`]: [`load()`], one directory to a checked, fingerprinted [`Split`].
//! - [`mnist`]: the IDX reader (gzip or raw).
//! - [`cifar`]: the `cifar-10-batches-bin` reader.
//! - [`locate`]: which directory to load from (`--data`, `ADVCOMP_DATA`,
//!   `./data/<kind>`, the bundled MNIST sample).
//! - [`remote`]: official URLs, sizes and pinned SHA-256 of each file.
//! - [`mod@fetch`]: verified, resumable-by-skipping downloads into a directory.
//! - [`error`]: [`DataError`], whose every message names the file at fault.

pub mod cifar;
pub mod dataset;
pub mod error;
mod extract;
pub mod fetch;
pub mod idx_write;
pub mod kind;
pub mod locate;
pub mod mnist;
pub mod remote;
mod source;
pub mod split;

pub use dataset::{Dataset, Split};
pub use error::DataError;
pub use fetch::{FetchOptions, FetchOutcome, FetchReport, FetchedFile, fetch, fetch_files};
pub use kind::{DatasetKind, ImageShape, UnknownDataset};
pub use locate::{bundled_mnist, resolve};
pub use remote::{RemoteFile, Unpack};
pub use source::{MAX_CONTENT_BYTES, MAX_PIXEL_BYTES};
pub use split::load;
