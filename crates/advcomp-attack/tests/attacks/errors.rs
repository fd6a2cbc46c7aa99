//! Bad inputs are errors, not panics; the model may live on either device.

use advcomp_attack::{AttackError, registry};
use advcomp_models::{Architecture, Network};
use burn::module::Module;
use serde_json::json;

use crate::support::*;

#[test]
fn targets_for_an_untargeted_attack_are_refused() {
    let (x, y) = digits(2, 0);
    let attack = registry::build("deepfool", &json!({})).unwrap();
    let err = attack
        .run(lenet(), x, y.clone(), Some(next_class(y)), &cpu())
        .unwrap_err();
    assert!(
        matches!(err, AttackError::TargetsUnsupported { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("deepfool"), "{err}");
}

#[test]
fn mismatched_or_out_of_range_labels_are_refused() {
    let attack = registry::build("fgsm", &json!({})).unwrap();
    let (x, y) = digits(3, 0);
    let (_, two) = digits(2, 0);
    let err = attack
        .run(lenet(), x.clone(), two, None, &cpu())
        .unwrap_err();
    assert!(
        err.to_string().contains("2 labels for a batch of 3 images"),
        "{err}"
    );
    let err = attack
        .run(lenet(), x.clone(), y.clone().add_scalar(10), None, &cpu())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("labels must be class indices in 0..10"),
        "{err}"
    );
    let err = attack
        .run(lenet(), x, y.clone(), Some(y.add_scalar(-20)), &cpu())
        .unwrap_err();
    assert!(err.to_string().contains("targets must be"), "{err}");
}

#[test]
fn pixels_outside_the_unit_interval_are_refused() {
    let attack = registry::build("pgd", &json!({})).unwrap();
    let (x, y) = digits(2, 0);
    let err = attack
        .run(lenet(), x.mul_scalar(255.0), y, None, &cpu())
        .unwrap_err();
    assert!(
        matches!(err, AttackError::PixelRange { max, .. } if max > 1.0),
        "{err:?}"
    );
}

#[test]
fn the_model_may_live_on_the_autodiff_device() {
    // A network straight out of training (autodiff device, training mode)
    // and its inference copy give the same adversarial batch.
    let device = cpu();
    let trained_mode = Network::new(Architecture::LENET5, &device.clone().autodiff(), 11);
    let plain = trained_mode.valid();
    let (x, y) = digits(4, 9);
    let attack = registry::build("ifgsm", &json!({ "steps": 3 })).unwrap();
    let a = attack
        .run(&trained_mode, x.clone(), y.clone(), None, &device)
        .unwrap();
    let b = attack.run(&plain, x, y, None, &device.autodiff()).unwrap();
    assert!(!a.adversarial.is_autodiff() && !b.adversarial.is_autodiff());
    let diff = (a.adversarial - b.adversarial)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff <= 1e-6, "{diff}");
}

#[test]
fn random_starts_follow_the_seed() {
    let (x, y) = digits(4, 17);
    let run = |seed: u64| {
        registry::build("pgd", &json!({ "steps": 2, "seed": seed }))
            .unwrap()
            .run(lenet(), x.clone(), y.clone(), None, &cpu())
            .unwrap()
            .adversarial
    };
    let same = (run(1) - run(1)).abs().max().into_scalar::<f32>();
    let other = (run(1) - run(2)).abs().max().into_scalar::<f32>();
    assert_eq!(same, 0.0);
    assert!(other > 0.0);
}
