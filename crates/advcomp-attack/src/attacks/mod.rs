//! The built-in attacks, one module each, each citing its paper and stating
//! its defaults. Each registers itself by name with the [registry](crate::registry).

pub mod adaptive;
pub mod apgd;
pub mod autoattack;
pub mod boundary;
pub mod cw;
mod decision;
pub mod deepfool;
pub mod fgsm;
pub mod hsj;
pub mod ifgsm;
pub mod jsma;
pub mod mifgsm;
pub mod pgd;
pub mod transfer;

pub use adaptive::{AdaptivePgd, AdaptivePgdConfig};
pub use apgd::{Apgd, ApgdConfig, ApgdLoss};
pub use autoattack::{AutoAttack, AutoAttackConfig};
pub use boundary::{Boundary, BoundaryConfig};
pub use cw::{CarliniWagner, CwConfig};
pub use deepfool::{DeepFool, DeepFoolConfig};
pub use fgsm::FgsmConfig;
pub use hsj::{HopSkipJump, HopSkipJumpConfig};
pub use ifgsm::IfgsmConfig;
pub use jsma::{Jsma, JsmaConfig};
pub use mifgsm::MifgsmConfig;
pub use pgd::{IfgmConfig, PgdConfig, PgdL2Config};
pub use transfer::{DiFgsmConfig, NiFgsmConfig, TiFgsmConfig, VmiFgsmConfig};
