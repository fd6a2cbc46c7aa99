//! Training on real MNIST digits: the loss falls, the same seed gives the
//! same bytes, and eval on a saved checkpoint reproduces its metrics.

use advcomp_models::checkpoint;
use advcomp_tests::{cpu, mnist};
use advcomp_train::{Limits, LrSchedule, TrainConfig, evaluate_checkpoint, train_to_checkpoint};

fn quick_config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        seed,
        schedule: LrSchedule::Constant,
        learning_rate: 0.02,
        ..TrainConfig::default()
    }
}

const QUICK: Limits = Limits {
    train: Some(1_000),
    test: Some(500),
};

#[test]
fn loss_falls_and_accuracy_beats_chance_on_real_digits() {
    let split = mnist();
    let tmp = tempfile::tempdir().unwrap();
    let out = train_to_checkpoint(
        advcomp_models::Architecture::LENET5,
        split,
        QUICK,
        &quick_config(2, 5),
        &cpu(),
        tmp.path(),
        &mut (),
    )
    .unwrap();
    let epochs = &out.report.epochs;
    assert!(epochs[1].train_loss < epochs[0].train_loss, "{epochs:?}");
    assert!(
        epochs[0].train_loss < 2.3,
        "first epoch loss {}",
        epochs[0].train_loss
    );
    // 1,000 digits for 2 epochs: far from the full run's 98%, far above chance.
    assert!(out.metrics.test_accuracy > 0.75, "{:?}", out.metrics);
    assert_eq!(out.metrics.test_total, 500);
}

#[test]
fn same_seed_same_bytes_and_eval_reproduces_metrics() {
    let split = mnist();
    let device = cpu();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let arch = advcomp_models::Architecture::LENET5;
    let limits = Limits {
        train: Some(600),
        test: Some(300),
    };
    let run = |dir: &std::path::Path, seed| {
        train_to_checkpoint(
            arch,
            split,
            limits,
            &quick_config(1, seed),
            &device,
            dir,
            &mut (),
        )
        .unwrap()
    };
    let (ra, rb, rc) = (run(a.path(), 9), run(b.path(), 9), run(c.path(), 10));
    assert_eq!(ra.metrics, rb.metrics);
    assert_eq!(ra.sidecar.weights_sha256, rb.sidecar.weights_sha256);
    let read = |dir: &std::path::Path, f| std::fs::read(dir.join(f)).unwrap();
    assert_eq!(
        read(a.path(), "metrics.json"),
        read(b.path(), "metrics.json")
    );
    assert_eq!(
        read(a.path(), checkpoint::WEIGHTS_FILE),
        read(b.path(), checkpoint::WEIGHTS_FILE)
    );
    // A different seed is a different model.
    assert_ne!(ra.sidecar.weights_sha256, rc.sidecar.weights_sha256);

    // Evaluating the saved checkpoint gives exactly the metrics written at training time.
    let (_, evaluated) = evaluate_checkpoint(a.path(), split, &device).unwrap();
    assert_eq!(evaluated, ra.metrics);
    assert_eq!(
        evaluated.to_json().as_bytes(),
        read(a.path(), "metrics.json").as_slice()
    );
}

#[test]
fn a_network_for_the_wrong_dataset_is_refused_before_training() {
    let split = mnist();
    let tmp = tempfile::tempdir().unwrap();
    let err = train_to_checkpoint(
        advcomp_models::Architecture::CIFARNET,
        split,
        QUICK,
        &quick_config(1, 1),
        &cpu(),
        tmp.path(),
        &mut (),
    )
    .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"cifarnet expects images of shape [3, 32, 32], but the mnist data has [1, 28, 28]");
}
