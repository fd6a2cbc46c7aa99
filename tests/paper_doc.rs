//! The numbers of `docs/papers/zhao2019.md`, pinned.
//!
//! `cargo xtask paper zhao2019` regenerates the document from full-size runs
//! (half an hour on 2 cores, too long for CI). This test snapshots every
//! table row of the committed document with its numbers rounded to two
//! decimals, so a regeneration that moves a finding or a figure by more
//! than float noise between CPUs (docs/testing.md, "Across CPUs") fails
//! `cargo test` until the new numbers are reviewed with `cargo insta
//! review`, and a hand edit of a number cannot slip in unseen. The
//! reduced-size runs of the same scenarios, which do run in CI, are
//! `crates/advcomp-runner/tests/paper.rs`.

use std::path::Path;

/// Every decimal number with three or more fraction digits rounded to two.
fn rounded(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_digit());
        if starts_number {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let token: String = chars[i..j].iter().collect();
            let long_fraction = token
                .split_once('.')
                .is_some_and(|(_, f)| f.len() >= 3 && !f.contains('.'));
            match token.parse::<f64>() {
                Ok(v) if long_fraction => out.push_str(&format!("{v:.2}")),
                _ => out.push_str(&token),
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn rounding_touches_only_long_fractions() {
    assert_eq!(
        rounded("| 0.998 ± 0.004 (n=3) > 0.5 | alpha=-0.1 | 97.80 % | 8000 / 500 |"),
        "| 1.00 ± 0.00 (n=3) > 0.5 | alpha=-0.1 | 97.80 % | 8000 / 500 |"
    );
    assert_eq!(rounded("scn:31 1.2345"), "scn:31 1.23");
}

#[test]
fn zhao2019_numbers_are_pinned() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/papers/zhao2019.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let rows: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(rounded)
        .collect();
    assert!(rows.len() > 30, "the document has its tables");
    insta::assert_snapshot!("zhao2019_tables", rows.join("\n"));
}
