//! Writes `$OUT_DIR/linked.rs`: a `use … as _;` for every crate in this
//! manifest's `[dependencies]` (a crate that is depended on but never named
//! is not linked, and its `inventory` registrations would be lost), and
//! `LINKED`, the list of their names.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.toml");
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml is readable");
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if !in_dependencies || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            names.push(name.trim().to_string());
        }
    }
    let mut out = String::from(
        "/// The plugin crates linked, by package name, as the manifest lists them.\npub const LINKED: &[&str] = &[",
    );
    for name in &names {
        write!(out, "{name:?}, ").expect("writing to a String");
    }
    out.push_str("];\n");
    for name in &names {
        writeln!(out, "use {} as _;", name.replace('-', "_")).expect("writing to a String");
    }
    let path =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("linked.rs");
    std::fs::write(path, out).expect("OUT_DIR is writable");
}
