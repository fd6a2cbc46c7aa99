//! The typed syntax tree of a scenario, as written (before any checking).
//!
//! Every node carries the [`Span`] of its text so that later stages can
//! point at it. Comments and blank lines between statements are kept as
//! [`Trivia`] so that `advcomp fmt` does not lose them.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::span::{SourceFile, Span};

/// A parsed scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The text it was parsed from (diagnostics of later stages need it).
    pub source: SourceFile,
    /// Comment lines at the top of the file, separated from the first
    /// statement by a blank line: the file's header, kept at the top by
    /// `fmt` even when settings move up. Never starts or ends with a blank.
    pub header: Vec<Trivia>,
    /// The statements, in source order.
    pub statements: Vec<Statement>,
    /// Comments after the last statement.
    pub trailing: Vec<Trivia>,
}

/// A comment line or a blank line between statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trivia {
    /// `#text`: the text after `#`, trailing whitespace removed.
    Comment(String),
    /// One or more empty lines (collapsed to one).
    Blank,
}

/// One statement with the comments around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// What it says.
    pub kind: StatementKind,
    /// From its first to its last token.
    pub span: Span,
    /// Full-line comments and blank lines just above it.
    pub leading: Vec<Trivia>,
    /// A `# comment` after it on its last line (text after `#`).
    pub trailing: Option<String>,
}

/// The seven kinds of statement.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    /// `key = value`
    Setting(Setting),
    /// `model NAME = ARCH {params} [defend D {params}]`
    Model(ModelDecl),
    /// `variant NAME = PARENT | step | step ...`
    Variant(VariantDecl),
    /// `ensemble NAME = { MODEL, MODEL, ... }`
    Ensemble(EnsembleDecl),
    /// `attack NAME = REGISTRY_NAME {params}`
    Attack(AttackDecl),
    /// `transfer SOURCES -> TARGETS using ATTACKS`
    Transfer(TransferDecl),
    /// `expect CLAIM`
    Expect(ExpectDecl),
}

/// A name as written, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is.
    pub span: Span,
}

/// `key = value`: a run-wide setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The setting's name.
    pub key: Ident,
    /// Its value.
    pub value: Value,
}

/// `model NAME = ARCH {params} [defend D {params}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDecl {
    /// The declared name.
    pub name: Ident,
    /// The architecture (`lenet5`).
    pub arch: Ident,
    /// Training parameters.
    pub params: Params,
    /// A defence applied while training.
    pub defence: Option<Method>,
}

/// `variant NAME = PARENT | step ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantDecl {
    /// The declared name.
    pub name: Ident,
    /// The model or variant it derives from.
    pub parent: Ident,
    /// The steps, applied in order (at least one).
    pub steps: Vec<StageDecl>,
}

/// `ensemble NAME = { MODEL, ... }`: one model made of several.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleDecl {
    /// The declared name.
    pub name: Ident,
    /// The models and variants it is made of (every instance of each).
    pub members: Vec<Ident>,
}

/// What a variant step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageOp {
    /// `prune METHOD {params}`
    Prune,
    /// `quantise METHOD {params}` (or `quantize`)
    Quantise,
    /// `finetune {params}`
    Finetune,
    /// `defend DEFENCE {params}`
    Defend,
}

impl StageOp {
    /// The keyword that introduces the step (`quantise` for both spellings).
    pub fn keyword(self) -> &'static str {
        match self {
            StageOp::Prune => "prune",
            StageOp::Quantise => "quantise",
            StageOp::Finetune => "finetune",
            StageOp::Defend => "defend",
        }
    }
}

/// `| prune magnitude { density: 0.5 }`: one step of a variant.
#[derive(Debug, Clone, PartialEq)]
pub struct StageDecl {
    /// What it does.
    pub op: StageOp,
    /// The method (`magnitude`); `None` for `finetune`, which has none.
    pub method: Option<Ident>,
    /// Its parameters.
    pub params: Params,
    /// From the keyword to the end of the parameters.
    pub span: Span,
}

/// `NAME {params}`: a defence (on a model) with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    /// The method's name (`taboo`).
    pub name: Ident,
    /// Its parameters.
    pub params: Params,
    /// From the `defend` keyword to the end of the parameters.
    pub span: Span,
}

/// `attack NAME = REGISTRY_NAME {params}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackDecl {
    /// The declared name.
    pub name: Ident,
    /// The attack's registry name (`fgsm`, `cw_l2`).
    pub attack: Ident,
    /// Its parameters, reserved run options (`images`, `batch_size`) included.
    pub params: Params,
}

