//! Tables that statistical measurements write for the docs.
//!
//! Detection rates, traceback accuracies and the like are measurements, not
//! contracts: they move with the trained model, take minutes, and a bound
//! on them is a judgement about a finding rather than a property of code.
//! Such tests are named `measure_…` and `#[ignore]`d, so `cargo test`
//! skips them; `cargo xtask measure` runs them one at a time and each one
//! writes its table to `docs/measured/<name>.md` through [`Table`], which
//! is where the docs' numbers come from. A test still asserts the finding
//! it measures, so a measurement run that no longer supports the docs'
//! claim fails.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The environment variable `cargo xtask measure` sets to the directory the
/// tables go to. Unset (a by-hand `cargo test -- --ignored`), tables are
/// only printed.
pub const DIR_VAR: &str = "ADVCOMP_MEASURED_DIR";

/// One measured table: a title, what was measured and how, a header and
/// rows of already formatted cells.
#[derive(Debug)]
pub struct Table {
    name: String,
    title: String,
    method: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table that will be written to `docs/measured/<name>.md`. `method`
    /// says what was measured on what (models, data, attack settings), in
    /// a sentence or two of Markdown.
    pub fn new(name: &str, title: &str, method: &str, header: &[&str]) -> Self {
        Self {
            name: name.to_string(),
            title: title.to_string(),
            method: method.to_string(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per header column.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        assert_eq!(
            cells.len(),
            self.header.len(),
            "a row of {} cells in a table of {} columns",
            cells.len(),
            self.header.len()
        );
        self.rows.push(cells);
        self
    }

    /// The table as a Markdown document.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<!-- Written by `cargo xtask measure` (table `{}`); edits are overwritten. -->",
            self.name
        );
        let _ = writeln!(out, "# {}\n", self.title);
        let _ = writeln!(out, "{}\n", self.method.trim());
        let _ = writeln!(
            out,
            "Measured on the default CPU backend, CPU class `{}` (numbers can differ in the last digits on another class: see docs/testing.md).\n",
            advcomp_backend::cpu_class()
        );
        let _ = writeln!(out, "| {} |", self.header.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(self.header.len()));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }

    /// Prints the table and, under `cargo xtask measure`, writes it
    /// (atomically) into the docs.
    pub fn write(&self) {
        let text = self.to_markdown();
        eprintln!("{text}");
        let Some(dir) = std::env::var_os(DIR_VAR).map(PathBuf::from) else {
            return;
        };
        let path = dir.join(format!("{}.md", self.name));
        std::fs::create_dir_all(&dir)
            .and_then(|()| advcomp_models::checkpoint::write_atomic(&path, text.as_bytes()))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// `x` as a percentage with one decimal, e.g. `93.4%`.
pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}
