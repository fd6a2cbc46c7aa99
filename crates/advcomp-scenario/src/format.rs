//! The canonical printer behind `advcomp fmt`.
//!
//! Layout: settings first (in source order), a blank line, then the
//! declarations and transfers in source order; one statement per line;
//! `{ a: 1, b: [1, 2] }` spacing; `quantize` spelled `quantise`; empty
//! parameter blocks left out; numbers in shortest round-trip form.
//! Comments: the file's header (comments above a blank line before the
//! first statement) stays at the top; other full-line comments (and single
//! blank lines) stay above the statement that follows them, end-of-line comments stay at the end of
//! their statement's line; comments *inside* a statement that spans
//! several lines are dropped (documented in docs/scenario-language.md).

use std::fmt::Write as _;

use crate::ast::*;

/// The canonical text of `ast`. `parse(format(ast))` gives `ast` back (up
/// to spans and the layout rules above), and `format` is idempotent.
pub fn format(ast: &Scenario) -> String {
    let (settings, decls): (Vec<&Statement>, Vec<&Statement>) = ast
        .statements
        .iter()
        .partition(|s| matches!(s.kind, StatementKind::Setting(_)));
    let mut out = String::new();
    let header = trim_blanks(&ast.header);
    trivia(&mut out, header);
    if !header.is_empty() && !ast.statements.is_empty() {
        out.push('\n');
    }
    let mut first = true;
    for (group, list) in [(0, &settings), (1, &decls)] {
        for (i, st) in list.iter().enumerate() {
            let mut leading: &[Trivia] = &st.leading;
            if first {
                // A blank line here would make the comments above it a header.
                let kept: Vec<Trivia> = leading
                    .iter()
                    .filter(|t| **t != Trivia::Blank)
                    .cloned()
                    .collect();
                trivia(&mut out, &kept);
                leading = &[];
            } else if group == 1 && i == 0 && leading.first() != Some(&Trivia::Blank) {
                out.push('\n');
            }
            trivia(&mut out, leading);
            statement(&mut out, &st.kind);
            if let Some(c) = &st.trailing {
                let _ = write!(out, "  #{c}");
            }
            out.push('\n');
            first = false;
        }
    }
    let mut tail: &[Trivia] = &ast.trailing;
    if first {
        if !header.is_empty() && !tail.is_empty() {
            out.push('\n');
        }
        tail = trim_blanks(tail);
    }
    while let [rest @ .., Trivia::Blank] = tail {
        tail = rest;
    }
    trivia(&mut out, tail);
    out
}

fn trim_blanks(mut list: &[Trivia]) -> &[Trivia] {
    while let [Trivia::Blank, rest @ ..] = list {
        list = rest;
    }
    while let [rest @ .., Trivia::Blank] = list {
        list = rest;
    }
    list
}

fn trivia(out: &mut String, list: &[Trivia]) {
    for t in list {
        match t {
            Trivia::Blank => out.push('\n'),
            Trivia::Comment(c) => {
                let _ = writeln!(out, "#{c}");
            }
        }
    }
}

/// One statement on one line, without comments or line break.
pub fn statement(out: &mut String, kind: &StatementKind) {
    match kind {
        StatementKind::Setting(s) => {
            let _ = write!(out, "{} = ", s.key.name);
            value(out, &s.value);
        }
        StatementKind::Model(m) => {
            let _ = write!(out, "model {} = {}", m.name.name, m.arch.name);
            params(out, &m.params);
            if let Some(d) = &m.defence {
                let _ = write!(out, " defend {}", d.name.name);
                params(out, &d.params);
            }
        }
        StatementKind::Variant(v) => {
            let _ = write!(out, "variant {} = {}", v.name.name, v.parent.name);
            for step in &v.steps {
                let _ = write!(out, " | {}", step.op.keyword());
                if let Some(m) = &step.method {
                    let _ = write!(out, " {}", m.name);
                }
                params(out, &step.params);
            }
        }
        StatementKind::Ensemble(e) => {
            let members: Vec<&str> = e.members.iter().map(|i| i.name.as_str()).collect();
            let _ = write!(
                out,
                "ensemble {} = {{ {} }}",
                e.name.name,
                members.join(", ")
            );
        }
        StatementKind::Attack(a) => {
            let _ = write!(out, "attack {} = {}", a.name.name, a.attack.name);
            params(out, &a.params);
        }
        StatementKind::Transfer(t) => {
            let names = |v: &[Ident]| {
                v.iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let attacks = match &t.attacks {
                AttackRefs::All(_) => "all".to_string(),
                AttackRefs::Named(v) => names(v),
            };
            let _ = write!(
                out,
                "transfer {} -> {} using {attacks}",
                names(&t.sources),
                names(&t.targets)
            );
        }
        StatementKind::Expect(e) => {
            out.push_str("expect ");
            claim(out, e);
        }
    }
}

/// A claim as written after `expect`, in canonical form: also the label
/// results and reports give it (built from the concealed tree, so it never
/// holds a passphrase).
pub fn claim(out: &mut String, e: &ExpectDecl) {
    match e {
        ExpectDecl::Compare {
            left, op, right, ..
        } => {
            operand(out, left);
            let _ = write!(out, " {} ", op.symbol());
            operand(out, right);
        }
        ExpectDecl::Trend {
            metric: m,
            direction,
            axis,
            params: p,
            ..
        } => {
            metric(out, m);
            let _ = write!(out, " {} along {}", direction.word(), axis.name);
            params(out, p);
        }
    }
}

fn operand(out: &mut String, o: &Operand) {
    match o {
        Operand::Number(v) => value(out, v),
        Operand::Metric(m) => metric(out, m),
    }
}

/// `transfer(a -> b[density=0.1], fgsm)`.
pub fn metric(out: &mut String, m: &MetricCall) {
    let _ = write!(out, "{}(", m.name.name);
    for (i, a) in m.args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match a {
            MetricArg::One(r) => reference(out, r),
            MetricArg::Pair(x, y) => {
                reference(out, x);
                out.push_str(" -> ");
                reference(out, y);
            }
        }
    }
    out.push(')');
}

fn reference(out: &mut String, r: &Reference) {
    out.push_str(&r.name.name);
    if r.selector.is_empty() {
        return;
    }
    out.push('[');
    for (i, s) in r.selector.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}=", s.key.name);
        value(out, &s.value);
    }
    out.push(']');
}

fn params(out: &mut String, p: &Params) {
    if p.entries.is_empty() {
        return;
    }
    out.push_str(" { ");
    for (i, e) in p.entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}: ", e.name.name);
        value(out, &e.value);
    }
    out.push_str(" }");
}

/// A value as it is written in canonical form.
pub fn value(out: &mut String, v: &Value) {
    match &v.kind {
        ValueKind::Int(i) => {
            let _ = write!(out, "{i}");
        }
        // Debug of f64 is the shortest text that reads back to the same
        // number, and always has a `.` or an exponent (so it stays a float).
        ValueKind::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        ValueKind::Str(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        ValueKind::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        ValueKind::Word(w) => out.push_str(w),
        ValueKind::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                value(out, item);
            }
            out.push(']');
        }
    }
}
