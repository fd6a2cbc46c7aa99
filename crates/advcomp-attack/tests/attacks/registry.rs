//! Finding and building attacks by name; parameter errors name the field.

use advcomp_attack::attacks::{IfgsmConfig, PgdConfig};
use advcomp_attack::registry::{self, ParamError, RegistryError};
use serde_json::json;

const ISSUE_NAMES: [&str; 11] = [
    "fgsm",
    "ifgm",
    "ifgsm",
    "bim",
    "pgd",
    "pgd_l2",
    "mifgsm",
    "deepfool",
    "deepfool_linf",
    "cw_l2",
    "jsma",
];

#[test]
fn every_attack_of_the_issue_is_found_and_built_with_defaults() {
    for name in ISSUE_NAMES {
        let reg = registry::find(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let attack = registry::build(name, &json!({})).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(attack.name(), reg.name, "{name}");
        assert_eq!(attack.norm(), reg.norm, "{name}");
        assert_eq!(attack.supports_targeted(), reg.targeted, "{name}");
        registry::build(name, &json!(null)).unwrap();
    }
    assert_eq!(registry::find("bim").unwrap().name, "ifgsm");
    assert!(
        registry::duplicates().is_empty(),
        "{:?}",
        registry::duplicates()
    );
}

#[test]
fn names_ignore_case_and_dashes() {
    assert_eq!(registry::find("PGD-L2").unwrap().name, "pgd_l2");
    assert_eq!(
        registry::find(" DeepFool-Linf ").unwrap().name,
        "deepfool_linf"
    );
}

#[test]
fn an_unknown_name_lists_the_known_ones_and_suggests_the_nearest() {
    let err = registry::build("pgdd", &json!({})).unwrap_err();
    let RegistryError::UnknownAttack {
        suggestion, known, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(suggestion.as_deref(), Some("pgd"));
    for name in ISSUE_NAMES.iter().filter(|n| **n != "bim") {
        assert!(
            known.iter().any(|k| k == name),
            "{name} missing from {known:?}"
        );
    }
    assert!(
        !known.iter().any(|k| k == "bim"),
        "aliases are not listed: {known:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("`pgdd`") && message.contains("did you mean `pgd`"),
        "{message}"
    );
    assert!(
        message.contains("cw_l2") && message.contains("jsma"),
        "{message}"
    );

    let suggest = |name: &str| match registry::find(name).unwrap_err() {
        RegistryError::UnknownAttack { suggestion, .. } => suggestion,
        e => panic!("{e:?}"),
    };
    assert_eq!(suggest("deepfol").as_deref(), Some("deepfool"));
    assert_eq!(suggest("cw-l3").as_deref(), Some("cw_l2"));
    assert_eq!(suggest("mi-fgsn").as_deref(), Some("mi_fgsm"));
    assert_eq!(suggest("completely-different"), None);
}

fn param_error(name: &str, params: serde_json::Value) -> ParamError {
    match registry::build(name, &params).unwrap_err() {
        RegistryError::Params { attack, source } => {
            assert_eq!(attack, registry::find(name).unwrap().name);
            source
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn an_unknown_parameter_is_named_with_a_suggestion() {
    let err = param_error("pgd", json!({ "epsilonn": 0.1 }));
    assert_eq!(
        err,
        ParamError::Unknown {
            field: "epsilonn".into(),
            // In declaration order.
            known: ["epsilon", "step_size", "steps", "random_start", "seed"]
                .map(String::from)
                .to_vec(),
            suggestion: Some("epsilon".into()),
        }
    );
    let message = registry::build("pgd", &json!({ "epsilonn": 0.1 }))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("attack `pgd`")
            && message.contains("unknown parameter `epsilonn`")
            && message.contains("did you mean `epsilon`"),
        "{message}"
    );
}

#[test]
fn an_ill_typed_parameter_is_named() {
    let err = param_error("pgd", json!({ "steps": "many" }));
    let ParamError::Invalid { field, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "steps");
    assert_eq!(
        message, "must be an integer >= 1, found the string \"many\"",
        "{message}"
    );
    assert!(err.to_string().starts_with("parameter `steps`: "), "{err}");

    let err = param_error("cw_l2", json!({ "abort_early": 1 }));
    assert!(
        matches!(&err, ParamError::Invalid { field, .. } if field == "abort_early"),
        "{err:?}"
    );
    let err = param_error("ifgsm", json!({ "steps": -3 }));
    assert!(
        matches!(&err, ParamError::Invalid { field, .. } if field == "steps"),
        "{err:?}"
    );
}

#[test]
fn an_out_of_range_parameter_is_named() {
    for (name, params, field) in [
        ("fgsm", json!({ "epsilon": -0.1 }), "epsilon"),
        ("pgd", json!({ "steps": 0 }), "steps"),
        ("cw_l2", json!({ "max_iterations": 0 }), "max_iterations"),
        ("deepfool", json!({ "candidates": 1 }), "candidates"),
        ("jsma", json!({ "theta": 0.0 }), "theta"),
        ("mifgsm", json!({ "decay": -1.0 }), "decay"),
    ] {
        let err = param_error(name, params);
        assert!(
            matches!(&err, ParamError::Invalid { field: f, .. } if f == field),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn parameters_must_be_a_map() {
    let err = param_error("fgsm", json!([0.1]));
    assert_eq!(
        err,
        ParamError::NotAMap {
            found: "a list".into()
        }
    );
}

#[test]
fn given_parameters_override_the_defaults() {
    let attack = registry::build("fgsm", &json!({ "epsilon": 0.1 })).unwrap();
    assert_eq!(attack.epsilon(), Some(0.1));
    let attack = registry::build("pgd_l2", &json!({ "epsilon": 1 })).unwrap();
    assert_eq!(attack.epsilon(), Some(1.0));
}

#[test]
fn ifgsm_steps_follow_kurakin() {
    // min(ε + 4, 1.25 ε) iterations for ε in grey levels.
    let steps = |grey: f64| {
        IfgsmConfig {
            epsilon: grey / 255.0,
            ..IfgsmConfig::default()
        }
        .iterations()
    };
    assert_eq!(steps(2.0), 2);
    assert_eq!(steps(8.0), 10);
    assert_eq!(steps(16.0), 20);
    assert_eq!(steps(32.0), 36);
    assert_eq!(IfgsmConfig::default().iterations(), 80);
    assert_eq!(
        IfgsmConfig {
            steps: Some(3),
            ..IfgsmConfig::default()
        }
        .iterations(),
        3
    );
}

/// `PARAMS` is the one declaration of a configuration's fields: each field
/// exactly once, documented, and the defaults pass its checks and build.
#[test]
fn every_registration_declares_exactly_its_parameters() {
    let all = registry::registrations();
    assert!(all.len() >= 9);
    for r in all {
        let problems = r.declaration_problems();
        assert!(problems.is_empty(), "{}: {problems:?}", r.name);
        let defaults = (r.defaults)();
        for p in r.describe() {
            assert_eq!(Some(&p.default), defaults.get(p.name), "{}", r.name);
        }
    }
}

#[test]
fn values_are_checked_against_the_declared_ranges() {
    for (name, params, field, message) in [
        (
            "fgsm",
            json!({ "epsilon": 1.5 }),
            "epsilon",
            "must be a number in [0, 1], found `1.5`",
        ),
        (
            "pgd",
            json!({ "steps": 2.5 }),
            "steps",
            "must be an integer >= 1, found `2.5`",
        ),
        (
            "pgd",
            json!({ "seed": -1 }),
            "seed",
            "must be an integer >= 0, found `-1`",
        ),
        (
            "pgd",
            json!({ "random_start": "yes" }),
            "random_start",
            "must be `true` or `false`, found the string \"yes\"",
        ),
        (
            "pgd",
            json!({ "step_size": null }),
            "step_size",
            "must be a number > 0, found null",
        ),
        (
            "boundary",
            json!({ "step_adaptation": 1 }),
            "step_adaptation",
            "must be a number > 1, found `1`",
        ),
        (
            "boundary",
            json!({ "source_step": 0 }),
            "source_step",
            "must be a number in (0, 1], found `0`",
        ),
        (
            "tifgsm",
            json!({ "kernel_size": 65 }),
            "kernel_size",
            "must be an integer in [1, 63], found `65`",
        ),
        (
            "tifgsm",
            json!({ "kernel_size": 4 }),
            "kernel_size",
            "must be odd, got 4",
        ),
        (
            "difgsm",
            json!({ "resize_rate": 1 }),
            "resize_rate",
            "must be a number in (0, 1), found `1`",
        ),
        (
            "adaptive_pgd",
            json!({ "headroom": 1 }),
            "headroom",
            "must be a number in [0, 1), found `1`",
        ),
        (
            "deepfool",
            json!({ "candidates": 1 }),
            "candidates",
            "must be an integer >= 2, found `1`",
        ),
        (
            "jsma",
            json!({ "theta": -1.5 }),
            "theta",
            "must be a number in [-1, 1], found `-1.5`",
        ),
    ] {
        assert_eq!(
            param_error(name, params.clone()),
            ParamError::invalid(field, message),
            "{name} {params}"
        );
    }
    // `null` means "computed from the others" where the doc says so.
    for (name, field) in [
        ("ifgsm", "steps"),
        ("mifgsm", "step_size"),
        ("pgd_l2", "step_size"),
    ] {
        registry::build(name, &json!({ field: null }))
            .unwrap_or_else(|e| panic!("{name}.{field}: {e}"));
    }
}

#[test]
fn defaults_are_the_papers() {
    let get = |name: &str| (registry::find(name).unwrap().defaults)();
    assert_eq!(
        get("pgd"),
        json!({ "epsilon": 0.3, "step_size": 0.01, "steps": 40, "random_start": true, "seed": 0 })
    );
    assert_eq!(get("mifgsm")["decay"], json!(1.0));
    assert_eq!(
        get("deepfool"),
        json!({ "steps": 50, "overshoot": 0.02, "candidates": 10 })
    );
    assert_eq!(
        get("cw_l2"),
        json!({
            "confidence": 0.0,
            "learning_rate": 0.01,
            "binary_search_steps": 9,
            "initial_const": 0.001,
            "max_iterations": 10000,
            "abort_early": true,
        })
    );
    assert_eq!(get("jsma"), json!({ "theta": 1.0, "gamma": 0.1 }));
}

#[test]
fn configs_refuse_unknown_fields_through_serde_too() {
    assert!(serde_json::from_value::<PgdConfig>(json!({ "epsilom": 0.1 })).is_err());
    assert_eq!(
        serde_json::from_value::<PgdConfig>(json!({})).unwrap(),
        PgdConfig::default()
    );
}

/// What cache keys hash: the canonical parameters are the defaults when
/// nothing is given, and spelling a default out changes nothing.
#[test]
fn canonical_parameters_fill_every_default() {
    for r in registry::registrations() {
        let defaults = (r.defaults)();
        assert_eq!((r.canonical)(&json!(null)).unwrap(), defaults, "{}", r.name);
        assert_eq!((r.canonical)(&json!({})).unwrap(), defaults, "{}", r.name);
        let Some((field, value)) = defaults.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        let spelled = json!({ field.clone(): value.clone() });
        assert_eq!((r.canonical)(&spelled).unwrap(), defaults, "{}", r.name);
        assert!(r.version >= 1, "{}", r.name);
    }
    let a = registry::identity("FGSM", &json!({})).unwrap();
    let b = registry::identity("fgsm", &(registry::find("fgsm").unwrap().defaults)()).unwrap();
    assert_eq!(a, b);
    assert_ne!(
        a,
        registry::identity("fgsm", &json!({ "epsilon": 0.25 })).unwrap()
    );
}
