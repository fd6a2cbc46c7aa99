//! Diagnostics: what went wrong, where (`file:line:col` and a labelled
//! span), and how to fix it, rendered with miette.
//!
//! A [`Diagnostic`] owns a handle on its source text so that it can be
//! rendered (or returned through `miette::Report`) long after parsing.
//! [`Diagnostics`] is the error type of [`parse`](crate::parse()) and
//! [`check`](crate::check()): every problem found, not just the first.
//!
//! Output stays proportionate to the mistake, not to the input: a value
//! echoed in a message is cut to [`MAX_QUOTED`] characters (with its
//! length), a message to [`MAX_MESSAGE`], and a rendered source line to
//! [`MAX_SNIPPET_LINE`]. Without that, one bad 5 MB string printed 27 MB.

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};
use serde::{Deserialize, Serialize};

use crate::span::{SourceFile, Span};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    /// The scenario cannot run.
    Error,
    /// The scenario runs, but probably not as meant.
    Warning,
}

/// One problem in a scenario, located in its source text.
#[derive(Clone)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, without the location (`unknown attack `fgsn``).
    pub message: String,
    /// The characters at fault (may be empty: a position such as end of file).
    pub span: Span,
    /// The label under the primary span.
    pub label: String,
    /// Further places worth showing (the first of two duplicates, an unclosed `{`).
    pub related: Vec<(Span, String)>,
    /// How to fix it, when we can tell (`did you mean `fgsm`?`).
    pub help: Option<String>,
    /// The file name, as given to `parse`.
    pub file: String,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column (in characters) of `span.start`.
    pub col: usize,
    source: NamedSource<SourceFileText>,
}

/// The source text as miette sees it (a cheap `Arc` clone).
#[derive(Clone)]
struct SourceFileText(Arc<str>);

/// Longest run of characters between backticks kept in a message or label;
/// longer quotes (an echoed value or name) are cut with `…` and their
/// length added.
pub const MAX_QUOTED: usize = 60;
/// Longest message, label or help kept, in characters, whatever it holds.
pub const MAX_MESSAGE: usize = 1000;
/// Longest source line shown in a rendered snippet, in characters; longer
/// lines are cut with `…` (the location in the first line stays exact).
pub const MAX_SNIPPET_LINE: usize = 240;

/// `text` cut to `max` characters with `…` and the full length, if longer.
fn cut(text: &str, max: usize) -> Option<String> {
    let (end, _) = text.char_indices().nth(max)?;
    Some(format!(
        "{}… ({} characters)",
        &text[..end],
        text.chars().count()
    ))
}

/// A message or label with every `` `quoted` `` run longer than
/// [`MAX_QUOTED`] characters cut (`` `aaa…` (5000000 characters) ``), then
/// the whole cut to [`MAX_MESSAGE`].
fn clip_quotes(text: String) -> String {
    if text.len() <= MAX_QUOTED {
        return text;
    }
    let pieces: Vec<&str> = text.split('`').collect();
    let mut out = String::new();
    let mut length_note = None;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        if let Some(n) = length_note.take() {
            out.push_str(&format!(" ({n} characters)"));
        }
        // Odd pieces are between backticks, if a closing one follows.
        let quoted = i % 2 == 1 && i + 1 < pieces.len();
        match piece.char_indices().nth(MAX_QUOTED) {
            Some((end, _)) if quoted => {
                out.push_str(&piece[..end]);
                out.push('…');
                length_note = Some(piece.chars().count());
            }
            _ => out.push_str(piece),
        }
    }
    clip_all(out)
}

/// `text` cut to [`MAX_MESSAGE`] characters.
fn clip_all(text: String) -> String {
    cut(&text, MAX_MESSAGE).unwrap_or(text)
}

impl SourceCode for SourceFileText {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        (*self.0).read_span(span, context_lines_before, context_lines_after)
    }
}

