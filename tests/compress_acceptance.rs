//! Issue #4's acceptance run: test accuracy of the README's LeNet-5 under
//! magnitude pruning (per layer and global), Dynamic Network Surgery, fixed
//! and dynamic fixed point, at the study's densities and bitwidths, each
//! without and with 2 epochs of fine-tuning.
//!
//! About 10 minutes on two cores, so `#[ignore]`d in CI; run it with
//!
//! ```text
//! cargo test -p advcomp-tests --test compress_acceptance -- --ignored --nocapture
//! ```
//!
//! The rounded table is an insta snapshot. Each row also prints its wall
//! time (compression plus fine-tuning) for the benchmark notes.

use std::time::Instant;

use advcomp_compress::{CompressedModel, Context, Step, compress};
use advcomp_tests::{cpu, mnist, readme_model};
use serde_json::{Value, json};

fn step(op: &str, method: &str, params: Value) -> Step {
    Step::from_parts(op, method, params.as_object().unwrap()).unwrap()
}

#[test]
#[ignore = "about 10 minutes on 2 cores; run by hand, see the module docs"]
fn compression_accuracy_table() {
    let parent = CompressedModel::uncompressed(readme_model());
    let split = mnist();
    let device = cpu();
    let mut rows: Vec<(String, Vec<Step>)> = Vec::new();
    for density in [1.0, 0.5, 0.2, 0.1, 0.05] {
        for (label, method, extra) in [
            ("magnitude/layer", "magnitude", json!({})),
            (
                "magnitude/global",
                "magnitude",
                json!({ "scope": "global" }),
            ),
            ("dns", "dns", json!({})),
        ] {
            let mut params = json!({ "density": density });
            params
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            rows.push((
                format!("{label} d={density}"),
                vec![step("prune", method, params)],
            ));
        }
    }
    for bits in [16, 8, 6, 4, 2] {
        for method in ["fixed", "dynamic"] {
            rows.push((
                format!("{method} w+a={bits}"),
                vec![step("quantise", method, json!({ "bits": bits }))],
            ));
        }
    }
    let mut table = String::from("compression | no fine-tuning | 2 epochs fine-tuning\n");
    let mut results = Vec::new();
    for (label, steps) in rows {
        let started = Instant::now();
        let mut with_ft = steps.clone();
        with_ft.push(step("finetune", "", json!({ "epochs": 2 })));
        let report = compress(
            &parent,
            &with_ft,
            Context {
                train: &split.train,
                device: &device,
                observer: &mut (),
            },
        )
        .expect("compression runs")
        .report(&parent, &with_ft, &split.test, &device);
        let a = report.accuracy;
        eprintln!(
            "{label}: {:.4} -> {:.4} -> {:.4} in {:.1}s",
            a.original,
            a.compressed,
            a.finetuned,
            started.elapsed().as_secs_f64()
        );
        table.push_str(&format!(
            "{label} | {:.3} | {:.3}\n",
            a.compressed, a.finetuned
        ));
        results.push((label, a));
    }
    // Trained numbers: one snapshot per CPU class.
    advcomp_testkit::assert_trained_snapshot!("compression_accuracy_table", table);

    let get = |label: &str| results.iter().find(|(l, _)| l == label).unwrap().1;
    let original = get("fixed w+a=16").original;
    for label in ["magnitude/global d=0.1", "dns d=0.1"] {
        let a = get(label);
        assert!(original - a.finetuned < 0.01, "{label}: {a:?}");
    }
    for label in ["fixed w+a=8", "dynamic w+a=8"] {
        let a = get(label);
        assert!(original - a.compressed < 0.005, "{label}: {a:?}");
        assert!(original - a.finetuned < 0.005, "{label}: {a:?}");
    }
    for label in ["fixed w+a=2", "dynamic w+a=2"] {
        let a = get(label);
        assert!(
            original - a.compressed > 0.1,
            "2 bits should collapse untuned: {a:?}"
        );
    }
}