/// `transfer SOURCES -> TARGETS using ATTACKS`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferDecl {
    /// Models or variants the samples are made on.
    pub sources: Vec<Ident>,
    /// Models or variants the samples are evaluated on.
    pub targets: Vec<Ident>,
    /// The attacks used.
    pub attacks: AttackRefs,
}

/// The attack list of a `transfer`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttackRefs {
    /// `all`: every declared attack.
    All(Span),
    /// `a, b, ...`: these attacks.
    Named(Vec<Ident>),
}

/// `expect CLAIM`: a finding the runner checks against the results.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectDecl {
    /// `A > B`: two operands compared.
    Compare {
        /// The left side.
        left: Operand,
        /// The comparison.
        op: CmpOp,
        /// Where the comparison sign is.
        op_span: Span,
        /// The right side.
        right: Operand,
    },
    /// `METRIC increasing along AXIS {params}`.
    Trend {
        /// The metric whose values form the series.
        metric: MetricCall,
        /// Which way it must go.
        direction: Direction,
        /// Where the direction word is.
        direction_span: Span,
        /// The sweep key the series is ordered by.
        axis: Ident,
        /// Options (`tolerance`).
        params: Params,
    },
}

/// A comparison sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
}

impl CmpOp {
    /// The sign as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Lt => "<",
            CmpOp::Ge => ">=",
            CmpOp::Le => "<=",
        }
    }
}

/// The direction of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Rises as the axis value rises.
    Increasing,
    /// Falls as the axis value rises.
    Decreasing,
}

impl Direction {
    /// The word as written.
    pub fn word(self) -> &'static str {
        match self {
            Direction::Increasing => "increasing",
            Direction::Decreasing => "decreasing",
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A number written in the claim (an int or a float value).
    Number(Value),
    /// A metric of the results.
    Metric(MetricCall),
}

/// `transfer(a -> b, fgsm)`: a metric and the models and attack it is of.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricCall {
    /// The metric's name.
    pub name: Ident,
    /// Its arguments, in order.
    pub args: Vec<MetricArg>,
    /// From the name to the closing parenthesis.
    pub span: Span,
}

/// One argument of a metric.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricArg {
    /// A model, variant or attack.
    One(Reference),
    /// `source -> target`.
    Pair(Reference, Reference),
}

impl MetricArg {
    /// From its first to its last character.
    pub fn span(&self) -> Span {
        match self {
            MetricArg::One(r) => r.span,
            MetricArg::Pair(a, b) => Span::new(a.span.start, b.span.end),
        }
    }
}

/// `pruned[density=0.1]`: a declared name narrowed by sweep values.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The declared name.
    pub name: Ident,
    /// `key=value` pairs (empty: every instance).
    pub selector: Vec<Selection>,
    /// From the name to the closing bracket.
    pub span: Span,
}

/// `density=0.1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The sweep key.
    pub key: Ident,
    /// The value it must have.
    pub value: Value,
}

/// `{ name: value, ... }`; absent braces give an empty block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    /// The parameters, in source order.
    pub entries: Vec<Param>,
    /// The braces (empty at the place they would be, when absent).
    pub span: Span,
}

impl Params {
    /// The entry named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.entries.iter().find(|p| p.name.name == name)
    }
}

/// `name: value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The parameter's name.
    pub name: Ident,
    /// Its value (a list is a sweep).
    pub value: Value,
}

/// A value with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The value.
    pub kind: ValueKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of value.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A whole number (`42`, `-7`).
    Int(i64),
    /// A number with a fraction or exponent (`0.1`, `1e-3`); always finite.
    Float(f64),
    /// A string, escapes decoded.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// A bare word (`adam`): an enum-like value, a string once checked.
    Word(String),
    /// `[v, ...]`: a sweep.
    List(Vec<Value>),
}

impl ValueKind {
    /// How the kind is called in messages ("an integer", "a list").
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Int(_) => "an integer",
            ValueKind::Float(_) => "a float",
            ValueKind::Str(_) => "a string",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Word(_) => "a word",
            ValueKind::List(_) => "a list",
        }
    }
}

impl ValueKind {
    /// The value as quoted in messages: scalars verbatim (`` `0` ``,
    /// `` `-0.1` ``), strings and lists by kind.
    pub fn quote(&self) -> String {
        match self {
            ValueKind::Int(i) => format!("`{i}`"),
            ValueKind::Float(f) => format!("`{f:?}`"),
            ValueKind::Bool(b) => format!("`{b}`"),
            ValueKind::Word(w) => format!("the word `{w}`"),
            ValueKind::Str(_) | ValueKind::List(_) => self.describe().to_string(),
        }
    }
}

