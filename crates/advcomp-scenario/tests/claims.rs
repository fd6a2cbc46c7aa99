//! `expect` claims: how `check` resolves them into the numbers they
//! compare (the bad corpus covers what it refuses).

use advcomp_scenario::resolved::{Claim, ClaimKind, Lookup, Metric, Side};
use advcomp_scenario::{Resolved, SnapshotCatalog, check, format, parse};

const BASE: &str = r#"
model base = lenet5 { epochs: 1 }
variant pruned = base | prune magnitude { density: [0.5, 0.1] } | finetune { seed: [1, 2, 3] }
variant quantised = base | quantise fixed { bits: [8, 4] }
attack fgsm = fgsm { epsilon: 0.1 }
attack ifgsm = ifgsm { epsilon: [0.1, 0.3] }
transfer base -> pruned, quantised using fgsm, ifgsm
transfer pruned, quantised -> base using fgsm, ifgsm
"#;

fn resolve(claims: &str) -> Resolved {
    let text = format!("{BASE}{claims}");
    let ast = parse(&text, "t.scn").unwrap_or_else(|d| panic!("{}", d.render(false)));
    check(&ast, &SnapshotCatalog).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

fn only(r: &Resolved) -> &Claim {
    assert_eq!(r.claims.len(), 1, "{:#?}", r.claims);
    &r.claims[0]
}

fn draws(s: &Side) -> &[Lookup] {
    match s {
        Side::Draws(d) => d,
        Side::Number(n) => panic!("a number: {n}"),
    }
}

#[test]
fn a_claim_over_a_sweep_holds_at_every_free_value_and_averages_seeds() {
    let r = resolve("expect transfer(pruned -> base, fgsm) > transfer(base -> pruned, fgsm)\n");
    let c = only(&r);
    assert_eq!(
        c.text,
        "transfer(pruned -> base, fgsm) > transfer(base -> pruned, fgsm)"
    );
    assert_eq!(c.line, 9);
    let ClaimKind::Compare { cases, .. } = &c.kind else {
        panic!("{c:?}")
    };
    // Density is free on both sides and matched by value: two cases.
    let at: Vec<String> = cases.iter().map(|k| k.at["density"].to_string()).collect();
    assert_eq!(at, ["0.5", "0.1"]);
    for case in cases {
        let (l, r) = (draws(&case.left), draws(&case.right));
        assert_eq!((l.len(), r.len()), (3, 3), "one draw per fine-tuning seed");
        for d in l {
            assert_eq!(d.metric, Metric::Transfer);
            assert_eq!(d.target.as_deref(), Some("base"));
            assert_eq!(d.attack.as_deref(), Some("fgsm"));
            assert!(d.seeds.contains_key("seed"), "{d:?}");
            assert_eq!(
                d.model,
                format!(
                    "pruned[density={},seed={}]",
                    case.at["density"], d.seeds["seed"]
                )
            );
        }
    }
}

#[test]
fn a_selector_fixes_a_value_and_numbers_compare_as_numbers() {
    let r = resolve("expect success(pruned[density=0.1, seed=2], ifgsm[epsilon=0.3]) >= 0.5\n");
    let ClaimKind::Compare { cases, .. } = &only(&r).kind else {
        panic!()
    };
    assert_eq!(cases.len(), 1);
    assert!(cases[0].at.is_empty());
    assert_eq!(cases[0].right, Side::Number(0.5));
    let d = draws(&cases[0].left);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].model, "pruned[density=0.1,seed=2]");
    assert_eq!(d[0].attack.as_deref(), Some("ifgsm[epsilon=0.3]"));
    assert!(d[0].seeds.is_empty(), "a selected seed is not a draw");
}

#[test]
fn a_trend_orders_each_series_along_its_axis() {
    let r = resolve("expect success(quantised, ifgsm) increasing along bits { tolerance: 0.02 }\n");
    let ClaimKind::Trend {
        axis,
        tolerance,
        series,
        ..
    } = &only(&r).kind
    else {
        panic!()
    };
    assert_eq!((axis.as_str(), *tolerance), ("bits", 0.02));
    // One series per attack epsilon (the other free key).
    assert_eq!(series.len(), 2);
    for s in series {
        assert!(s.at.contains_key("epsilon"));
        let xs: Vec<f64> = s.points.iter().map(|p| p.x).collect();
        assert_eq!(xs, [4.0, 8.0], "sorted by axis value, not sweep order");
    }
}

#[test]
fn claims_round_trip_through_the_formatter() {
    let text = format!(
        "{BASE}expect  transfer( pruned[density = 0.1] ->base , fgsm )<=0.9\nexpect accuracy(quantised) decreasing   along bits{{tolerance:0.01}}\n"
    );
    let ast = parse(&text, "t.scn").unwrap();
    let printed = format(&ast);
    assert!(
        printed.contains("expect transfer(pruned[density=0.1] -> base, fgsm) <= 0.9\n"),
        "{printed}"
    );
    assert!(
        printed.contains("expect accuracy(quantised) decreasing along bits { tolerance: 0.01 }\n"),
        "{printed}"
    );
    let again = parse(&printed, "t.scn").unwrap();
    assert_eq!(again.without_spans(), ast.without_spans());
    assert_eq!(format(&again), printed);
}

#[test]
fn a_passphrase_in_a_selector_is_concealed_like_the_parameter() {
    let text = r#"
model keyed = lenet5 { epochs: 1 } defend taboo { key: ["hunter2", "swordfish"] }
attack fgsm = fgsm
transfer keyed -> keyed using fgsm
expect success(keyed[key="hunter2"], fgsm) > 0.1
"#;
    let ast = parse(text, "t.scn").unwrap();
    let r = check(&ast, &SnapshotCatalog).unwrap_or_else(|d| panic!("{}", d.render(false)));
    let json = serde_json::to_string(&r).unwrap();
    let debug = format!("{r:?}");
    for out in [&json, &debug] {
        assert!(!out.contains("hunter2"), "{out}");
    }
    let ClaimKind::Compare { cases, .. } = &only(&r).kind else {
        panic!()
    };
    let model = &draws(&cases[0].left)[0].model;
    assert!(model.starts_with("keyed[key=#"), "{model}");
    assert_eq!(model, &r.models[0].id, "the first key's instance");
}

#[test]
fn a_mistyped_passphrase_in_a_selector_is_never_quoted() {
    let text = r#"
model keyed = lenet5 { epochs: 1 } defend taboo { key: ["hunter2", "swordfish"] }
attack fgsm = fgsm
transfer keyed -> keyed using fgsm
expect success(keyed[key="hunter3"], fgsm) > 0.1
"#;
    let ast = parse(text, "t.scn").unwrap();
    let diags = check(&ast, &SnapshotCatalog).unwrap_err();
    let messages: String = diags.iter().map(|d| format!("{d}\n")).collect();
    assert!(
        messages.contains("no instance of `keyed` has key"),
        "{messages}"
    );
    for secret in ["hunter3", "hunter2", "swordfish"] {
        assert!(!messages.contains(secret), "{messages}");
    }
}

#[test]
fn plans_without_claims_serialise_as_before() {
    let r = resolve("");
    let json = serde_json::to_value(&r).unwrap();
    assert!(json.get("claims").is_none());
}
