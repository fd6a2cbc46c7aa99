//! Snapshots of trained numbers, one file per CPU class.
//!
//! Trained weights, and every number computed from them, are bit-identical
//! only between machines of one CPU class ([`advcomp_backend::cpu_class`],
//! `docs/testing.md`), so such a snapshot is recorded per class, as
//! `tests/snapshots/<test file>__<name>@<class>.snap`.
//!
//! A machine of a class with no file for a snapshot compares nothing and
//! says so on stderr, instead of failing: nothing the change under test did
//! is wrong there, and the class's numbers can only be recorded on such a
//! machine (`cargo xtask snapshots`, which sets `INSTA_UPDATE=always`). The
//! rest of the test (its structural assertions) still runs. A file is also
//! removed, not kept stale, when a change moves the numbers and no machine
//! of its class is at hand to record them again; `docs/testing.md` lists
//! which classes each snapshot has.

use std::path::Path;

/// Whether a snapshot of trained numbers should be compared (or recorded)
/// on this machine: its class's file exists under `dir`, or insta was told
/// to record (`INSTA_UPDATE=always`). `stem` is `<test file>__<name>`.
pub fn compare(dir: &Path, stem: &str) -> bool {
    let class = advcomp_backend::cpu_class();
    let file = dir.join(format!("{stem}@{class}.snap"));
    if file.is_file() || std::env::var("INSTA_UPDATE").is_ok_and(|v| v == "always") {
        return true;
    }
    eprintln!(
        "note: no snapshot {} is recorded for CPU class {class}: its numbers are not compared \
         on this machine (record them with `cargo xtask snapshots`)",
        file.display()
    );
    false
}

/// Asserts an insta snapshot of trained numbers against this CPU class's
/// file (see the [module docs](crate::snapshots)); on a class with no file
/// it compares nothing and says so.
///
/// `assert_trained_snapshot!("keyed_report", text)` in
/// `crates/advcomp-runner/tests/defences.rs` reads
/// `crates/advcomp-runner/tests/snapshots/defences__keyed_report@<class>.snap`.
#[macro_export]
macro_rules! assert_trained_snapshot {
    ($name:expr, $value:expr) => {{
        let test_file = ::std::path::Path::new(file!())
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a test file name");
        let dir = ::std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
        if $crate::snapshots::compare(&dir, &format!("{test_file}__{}", $name)) {
            ::insta::with_settings!({ snapshot_suffix => ::advcomp_backend::cpu_class() }, {
                ::insta::assert_snapshot!($name, $value);
            });
        }
    }};
}