impl Scenario {
    /// The same tree with every span zeroed and the source text dropped:
    /// for comparing trees parsed from different text (the formatter's
    /// round-trip property).
    pub fn without_spans(&self) -> Scenario {
        let mut s = self.clone();
        s.source = SourceFile::default();
        for st in &mut s.statements {
            st.span = Span::default();
            match &mut st.kind {
                StatementKind::Setting(x) => {
                    zero_ident(&mut x.key);
                    zero_value(&mut x.value);
                }
                StatementKind::Model(m) => {
                    zero_ident(&mut m.name);
                    zero_ident(&mut m.arch);
                    zero_params(&mut m.params);
                    if let Some(d) = &mut m.defence {
                        zero_method(d);
                    }
                }
                StatementKind::Variant(v) => {
                    zero_ident(&mut v.name);
                    zero_ident(&mut v.parent);
                    for step in &mut v.steps {
                        step.span = Span::default();
                        if let Some(m) = &mut step.method {
                            zero_ident(m);
                        }
                        zero_params(&mut step.params);
                    }
                }
                StatementKind::Ensemble(e) => {
                    zero_ident(&mut e.name);
                    e.members.iter_mut().for_each(zero_ident);
                }
                StatementKind::Attack(a) => {
                    zero_ident(&mut a.name);
                    zero_ident(&mut a.attack);
                    zero_params(&mut a.params);
                }
                StatementKind::Transfer(t) => {
                    t.sources.iter_mut().for_each(zero_ident);
                    t.targets.iter_mut().for_each(zero_ident);
                    match &mut t.attacks {
                        AttackRefs::All(s) => *s = Span::default(),
                        AttackRefs::Named(v) => v.iter_mut().for_each(zero_ident),
                    }
                }
                StatementKind::Expect(e) => zero_expect(e),
            }
        }
        s
    }

    /// A readable indented dump of the tree with spans (`start..end`),
    /// used by the parse-tree snapshot tests.
    pub fn debug_tree(&self) -> String {
        let mut out = String::new();
        for t in &self.header {
            match t {
                Trivia::Comment(c) => {
                    let _ = writeln!(out, "header #{c}");
                }
                Trivia::Blank => out.push_str("header (blank)\n"),
            }
        }
        for st in &self.statements {
            for t in &st.leading {
                match t {
                    Trivia::Comment(c) => {
                        let _ = writeln!(out, "#{c}");
                    }
                    Trivia::Blank => out.push_str("(blank)\n"),
                }
            }
            let sp = st.span;
            match &st.kind {
                StatementKind::Setting(s) => {
                    let _ = writeln!(out, "setting {} @{}", s.key.name, span(sp));
                    tree_value(&mut out, 1, &s.value);
                }
                StatementKind::Model(m) => {
                    let _ = writeln!(out, "model {} = {} @{}", m.name.name, m.arch.name, span(sp));
                    tree_params(&mut out, 1, &m.params);
                    if let Some(d) = &m.defence {
                        let _ = writeln!(out, "  defend {} @{}", d.name.name, span(d.span));
                        tree_params(&mut out, 2, &d.params);
                    }
                }
                StatementKind::Variant(v) => {
                    let _ = writeln!(
                        out,
                        "variant {} = {} @{}",
                        v.name.name,
                        v.parent.name,
                        span(sp)
                    );
                    for step in &v.steps {
                        let method = step
                            .method
                            .as_ref()
                            .map_or(String::new(), |m| format!(" {}", m.name));
                        let _ = writeln!(
                            out,
                            "  | {}{} @{}",
                            step.op.keyword(),
                            method,
                            span(step.span)
                        );
                        tree_params(&mut out, 2, &step.params);
                    }
                }
                StatementKind::Ensemble(e) => {
                    let members: Vec<&str> = e.members.iter().map(|i| i.name.as_str()).collect();
                    let _ = writeln!(
                        out,
                        "ensemble {} = {{ {} }} @{}",
                        e.name.name,
                        members.join(", "),
                        span(sp)
                    );
                }
                StatementKind::Attack(a) => {
                    let _ = writeln!(
                        out,
                        "attack {} = {} @{}",
                        a.name.name,
                        a.attack.name,
                        span(sp)
                    );
                    tree_params(&mut out, 1, &a.params);
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
                    let _ = writeln!(out, "transfer @{}", span(sp));
                    let _ = writeln!(out, "  sources {}", names(&t.sources));
                    let _ = writeln!(out, "  targets {}", names(&t.targets));
                    let _ = writeln!(out, "  using {attacks}");
                }
                StatementKind::Expect(e) => {
                    let mut claim = String::new();
                    crate::format::statement(&mut claim, &st.kind);
                    let _ = writeln!(out, "{claim} @{}", span(sp));
                    for m in e.metrics() {
                        let _ = writeln!(out, "  metric {} @{}", m.name.name, span(m.span));
                        for a in &m.args {
                            let _ = writeln!(out, "    arg @{}", span(a.span()));
                        }
                    }
                    if let ExpectDecl::Trend { axis, params, .. } = e {
                        let _ = writeln!(out, "  along {} @{}", axis.name, span(axis.span));
                        tree_params(&mut out, 1, params);
                    }
                }
            }
            if let Some(c) = &st.trailing {
                let _ = writeln!(out, "  #{c}");
            }
        }
        for t in &self.trailing {
            if let Trivia::Comment(c) = t {
                let _ = writeln!(out, "#{c}");
            }
        }
        out
    }
}

