//! `check`: sweep expansion, instance ids and ordering, reference
//! resolution, and where diagnostics point.

use advcomp_scenario::resolved::StageOp;
use advcomp_scenario::{Origin, Resolved, SnapshotCatalog, check, format, parse};

/// The example of the language's design note, verbatim.
const EXAMPLE: &str = r#"# LeNet-5 on MNIST, scenario 1 of Zhao et al. (SysML 2019)
seed = 42
backend = "cpu"             # settings: key = value, at the top
data = "mnist"
test_images = 1000

model base = lenet5 { epochs: 8, optimizer: "adam", lr: 0.001 }
model keyed = lenet5 { epochs: 8 } defend taboo { key: ["k1", "k2", "k3", "k4"] }

variant pruned = base | prune magnitude { density: [0.5, 0.2, 0.1, 0.05] } | finetune { epochs: 2 }
variant quantised = base | quantise fixed { bits: [16, 8, 6, 4, 2] }
variant both = pruned | quantise dynamic { weight_bits: 8, act_bits: 8 }

attack fgsm = fgsm { epsilon: 0.1 }
attack cw = cw_l2 { binary_search_steps: 5, max_iterations: 200, images: 500 }
attack eps_sweep = pgd { epsilon: [0.1, 0.2, 0.3] }

transfer base -> pruned, quantised using fgsm, cw            # scenario 1
transfer pruned, quantised -> base, pruned, quantised using all   # scenario 2
"#;

