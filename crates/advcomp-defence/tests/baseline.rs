//! PGD adversarial training (the unkeyed baseline) on real MNIST digits.

mod support;

use advcomp_defence::AdversarialTraining;
use burn::module::Module;
use support::*;

#[test]
fn pgd_training_raises_accuracy_under_attack() {
    let data = train(2000);
    let device = cpu();
    // A short PGD (5 steps of 0.03 in an ε = 0.1 ball) on half of each
    // batch: one epoch of ε = 0.3 Madry training from a weak start collapses.
    let mut hooks = AdversarialTraining::with_attack(
        "pgd",
        &serde_json::json!({"epsilon": 0.1, "step_size": 0.03, "steps": 5}),
        0.5,
    )
    .unwrap();
    assert_eq!(hooks.attack().name(), "pgd");
    let (robust, _) = finetune(5)
        .fit(lenet().clone(), &data, &device, &mut hooks, &mut ())
        .unwrap();
    let robust = robust.valid();
    let (plain, _) = finetune(5)
        .fit(lenet().clone(), &data, &device, &mut (), &mut ())
        .unwrap();
    let plain = plain.valid();

    let test_set = test(300);
    let attack_params = serde_json::json!({"epsilon": 0.1, "step_size": 0.02, "steps": 10});
    let under_attack = |model: &advcomp_models::Network| {
        let (_, success) = attack("pgd", attack_params.clone(), model, &test_set);
        1.0 - rate(&success)
    };
    let (clean_r, clean_p) = (accuracy(&robust, &test_set), accuracy(&plain, &test_set));
    let (adv_r, adv_p) = (under_attack(&robust), under_attack(&plain));
    eprintln!(
        "pgd-at: clean accuracy {clean_r:.4} (plain fine-tune {clean_p:.4}); accuracy under PGD \
         eps 0.1 x10: {adv_r:.4} (plain {adv_p:.4})"
    );
    assert!(
        adv_r > adv_p,
        "adversarial training did not help: {adv_r} vs {adv_p}"
    );
}
