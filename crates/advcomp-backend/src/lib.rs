//! Backend selection for advcomp.
//!
//! burn 0.22 carries the backend inside its [`Device`] rather than in a type
//! parameter, so library crates are written once against `burn::Tensor` and the
//! program picks a device once, at its edge (the CLI, a test, a benchmark).
//! This crate is that edge: it maps a user-facing [`BackendKind`] to a device,
//! and turns "not compiled in" and "no such device" into errors instead of the
//! panics burn would raise on first use.
//!
//! Which CPU backend is the default was decided by measurement; see
//! `docs/backends.md`.

use std::fmt;
use std::str::FromStr;

pub use burn::tensor::Device;

/// An execution backend a user can ask for with `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The default CPU backend ([`DEFAULT_CPU`]).
    Cpu,
    /// burn-flex: pure-Rust CPU backend, burn's recommended CPU backend since 0.22.
    Flex,
    /// burn-ndarray: the older pure-Rust CPU backend (deprecated upstream).
    Ndarray,
    /// burn-wgpu: any GPU reachable through Vulkan, Metal or WebGPU.
    Wgpu,
    /// CubeCL CUDA backend for NVIDIA GPUs.
    Cuda,
}

/// The CPU backend that `cpu` resolves to. Chosen by `cargo xtask bench`
/// (LeNet-5 training throughput on 2 cores); the numbers are in `docs/backends.md`.
pub const DEFAULT_CPU: BackendKind = BackendKind::Flex;

impl BackendKind {
    /// Every backend name the CLI accepts, compiled in or not.
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Cpu,
        BackendKind::Flex,
        BackendKind::Ndarray,
        BackendKind::Wgpu,
        BackendKind::Cuda,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    /// The concrete backend: `cpu` resolves to [`DEFAULT_CPU`], others to themselves.
    pub fn resolve(self) -> BackendKind {
        match self {
            BackendKind::Cpu => DEFAULT_CPU,
            other => other,
        }
    }

    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        self.resolve().name()
    }

    /// Whether this build of advcomp includes the backend.
    pub fn is_compiled(self) -> bool {
        match self.resolve() {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
            BackendKind::Cpu => unreachable!("resolve() never returns Cpu"),
        }
    }

    /// Whether the backend runs on the CPU (and so is deterministic for a seed).
    pub fn is_cpu(self) -> bool {
        matches!(self.resolve(), BackendKind::Flex | BackendKind::Ndarray)
    }

    /// The backends compiled into this build.
    pub fn compiled() -> Vec<BackendKind> {
        Self::ALL
            .into_iter()
            .filter(|k| *k != BackendKind::Cpu && k.is_compiled())
            .collect()
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| BackendError::Unknown(s.to_string()))
    }
}

/// Why a backend could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The name is not a backend at all.
    #[error("unknown backend `{0}`; known backends: cpu, flex, ndarray, wgpu, cuda")]
    Unknown(String),
    /// The backend exists but this binary was built without it.
    #[error(
        "backend `{kind}` is not compiled into this build of advcomp; rebuild with \
         `cargo build --release --features {feature}` (compiled in: {compiled})"
    )]
    NotCompiled {
        /// The backend asked for.
        kind: BackendKind,
        /// The cargo feature that would add it.
        feature: &'static str,
        /// The backends this build has.
        compiled: String,
    },
    /// The backend is compiled in but found no usable device.
    #[error("backend `{kind}` found no usable device: {reason}")]
    NoDevice {
        /// The backend asked for.
        kind: BackendKind,
        /// What the runtime reported.
        reason: String,
    },
}