fn span(s: Span) -> String {
    format!("{}..{}", s.start, s.end)
}

fn tree_params(out: &mut String, depth: usize, p: &Params) {
    for e in &p.entries {
        let _ = write!(out, "{}{}: ", "  ".repeat(depth), e.name.name);
        tree_value_inline(out, &e.value);
        out.push('\n');
    }
}

fn tree_value(out: &mut String, depth: usize, v: &Value) {
    out.push_str(&"  ".repeat(depth));
    tree_value_inline(out, v);
    out.push('\n');
}

fn tree_value_inline(out: &mut String, v: &Value) {
    match &v.kind {
        ValueKind::Int(i) => {
            let _ = write!(out, "int {i}");
        }
        ValueKind::Float(f) => {
            let _ = write!(out, "float {f:?}");
        }
        ValueKind::Str(s) => {
            let _ = write!(out, "string {s:?}");
        }
        ValueKind::Bool(b) => {
            let _ = write!(out, "bool {b}");
        }
        ValueKind::Word(w) => {
            let _ = write!(out, "word {w}");
        }
        ValueKind::List(items) => {
            out.push_str("list [");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                tree_value_inline(out, item);
            }
            out.push(']');
        }
    }
    let _ = write!(out, " @{}", span(v.span));
}

impl ExpectDecl {
    /// The metrics the claim names, left to right.
    pub fn metrics(&self) -> Vec<&MetricCall> {
        match self {
            ExpectDecl::Compare { left, right, .. } => [left, right]
                .into_iter()
                .filter_map(|o| match o {
                    Operand::Metric(m) => Some(m),
                    Operand::Number(_) => None,
                })
                .collect(),
            ExpectDecl::Trend { metric, .. } => vec![metric],
        }
    }

    /// [`ExpectDecl::metrics`], mutably (for rewriting spans and selectors).
    pub fn metrics_mut(&mut self) -> Vec<&mut MetricCall> {
        match self {
            ExpectDecl::Compare { left, right, .. } => [left, right]
                .into_iter()
                .filter_map(|o| match o {
                    Operand::Metric(m) => Some(m),
                    Operand::Number(_) => None,
                })
                .collect(),
            ExpectDecl::Trend { metric, .. } => vec![metric],
        }
    }

    /// Every instance reference in the claim's metric calls, left to right
    /// (a transfer's source before its target).
    pub fn references_mut(&mut self) -> Vec<&mut Reference> {
        let mut out = Vec::new();
        for m in self.metrics_mut() {
            for a in &mut m.args {
                match a {
                    MetricArg::One(r) => out.push(r),
                    MetricArg::Pair(x, y) => {
                        out.push(x);
                        out.push(y);
                    }
                }
            }
        }
        out
    }
}

fn zero_expect(e: &mut ExpectDecl) {
    for r in e.references_mut() {
        r.span = Span::default();
        zero_ident(&mut r.name);
        for s in &mut r.selector {
            zero_ident(&mut s.key);
            zero_value(&mut s.value);
        }
    }
    for m in e.metrics_mut() {
        m.span = Span::default();
        zero_ident(&mut m.name);
    }
    match e {
        ExpectDecl::Compare {
            left,
            op_span,
            right,
            ..
        } => {
            for o in [left, right] {
                if let Operand::Number(v) = o {
                    zero_value(v);
                }
            }
            *op_span = Span::default();
        }
        ExpectDecl::Trend {
            direction_span,
            axis,
            params,
            ..
        } => {
            *direction_span = Span::default();
            zero_ident(axis);
            zero_params(params);
        }
    }
}

fn zero_ident(i: &mut Ident) {
    i.span = Span::default();
}

fn zero_method(m: &mut Method) {
    m.span = Span::default();
    zero_ident(&mut m.name);
    zero_params(&mut m.params);
}

fn zero_params(p: &mut Params) {
    p.span = Span::default();
    for e in &mut p.entries {
        zero_ident(&mut e.name);
        zero_value(&mut e.value);
    }
}

fn zero_value(v: &mut Value) {
    v.span = Span::default();
    if let ValueKind::List(items) = &mut v.kind {
        items.iter_mut().for_each(zero_value);
    }
}
