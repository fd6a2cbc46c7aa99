//! Every plugin crate, linked.
//!
//! advcomp's components register themselves with `inventory` (attacks today:
//! `advcomp_attack::Registration`), and a registration exists only in a
//! binary that links its crate. This crate links every crate named in its
//! manifest's `[dependencies]` (its build script writes the `use … as _;`
//! lines), so the CLI, `xtask` and the tests link one crate — this one —
//! and a new plugin is added by one line in `crates/advcomp-plugins/Cargo.toml`,
//! without editing any other advcomp crate. See `docs/plugins.md`.
//!
//! A binary links the plugins with `use advcomp_plugins as _;`.

include!(concat!(env!("OUT_DIR"), "/linked.rs"));

#[cfg(test)]
mod tests {
    use super::LINKED;

    /// Every crate under `crates/plugins/` is in the manifest: a plugin
    /// that is written but not listed would be silently missing from the
    /// binary.
    #[test]
    fn every_plugin_crate_is_linked() {
        let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        let mut on_disk: Vec<String> = std::fs::read_dir(&plugins)
            .expect("crates/plugins is readable")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut linked: Vec<String> = LINKED.iter().map(|s| s.to_string()).collect();
        linked.sort();
        assert_eq!(
            linked, on_disk,
            "crates/plugins/* and the [dependencies] of crates/advcomp-plugins/Cargo.toml must list the same crates"
        );
    }

    /// What linking brings in: every registry entry a plugin adds is found
    /// (the attack registry lists the Square plugin's attack, the compressor
    /// registry the low-bit plugin's quantisers and the N:M pruning, the defence registry
    /// feature squeezing), every linked registration of the four kinds
    /// (architectures too), plugins included, is declared well (attacks,
    /// compressors and defences declare exactly their parameters), and no
    /// name is claimed twice.
    #[test]
    fn the_plugins_registrations_are_present_and_well_declared() {
        let all = advcomp_attack::registrations();
        let names: Vec<&str> = all.iter().map(|r| r.name).collect();
        assert!(names.contains(&"square"), "{names:?}");
        for r in all {
            let problems = r.declaration_problems();
            assert!(problems.is_empty(), "{}: {problems:?}", r.name);
        }
        let compressors = advcomp_compress::registry::registrations();
        let titles: Vec<String> = compressors.iter().map(|r| r.title()).collect();
        for plugin in ["quantise ternary", "quantise binary", "prune nm"] {
            assert!(titles.iter().any(|t| t == plugin), "{titles:?}");
        }
        for r in compressors {
            let problems = r.declaration_problems();
            assert!(problems.is_empty(), "{}: {problems:?}", r.title());
        }
        assert!(
            advcomp_compress::registry::duplicates().is_empty(),
            "{:?}",
            advcomp_compress::registry::duplicates()
        );
        let defences = advcomp_defence::registry::registrations();
        let names: Vec<&str> = defences.iter().map(|r| r.name).collect();
        assert!(names.contains(&"squeeze"), "{names:?}");
        for r in defences {
            let problems = r.declaration_problems();
            assert!(problems.is_empty(), "{}: {problems:?}", r.name);
        }
        assert!(
            advcomp_defence::registry::duplicates().is_empty(),
            "{:?}",
            advcomp_defence::registry::duplicates()
        );
        for r in advcomp_models::architecture::registrations() {
            let problems = r.declaration_problems();
            assert!(problems.is_empty(), "{}: {problems:?}", r.name);
        }
        assert!(
            advcomp_models::architecture::duplicates().is_empty(),
            "{:?}",
            advcomp_models::architecture::duplicates()
        );
    }
}
