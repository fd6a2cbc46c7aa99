//! Properties: the formatter round-trips random valid trees and is
//! idempotent; no input whatsoever makes `parse` or `check` panic.

use advcomp_scenario::ast::*;
use advcomp_scenario::{SnapshotCatalog, SourceFile, Span, check, format, parse};
use proptest::prelude::*;

const KEYWORDS: &[&str] = &[
    "model", "variant", "attack", "transfer", "using", "defend", "prune", "quantise", "quantize",
    "finetune", "expect", "all", "true", "false",
];

fn ident_text() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_-]{0,8}"
}

/// A name that is not a keyword.
fn name() -> impl Strategy<Value = Ident> {
    ident_text()
        .prop_filter("keywords are not names", |s| {
            !KEYWORDS.contains(&s.as_str())
        })
        .prop_map(|name| Ident {
            name,
            span: Span::default(),
        })
}

fn scalar() -> impl Strategy<Value = ValueKind> {
    prop_oneof![
        any::<i64>().prop_map(ValueKind::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(ValueKind::Float),
        (-1000i32..1000, 0u32..4)
            .prop_map(|(m, e)| ValueKind::Float(f64::from(m) / 10f64.powi(e as i32))),
        "[ -~\\t\\n\\r\"\\\\é#]{0,10}".prop_map(ValueKind::Str),
        any::<bool>().prop_map(ValueKind::Bool),
        ident_text()
            .prop_filter("not a boolean", |s| s != "true" && s != "false")
            .prop_map(ValueKind::Word),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = scalar().prop_map(|kind| Value {
        kind,
        span: Span::default(),
    });
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|items| Value {
            kind: ValueKind::List(items),
            span: Span::default(),
        })
    })
}

fn params() -> impl Strategy<Value = Params> {
    prop::collection::vec((ident_text(), value()), 0..4).prop_map(|entries| Params {
        entries: entries
            .into_iter()
            .map(|(n, value)| Param {
                name: Ident {
                    name: n,
                    span: Span::default(),
                },
                value,
            })
            .collect(),
        span: Span::default(),
    })
}

fn method() -> impl Strategy<Value = Method> {
    (name(), params()).prop_map(|(name, params)| Method {
        name,
        params,
        span: Span::default(),
    })
}

fn step() -> impl Strategy<Value = StageDecl> {
    (0..4u8, name(), params()).prop_map(|(op, m, params)| {
        let op = [
            StageOp::Prune,
            StageOp::Quantise,
            StageOp::Finetune,
            StageOp::Defend,
        ][op as usize];
        let method = (op != StageOp::Finetune).then_some(m);
        StageDecl {
            op,
            method,
            params,
            span: Span::default(),
        }
    })
}

fn names() -> impl Strategy<Value = Vec<Ident>> {
    prop::collection::vec(name(), 1..4)
}

fn declaration() -> impl Strategy<Value = StatementKind> {
    prop_oneof![
        (name(), name(), params(), prop::option::of(method())).prop_map(
            |(name, arch, params, defence)| StatementKind::Model(ModelDecl {
                name,
                arch,
                params,
                defence
            })
        ),
        (name(), name(), prop::collection::vec(step(), 1..4)).prop_map(|(name, parent, steps)| {
            StatementKind::Variant(VariantDecl {
                name,
                parent,
                steps,
            })
        }),
        (name(), name(), params()).prop_map(|(name, attack, params)| StatementKind::Attack(
            AttackDecl {
                name,
                attack,
                params
            }
        )),
        (names(), names(), prop::option::of(names())).prop_map(|(sources, targets, attacks)| {
            let attacks = attacks.map_or(AttackRefs::All(Span::default()), AttackRefs::Named);
            StatementKind::Transfer(TransferDecl {
                sources,
                targets,
                attacks,
            })
        }),
    ]
}

fn ident() -> impl Strategy<Value = Ident> {
    ident_text().prop_map(|name| Ident {
        name,
        span: Span::default(),
    })
}

fn reference() -> impl Strategy<Value = Reference> {
    let selection = (
        ident(),
        prop::option::of(ident_text()),
        scalar().prop_filter("one-line strings only", |v| match v {
            ValueKind::Str(s) => !s.contains(['\n', '\r']),
            _ => true,
        }),
    )
        .prop_map(|(key, sub, kind)| Selection {
            key: Ident {
                name: match sub {
                    Some(sub) => format!("{}.{sub}", key.name),
                    None => key.name,
                },
                span: Span::default(),
            },
            value: Value {
                kind,
                span: Span::default(),
            },
        });
    (name(), prop::collection::vec(selection, 0..3)).prop_map(|(name, selector)| Reference {
        name,
        selector,
        span: Span::default(),
    })
}

