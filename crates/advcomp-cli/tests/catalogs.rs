//! `advcomp check` must accept exactly what `advcomp run` accepts. The
//! scenario crate's own tests check scenarios against a stand-in catalogue
//! (`advcomp_scenario::SnapshotCatalog`, which keeps that crate free of
//! burn); this test holds the stand-in to the real registries the binary is
//! built with (plugins included): the same names and aliases of every kind,
//! and the same verdict, located at the same places, on every file of the
//! bad corpus and every shipped scenario.

use std::path::{Path, PathBuf};

use advcomp_runner::Registries;
use advcomp_scenario::SnapshotCatalog;
use advcomp_scenario::{Catalog, Kind, check, parse};

// The binary's plugins register in the real catalogue.
use advcomp_plugins as _;

const KINDS: [Kind; 6] = [
    Kind::Architecture,
    Kind::Attack,
    Kind::Prune,
    Kind::Quantise,
    Kind::Finetune,
    Kind::Defence,
];

#[test]
fn the_snapshot_is_what_the_registries_say_today() {
    let fresh = Registries::snapshot();
    let shipped = advcomp_scenario::snapshot::shipped();
    assert!(
        &fresh == shipped,
        "crates/advcomp-scenario/catalog.json is out of date: run `cargo xtask catalog` \
         and commit the file"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/catalogue.md")).unwrap_or_default();
    assert!(
        doc == fresh.to_markdown(),
        "docs/catalogue.md is out of date: run `cargo xtask catalog` and commit the file"
    );
}

#[test]
fn both_catalogues_judge_targets_alike() {
    use serde_json::json;
    let values = [
        json!("next"),
        json!("random"),
        json!("random:7"),
        json!("Least-Likely"),
        json!("ll"),
        json!(3),
        json!("3"),
        json!("nxt"),
        json!("next:3"),
        json!(-1),
        json!(1.5),
        json!(true),
    ];
    for attack in Registries.names(Kind::Attack) {
        for value in &values {
            assert_eq!(
                SnapshotCatalog.check_target(&attack, value).is_ok(),
                Registries.check_target(&attack, value).is_ok(),
                "{attack} target {value}"
            );
        }
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[test]
fn both_catalogues_know_the_same_names_and_aliases() {
    for kind in KINDS {
        assert_eq!(
            sorted(SnapshotCatalog.names(kind)),
            sorted(Registries.names(kind)),
            "{kind:?}: names"
        );
    }
    // Every alias the attack registry declares, and a few spellings.
    let mut spellings: Vec<String> = advcomp_attack::registrations()
        .into_iter()
        .flat_map(|r| r.aliases.iter().map(|a| a.to_string()))
        .collect();
    spellings.extend(
        [
            "cw",
            "bim",
            "nope",
            "PGD-L2",
            "Fgsm",
            "cifarnet_tf",
            "cifarnettf",
            "LeNet5",
            "LeNet-5",
            "Taboo",
            "taboo_trap",
            "PGD_AT",
        ]
        .map(String::from),
    );
    for kind in KINDS {
        for name in Registries.names(kind).into_iter().chain(spellings.clone()) {
            assert_eq!(
                SnapshotCatalog.resolve(kind, &name),
                Registries.resolve(kind, &name),
                "{kind:?}: `{name}` resolves differently"
            );
        }
    }
}

fn scn_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    files
}

/// `Ok` or the `line:col` of every error, for one catalogue.
fn verdict(text: &str, name: &str, catalog: &dyn Catalog) -> Result<(), Vec<(usize, usize)>> {
    let located = |d: advcomp_scenario::Diagnostics| {
        let mut at: Vec<(usize, usize)> = d
            .iter()
            .filter(|d| d.is_error())
            .map(|d| (d.line, d.col))
            .collect();
        at.sort();
        at.dedup();
        at
    };
    let ast = parse(text, name).map_err(located)?;
    check(&ast, catalog).map(|_| ()).map_err(located)
}

#[test]
fn check_gives_the_same_verdicts_with_both_catalogues() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files: Vec<PathBuf> = [
        "crates/advcomp-scenario/tests/bad",
        "scenarios",
        "scenarios/papers",
    ]
    .iter()
    .flat_map(|d| scn_files(&root.join(d)))
    .collect();
    assert!(files.len() > 60, "{} files", files.len());
    for path in files {
        let bytes = std::fs::read(&path).expect("readable file");
        let text = String::from_utf8_lossy(&bytes);
        let name = path.display().to_string();
        let snapshot = verdict(&text, &name, &SnapshotCatalog);
        let real = verdict(&text, &name, &Registries);
        assert_eq!(snapshot, real, "{name}: snapshot vs real catalogue");
    }
}
