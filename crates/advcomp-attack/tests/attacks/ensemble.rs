//! Ensembles of classifiers as one attack source (Liu et al. 2017): the
//! mean of the members' logits, and attacks that run on it unchanged.

use advcomp_attack::registry;
use advcomp_models::{Architecture, Classifier, Ensemble, Network};
use serde_json::json;

use crate::support::*;

/// A randomly initialised LeNet-5 (a second, different member).
fn random_lenet(seed: u64) -> Network {
    Network::new(Architecture::LENET5, &cpu(), seed)
}

#[test]
fn an_ensemble_averages_its_members_logits() {
    let other = random_lenet(3);
    let (x, _) = digits(6, 40);
    let ensemble = Ensemble::new(vec![Box::new(lenet()), Box::new(&other)]).unwrap();
    let expected = (lenet().logits(x.clone()) + other.logits(x.clone())).div_scalar(2.0);
    let got = ensemble.logits(x.clone());
    let diff = floats((got - expected).abs().max());
    assert!(diff[0] <= 1e-6, "largest difference {}", diff[0]);
    assert_eq!(ensemble.num_classes(), 10);
    // Neither member has a detector, so neither has the ensemble.
    assert!(ensemble.screen(x, 0.05).is_none());
    assert!(
        Ensemble::new(Vec::new()).is_none(),
        "an empty ensemble is refused"
    );
}

#[test]
fn attacks_run_on_an_ensemble_within_their_budget() {
    let other = random_lenet(4);
    let ensemble = Ensemble::new(vec![Box::new(lenet()), Box::new(&other)]).unwrap();
    let (x, y) = digits(8, 100);
    for name in ["fgsm", "pgd", "adaptive_pgd"] {
        let attack = registry::build(name, &json!({ "epsilon": 0.2 })).unwrap();
        let out = attack
            .run(&ensemble, x.clone(), y.clone(), None, &cpu())
            .unwrap();
        check_output(&ensemble, &out, &x, &y, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let linf = floats(advcomp_attack::ops::linf_norm(out.adversarial - x.clone()));
        assert!(linf.iter().all(|&v| v <= 0.2 + 1e-6), "{name}: {linf:?}");
    }
}