/// Returns the device for `kind`, checked to work.
///
/// GPU devices in burn are lazy and panic on first use when no adapter exists;
/// we run one tiny operation here, inside `catch_unwind`, so that a missing GPU
/// is a [`BackendError::NoDevice`] at start-up rather than a panic mid-run.
pub fn device(kind: BackendKind) -> Result<Device, BackendError> {
    if !kind.is_compiled() {
        return Err(BackendError::NotCompiled {
            kind,
            feature: kind.feature(),
            compiled: BackendKind::compiled()
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let device = raw_device(kind.resolve());
    if !kind.is_cpu() {
        probe(kind, &device)?;
    }
    Ok(device)
}

#[allow(deprecated, unreachable_code, unused_variables)]
fn raw_device(kind: BackendKind) -> Device {
    match kind {
        #[cfg(feature = "flex")]
        BackendKind::Flex => Device::flex(),
        #[cfg(feature = "ndarray")]
        BackendKind::Ndarray => Device::ndarray(),
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => Device::cuda(0),
        // `device` checks `is_compiled` before calling us.
        _ => unreachable!("backend {kind} is not compiled in"),
    }
}

fn probe(kind: BackendKind, device: &Device) -> Result<(), BackendError> {
    let device = device.clone();
    // Silence the default panic message while probing: the error we return says it better.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(move || {
        let t = burn::Tensor::<1>::from_floats([1.0, 2.0], &device);
        t.sum().into_scalar::<f32>()
    });
    std::panic::set_hook(previous);
    match result {
        Ok(v) if (v - 3.0).abs() < 1e-6 => Ok(()),
        Ok(v) => Err(BackendError::NoDevice {
            kind,
            reason: format!("probe computed {v}, expected 3"),
        }),
        Err(payload) => {
            let reason = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the runtime panicked while initialising".into());
            Err(BackendError::NoDevice { kind, reason })
        }
    }
}

/// Whether `device` is burn-flex's (with or without autodiff: burn's device
/// equality ignores it). Lets a library crate take a path measured on
/// burn-flex alone, such as `advcomp-models`' batched first-layer
/// convolution, without naming the backend's feature itself.
pub fn is_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        *device == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// The class of machines that compute bit-identical numbers on the CPU
/// backends: `<isa>-kc<k-block>`, e.g. `avx512-kc1024`.
///
/// Two things decide the last bits of a result. The vector instructions
/// (`isa`), through the SIMD width of burn-flex's element-wise kernels and
/// reductions. And the k-block of the `gemm` crate's matrix products: a
/// product over `k` terms is summed in blocks of `kc` terms, and `gemm`
/// chooses `kc` from the L1 data cache's size and associativity, so two
/// machines with the same instructions but different caches round
/// differently (a 48 KiB 12-way L1d gives `kc` 1024, a 32 KiB 8-way one
/// 512). Found (stop 24) on an AMD EPYC with AVX-512 and a 32 KiB L1d: its
/// keyed-defence snapshot differed from the one recorded on an AVX-512
/// machine with a 48 KiB L1d (FGSM's mean L0 469.988 against 470.176,
/// transfer rates moved by one sample of 83); with the same AMD machine
/// shown a 48 KiB 12-way L1d (its sysfs cache files bind-mounted over),
/// the numbers matched that snapshot exactly. Between ISA classes (stop
/// 16): FGSM's mean L0 464.216 against 464.227, one pixel in about 40,000.
/// Snapshot tests of trained numbers keep one snapshot per class
/// (`snapshot_suffix`), and the test kit's cached models are keyed by it.
pub fn cpu_class() -> String {
    match gemm_k_block() {
        Some(kc) => format!("{}-kc{kc}", isa_class()),
        None => isa_class().to_string(),
    }
}

/// `gemm`'s k-block for f32 products on this machine: what it computes for
/// its AVX2/FMA f32 micro-kernel (16 rows × 6 columns, the kernel it runs
/// on x86-64 without its `x86-v4` feature) and an inner dimension that is
/// a multiple of every block size it picks. `None` when it could not read
/// the caches' sizes (it would then fail on its first product anyway).
fn gemm_k_block() -> Option<usize> {
    let caches = *gemm_common::cache::CACHE_INFO;
    if caches[1].cache_bytes == 0 {
        return None;
    }
    Some(gemm_common::cache::kernel_params(1 << 10, 1 << 10, 1 << 20, 16, 6, 4).kc)
}

/// The vector-instruction part of [`cpu_class`].
fn isa_class() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            "avx512"
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            "avx2"
        } else {
            "x86_64"
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

/// Seeds every random choice burn makes on `device` (weight initialisation, random tensors).
pub fn seed(device: &Device, seed: u64) {
    device.seed(seed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.name().parse::<BackendKind>().unwrap(), kind);
        }
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let err = "tpu".parse::<BackendKind>().unwrap_err().to_string();
        assert!(err.contains("tpu") && err.contains("flex"), "{err}");
    }

    #[test]
    fn cpu_resolves_to_default() {
        assert_eq!(BackendKind::Cpu.resolve(), DEFAULT_CPU);
        assert!(BackendKind::Cpu.is_cpu());
    }

    #[test]
    fn default_cpu_device_works() {
        let device = device(BackendKind::Cpu).expect("default CPU backend is compiled in");
        let t = burn::Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        assert_eq!(t.sum().into_scalar::<f32>(), 6.0);
    }

    #[test]
    fn missing_backend_is_an_error_not_a_panic() {
        for kind in [BackendKind::Wgpu, BackendKind::Cuda] {
            match device(kind) {
                Ok(_) => {} // compiled in and a device exists: nothing to check here
                Err(BackendError::NotCompiled { feature, .. }) => {
                    assert!(!kind.is_compiled());
                    assert_eq!(feature, kind.name());
                }
                Err(BackendError::NoDevice { .. }) => assert!(kind.is_compiled()),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }
}
