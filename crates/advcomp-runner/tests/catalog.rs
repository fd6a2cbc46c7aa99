//! The real registries behind the scenario language: the shipped scenario
//! files check, and mistakes name the parameter.

use advcomp_runner::Registries;
use advcomp_scenario::{Catalog, Kind};
use serde_json::{Map, Value, json};

fn map(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn every_shipped_scenario_checks() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "scn") {
            if let Err(e) = advcomp_runner::load(&path) {
                panic!("{}: {e}", path.display());
            }
            n += 1;
        }
    }
    assert!(n >= 5, "{n} scenarios");
}

#[test]
fn parameter_errors_name_the_field() {
    let r = Registries;
    let e = r
        .check(Kind::Attack, "fgsm", &map(json!({ "epsilno": 0.1 })))
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("epsilno"));
    assert!(e.unknown_parameter);
    assert_eq!(e.suggestion.as_deref(), Some("epsilon"));
    let e = r
        .check(Kind::Prune, "magnitude", &map(json!({ "density": 2.0 })))
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("density"));
    let e = r
        .check(Kind::Architecture, "lenet5", &map(json!({ "epocs": 2 })))
        .unwrap_err();
    assert_eq!(e.suggestion.as_deref(), Some("epochs"));
    let e = r
        .check(Kind::Architecture, "lenet5", &map(json!({ "lr": -1.0 })))
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("lr"));
    assert_eq!(r.resolve(Kind::Attack, "BIM").as_deref(), Some("ifgsm"));
}

#[test]
fn defences_are_known_and_their_mistakes_name_the_field() {
    let r = Registries;
    assert_eq!(
        r.names(Kind::Defence),
        vec!["adversarial", "sitatapatra", "taboo"]
    );
    assert_eq!(
        r.resolve(Kind::Defence, "Taboo_Trap").as_deref(),
        Some("taboo")
    );
    assert!(
        r.check(Kind::Defence, "taboo", &map(json!({ "key": "k" })))
            .is_ok()
    );
    let e = r
        .check(
            Kind::Defence,
            "taboo",
            &map(json!({ "key": "k", "slak": 0.1 })),
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("slak"));
    assert!(e.unknown_parameter);
    assert_eq!(e.suggestion.as_deref(), Some("slack"));
    let e = r
        .check(
            Kind::Defence,
            "sitatapatra",
            &map(json!({ "epochs": 0, "key": "k" })),
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("epochs"));
    let e = r
        .check(Kind::Defence, "taboo", &map(json!({})))
        .unwrap_err();
    assert!(e.message.contains("key"), "{}", e.message);
    let e = r
        .check(
            Kind::Defence,
            "adversarial",
            &map(json!({ "epsilon": -1.0 })),
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("epsilon"));
}