fn resolve(text: &str) -> Resolved {
    let ast = parse(text, "t.scn").unwrap_or_else(|d| panic!("{}", d.render(false)));
    check(&ast, &SnapshotCatalog).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

fn errors(text: &str) -> String {
    let ast = match parse(text, "t.scn") {
        Ok(a) => a,
        Err(d) => return d.render(false),
    };
    match check(&ast, &SnapshotCatalog) {
        Ok(_) => panic!("accepted: {text}"),
        Err(d) => d.iter().map(|d| format!("{d}\n")).collect(),
    }
}

fn ids(r: &Resolved) -> Vec<&str> {
    r.models.iter().map(|m| m.id.as_str()).collect()
}

#[test]
fn the_design_example_expands_as_documented() {
    let r = resolve(EXAMPLE);
    assert_eq!(r.settings.seed, 42);
    assert_eq!(r.settings.backend.as_deref(), Some("cpu"));
    assert_eq!(r.settings.batch_size, 100);
    assert_eq!(r.models.len(), 1 + 4 + 4 + 5 + 4);
    // Passphrases are concealed: ids show the stand-in, the secret stays
    // in `secrets` (see `advcomp_scenario::secret`).
    let Some(stand_in) = r.models[1].id.strip_prefix("keyed[key=#") else {
        panic!("{}", r.models[1].id);
    };
    let stand_in = format!("#{}", stand_in.trim_end_matches(']'));
    assert_eq!(r.secrets.len(), 4);
    assert_eq!(r.secrets.reveal(&stand_in).map(|s| s.expose()), Some("k1"));
    assert!(!format!("{r:?}").contains("\"k1\""));
    let both: Vec<&str> = ids(&r)
        .into_iter()
        .filter(|i| i.starts_with("both"))
        .collect();
    assert_eq!(
        both,
        [
            "both[density=0.5]",
            "both[density=0.2]",
            "both[density=0.1]",
            "both[density=0.05]"
        ]
    );
    let cw = r.attacks.iter().find(|a| a.id == "cw").expect("cw");
    assert_eq!(
        (cw.attack.as_str(), cw.images, cw.batch_size),
        ("cw_l2", Some(500), None)
    );
    assert!(!cw.params.contains_key("images"));
    assert_eq!(r.transfers[0].attacks, ["fgsm", "cw"]);
    assert_eq!(r.transfers[1].attacks.len(), 2 + 3);
    assert_eq!(r.transfers[1].sources.len(), 9);
    assert_eq!(r.transfers[1].targets.len(), 10);
    let mut listing = String::new();
    for m in &r.models {
        listing.push_str(&format!("{}  <- {:?}\n", m.id, m.sweep));
    }
    for t in &r.transfers {
        listing.push_str(&format!(
            "transfer {:?} -> {:?} using {:?}\n",
            t.sources, t.targets, t.attacks
        ));
    }
    insta::assert_snapshot!("example_instances", listing);
}

#[test]
fn parents_come_first_whatever_the_declaration_order() {
    let r = resolve(
        "variant b = a | finetune\nvariant a = base | prune dns { density: [0.5, 0.2] }\nmodel base = lenet5\nattack f = fgsm\ntransfer base -> b using all\n",
    );
    assert_eq!(
        ids(&r),
        [
            "base",
            "a[density=0.5]",
            "a[density=0.2]",
            "b[density=0.5]",
            "b[density=0.2]"
        ]
    );
    let Origin::Derived { parent, steps } = &r.models[3].origin else {
        panic!("derived")
    };
    assert_eq!(parent, "a[density=0.5]");
    assert_eq!(steps[0].op, StageOp::Finetune);
    assert_eq!(steps[0].method, "finetune");
}

#[test]
fn several_lists_sweep_their_product_first_list_slowest() {
    let r = resolve(
        "model base = lenet5 { epochs: [1, 2], optimizer: [sgd, \"adam\"] }\nattack f = fgsm\ntransfer base -> base using f\n",
    );
    assert_eq!(
        ids(&r),
        [
            "base[epochs=1,optimizer=sgd]",
            "base[epochs=1,optimizer=adam]",
            "base[epochs=2,optimizer=sgd]",
            "base[epochs=2,optimizer=adam]"
        ]
    );
    let Origin::Trained { params, .. } = &r.models[1].origin else {
        panic!("trained")
    };
    assert_eq!(params["optimizer"], "adam");
}

#[test]
fn a_key_swept_twice_is_qualified_so_ids_stay_unique() {
    let r = resolve(
        "model base = lenet5\nvariant p = base | prune magnitude { density: [0.5, 0.2] }\nvariant pp = p | prune filter { density: [0.5, 0.1] } | finetune { epochs: [1, 2] }\nattack f = fgsm\ntransfer base -> pp using f\n",
    );
    let pp: Vec<&str> = ids(&r)
        .into_iter()
        .filter(|i| i.starts_with("pp"))
        .collect();
    assert_eq!(pp.len(), 8);
    assert_eq!(pp[0], "pp[density=0.5,filter.density=0.5,epochs=1]");
    let unique: std::collections::HashSet<_> = ids(&r).into_iter().collect();
    assert_eq!(unique.len(), r.models.len());
}

#[test]
fn the_documented_id_example_holds() {
    let r = resolve(
        "model base = lenet5\nvariant pruned = base | prune magnitude { density: [0.5, 0.1] }\nvariant both = pruned | quantise fixed { bits: [8, 4] }\nattack f = fgsm\ntransfer base -> both using all\n",
    );
    assert_eq!(
        ids(&r)[3..],
        [
            "both[density=0.5,bits=8]",
            "both[density=0.5,bits=4]",
            "both[density=0.1,bits=8]",
            "both[density=0.1,bits=4]"
        ]
    );
}

#[test]
fn aliases_resolve_to_canonical_names_and_quantize_is_quantise() {
    let r = resolve(
        "model base = lenet5\nvariant q = base | quantize dynamic\nattack b = bim { epsilon: 0.1 }\nattack c = cw\ntransfer base -> q using b, c\n",
    );
    assert_eq!(r.attacks[0].attack, "ifgsm");
    assert_eq!(r.attacks[1].attack, "cw_l2");
    let Origin::Derived { steps, .. } = &r.models[1].origin else {
        panic!("derived")
    };
    assert_eq!(
        (steps[0].op, steps[0].method.as_str()),
        (StageOp::Quantise, "dynamic")
    );
}

#[test]
fn transfer_lists_are_deduplicated_in_order() {
    let r = resolve(
        "model base = lenet5\nattack f = fgsm\nattack g = pgd\ntransfer base, base -> base using g, f, g\ntransfer base -> base using all\n",
    );
    assert_eq!(r.transfers[0].sources, ["base"]);
    assert_eq!(r.transfers[0].attacks, ["g", "f"]);
    assert_eq!(r.transfers[1].attacks, ["f", "g"]);
}

#[test]
fn settings_default_when_absent() {
    let r = resolve("model base = lenet5\nattack f = fgsm\ntransfer base -> base using f\n");
    assert_eq!(r.settings, advcomp_scenario::Settings::default());
    assert_eq!(
        (
            r.settings.seed,
            r.settings.test_images,
            r.settings.data.as_str()
        ),
        (1, 1000, "mnist")
    );
}

#[test]
fn the_plan_round_trips_through_json() {
    let r = resolve(EXAMPLE);
    let json = serde_json::to_string(&r).expect("serialises");
    let back: Resolved = serde_json::from_str(&json).expect("deserialises");
    // Everything but the secrets, which are never serialised.
    assert!(back.secrets.is_empty() && !r.secrets.is_empty());
    assert_eq!(
        back,
        Resolved {
            secrets: Default::default(),
            ..r
        }
    );
}

#[test]
fn a_rejected_sweep_value_is_pointed_at_not_its_list() {
    let text = "model base = lenet5\nvariant p = base | prune magnitude { density: [0.5, 1.5] }\nattack f = fgsm\ntransfer base -> p using f\n";
    let ast = parse(text, "t.scn").expect("parses");
    let d = check(&ast, &SnapshotCatalog).expect_err("refused");
    let d = d.iter().next().expect("one");
    assert_eq!(&text[d.span.start..d.span.end], "1.5");
    assert_eq!((d.line, d.col), (2, 53));
}

#[test]
fn every_problem_is_reported_in_source_order() {
    let e =
        errors("sead = 1\nmodel base = lenet\nattack f = fgsn\ntransfer base -> nope using f, g\n");
    insta::assert_snapshot!("several_problems", e);
}

#[test]
fn fmt_canonicalises_layout_and_keeps_comments() {
    let text = "# header\n\nmodel   base=lenet5{epochs:8,lr:1e-3,}   # trailing\nseed=42\n# about p\nvariant p = base\n  | prune magnitude {\n  density: [0.5,0.2,], # dropped: inside a statement\n}\n  | quantize fixed {}\n\n\n\nattack f = fgsm { epsilon: 0.10 }\ntransfer base->p using all\n# the end\n";
    let ast = parse(text, "t.scn").expect("parses");
    let out = format(&ast);
    insta::assert_snapshot!("fmt_canonical", out);
    let again = format(&parse(&out, "t.scn").expect("formatted text parses"));
    assert_eq!(again, out);
}

#[test]
fn crlf_files_parse_and_format_to_lf() {
    let text = "# header\r\n\r\nseed = 1  # one\r\nmodel base = lenet5\r\nattack f = fgsm\r\ntransfer base -> base using f\r\n";
    let ast = parse(text, "t.scn").expect("parses");
    assert_eq!(ast.statements[0].trailing.as_deref(), Some(" one"));
    assert_eq!(
        format(&ast),
        "# header\n\nseed = 1  # one\n\nmodel base = lenet5\nattack f = fgsm\ntransfer base -> base using f\n"
    );
    assert!(check(&ast, &SnapshotCatalog).is_ok());
}

#[test]
fn a_target_is_a_run_option_that_may_be_swept() {
    let r = resolve(
        "model base = lenet5\nattack t = pgd { target: [\"next\", 3], steps: 5 }\nattack u = fgsm\ntransfer base -> base using t, u\n",
    );
    let targets: Vec<Option<&str>> = r.attacks.iter().map(|a| a.target.as_deref()).collect();
    assert_eq!(targets, [Some("next"), Some("3"), None]);
    assert!(r.attacks.iter().all(|a| !a.params.contains_key("target")));
    assert_eq!(r.attacks[0].id, "t[target=next]");
}

#[test]
fn an_ensemble_is_one_model_made_of_every_instance_of_its_members() {
    let r = resolve(
        r#"
model base = lenet5 { epochs: 1 }
model keyed = lenet5 { epochs: 1 } defend taboo { key_seed: [1, 2] }
variant pruned = base | prune magnitude { density: 0.5 }
ensemble mine = { keyed, pruned, keyed }
attack fgsm = fgsm {}
transfer mine -> base using fgsm
expect transfer(mine -> base, fgsm) > 0.5
"#,
    );
    let mine = r.models.iter().find(|m| m.decl == "mine").unwrap();
    assert_eq!(mine.id, "mine");
    let Origin::Ensemble { members } = &mine.origin else {
        panic!("{:?}", mine.origin)
    };
    assert_eq!(
        members,
        &["keyed[key_seed=1]", "keyed[key_seed=2]", "pruned"],
        "every instance, each once, in declaration order"
    );
    let at = |id: &str| r.models.iter().position(|m| m.id == id).unwrap();
    assert!(members.iter().all(|m| at(m) < at("mine")), "members first");
    assert_eq!(r.transfers[0].sources, ["mine"]);
    assert_eq!(r.claims.len(), 1);
    // The formatter writes it back as it reads.
    let text = format(&parse("model a = lenet5\nensemble e = { a, a }\n", "t.scn").unwrap());
    assert!(text.contains("ensemble e = { a, a }"), "{text}");
}
