//! Traceback with the Taboo Trap: four keyed LeNet-5s, each trained
//! independently from its own seed and then hardened with its own key (as the
//! scenario runner trains one model per key). A statistical measurement:
//! `cargo xtask measure` runs it and writes `docs/measured/taboo-traceback.md`.

mod support;

use advcomp_defence::{Defence, Hardening, Key, TabooConfig, TabooTrap};
use advcomp_models::Network;
use advcomp_testkit::*;
use support::*;

const KEYS: [&str; 4] = ["north", "east", "south", "west"];

#[test]
#[ignore = "statistical measurement (minutes): cargo xtask measure"]
fn measure_taboo_traceback() {
    let models: Vec<(Network, TabooTrap)> = KEYS
        .iter()
        .enumerate()
        .map(|(k, key)| {
            let base = lenet_seeded(101 + k as u64);
            let mut trap = TabooTrap::new(Key::from_passphrase(key), TabooConfig::default(), &base);
            let network = trap
                .harden_with(
                    base,
                    &train(2000),
                    &train(8000),
                    &finetune(11 + k as u64),
                    &cpu(),
                )
                .expect("fine-tuning runs");
            (network, trap)
        })
        .collect();
    let suspects: Vec<(&Network, &dyn Defence)> =
        models.iter().map(|(n, t)| (n, t as &dyn Defence)).collect();
    measure_traceback(
        "taboo-traceback",
        "Taboo Trap: cross-key detection and traceback, four keys",
        "Four Taboo-trapped LeNet-5s, keys \"north\", \"east\", \"south\" and \"west\", each hardened \
         from its own independently trained base (seeds 101–104).",
        &suspects,
    );
}
