//! PGD adversarial training (the unkeyed baseline) on real MNIST digits. A
//! statistical measurement: `cargo xtask measure` runs it and writes
//! `docs/measured/pgd-training.md`.

mod support;

use advcomp_defence::AdversarialTraining;
use advcomp_testkit::measured::percent;
use advcomp_testkit::*;
use burn::module::Module;
use support::*;

#[test]
#[ignore = "statistical measurement (minutes): cargo xtask measure"]
fn measure_pgd_training_raises_accuracy_under_attack() {
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
    let mut table = measured::Table::new(
        "pgd-training",
        "PGD adversarial training against a plain fine-tune",
        "The shared quick LeNet-5 (`advcomp_testkit::lenet`) fine-tuned for one epoch at lr 0.02 on \
         2,000 digits, once with PGD adversarial training (ε = 0.1, 5 steps of 0.03, on half of each \
         batch) and once without. Accuracy on 300 test digits, clean and under PGD (ε = 0.1, 10 \
         steps of 0.02).",
        &["fine-tune", "clean accuracy", "accuracy under PGD"],
    );
    table
        .row(vec![
            "PGD adversarial training".into(),
            percent(clean_r),
            percent(adv_r),
        ])
        .row(vec!["plain".into(), percent(clean_p), percent(adv_p)]);
    table.write();
    assert!(
        adv_r > adv_p,
        "adversarial training did not help: {adv_r} vs {adv_p}"
    );
}
