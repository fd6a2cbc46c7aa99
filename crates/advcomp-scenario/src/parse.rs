//! Text → [`Scenario`]: runs the pest parser, converts its pairs into the
//! typed tree, recovers comments from the text between statements, and
//! turns pest errors into diagnostics that say what was expected in words.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::ast::*;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::grammar::{Rule, ScenarioParser};
use crate::lex;
use crate::span::{SourceFile, Span};

/// Parses `source` (reported as `file_name` in diagnostics) into a syntax
/// tree. Only syntax is checked here; names, types and the catalog are
/// [`check`](crate::check())'s business. Never panics.
///
/// A UTF-8 byte order mark at the start (which some Windows editors write)
/// is skipped: it is not part of the scenario, and refusing it would point
/// at an invisible character. Spans, and so `line:col`, count from after it.
pub fn parse(source: &str, file_name: &str) -> Result<Scenario, Diagnostics> {
    let source = source.strip_prefix(BOM).unwrap_or(source);
    let src = SourceFile::new(file_name, source);
    let pre = lex::prescan(&src);
    if !pre.is_empty() {
        return Err(pre.into());
    }
    let root = match ScenarioParser::parse(Rule::scenario, source) {
        Ok(mut pairs) => pairs.next(),
        Err(e) => return Err(syntax_error(&src, &e).into()),
    };
    let mut b = Builder {
        src: &src,
        errors: Diagnostics::new(),
    };
    let mut statements = Vec::new();
    for pair in root.into_iter().flat_map(Pair::into_inner) {
        if pair.as_rule() != Rule::EOI {
            statements.push(b.statement(pair));
        }
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    let trailing = attach_trivia(source, &mut statements);
    // Comments above a blank line before the first statement are the
    // file's header, not that statement's.
    let mut header = Vec::new();
    if let Some(first) = statements.first_mut()
        && let Some(last_blank) = first.leading.iter().rposition(|t| *t == Trivia::Blank)
    {
        header = first.leading.drain(..=last_blank).collect();
        header.pop();
    }
    Ok(Scenario {
        source: src,
        header,
        statements,
        trailing,
    })
}

/// The byte order mark, U+FEFF, as UTF-8 writes it at the start of a file.
const BOM: char = '\u{FEFF}';

struct Builder<'a> {
    src: &'a SourceFile,
    errors: Diagnostics,
}

/// Keywords and punctuation: present in the tree for error messages only.
fn is_token(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::eq
            | Rule::colon
            | Rule::comma
            | Rule::pipe
            | Rule::arrow
            | Rule::lbrace
            | Rule::rbrace
            | Rule::lbracket
            | Rule::rbracket
            | Rule::quote
            | Rule::kw_model
            | Rule::kw_variant
            | Rule::kw_ensemble
            | Rule::kw_attack
            | Rule::kw_transfer
            | Rule::kw_using
            | Rule::kw_defend
            | Rule::kw_prune
            | Rule::kw_quantise
            | Rule::kw_finetune
            | Rule::kw_expect
            | Rule::kw_along
            | Rule::lparen
            | Rule::rparen
    )
}

