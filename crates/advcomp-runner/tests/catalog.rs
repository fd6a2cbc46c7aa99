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

/// The paper's quantisation sweeps (issue #13 item 1): integer bits at a
/// fixed width (equivalently fraction bits), and fraction bits at fixed
/// integer bits (by width), checked by the real registries and by the mock
/// the scenario crate's tests use.
#[test]
fn integer_and_fraction_bit_sweeps_are_expressible() {
    let text = "model base = lenet5 { epochs: 1 }\n\
        variant ints = base | quantise fixed { bits: 8, int_bits: [1, 2, 3, 4, 5, 6] }\n\
        variant fracs = base | quantise fixed { weight_bits: [4, 6, 8], weight_int_bits: 2, act_bits: 8, act_int_bits: \"auto\" }\n\
        attack a = ifgsm {}\n\
        transfer base -> ints, fracs using a\n";
    let ast = advcomp_scenario::parse(text, "q.scn").unwrap();
    let resolved = advcomp_scenario::check(&ast, &Registries).unwrap();
    assert_eq!(resolved.models.len(), 1 + 6 + 3);
    assert!(advcomp_scenario::check(&ast, &advcomp_scenario::SnapshotCatalog).is_ok());

    let r = Registries;
    for (params, field) in [
        (
            json!({ "bits": 8, "weight_int_bits": "autoo" }),
            "weight_int_bits",
        ),
        (json!({ "bits": 8, "act_int_bits": 99 }), "act_int_bits"),
        (
            json!({ "weight_bits": 8, "act_int_bits": 3 }),
            "act_int_bits",
        ),
        (
            json!({ "bits": 8, "int_bits": 2, "weight_int_bits": 3 }),
            "weight_int_bits",
        ),
    ] {
        let e = r
            .check(Kind::Quantise, "fixed", &map(params.clone()))
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{params}: {}", e.message);
    }
    let e = r
        .check(
            Kind::Quantise,
            "dynamic",
            &map(json!({ "bits": 8, "int_bits": 2 })),
        )
        .unwrap_err();
    assert!(e.message.contains("fixed"), "{}", e.message);
}
