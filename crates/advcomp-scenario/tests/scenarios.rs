//! The shipped scenarios in `scenarios/`: each parses, checks against the
//! mock catalog, is already in canonical form, and its parse tree and
//! resolved plan are snapshotted.

use std::path::{Path, PathBuf};

use advcomp_scenario::{SnapshotCatalog, check, format, parse};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_paper_scenarios_and_the_smoke_scenario_are_there() {
    let names: Vec<String> = scenario_files()
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(String::from))
        .collect();
    for expected in [
        "cifarnet-scenario1.scn",
        "cifarnet-scenario2.scn",
        "lenet5-scenario1.scn",
        "lenet5-scenario2.scn",
        "smoke.scn",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing scenarios/{expected}"
        );
    }
}

#[test]
fn shipped_scenarios_parse_check_and_are_canonical() {
    for path in scenario_files() {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let text = std::fs::read_to_string(&path).expect("readable");
        let name = format!("scenarios/{stem}.scn");
        let ast = parse(&text, &name).unwrap_or_else(|d| panic!("{}", d.render(false)));
        insta::assert_snapshot!(format!("tree__{stem}"), ast.debug_tree());
        let resolved =
            check(&ast, &SnapshotCatalog).unwrap_or_else(|d| panic!("{}", d.render(false)));
        let mut ids = String::new();
        for m in &resolved.models {
            ids.push_str(&format!("model  {}\n", m.id));
        }
        for a in &resolved.attacks {
            ids.push_str(&format!("attack {}\n", a.id));
        }
        insta::assert_snapshot!(format!("ids__{stem}"), ids);
        insta::assert_json_snapshot!(format!("resolved__{stem}"), resolved);
        assert_eq!(
            format(&ast),
            text,
            "{name} is not in canonical form (run advcomp fmt)"
        );
    }
}
