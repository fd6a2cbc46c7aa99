//! No passphrase reaches anything a run prints or writes, however the
//! scenario spells its keys: swept, the same keyed parameter twice in one
//! lineage (`taboo.key`, `key#2`), nested lineages, quoted passphrases, and
//! seed keys beside them. Issue #11, item 1.

mod support;

use advcomp_runner::plan::Plan;
use advcomp_runner::run;
use advcomp_testkit::cpu;
use support::{files, options};

/// Every passphrase of [`SCENARIO`]; none may appear in any output.
const PASSPHRASES: &[&str] = &[
    "hunter2-alpha",
    "hunter3-bravo",
    "p1-charlie",
    "p2 delta with spaces",
    "p3-echo",
];

const SCENARIO: &str = r#"
seed = 2
train_images = 200
test_images = 20

model keyed = lenet5 { epochs: 1 } defend taboo { key: ["hunter2-alpha", "hunter3-bravo"], epochs: 1 }
variant rekeyed = keyed | defend sitatapatra { key: ["p1-charlie"], epochs: 1 }
variant twice = rekeyed | defend taboo { key: ["p2 delta with spaces", "p3-echo"], epochs: 1 } | prune magnitude { density: 0.5 }
model seeded = lenet5 { epochs: 1 } defend taboo { key_seed: [7], epochs: 1 }

attack fgsm = fgsm { epsilon: 0.2 }

transfer rekeyed, seeded -> keyed, twice using fgsm
"#;

fn assert_no_passphrase(what: &str, text: &str) {
    for p in PASSPHRASES {
        assert!(
            !text.contains(p),
            "{what} holds the passphrase {p:?}:\n{text}"
        );
    }
}

#[test]
fn no_spelling_of_a_key_leaks_into_ids_plans_caches_or_reports() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.scn");
    std::fs::write(&file, SCENARIO).unwrap();
    let (bytes, resolved) = advcomp_runner::load(&file).unwrap();

    // What the front end hands over: ids, sweeps, parameters, its Debug.
    assert_eq!(resolved.secrets.len(), PASSPHRASES.len());
    let ids: Vec<&str> = resolved.models.iter().map(|m| m.id.as_str()).collect();
    assert!(ids.iter().any(|id| id.contains("taboo.key=#")), "{ids:?}");
    assert_no_passphrase("the resolved scenario", &format!("{resolved:?}"));
    assert_no_passphrase(
        "the serialised scenario",
        &serde_json::to_string(&resolved).unwrap(),
    );

    // The compiled plan (what `--dry-run` prints) and its Debug.
    let plan = Plan::compile(&resolved, &support::plan_env());
    assert_no_passphrase("the plan", &format!("{plan:?}"));
    assert_no_passphrase("the plan", &serde_json::to_string(&plan).unwrap());
    let labels: Vec<&str> = plan.steps.iter().map(|s| s.label.as_str()).collect();
    assert_no_passphrase("the step labels", &labels.join("\n"));

    // Keys are still the passphrases' keys: the two keyed lineages differ.
    let key_ids: std::collections::BTreeSet<String> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            advcomp_runner::plan::StepKind::Defend { key_id, .. } => key_id.clone(),
            _ => None,
        })
        .collect();
    let expected: std::collections::BTreeSet<String> = PASSPHRASES
        .iter()
        .map(|p| advcomp_defence::Key::from_passphrase(p).id())
        .chain([advcomp_defence::Key::from_seed(7).id()])
        .collect();
    assert_eq!(key_ids, expected);

    // A real run: every file of the output and of the cache.
    let outcome = run(
        &resolved,
        &bytes,
        &options(dir.path(), "keys.scn"),
        &cpu(),
        &mut (),
    )
    .unwrap();
    assert!(outcome.results.is_some());
    let written = [
        files(&dir.path().join("out")),
        files(&dir.path().join("cache")),
    ]
    .concat();
    assert!(written.len() > 20, "{written:?}");
    for path in written {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert_no_passphrase(&path.display().to_string(), &text);
    }
}

#[test]
fn a_bad_key_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.scn");
    // `slak` is a typo: the diagnostic quotes the block's line, never the
    // parameter map with the passphrase in it.
    std::fs::write(
        &file,
        "model m = lenet5 { epochs: 1 } defend taboo { key: \"hunter2-alpha\", slak: 0.1 }\n\
         attack a = fgsm {}\ntransfer m -> m using a\n",
    )
    .unwrap();
    let Err(advcomp_runner::LoadError::Scenario(d)) = advcomp_runner::load(&file) else {
        panic!("a typo must be refused");
    };
    let rendered = d.render(false);
    assert!(rendered.contains("slak"), "{rendered}");
    // The source line is shown as the user wrote it; the messages are not.
    let messages: Vec<String> = d.iter().map(|x| x.message.clone()).collect();
    assert_no_passphrase("the diagnostics' messages", &messages.join("\n"));
}
