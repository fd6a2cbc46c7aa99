//! The bad corpus: every file in `tests/bad/` holds one kind of mistake.
//! Each must be refused with errors only, every one located `file:line:col`,
//! and its rendered report (no colour) is snapshotted so that a reviewer
//! can see the carets land on the right characters.

use std::path::Path;

use advcomp_scenario::{Diagnostics, SnapshotCatalog, check, parse};

fn diagnose(text: &str, name: &str) -> Diagnostics {
    match parse(text, name) {
        Err(d) => d,
        Ok(ast) => match check(&ast, &SnapshotCatalog) {
            Err(d) => d,
            Ok(_) => panic!("{name}: accepted, but it is in the bad corpus"),
        },
    }
}

#[test]
fn every_bad_file_is_refused_with_located_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/bad exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 24,
        "the bad corpus has {} files",
        files.len()
    );
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let bytes = std::fs::read(&path).expect("readable file");
        let text = String::from_utf8_lossy(&bytes);
        let name = format!("bad/{stem}.scn");
        let diags = diagnose(&text, &name);
        assert!(!diags.is_empty(), "{name}: no diagnostics");
        for d in &diags {
            assert!(d.is_error(), "{name}: not an error: {d}");
            let loc = format!("{name}:{}:{}: ", d.line, d.col);
            assert!(
                d.to_string().starts_with(&loc),
                "{name}: `{d}` lacks its location"
            );
        }
        let mut report = String::new();
        for d in &diags {
            report.push_str(&format!("{d}\n"));
        }
        report.push('\n');
        report.push_str(&diags.render(false));
        insta::assert_snapshot!(format!("bad__{stem}"), report);
    }
}

#[test]
fn rendering_with_colour_differs_only_by_escapes() {
    let d = diagnose("sead = 1\n", "x.scn");
    let plain = d.render(false);
    let coloured = d.render(true);
    assert!(coloured.contains('\u{1b}'));
    assert!(!plain.contains('\u{1b}'));
    assert!(plain.contains("did you mean `seed`?"), "{plain}");
}

/// A value, a name and a line of megabytes are echoed cut short: the whole
/// report stays a few KiB (it was 27 MB for a 5 MB string).
#[test]
fn huge_values_are_echoed_cut_short() {
    let huge = "a".repeat(5_000_000);
    let text = format!(
        "backend = \"{huge}\"\nmodel m = lenet5 {{ {huge}: 1 }}\nattack x = {huge}\n\
         transfer m -> m using x\n"
    );
    let diags = diagnose(&text, "huge.scn");
    assert_eq!(
        diags.len(),
        3,
        "{:?}",
        diags.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    let mut report = String::new();
    for d in &diags {
        assert!(d.to_string().len() < 400, "{} bytes", d.to_string().len());
        report.push_str(&format!("{d}\n"));
    }
    report.push('\n');
    report.push_str(&diags.render(false));
    assert!(report.len() < 16_000, "{} bytes", report.len());
    assert!(report.contains("(5000000 characters)"), "{report}");
    insta::assert_snapshot!(report);
}