impl Diagnostic {
    /// An error at `span` of `source`.
    pub fn error(source: &SourceFile, span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, source, span, message)
    }

    /// A warning at `span` of `source`.
    pub fn warning(source: &SourceFile, span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, source, span, message)
    }

    fn new(
        severity: Severity,
        source: &SourceFile,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        let span = source.clamp(span);
        let (line, col) = source.line_col(span.start);
        Diagnostic {
            severity,
            message: clip_quotes(message.into()),
            span,
            label: "here".to_string(),
            related: Vec::new(),
            help: None,
            file: source.name.clone(),
            line,
            col,
            source: NamedSource::new(&source.name, SourceFileText(source.text.clone())),
        }
    }

    /// Replaces the primary label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = clip_quotes(label.into());
        self
    }

    /// Adds a secondary labelled span.
    pub fn with(mut self, source: &SourceFile, span: Span, label: impl Into<String>) -> Self {
        self.related
            .push((source.clamp(span), clip_quotes(label.into())));
        self
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(clip_all(help.into()));
        self
    }

    /// Sets the help line if `help` is `Some`.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help.map(clip_all);
        }
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// This diagnostic over a copy of its source whose lines longer than
    /// [`MAX_SNIPPET_LINE`] characters are cut with `…`, spans moved to
    /// match; `None` when no line is that long (the usual case). miette
    /// prints every line a snippet touches in full, and underlines it.
    fn with_short_lines(&self) -> Option<Diagnostic> {
        let text = &*self.source.inner().0;
        // (original start, original end of what is kept, new start) per line.
        let mut lines: Vec<(usize, usize, usize)> = Vec::new();
        let mut short = String::new();
        let mut cut_any = false;
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let body = line.trim_end_matches(['\n', '\r']);
            let kept = match body.char_indices().nth(MAX_SNIPPET_LINE) {
                Some((end, _)) => {
                    cut_any = true;
                    end
                }
                None => line.len(),
            };
            lines.push((start, start + kept, short.len()));
            short.push_str(&line[..kept]);
            if kept < line.len() {
                short.push('…');
                short.push_str(&line[body.len()..]);
            }
            start += line.len();
        }
        if !cut_any {
            return None;
        }
        // An offset in a cut part lands on the `…` (a start) or after it (an end).
        let map = |offset: usize, is_end: bool| -> usize {
            let i = lines
                .partition_point(|&(s, _, _)| s <= offset)
                .saturating_sub(1);
            let Some(&(s, kept_end, new_start)) = lines.get(i) else {
                return short.len();
            };
            if offset <= kept_end {
                new_start + (offset - s)
            } else {
                new_start + (kept_end - s) + if is_end { '…'.len_utf8() } else { 0 }
            }
        };
        let span = |sp: Span| Span::new(map(sp.start, false), map(sp.end, true));
        let mut d = self.clone();
        d.span = span(self.span);
        for (sp, _) in &mut d.related {
            *sp = span(*sp);
        }
        d.source = NamedSource::new(
            self.source.name(),
            SourceFileText(Arc::from(short.as_str())),
        );
        Some(d)
    }
}

impl fmt::Debug for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostic")
            .field("severity", &self.severity)
            .field(
                "at",
                &format_args!("{}:{}:{}", self.file, self.line, self.col),
            )
            .field("message", &self.message)
            .field("span", &self.span)
            .field("help", &self.help)
            .finish()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = LabeledSpan::new_primary_with_span(
            Some(self.label.clone()),
            (self.span.start, self.span.len()),
        );
        let others = self
            .related
            .iter()
            .map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), (s.start, s.len())));
        Some(Box::new(std::iter::once(primary).chain(others)))
    }
}

/// Every diagnostic found in one scenario, in source order.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

/// Width that rendered reports wrap at, fixed so that output (and snapshots)
/// do not depend on the terminal.
pub const RENDER_WIDTH: usize = 100;

impl Diagnostics {
    /// No diagnostics yet.
    pub fn new() -> Self {
        Diagnostics::default()
    }

    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Adds all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// The diagnostics, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Sorts by position (stable, so same-place diagnostics keep their order)
    /// and drops exact repeats (the same problem found in several sweep
    /// instances is reported once).
    pub fn sort_dedup(&mut self) {
        self.items.sort_by_key(|d| d.span.start);
        let mut seen = std::collections::HashSet::new();
        self.items
            .retain(|d| seen.insert((d.span, d.message.clone())));
    }