/// The children that carry meaning.
fn parts(pair: Pair<'_, Rule>) -> Vec<Pair<'_, Rule>> {
    pair.into_inner()
        .filter(|p| !is_token(p.as_rule()))
        .collect()
}

impl Builder<'_> {
    /// A compound node's span, without the whitespace and comments pest
    /// may have consumed after its last token.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(
            s.start(),
            lex::significant_end(&self.src.text, s.start(), s.end()),
        )
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: pair.as_span().into(),
        }
    }

    fn statement(&mut self, pair: Pair<'_, Rule>) -> Statement {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let p = parts(pair);
        let kind = match rule {
            Rule::setting => StatementKind::Setting(Setting {
                key: self.ident(&p[0]),
                value: self.value(p[1].clone()),
            }),
            Rule::model_decl => {
                let name = self.ident(&p[0]);
                let arch = self.ident(&p[1]);
                let mut params = Params {
                    entries: vec![],
                    span: Span::new(arch.span.end, arch.span.end),
                };
                let mut defence = None;
                for extra in p.into_iter().skip(2) {
                    match extra.as_rule() {
                        Rule::params => params = self.params(extra),
                        _ => defence = Some(self.method(extra)),
                    }
                }
                StatementKind::Model(ModelDecl {
                    name,
                    arch,
                    params,
                    defence,
                })
            }
            Rule::variant_decl => {
                let name = self.ident(&p[0]);
                let parent = self.ident(&p[1]);
                let steps = p.into_iter().skip(2).map(|s| self.step(s)).collect();
                StatementKind::Variant(VariantDecl {
                    name,
                    parent,
                    steps,
                })
            }
            Rule::ensemble_decl => {
                // ensemble_decl = kw_ensemble ~ name ~ eq ~ lbrace ~ name_list ~ rbrace
                let name = self.ident(&p[0]);
                let members = parts(p[1].clone()).iter().map(|n| self.ident(n)).collect();
                StatementKind::Ensemble(EnsembleDecl { name, members })
            }
            Rule::attack_decl => {
                let name = self.ident(&p[0]);
                let attack = self.ident(&p[1]);
                let params = match p.get(2) {
                    Some(x) => self.params(x.clone()),
                    None => Params {
                        entries: vec![],
                        span: Span::new(attack.span.end, attack.span.end),
                    },
                };
                StatementKind::Attack(AttackDecl {
                    name,
                    attack,
                    params,
                })
            }
            Rule::expect_decl => {
                // expect_decl = kw_expect ~ (trend | comparison)
                StatementKind::Expect(self.claim(p[0].clone()))
            }
            _ => {
                // transfer_decl: name_list, name_list, attack_list
                let names = |b: &Self, l: &Pair<'_, Rule>| {
                    parts(l.clone())
                        .iter()
                        .map(|n| b.ident(n))
                        .collect::<Vec<_>>()
                };
                let sources = names(self, &p[0]);
                let targets = names(self, &p[1]);
                let items: Vec<_> = p[2]
                    .clone()
                    .into_inner()
                    .filter(|i| i.as_rule() != Rule::comma)
                    .collect();
                let attacks = match items.first() {
                    Some(all) if all.as_rule() == Rule::kw_all => {
                        AttackRefs::All(all.as_span().into())
                    }
                    _ => AttackRefs::Named(items.iter().map(|i| self.ident(i)).collect()),
                };
                StatementKind::Transfer(TransferDecl {
                    sources,
                    targets,
                    attacks,
                })
            }
        };
        Statement {
            kind,
            span,
            leading: Vec::new(),
            trailing: None,
        }
    }

    /// `defend NAME {params}` (on a model or as a step).
    fn method(&mut self, pair: Pair<'_, Rule>) -> Method {
        let span = self.span(&pair);
        let p = parts(pair);
        let name = self.ident(&p[0]);
        let params = match p.get(1) {
            Some(x) => self.params(x.clone()),
            None => Params {
                entries: vec![],
                span: Span::new(name.span.end, name.span.end),
            },
        };
        Method { name, params, span }
    }

    fn step(&mut self, pair: Pair<'_, Rule>) -> StageDecl {
        // step = pipe ~ (prune_step | quantise_step | finetune_step | defence)
        let inner = parts(pair).remove(0);
        let span = self.span(&inner);
        let op = match inner.as_rule() {
            Rule::prune_step => StageOp::Prune,
            Rule::quantise_step => StageOp::Quantise,
            Rule::finetune_step => StageOp::Finetune,
            _ => StageOp::Defend,
        };
        let keyword_end = inner
            .clone()
            .into_inner()
            .next()
            .map_or(span.start, |k| k.as_span().end());
        let mut method = None;
        let mut params = None;
        for x in parts(inner) {
            match x.as_rule() {
                Rule::params => params = Some(self.params(x)),
                _ => method = Some(self.ident(&x)),
            }
        }
        let end = method.as_ref().map_or(keyword_end, |m| m.span.end);
        let params = params.unwrap_or(Params {
            entries: vec![],
            span: Span::new(end, end),
        });
        StageDecl {
            op,
            method,
            params,
            span,
        }
    }

    fn claim(&mut self, pair: Pair<'_, Rule>) -> ExpectDecl {
        let rule = pair.as_rule();
        let p = parts(pair);
        if rule == Rule::trend {
            // trend = metric ~ direction ~ kw_along ~ axis ~ params?
            let axis = self.ident(&p[2]);
            let params = match p.get(3) {
                Some(x) => self.params(x.clone()),
                None => Params {
                    entries: vec![],
                    span: Span::new(axis.span.end, axis.span.end),
                },
            };
            return ExpectDecl::Trend {
                metric: self.metric(p[0].clone()),
                direction: if p[1].as_str() == "increasing" {
                    Direction::Increasing
                } else {
                    Direction::Decreasing
                },
                direction_span: p[1].as_span().into(),
                axis,
                params,
            };
        }
        // comparison = operand ~ cmp_op ~ operand
        let op = match p[1].as_str() {
            ">" => CmpOp::Gt,
            "<" => CmpOp::Lt,
            ">=" => CmpOp::Ge,
            _ => CmpOp::Le,
        };
        ExpectDecl::Compare {
            left: self.operand(p[0].clone()),
            op,
            op_span: p[1].as_span().into(),
            right: self.operand(p[2].clone()),
        }
    }

    fn operand(&mut self, pair: Pair<'_, Rule>) -> Operand {
        match pair.as_rule() {
            Rule::metric => Operand::Metric(self.metric(pair)),
            _ => Operand::Number(self.value(pair)),
        }
    }

    fn metric(&mut self, pair: Pair<'_, Rule>) -> MetricCall {
        let span = self.span(&pair);
        let mut p = parts(pair).into_iter();
        let name = p.next().map_or_else(unreachable_ident, |n| self.ident(&n));
        let args = p
            .filter(|a| a.as_rule() != Rule::comma)
            .map(|a| {
                if a.as_rule() == Rule::model_pair {
                    let mut r = parts(a).into_iter();
                    let x = r.next().map(|x| self.reference(x));
                    let y = r.next().map(|y| self.reference(y));
                    match (x, y) {
                        (Some(x), Some(y)) => MetricArg::Pair(x, y),
                        _ => MetricArg::One(unreachable_reference()),
                    }
                } else {
                    MetricArg::One(self.reference(a))
                }
            })
            .collect();
        MetricCall { name, args, span }
    }

    fn reference(&mut self, pair: Pair<'_, Rule>) -> Reference {
        let span = self.span(&pair);
        let mut p = parts(pair).into_iter();
        let name = p.next().map_or_else(unreachable_ident, |n| self.ident(&n));
        let selector = p
            .next()
            .map(|sel| {
                parts(sel)
                    .into_iter()
                    .map(|s| {
                        let mut kv = parts(s).into_iter();
                        let key = kv.next().map_or_else(unreachable_ident, |k| self.ident(&k));
                        let value = kv.next().map_or_else(unreachable_value, |v| self.value(v));
                        Selection { key, value }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Reference {
            name,
            selector,
            span,
        }
    }

    fn params(&mut self, pair: Pair<'_, Rule>) -> Params {
        let span = pair.as_span().into();
        let entries = parts(pair)
            .into_iter()
            .map(|param| {
                let mut kv = parts(param).into_iter();
                let name = kv.next().map(|n| self.ident(&n));
                let value = kv.next().map(|v| self.value(v));
                Param {
                    name: name.unwrap_or_else(unreachable_ident),
                    value: value.unwrap_or_else(unreachable_value),
                }
            })
            .collect();
        Params { entries, span }
    }

    fn value(&mut self, pair: Pair<'_, Rule>) -> Value {
        let span: Span = pair.as_span().into();
        let text = pair.as_str();
        let kind = match pair.as_rule() {
            Rule::int => match text.parse::<i64>() {
                Ok(i) => ValueKind::Int(i),
                Err(_) => {
                    self.errors.push(
                        Diagnostic::error(
                            self.src,
                            span,
                            format!("integer `{}` does not fit in 64 bits", ellipsis(text)),
                        )
                        .label("too large")
                        .help(format!(
                            "integers range from {} to {}",
                            i64::MIN,
                            i64::MAX
                        )),
                    );
                    ValueKind::Int(0)
                }
            },
            Rule::float => match text.parse::<f64>() {
                Ok(f) if f.is_finite() => ValueKind::Float(f),
                _ => {
                    self.errors.push(
                        Diagnostic::error(
                            self.src,
                            span,
                            format!("number `{}` is too large", ellipsis(text)),
                        )
                        .label("not a finite 64-bit float")
                        .help(format!("floats must lie within ±{:e}", f64::MAX)),
                    );
                    ValueKind::Float(0.0)
                }
            },
            Rule::string => {
                let inner = parts(pair).into_iter().next().map_or("", |p| p.as_str());
                ValueKind::Str(unescape(inner))
            }
            Rule::boolean => ValueKind::Bool(text == "true"),
            Rule::word => ValueKind::Word(text.to_string()),
            _ => ValueKind::List(parts(pair).into_iter().map(|v| self.value(v)).collect()),
        };
        Value { kind, span }
    }
}

fn unreachable_ident() -> Ident {
    Ident {
        name: String::new(),
        span: Span::default(),
    }
}

fn unreachable_reference() -> Reference {
    Reference {
        name: unreachable_ident(),
        selector: Vec::new(),
        span: Span::default(),
    }
}

fn unreachable_value() -> Value {
    Value {
        kind: ValueKind::Int(0),
        span: Span::default(),
    }
}

fn ellipsis(text: &str) -> String {
    if text.chars().count() > 30 {
        format!("{}…", text.chars().take(30).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Decodes `\"`, `\\`, `\n`, `\r`, `\t` (the grammar admits no others).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Distributes the comments and blank lines found between statements:
/// full lines go to the statement below, a comment on a statement's last
/// line becomes its `trailing` comment. Returns what follows the last one.
fn attach_trivia(text: &str, statements: &mut [Statement]) -> Vec<Trivia> {
    let mut prev_end = None::<usize>;
    for i in 0..statements.len() {
        let gap = &text[prev_end.unwrap_or(0)..statements[i].span.start];
        let (trailing, mut leading) = split_gap(gap, prev_end.is_some(), false);
        if i == 0 {
            while leading.first() == Some(&Trivia::Blank) {
                leading.remove(0);
            }
        } else {
            statements[i - 1].trailing = trailing;
        }
        statements[i].leading = leading;
        prev_end = Some(statements[i].span.end);
    }
    let (trailing, mut rest) = split_gap(&text[prev_end.unwrap_or(0)..], prev_end.is_some(), true);
    if let Some(last) = statements.last_mut() {
        last.trailing = trailing;
    } else {
        while rest.first() == Some(&Trivia::Blank) {
            rest.remove(0);
        }
    }
    while rest.last() == Some(&Trivia::Blank) {
        rest.pop();
    }
    rest
}

/// Splits the text between two statements into the previous statement's
/// trailing comment (if `after_statement`) and full lines of trivia. The
/// last segment of the gap is the indentation before the next statement,
/// unless `at_end`.
fn split_gap(gap: &str, after_statement: bool, at_end: bool) -> (Option<String>, Vec<Trivia>) {
    let mut lines: Vec<&str> = gap.split('\n').collect();
    if !at_end {
        lines.pop();
    }
    let mut trailing = None;
    let mut leading = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
        if i == 0 && after_statement {
            if let Some(c) = line.strip_prefix('#') {
                trailing = Some(c.trim_end().to_string());
            }
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            leading.push(Trivia::Comment(c.trim_end().to_string()));
        } else if leading.last() != Some(&Trivia::Blank) {
            leading.push(Trivia::Blank);
        }
    }
    (trailing, leading)
}

/// A pest error as a diagnostic: what was found, what was expected (in
/// words), which statement it is in and how that statement is written.
fn syntax_error(src: &SourceFile, e: &pest::error::Error<Rule>) -> Diagnostic {
    let text = &*src.text;
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let positives: &[Rule] = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => &[],
    };
    let expected = describe_expected(positives);
    let (span, found) = lex::token_at(text, pos);
    let mut d = Diagnostic::error(src, span, format!("syntax error: unexpected {found}"));
    d = match &expected {
        Some(exp) => d.label(format!("expected {exp}")),
        None => d.label("unexpected"),
    };
    let mut help = expected
        .map(|e| format!("expected {e}"))
        .unwrap_or_default();
    if let Some(reminder) = statement_context(text, pos) {
        if !help.is_empty() {
            help.push_str("; ");
        }
        help.push_str(reminder);
    }
    if !help.is_empty() {
        d = d.help(help);
    }
    // At the end of the file or at the start of a line, an open bracket is
    // the likely culprit: show where it was opened.
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let first_on_line = text[line_start..span.start].trim().is_empty();
    if (span.start >= text.len() || first_on_line)
        && let Some(&(off, b)) = lex::open_brackets(text, span.start).last()
    {
        let close = if b == b'{' { '}' } else { ']' };
        d = d.with(
            src,
            Span::new(off, off + 1),
            format!("this `{}` is never closed (missing `{close}`)", b as char),
        );
    }
    d
}

/// The expected rules in words, joined ("`=`", "a value or `]`").
fn describe_expected(positives: &[Rule]) -> Option<String> {
    let statement_start = positives
        .iter()
        .any(|r| matches!(r, Rule::kw_model | Rule::kw_variant));
    let mut words: Vec<&str> = Vec::new();
    for &r in positives {
        let w = match r {
            Rule::kw_model
            | Rule::kw_variant
            | Rule::kw_ensemble
            | Rule::kw_attack
            | Rule::kw_transfer
            | Rule::kw_expect
            | Rule::scenario
            | Rule::prefix => {
                "a statement (`model`, `variant`, `ensemble`, `attack`, `transfer`, `expect` or a setting `key = value`)"
            }
            Rule::name | Rule::setting | Rule::EOI if statement_start => continue,
            Rule::EOI => "end of file",
            Rule::name | Rule::name_list => "a name",
            Rule::attack_list | Rule::kw_all => "an attack name or `all`",
            Rule::ident | Rule::param => "a parameter name",
            Rule::list | Rule::float | Rule::int | Rule::string | Rule::boolean | Rule::word => {
                "a value"
            }
            Rule::params | Rule::lbrace => "`{`",
            Rule::rbrace => "`}`",
            Rule::lbracket => "`[`",
            Rule::rbracket => "`]`",
            Rule::defence | Rule::kw_defend => "`defend`",
            Rule::step | Rule::pipe => "`|`",
            Rule::prune_step | Rule::kw_prune => "`prune`",
            Rule::quantise_step | Rule::kw_quantise => "`quantise`",
            Rule::finetune_step | Rule::kw_finetune => "`finetune`",
            Rule::kw_using => "`using`",
            Rule::eq => "`=`",
            Rule::colon => "`:`",
            Rule::comma => "`,`",
            Rule::arrow => "`->`",
            Rule::quote | Rule::string_text => "`\"`",
            Rule::metric | Rule::metric_name | Rule::comparison | Rule::trend => {
                "a metric (`transfer(a -> b, attack)`, `success(m, attack)`, ...)"
            }
            Rule::metric_arg | Rule::model_pair | Rule::reference => "a model or attack name",
            Rule::selector => "`[`",
            Rule::selection | Rule::axis => "a sweep key",
            Rule::cmp_op => "a comparison (`>`, `<`, `>=` or `<=`)",
            Rule::direction => "`increasing` or `decreasing`",
            Rule::kw_along => "`along`",
            Rule::lparen => "`(`",
            Rule::rparen => "`)`",
            _ => "something else",
        };
        if !words.contains(&w) {
            words.push(w);
        }
    }
    if words.contains(&"a value") {
        words.retain(|w| *w != "`[`" && *w != "`\"`");
    }
    match words.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        [init @ .., last] => Some(format!("{} or {last}", init.join(", "))),
    }
}

/// How the statement containing byte `pos` is written, found by parsing the
/// statements before it (`prefix`) and reading the failing one's first word.
fn statement_context(text: &str, pos: usize) -> Option<&'static str> {
    let prefix = ScenarioParser::parse(Rule::prefix, text).ok()?.next()?;
    let last = prefix.into_inner().map(|p| p.as_span()).last();
    let mut start = skip_trivia(text, last.map_or(0, |s| s.end()));
    if start > pos {
        return None;
    }
    let first_word = |at: usize| -> String {
        text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect()
    };
    // `model m = lenet5 { epochs: 8` parses as `model m = lenet5` followed
    // by a stray `{`: the error belongs to the statement before.
    if first_word(start).is_empty()
        && let Some(s) = last
    {
        start = s.start();
    }
    let word = first_word(start);
    Some(match word.as_str() {
        "model" => {
            "a model is written `model NAME = ARCH { key: value, ... }`, optionally followed by `defend DEFENCE { ... }`"
        }
        "variant" => {
            "a variant is written `variant NAME = PARENT | prune METHOD { ... } | quantise METHOD { ... } | finetune { ... }`"
        }
        "attack" => "an attack is written `attack NAME = REGISTRY_NAME { key: value, ... }`",
        "transfer" => {
            "a transfer is written `transfer SOURCE, ... -> TARGET, ... using ATTACK, ...` (or `using all`)"
        }
        "expect" => {
            "a claim is written `expect METRIC(...) > METRIC(...)` (or `<`, `>=`, `<=`, or a number on one side) or `expect METRIC(...) increasing along AXIS { tolerance: 0.01 }`"
        }
        w if !w.is_empty() && !w.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
            "a setting is written `key = value`"
        }
        _ => return None,
    })
}

/// The first byte at or after `i` that is not whitespace or in a comment.
fn skip_trivia(text: &str, mut i: usize) -> usize {
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let plain = "seed = 1\nmodel m = lenet5 { epochs: 2 }\n";
        let with_bom = format!("{BOM}{plain}");
        let a = parse(plain, "a.scn").unwrap();
        let b = parse(&with_bom, "b.scn").unwrap();
        assert_eq!(a.without_spans(), b.without_spans());
        assert_eq!(crate::format(&b), crate::format(&a));
        // Positions count from after the mark.
        assert_eq!(a.statements[1].span, b.statements[1].span);
        let err = parse(&format!("{BOM}seed 1\n"), "c.scn").unwrap_err();
        let first = err.iter().next().unwrap();
        assert_eq!((first.line, first.col), (1, 6), "{first}");
        assert!(!first.message.contains(BOM), "{first}");
    }

    #[test]
    fn only_a_leading_mark_is_skipped() {
        assert!(parse(&format!("seed = 1\n{BOM}seed = 2\n"), "x.scn").is_err());
    }
}
