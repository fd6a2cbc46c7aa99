//! The compression suites' helpers. The device, the digits and the quickly
//! trained LeNet-5 come from `advcomp-testkit`, shared with every suite.

use advcomp_compress::{CompressedModel, CompressionReport, Context, Step, compress};
use advcomp_models::Network;
use serde_json::Value;

pub use advcomp_testkit::{cpu, lenet, test, train};

/// One step from the scenario language's parts.
pub fn step(op: &str, method: &str, params: Value) -> Step {
    Step::from_parts(op, method, params.as_object().expect("a map")).expect("valid step")
}

/// Runs `steps` on the quick LeNet-5 with `train_n` training and 500 test images.
pub fn run(steps: &[Step], train_n: usize) -> (CompressedModel, CompressionReport) {
    let device = cpu();
    let (train, test) = (train(train_n), test(500));
    let parent = CompressedModel::uncompressed(lenet().clone());
    let done = compress(
        &parent,
        steps,
        Context {
            train: &train,
            device: &device,
            observer: &mut (),
        },
    )
    .expect("compression runs");
    let report = done.report(&parent, steps, &test, &device);
    (done.model, report)
}

/// Every parameter on the host, by name.
pub fn host_params(network: &Network) -> Vec<(advcomp_models::ParamInfo, Vec<f32>)> {
    network
        .params()
        .into_iter()
        .map(|(i, t)| (i, t.into_data().try_into_vec_as::<f32>().unwrap()))
        .collect()
}
