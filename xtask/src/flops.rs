//! Floating-point work of a network and the machine's peak, for the
//! benchmarks' "share of peak" column (issue #16).
//!
//! Only the multiply-adds of convolutions and fully connected layers are
//! counted (2 FLOPs each): in LeNet-5 they are all but a fraction of a
//! percent of the arithmetic, and the element-wise rest (ReLU, pooling,
//! normalisation, the optimiser) is bound by memory, not by the FMA units.

use std::cell::RefCell;

use advcomp_models::{Activation, LayerHook, LayerInfo, Network, ParamKind};
use burn::Tensor;

/// Multiply-adds of one image's forward pass, per parametric layer, in
/// forward order.
pub fn forward_macs(network: &Network) -> Vec<(String, u64)> {
    /// Records each layer's output size per image.
    struct Sizes(RefCell<Vec<(usize, u64)>>);
    impl LayerHook for Sizes {
        fn after(&self, layer: &LayerInfo, activation: Activation) -> Activation {
            let dims = activation.dims();
            let per_image: usize = dims[1..].iter().product();
            self.0.borrow_mut().push((layer.index, per_image as u64));
            activation
        }
    }
    let [c, h, w] = network.architecture().input_shape();
    let probe = Tensor::<4>::zeros([1, c, h, w], &network.device());
    let sizes = Sizes(RefCell::new(Vec::new()));
    let _ = network.forward_hooked(probe, &sizes);
    let sizes = sizes.0.into_inner();
    network
        .param_infos()
        .into_iter()
        .filter(|p| p.kind == ParamKind::Weight)
        .map(|p| {
            // Every output value of a convolution or a linear layer is one
            // dot product over the weights feeding one output channel.
            let per_output = p.shape.iter().product::<usize>() as u64 / out_channels(&p.shape);
            let outputs = sizes
                .iter()
                .find(|(index, _)| *index == p.layer_index)
                .map_or(0, |(_, n)| *n);
            (p.layer, outputs * per_output)
        })
        .collect()
}

/// Output channels of a weight: `[out, in, kh, kw]` for convolutions,
/// `[in, out]` for linear layers.
fn out_channels(shape: &[usize]) -> u64 {
    match shape {
        [out, _, _, _] => *out as u64,
        [_, out] => *out as u64,
        _ => 1,
    }
}

/// FLOPs of one image's training step: the forward pass, the weights'
/// gradients (as much again) and the inputs' gradients of every layer but
/// the first (the images need none).
pub fn training_flops(macs: &[(String, u64)]) -> f64 {
    let forward: u64 = macs.iter().map(|(_, m)| m).sum();
    let first = macs.first().map_or(0, |(_, m)| *m);
    2.0 * (3 * forward - first) as f64
}

/// FLOPs of one gradient step of an attack on one image: the forward pass
/// and the inputs' gradients of every layer (the weights need none).
pub fn attack_step_flops(macs: &[(String, u64)]) -> f64 {
    let forward: u64 = macs.iter().map(|(_, m)| m).sum();
    2.0 * (2 * forward) as f64
}

/// FLOPs of one image's forward pass.
pub fn forward_flops(macs: &[(String, u64)]) -> f64 {
    2.0 * macs.iter().map(|(_, m)| m).sum::<u64>() as f64
}

/// The machine's FP32 peak as this process sees it, and how it was worked
/// out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Peak {
    pub cores: usize,
    pub ghz: f64,
    pub flops_per_cycle_per_core: u32,
    pub flops_per_second: f64,
    pub how: String,
}

/// `cores × clock × FLOPs per cycle`, with FLOPs per cycle = 2 (an FMA) ×
/// f32 lanes × 2 FMA pipes. Lanes: 16 with AVX-512 on Intel, 8 with AVX2
/// and FMA, and 8 on AMD even with AVX-512 (Zen 4 runs a 512-bit FMA as two
/// 256-bit halves), 4 otherwise. The clock is `/proc/cpuinfo`'s `cpu MHz`,
/// which in a virtual machine is the nominal clock, not the boost clock: the
/// share of peak is therefore an upper estimate of the share of the real
/// peak.
pub fn peak() -> Peak {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
    };
    let mhz: f64 = field("cpu MHz").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let intel = field("vendor_id").is_some_and(|v| v == "GenuineIntel");
    let (lanes, isa) = lanes(intel);
    let per_cycle = 2 * lanes * 2;
    Peak {
        cores,
        ghz: mhz / 1000.0,
        flops_per_cycle_per_core: per_cycle,
        flops_per_second: cores as f64 * mhz * 1e6 * f64::from(per_cycle),
        how: format!(
            "{cores} cores x {:.2} GHz x {per_cycle} FLOP/cycle ({isa}: 2 FMA pipes x {lanes} f32 lanes x 2)",
            mhz / 1000.0
        ),
    }
}

#[cfg(target_arch = "x86_64")]
fn lanes(intel: bool) -> (u32, &'static str) {
    if std::arch::is_x86_feature_detected!("avx512f") {
        if intel {
            (16, "AVX-512")
        } else {
            (8, "AVX-512 on AMD, 256-bit FMA units")
        }
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        (8, "AVX2+FMA")
    } else {
        (4, "SSE")
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn lanes(_intel: bool) -> (u32, &'static str) {
    (4, "128-bit SIMD")
}