    /// The diagnostics, owned.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }

    /// All diagnostics rendered by miette's graphical handler, wrapped at
    /// [`RENDER_WIDTH`] columns: with ANSI colours if `color`, else plain
    /// Unicode (stable, used by the snapshot tests).
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(RENDER_WIDTH);
        let mut out = String::new();
        for d in &self.items {
            let short = d.with_short_lines();
            let d = short.as_ref().unwrap_or(d);
            let mut one = String::new();
            if handler.render_report(&mut one, d).is_err() {
                one = format!("{d}\n");
            }
            out.push_str(&one);
        }
        out
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics { items: vec![d] }
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(items: Vec<Diagnostic>) -> Self {
        Diagnostics { items }
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.items.split_first() {
            None => write!(f, "no problems"),
            Some((first, [])) => write!(f, "{first}"),
            Some((first, rest)) => write!(f, "{first} (and {} more)", rest.len()),
        }
    }
}

impl std::error::Error for Diagnostics {}

/// Reported as its first diagnostic, with the others as `related`, so that
/// `miette::Report::new(diagnostics)` shows every one with its snippet.
impl miette::Diagnostic for Diagnostics {
    fn severity(&self) -> Option<miette::Severity> {
        self.items.first().and_then(miette::Diagnostic::severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.items.first().and_then(miette::Diagnostic::help)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.items.first().and_then(miette::Diagnostic::source_code)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.items.first().and_then(miette::Diagnostic::labels)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.items.len() < 2 {
            return None;
        }
        Some(Box::new(
            self.items[1..].iter().map(|d| d as &dyn miette::Diagnostic),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quotes_are_cut_with_their_length() {
        let long = "x".repeat(100);
        assert_eq!(
            clip_quotes(format!("unknown backend `{long}`, sorry")),
            format!(
                "unknown backend `{}…` (100 characters), sorry",
                "x".repeat(60)
            )
        );
        // Short quotes, and text outside quotes, are kept.
        let ok = format!("`a` and `b` {long}");
        assert_eq!(clip_quotes(ok.clone()), ok);
        // An unpaired backtick quotes nothing.
        let open = format!("a ` {long}");
        assert_eq!(clip_quotes(open.clone()), open);
    }

    #[test]
    fn any_long_message_is_capped() {
        for text in ["`".repeat(5000), "y".repeat(5000), "é".repeat(5000)] {
            let clipped = clip_quotes(text);
            assert!(clipped.chars().count() < MAX_MESSAGE + 30, "{clipped}");
            assert!(clipped.ends_with("… (5000 characters)"), "{clipped}");
        }
    }

    #[test]
    fn long_lines_are_cut_in_snippets_and_spans_follow() {
        let text = format!("a = \"{}\"\nb = 1\n", "é".repeat(1000));
        let src = SourceFile::new("x.scn", &text);
        let b = text.find("b =").unwrap();
        let d = Diagnostic::error(&src, Span::new(4, text.len()), "whole").with(
            &src,
            Span::new(b, b + 1),
            "b",
        );
        let short = d.with_short_lines().expect("a line is too long");
        let short_text = &*short.source.inner().0;
        assert!(short_text.len() < 600, "{}", short_text.len());
        assert_eq!(&short_text[short.related[0].0.start..][..1], "b");
        assert_eq!(short.span.end, short_text.len());
        assert!(Diagnostics::from(d).render(false).len() < 3000);
        let plain = Diagnostic::error(&src, Span::new(0, 1), "short");
        let src2 = SourceFile::new("y.scn", "a = 1\n");
        assert!(plain.with_short_lines().is_some());
        assert!(
            Diagnostic::error(&src2, Span::new(0, 1), "x")
                .with_short_lines()
                .is_none()
        );
    }
}
