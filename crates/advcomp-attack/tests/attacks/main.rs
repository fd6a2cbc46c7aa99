//! Integration tests of the attacks on real MNIST digits and a quickly
//! trained LeNet-5 (trained once for the whole binary).

mod support;

mod bounds;
mod cifarnet;
mod decision;
mod effect;
mod ensemble;
mod errors;
mod exact;
mod family;
mod registry;
mod targets;
