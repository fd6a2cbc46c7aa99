//! Loads a data set directory the way `advcomp data info` does and prints
//! what it holds: a small driver for measuring the readers' peak memory on a
//! hostile file without building the whole CLI, e.g.
//!
//! ```sh
//! cargo build -p advcomp-data --example data_info
//! /usr/bin/time -v target/debug/examples/data_info mnist DIR
//! ```

use std::path::Path;
use std::process::ExitCode;

use advcomp_data::{DatasetKind, load};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, dir] = args.as_slice() else {
        eprintln!("usage: data_info mnist|cifar10 DIR");
        return ExitCode::from(2);
    };
    let kind: DatasetKind = match kind.parse() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match load(kind, Path::new(dir)) {
        Ok(split) => {
            println!(
                "{kind}: {} train, {} test, fingerprint {}",
                split.train.len(),
                split.test.len(),
                split.fingerprint
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
