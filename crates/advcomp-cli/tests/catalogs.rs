//! `advcomp check` must accept exactly what `advcomp run` accepts. The
//! scenario crate's own tests check scenarios against a stand-in catalogue
//! (`advcomp_scenario::testing::MockCatalog`, which keeps that crate free of
//! burn); this test holds the stand-in to the real registries the binary is
//! built with (plugins included): the same names and aliases of every kind,
//! and the same verdict, located at the same places, on every file of the
//! bad corpus and every shipped scenario.

use std::path::{Path, PathBuf};

use advcomp_runner::Registries;
use advcomp_scenario::testing::MockCatalog;
use advcomp_scenario::{Catalog, Kind, check, parse};

// The binary's plugins register in the real catalogue.
use advcomp_square as _;

const KINDS: [Kind; 6] = [
    Kind::Architecture,
    Kind::Attack,
    Kind::Prune,
    Kind::Quantise,
    Kind::Finetune,
    Kind::Defence,
];

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[test]
fn both_catalogues_know_the_same_names_and_aliases() {
    for kind in KINDS {
        assert_eq!(
            sorted(MockCatalog.names(kind)),
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
            "Taboo",
        ]
        .map(String::from),
    );
    for kind in KINDS {
        for name in Registries.names(kind).into_iter().chain(spellings.clone()) {
            assert_eq!(
                MockCatalog.resolve(kind, &name),
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
        let mock = verdict(&text, &name, &MockCatalog);
        let real = verdict(&text, &name, &Registries);
        assert_eq!(mock, real, "{name}: stand-in vs real catalogue");
    }
}
