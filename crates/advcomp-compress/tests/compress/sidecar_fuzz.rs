//! Fuzzing the checkpoint sidecar as the compression loader reads it
//! (issue #11): random bytes as `checkpoint.json`, and a valid compressed
//! checkpoint with any one field replaced by a hostile value. Loading never
//! panics, and a checkpoint that loads classifies with finite logits (no
//! NaN from a format nobody validated). Budget: `PROPTEST_CASES` (default
//! 48 per property).

use advcomp_compress::CompressedModel;
use advcomp_models::{Architecture, Classifier, Network, Sidecar, checkpoint};
use burn::tensor::{Tensor, TensorData};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::cpu;

/// A compressed sidecar that loads (see `persistence.rs`).
fn good_sidecar(net: &Network) -> Value {
    let mut sidecar = Sidecar::new(net, 3);
    sidecar.extra.insert(
        "compression".into(),
        json!({ "state": {
            "pruning": { "config": { "method": "magnitude", "density": 0.5 } },
            "quant": {
                "config": { "method": "fixed", "weight_bits": 8, "act_bits": 6 },
                "weight_formats": { "conv1.weight": { "bits": 8, "frac": 7 } },
                "act_formats": { "relu1": { "bits": 6, "frac": 3 } }
            }
        }}),
    );
    serde_json::to_value(sidecar).unwrap()
}

/// JSON pointers of every leaf and every object of `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn hostile() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(200)),
        Just(json!(5000)),
        Just(json!(-5000)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e300)),
        Just(json!(-0.0)),
        Just(json!("")),
        Just(json!("../../etc/hostname")),
        Just(json!("/dev/zero")),
        Just(json!([])),
        Just(json!({})),
        Just(json!({ "bits": 0, "frac": 5000 })),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z0-9._/-]{0,12}".prop_map(|s| json!(s)),
    ]
}

fn zero_image_logits_are_finite(model: &CompressedModel) -> bool {
    let x = Tensor::from_data(
        TensorData::new(vec![0.5f32; 28 * 28], [1, 1, 28, 28]),
        &cpu(),
    );
    let logits: Vec<f32> = model.logits(x).into_data().try_to_vec::<f32>().unwrap();
    logits.iter().all(|v| v.is_finite())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_sidecar_bytes_load_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let net = Network::new(Architecture::LENET5, &cpu(), 3);
        checkpoint::save(&net, &Sidecar::new(&net, 3), dir.path()).unwrap();
        std::fs::write(dir.path().join(checkpoint::SIDECAR_FILE), bytes).unwrap();
        if let Ok((model, _)) = CompressedModel::load(dir.path(), &cpu()) {
            prop_assert!(zero_image_logits_are_finite(&model));
        }
    }

    #[test]
    fn one_hostile_field_is_refused_or_harmless(pick in any::<prop::sample::Index>(), value in hostile()) {
        let dir = tempfile::tempdir().unwrap();
        let net = Network::new(Architecture::LENET5, &cpu(), 3);
        checkpoint::save(&net, &Sidecar::new(&net, 3), dir.path()).unwrap();
        let mut sidecar = good_sidecar(&net);
        let mut all = Vec::new();
        pointers(&sidecar, String::new(), &mut all);
        let at = pick.get(&all).clone();
        match sidecar.pointer_mut(&at) {
            Some(slot) => *slot = value,
            None => unreachable!("every pointer was taken from the value"),
        }
        let text = serde_json::to_string_pretty(&sidecar).unwrap();
        std::fs::write(dir.path().join(checkpoint::SIDECAR_FILE), text).unwrap();
        if let Ok((model, _)) = CompressedModel::load(dir.path(), &cpu()) {
            prop_assert!(zero_image_logits_are_finite(&model), "loaded with {} replaced", at);
        }
    }
}
