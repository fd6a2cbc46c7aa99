//! Issue #3's acceptance run: the attacks against the README's LeNet-5 on
//! 1,000 test digits it classifies correctly.
//!
//! It trains the README model (`advcomp train --model lenet5 --epochs 8`,
//! i.e. `TrainConfig::default()`) once into
//! `target/advcomp-acceptance/` and takes about 20 minutes on two
//! cores, most of it C&W, so it is `#[ignore]`d in CI. Run it with
//!
//! ```text
//! cargo test -p advcomp-tests --test attack_acceptance -- --ignored --nocapture
//! ```
//!
//! The rounded table is an insta snapshot: a change to any attack that moves
//! a success rate or a mean norm shows up in review.

use std::time::Instant;

use advcomp_attack::{AttackSummary, registry, run_batched};
use advcomp_data::Dataset;
use advcomp_models::Classifier;
use advcomp_tests::{cpu, mnist, readme_model};
use advcomp_train::batch;
use serde_json::json;

const IMAGES: usize = 1000;

/// The first `n` test digits (in file order) that `model` classifies correctly.
fn correct_digits(model: &dyn Classifier, test: &Dataset, n: usize) -> Vec<usize> {
    let device = cpu();
    let rows: Vec<usize> = (0..test.len()).collect();
    let mut kept = Vec::new();
    for chunk in rows.chunks(500) {
        let predicted =
            advcomp_attack::ops::host_i64(model.predict(batch::images(test, chunk, &device)));
        for (&row, p) in chunk.iter().zip(predicted) {
            if p == i64::from(test.labels[row]) && kept.len() < n {
                kept.push(row);
            }
        }
    }
    assert_eq!(kept.len(), n, "too few correctly classified digits");
    kept
}

#[test]
#[ignore = "about 20 minutes on 2 cores; run by hand, see the module docs"]
fn attacks_on_the_readme_lenet5() {
    let network = readme_model();
    let split = mnist();
    let rows = correct_digits(&network, &split.test, IMAGES);
    let device = cpu();
    let images = batch::images(&split.test, &rows, &device);
    let labels = batch::labels(&split.test, &rows, &device);

    let runs = [
        ("fgsm eps=0.1", "fgsm", json!({ "epsilon": 0.1 })),
        ("ifgsm eps=0.1", "ifgsm", json!({ "epsilon": 0.1 })),
        ("pgd-40 eps=0.3", "pgd", json!({})),
        ("deepfool", "deepfool", json!({})),
        (
            "cw_l2 5x200",
            "cw_l2",
            json!({ "binary_search_steps": 5, "max_iterations": 200,
                    "initial_const": 1.0, "learning_rate": 0.05 }),
        ),
    ];
    let mut table = String::from("attack | success | mean L2 | mean Linf\n");
    let mut summaries: Vec<AttackSummary> = Vec::new();
    for (label, name, params) in runs {
        let attack = registry::build(name, &params).expect("attack builds");
        let started = Instant::now();
        let out = run_batched(
            attack.as_ref(),
            &network,
            images.clone(),
            labels.clone(),
            None,
            250,
            &device,
            &mut |_| {},
        )
        .expect("attack runs");
        let s = out.metrics.summary(out.counters);
        eprintln!(
            "{label}: {:.1}% in {:.1}s, {s:?}",
            100.0 * s.success_rate,
            started.elapsed().as_secs_f64()
        );
        table.push_str(&format!(
            "{label} | {:.3} | {:.3} | {:.3}\n",
            s.success_rate,
            s.l2.mean.unwrap_or(f64::NAN),
            s.linf.mean.unwrap_or(f64::NAN)
        ));
        summaries.push(s);
    }
    // Trained numbers: one snapshot per CPU class.
    advcomp_testkit::assert_trained_snapshot!("attacks_on_the_readme_lenet5", table);

    let [fgsm, ifgsm, pgd, deepfool, cw] = &summaries[..] else {
        unreachable!("five runs");
    };
    assert!(pgd.success_rate >= 0.95, "PGD-40: {}", pgd.success_rate);
    assert!(fgsm.success_rate < ifgsm.success_rate, "FGSM vs I-FGSM");
    assert!(cw.success_rate >= 0.99, "C&W success {}", cw.success_rate);
    let (cw_l2, df_l2) = (cw.l2.mean.unwrap(), deepfool.l2.mean.unwrap());
    assert!(
        cw_l2 <= 1.1 * df_l2,
        "C&W mean L2 {cw_l2} vs DeepFool {df_l2}"
    );
}
