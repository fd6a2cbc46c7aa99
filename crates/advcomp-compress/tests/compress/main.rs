//! Compressor tests on real MNIST digits and a quickly trained LeNet-5.

mod support;

mod cifarnet;
mod finetuning;
mod gradients;
mod persistence;
mod properties;
mod sidecar_fuzz;