fn metric() -> impl Strategy<Value = MetricCall> {
    let arg = prop_oneof![
        reference().prop_map(MetricArg::One),
        (reference(), reference()).prop_map(|(a, b)| MetricArg::Pair(a, b)),
    ];
    (ident(), prop::collection::vec(arg, 0..3)).prop_map(|(name, args)| MetricCall {
        name,
        args,
        span: Span::default(),
    })
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        metric().prop_map(Operand::Metric),
        prop_oneof![
            any::<i64>().prop_map(ValueKind::Int),
            (-1000i32..1000).prop_map(|m| ValueKind::Float(f64::from(m) / 100.0)),
        ]
        .prop_map(|kind| Operand::Number(Value {
            kind,
            span: Span::default(),
        })),
    ]
}

fn claim() -> impl Strategy<Value = StatementKind> {
    prop_oneof![
        (operand(), 0..4u8, operand()).prop_map(|(left, op, right)| {
            let op = [CmpOp::Gt, CmpOp::Lt, CmpOp::Ge, CmpOp::Le][op as usize];
            StatementKind::Expect(ExpectDecl::Compare {
                left,
                op,
                op_span: Span::default(),
                right,
            })
        }),
        (metric(), any::<bool>(), ident(), params()).prop_map(|(metric, up, axis, params)| {
            StatementKind::Expect(ExpectDecl::Trend {
                metric,
                direction: if up {
                    Direction::Increasing
                } else {
                    Direction::Decreasing
                },
                direction_span: Span::default(),
                axis,
                params,
            })
        }),
    ]
}

fn setting() -> impl Strategy<Value = StatementKind> {
    (name(), value()).prop_map(|(key, value)| StatementKind::Setting(Setting { key, value }))
}

/// Comment text as the parser keeps it: one line, no trailing whitespace.
fn comment() -> impl Strategy<Value = String> {
    "[ -~é]{0,12}".prop_map(|s| s.trim_end().to_string())
}

fn trivia() -> impl Strategy<Value = Vec<Trivia>> {
    prop::collection::vec(
        prop_oneof![comment().prop_map(Trivia::Comment), Just(Trivia::Blank)],
        0..3,
    )
    .prop_map(|v| {
        // The parser collapses runs of blank lines into one.
        let mut out: Vec<Trivia> = Vec::new();
        for t in v {
            if !(t == Trivia::Blank && out.last() == Some(&Trivia::Blank)) {
                out.push(t);
            }
        }
        out
    })
}

fn statement(kind: impl Strategy<Value = StatementKind>) -> impl Strategy<Value = Statement> {
    (kind, trivia(), prop::option::of(comment())).prop_map(|(kind, leading, trailing)| Statement {
        kind,
        span: Span::default(),
        leading,
        trailing,
    })
}

fn trim_blanks(v: &mut Vec<Trivia>) {
    while v.first() == Some(&Trivia::Blank) {
        v.remove(0);
    }
    while v.last() == Some(&Trivia::Blank) {
        v.pop();
    }
}

