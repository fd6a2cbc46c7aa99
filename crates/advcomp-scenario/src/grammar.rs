//! The pest parser generated from `grammar/scenario.pest` (the grammar file
//! users read). [`Rule`] has one variant per named rule of that file.
//!
//! Public so that tests (and tools) can run any single rule:
//! `ScenarioParser::parse(Rule::params, "{ a: 1 }")`.

// The `Rule` enum and its helpers are generated; each rule's doc comment
// comes from the grammar file, the generated helpers have none.
#![allow(missing_docs)]

/// The generated parser; use it through `pest::Parser::parse`.
#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/scenario.pest"]
pub struct ScenarioParser;
