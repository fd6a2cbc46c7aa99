//! The attack suites' helpers. The device, the digits and the quickly
//! trained LeNet-5 come from `advcomp-testkit`, shared with every suite.

use advcomp_models::Classifier;
use burn::Tensor;
use burn::tensor::Int;

pub use advcomp_testkit::{cpu, digits, lenet};

/// `n` test digits the trained LeNet-5 classifies correctly.
pub fn correct_digits(n: usize, offset: usize) -> (Tensor<4>, Tensor<1, Int>) {
    let (x, y) = digits(4 * n, offset);
    let pred = lenet().predict(x.clone());
    let ok = pred.equal(y.clone());
    let idx = ok.nonzero().pop().expect("one index tensor");
    assert!(idx.dims()[0] >= n, "too few correctly classified digits");
    let idx = idx.narrow(0, 0, n);
    (x.select(0, idx.clone()), y.select(0, idx))
}

/// `(label + 1) mod 10`: a target class other than the label.
pub fn next_class(labels: Tensor<1, Int>) -> Tensor<1, Int> {
    labels.add_scalar(1).remainder_scalar(10)
}

/// Host copy of a boolean tensor.
pub fn bools(t: Tensor<1, burn::tensor::Bool>) -> Vec<bool> {
    advcomp_attack::ops::host_bool(t)
}

/// Host copy of a float tensor.
pub fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    advcomp_attack::ops::host_f32(t)
}

/// Checks what every attack output must satisfy: the shape of the input,
/// pixels in `[0,1]`, and a success mask equal to re-classifying the
/// adversarial batch with `model`.
pub fn check_output(
    model: &dyn Classifier,
    out: &advcomp_attack::AttackOutput,
    clean: &Tensor<4>,
    labels: &Tensor<1, Int>,
    targets: Option<&Tensor<1, Int>>,
) -> Result<(), String> {
    if out.adversarial.dims() != clean.dims() {
        return Err(format!(
            "shape {:?} != {:?}",
            out.adversarial.dims(),
            clean.dims()
        ));
    }
    let min = out.adversarial.clone().min().into_scalar::<f32>();
    let max = out.adversarial.clone().max().into_scalar::<f32>();
    if !(0.0..=1.0).contains(&min) || !(0.0..=1.0).contains(&max) {
        return Err(format!("pixels in [{min}, {max}]"));
    }
    let predicted = model.predict(out.adversarial.clone());
    let expected = match targets {
        Some(t) => predicted.equal(t.clone()),
        None => predicted.not_equal(labels.clone()),
    };
    let (expected, got) = (bools(expected), bools(out.success.clone()));
    if expected != got {
        return Err(format!(
            "success mask {got:?} but re-classification says {expected:?}"
        ));
    }
    Ok(())
}
