//! Cache keys hash what a step computes, not how its parameters were
//! spelled (issue #14, item 5): a default written out, `bits` for
//! `weight_bits` + `act_bits`, an integer for a float give the same key;
//! a real change gives another key to exactly the steps it affects. Pure
//! planning: nothing is trained.

mod support;

use advcomp_runner::plan::Plan;
use serde_json::Value;
use support::{plan_env, resolve};

fn keys(text: &str) -> Vec<(String, String)> {
    Plan::compile(&resolve(text), &plan_env())
        .steps
        .iter()
        .map(|s| (s.kind.name().to_string(), s.key.clone()))
        .collect()
}

fn scenario(train: &str, compress: &str, defend: &str, attack: &str) -> String {
    format!(
        "model base = lenet5 {{ {train} }}\n\
         model keyed = lenet5 {{ epochs: 1 }} defend taboo {{ {defend} }}\n\
         variant small = base | {compress}\n\
         attack a = {attack}\n\
         transfer base -> small, keyed using a\n"
    )
}

/// The default of `param` of attack `name`, as the registry declares it.
fn attack_default(name: &str, param: &str) -> Value {
    (advcomp_attack::registry::find(name).unwrap().defaults)()[param].clone()
}

#[test]
fn spelling_a_default_out_keeps_every_key() {
    let eps = attack_default("fgsm", "epsilon");
    let lr = advcomp_train::TrainConfig::default().learning_rate;
    let plain = keys(&scenario(
        "epochs: 1",
        "quantise fixed { bits: 8 }",
        "key_seed: 3",
        "fgsm {}",
    ));
    let spelled = keys(&scenario(
        &format!("epochs: 1, lr: {lr:?}"),
        "quantise fixed { weight_bits: 8, act_bits: 8 }",
        "key_seed: 3, epochs: 2",
        &format!("fgsm {{ epsilon: {eps} }}"),
    ));
    assert_eq!(plain, spelled);
}

#[test]
fn a_real_change_rekeys_exactly_the_steps_it_affects() {
    let base = keys(&scenario(
        "epochs: 1",
        "prune magnitude { density: 0.5 }",
        "key_seed: 3",
        "fgsm {}",
    ));
    let other_eps = keys(&scenario(
        "epochs: 1",
        "prune magnitude { density: 0.5 }",
        "key_seed: 3",
        "fgsm { epsilon: 0.25 }",
    ));
    for ((kind, a), (_, b)) in base.iter().zip(&other_eps) {
        let affected = kind == "attack" || kind == "apply";
        assert_eq!(a != b, affected, "{kind}");
    }
    let other_density = keys(&scenario(
        "epochs: 1",
        "prune magnitude { density: 0.25 }",
        "key_seed: 3",
        "fgsm {}",
    ));
    let changed: Vec<&str> = base
        .iter()
        .zip(&other_density)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0.as_str())
        .collect();
    // The pruned model, its evaluation, and the transfer into it.
    assert_eq!(changed, ["compress", "evaluate", "apply"]);
}