/// A random valid tree in the formatter's layout: a header without blank
/// lines at its ends, settings first, no blank line in the first
/// statement's comments, one blank line before the first declaration when
/// there are settings, no blank line at the end.
fn scenario() -> impl Strategy<Value = Scenario> {
    (
        trivia(),
        prop::collection::vec(statement(setting()), 0..4),
        prop::collection::vec(
            statement(prop_oneof![4 => declaration(), 1 => claim()]),
            0..6,
        ),
        trivia(),
    )
        .prop_map(|(mut header, settings, decls, mut trailing)| {
            let n_settings = settings.len();
            let mut statements: Vec<Statement> = settings.into_iter().chain(decls).collect();
            trim_blanks(&mut header);
            if let Some(first) = statements.first_mut() {
                first.leading.retain(|t| *t != Trivia::Blank);
            } else {
                header.clear();
                trim_blanks(&mut trailing);
            }
            if n_settings > 0
                && let Some(first_decl) = statements.get_mut(n_settings)
                && first_decl.leading.first() != Some(&Trivia::Blank)
            {
                first_decl.leading.insert(0, Trivia::Blank);
            }
            while trailing.last() == Some(&Trivia::Blank) {
                trailing.pop();
            }
            Scenario {
                source: SourceFile::default(),
                header,
                statements,
                trailing,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn format_round_trips_and_is_idempotent(ast in scenario()) {
        let text = format(&ast);
        let back = parse(&text, "fmt.scn");
        prop_assert!(back.is_ok(), "formatted text does not parse:\n{}\n{}", text, back.err().map(|d| d.render(false)).unwrap_or_default());
        let back = back.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(back.without_spans(), ast.without_spans(), "text:\n{}", text);
        prop_assert_eq!(format(&back), text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        if let Ok(ast) = parse(&text, "fuzz.scn") {
            let _ = format(&ast);
            let _ = check(&ast, &SnapshotCatalog);
        }
    }

    #[test]
    fn arbitrary_bytes_decoded_lossily_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(ast) = parse(&text, "fuzz.scn") {
            let _ = check(&ast, &SnapshotCatalog);
        }
    }

    #[test]
    fn scenario_shaped_text_never_panics(
        parts in prop::collection::vec(prop_oneof![
            Just("model"), Just("variant"), Just("attack"), Just("transfer"), Just("using"), Just("all"),
            Just("defend"), Just("prune"), Just("quantise"), Just("finetune"), Just("base"), Just("p"),
            Just("lenet5"), Just("fgsm"), Just("magnitude"), Just("fixed"), Just("taboo"), Just("density"),
            Just("bits"), Just("epsilon"), Just("seed"), Just("="), Just("|"), Just("->"), Just(","),
            Just("{"), Just("}"), Just("["), Just("]"), Just(":"), Just("0.5"), Just("-1"), Just("8"),
            Just("\"s\""), Just("\n"), Just("# c\n"), Just("1e999"), Just("99999999999999999999"),
            Just("expect"), Just("("), Just(")"), Just(">"), Just("<="), Just("along"), Just("increasing"),
            Just("success"), Just("accuracy"), Just("density=0.5"), Just("."),
        ], 0..40)
    ) {
        let text = parts.join(" ");
        match parse(&text, "fuzz.scn") {
            Ok(ast) => {
                let _ = format(&ast);
                if let Err(d) = check(&ast, &SnapshotCatalog) {
                    let _ = d.render(false);
                }
            }
            Err(d) => { let _ = d.render(false); }
        }
    }
}

#[test]
fn hostile_inputs_are_refused_without_panicking() {
    let deep = "[".repeat(100_000);
    let long_list = format!(
        "model m = lenet5 {{ epochs: [{}] }}",
        (0..5000)
            .map(|i| (i + 1).to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let many = "seed = 1\n".repeat(5000);
    let inputs = [
        deep.as_str(),
        "\u{0}\u{1}\u{ffff}\u{fffd}",
        "model m = lenet5 { epochs: 1e999 }",
        "seed = -99999999999999999999999",
        "seed = -1",
        long_list.as_str(),
        many.as_str(),
        "\"",
        "#",
        "x = \"\\",
    ];
    for text in inputs {
        match parse(text, "hostile.scn") {
            Ok(ast) => {
                let _ = check(&ast, &SnapshotCatalog).map_err(|d| d.render(false));
            }
            Err(d) => {
                assert!(d.has_errors());
                let _ = d.render(false);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// However keys are written (swept, the same keyed parameter in two or
    /// three blocks of one lineage), nothing the checker returns holds a
    /// passphrase, and every one can be revealed from its stand-in.
    #[test]
    fn no_passphrase_survives_checking(
        keys in prop::collection::btree_set("[A-Z][a-z0-9 !_-]{7,15}", 1..4),
        third in any::<bool>(),
    ) {
        let list: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
        let list = list.join(", ");
        let extra = if third {
            format!(" | defend taboo {{ key: [{list}] }}")
        } else {
            String::new()
        };
        let text = format!(
            "model m = lenet5 {{ epochs: 1 }} defend taboo {{ key: [{list}] }}\n\
             variant v = m | defend sitatapatra {{ key: [{list}] }}{extra}\n\
             attack a = fgsm {{}}\ntransfer v -> m using a\n"
        );
        let ast = parse(&text, "keys.scn").unwrap_or_else(|d| panic!("{}", d.render(false)));
        let r = check(&ast, &SnapshotCatalog).unwrap_or_else(|d| panic!("{}", d.render(false)));
        let debug = format!("{r:?}");
        let json = serde_json::to_string(&r).unwrap();
        for k in &keys {
            prop_assert!(!debug.contains(k.as_str()) && !json.contains(k.as_str()), "{} leaks", k);
        }
        prop_assert_eq!(r.secrets.len(), keys.len());
    }
}
