//! Byte ranges into the source text and their `line:col` positions.
//!
//! Every AST node carries a [`Span`] so that a diagnostic found long after
//! parsing (an unknown parameter, a cycle of variants) can still point at the
//! exact characters at fault.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A half-open byte range `start..end` into the scenario's source text.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The range `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span covers no byte (a position, e.g. end of file).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl From<pest::Span<'_>> for Span {
    fn from(s: pest::Span<'_>) -> Self {
        Span::new(s.start(), s.end())
    }
}

/// A scenario's text and the name it is reported under.
///
/// Shared (`Arc`) because every diagnostic keeps a handle on it for
/// rendering source snippets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceFile {
    /// The file name shown in diagnostics (`scenarios/smoke.scn`).
    pub name: String,
    /// The full text.
    pub text: Arc<str>,
}

impl SourceFile {
    /// A source named `name` holding `text`.
    pub fn new(name: &str, text: &str) -> Self {
        SourceFile {
            name: name.to_string(),
            text: Arc::from(text),
        }
    }

    /// 1-based `(line, column)` of byte `offset`; columns count characters.
    /// Offsets past the end (or inside a character) are clamped, never a panic.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.text, offset)
    }

    /// `span` clamped to the text and widened to character boundaries, so
    /// that it is always safe to slice and to render.
    pub fn clamp(&self, span: Span) -> Span {
        let text = &*self.text;
        let fix = |mut i: usize| {
            i = i.min(text.len());
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let start = fix(span.start);
        let end = fix(span.end.max(span.start)).max(start);
        Span::new(start, end)
    }
}

/// 1-based `(line, column)` of byte `offset` in `text` (columns in characters).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 1), (1, 2));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4)); // after the two-byte é
        assert_eq!(line_col(t, 100), (3, 2));
        assert_eq!(line_col(t, 6), (2, 3)); // inside é: clamped back
    }

    #[test]
    fn clamp_stays_on_char_boundaries() {
        let s = SourceFile::new("x", "é");
        assert_eq!(s.clamp(Span::new(1, 5)), Span::new(0, 2));
    }
}
