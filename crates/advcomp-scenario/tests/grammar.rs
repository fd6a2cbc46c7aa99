//! `grammar/scenario.pest`, rule by rule: what each rule accepts (the whole
//! input, nothing left over) and what it refuses, with the pair trees of
//! the interesting cases snapshotted.

use advcomp_scenario::grammar::{Rule, ScenarioParser};
use pest::Parser as _;
use pest::iterators::Pairs;

/// Whether `rule` matches all of `input`.
fn accepts(rule: Rule, input: &str) -> bool {
    match ScenarioParser::parse(rule, input) {
        Ok(pairs) => {
            pairs
                .last()
                .is_some_and(|p| p.as_span().end() == input.len())
                || input.is_empty()
        }
        Err(_) => false,
    }
}

fn check_rule(rule: Rule, good: &[&str], bad: &[&str]) {
    for g in good {
        assert!(accepts(rule, g), "{rule:?} should accept {g:?}");
    }
    for b in bad {
        assert!(!accepts(rule, b), "{rule:?} should refuse {b:?}");
    }
}

/// The pairs as an indented tree: `rule "text"`, punctuation left out.
fn tree(pairs: Pairs<'_, Rule>, depth: usize, out: &mut String) {
    for p in pairs {
        let rule = p.as_rule();
        if matches!(
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
                | Rule::EOI
        ) {
            continue;
        }
        out.push_str(&format!(
            "{}{rule:?} {:?}\n",
            "  ".repeat(depth),
            p.as_str()
        ));
        tree(p.into_inner(), depth + 1, out);
    }
}

fn dump(rule: Rule, input: &str) -> String {
    let mut out = String::new();
    tree(
        ScenarioParser::parse(rule, input).expect("parses"),
        0,
        &mut out,
    );
    out
}

#[test]
fn comments_and_whitespace_are_skipped_between_tokens() {
    check_rule(
        Rule::scenario,
        &[
            "",
            "# only a comment",
            "\n\n  \t\r\n",
            "seed = 1 # trailing\n# more\n",
            "seed\n=\n1",
        ],
        &["seed = 1 2", "@"],
    );
}

#[test]
fn int() {
    check_rule(
        Rule::int,
        &["0", "42", "-7", "007"],
        &["", "-", "1.5", "1e3", "+1", "8x", "1-"],
    );
}

#[test]
fn float() {
    check_rule(
        Rule::float,
        &["0.1", "-2.5", "1e-3", "1E10", "2.5e+2", "-0.0"],
        &["1", "1.", ".5", "1e", "1.5.2", "1.5x", "- 1.5"],
    );
}

#[test]
fn string() {
    check_rule(
        Rule::string,
        &[
            r#""""#,
            r#""mnist""#,
            r#""a \"q\" \\ \n \t \r""#,
            "\"ünïcødé #not a comment\"",
        ],
        &[
            r#""unclosed"#,
            "\"two\nlines\"",
            r#""bad \x escape""#,
            "'single'",
        ],
    );
}

#[test]
fn boolean_and_word() {
    check_rule(Rule::boolean, &["true", "false"], &["True", "truex", "yes"]);
    check_rule(
        Rule::word,
        &["adam", "global", "_x", "a-b_c9"],
        &["9a", "-a", ""],
    );
}

#[test]
fn list() {
    check_rule(
        Rule::list,
        &[
            "[]",
            "[1]",
            "[1, 2, 3]",
            "[1, 2,]",
            "[\n 0.5,\n 0.2, # c\n]",
            "[\"a\", b, true, 1e-3]",
            "[[1]]",
        ],
        &["[", "[1, 2", "[,]", "[1 2]", "[1,,2]"],
    );
}

#[test]
fn params() {
    check_rule(
        Rule::params,
        &[
            "{}",
            "{ a: 1 }",
            "{ a: 1, b: [1, 2], }",
            "{\n  epochs: 8,\n  optimizer: \"adam\"\n}",
        ],
        &[
            "{",
            "{ a 1 }",
            "{ a: }",
            "{ a: 1 b: 2 }",
            "{ : 1 }",
            "{ a: 1,, }",
        ],
    );
    insta::assert_snapshot!(
        "rule_params",
        dump(Rule::params, "{ lr: 1e-3, keys: [\"k1\", k2], on: true }")
    );
}

#[test]
fn names_exclude_keywords() {
    check_rule(
        Rule::ident,
        &["model", "a", "_b", "x-y", "A9"],
        &["9", "-x", ""],
    );
    check_rule(
        Rule::name,
        &["base", "models", "all_", "using2", "quantised"],
        &["model", "all", "using", "true", "quantize", "ensemble"],
    );
}

#[test]
fn setting() {
    check_rule(
        Rule::setting,
        &["seed = 42", "backend = \"cpu\"", "data=mnist"],
        &["seed 42", "seed =", "model = 1"],
    );
    insta::assert_snapshot!("rule_setting", dump(Rule::setting, "test_images = 1000"));
}

#[test]
fn model_decl() {
    check_rule(
        Rule::model_decl,
        &[
            "model base = lenet5",
            "model base = lenet5 { epochs: 8 }",
            "model keyed = lenet5 { epochs: 8 } defend taboo { key: [\"k1\", \"k2\"] }",
            "model keyed = lenet5 defend taboo",
        ],
        &[
            "model base lenet5",
            "model = lenet5",
            "model base = { epochs: 8 }",
            "model base = lenet5 defend",
        ],
    );
    insta::assert_snapshot!(
        "rule_model_decl",
        dump(
            Rule::model_decl,
            "model keyed = lenet5 { epochs: 8 } defend taboo { key: \"k1\" }"
        )
    );
}

#[test]
fn variant_decl_and_steps() {
    check_rule(
        Rule::variant_decl,
        &[
            "variant p = base | prune magnitude",
            "variant p = base | prune magnitude { density: [0.5, 0.2] } | finetune { epochs: 2 }",
            "variant q = base | quantize fixed { bits: 8 }",
            "variant d = p | defend taboo { key: \"k\" } | finetune",
        ],
        &[
            "variant p = base",
            "variant p = base prune magnitude",
            "variant p = | finetune",
            "variant p = base | finetune magnitude",
        ],
    );
    check_rule(
        Rule::step,
        &["| finetune", "|prune dns{density:0.1}"],
        &["finetune", "| explode"],
    );
    check_rule(
        Rule::prune_step,
        &["prune magnitude", "prune filter { scope: global }"],
        &["prune", "prune { }"],
    );
    check_rule(
        Rule::quantise_step,
        &["quantise fixed", "quantize dynamic { act_bits: 8 }"],
        &["quantise"],
    );
    check_rule(
        Rule::finetune_step,
        &["finetune", "finetune { epochs: 2 }"],
        &["finetune x"],
    );
    check_rule(
        Rule::defence,
        &["defend taboo", "defend sitatapatra { key: \"k\" }"],
        &["defend"],
    );
    insta::assert_snapshot!(
        "rule_variant_decl",
        dump(
            Rule::variant_decl,
            "variant both = pruned | quantise dynamic { weight_bits: 8 } | finetune"
        )
    );
}

#[test]
fn attack_decl() {
    check_rule(
        Rule::attack_decl,
        &[
            "attack fgsm = fgsm",
            "attack cw = cw_l2 { binary_search_steps: 5, images: 500 }",
        ],
        &["attack = fgsm", "attack fgsm fgsm", "attack all = fgsm"],
    );
    insta::assert_snapshot!(
        "rule_attack_decl",
        dump(
            Rule::attack_decl,
            "attack eps = pgd { epsilon: [0.1, 0.2] }"
        )
    );
}

#[test]
fn ensemble_decl() {
    check_rule(
        Rule::ensemble_decl,
        &[
            "ensemble mine = { a }",
            "ensemble mine = {a, b, c}",
            "ensemble mine = {\n  a,\n  b\n}",
        ],
        &[
            "ensemble mine = { }",
            "ensemble mine = a, b",
            "ensemble = { a }",
            "ensemble all = { a }",
            "ensemble mine = { a, }",
        ],
    );
}

#[test]
fn transfer_decl() {
    check_rule(
        Rule::transfer_decl,
        &[
            "transfer base -> pruned using fgsm",
            "transfer base -> pruned, quantised using fgsm, cw",
            "transfer pruned, quantised -> base, pruned, quantised using all",
        ],
        &[
            "transfer -> base using all",
            "transfer base -> using all",
            "transfer base -> pruned using",
            "transfer base pruned using all",
            "transfer base -> pruned fgsm",
            "transfer base, -> pruned using all",
        ],
    );
    check_rule(Rule::name_list, &["a", "a, b", "a,b,c"], &["a,", ", a"]);
    check_rule(
        Rule::attack_list,
        &["all", "fgsm, cw"],
        &["", "fgsm,", "fgsm, all", "all, fgsm"],
    );
    check_rule(Rule::ident, &["a-b"], &["a->"]);
    assert!(accepts(Rule::transfer_decl, "transfer a->b using all"));
    insta::assert_snapshot!(
        "rule_transfer_decl",
        dump(
            Rule::transfer_decl,
            "transfer base -> pruned, quantised using all"
        )
    );
}

#[test]
fn expect_decl_compares_metrics_or_follows_a_trend() {
    insta::assert_snapshot!(
        "rule_expect_decl_compare",
        dump(
            Rule::expect_decl,
            "expect transfer(p[density=0.1] -> base, ifgsm) >= 0.5"
        )
    );
    insta::assert_snapshot!(
        "rule_expect_decl_trend",
        dump(
            Rule::expect_decl,
            "expect success(p, fgsm) decreasing along finetune.epochs { tolerance: 0.02 }"
        )
    );
    for ok in [
        "expect accuracy(base) > 0.9",
        "expect 0.9 < accuracy(base)",
        "expect density(p) <= 0.5",
        "expect transfer(a->b, x) < transfer(b->a, x)",
        "expect success(p[key=\"k1\", bits=8], fgsm) > 0",
    ] {
        assert!(accepts(Rule::expect_decl, ok), "{ok}");
    }
    for bad in [
        "expect accuracy(base) = 0.9",
        "expect accuracy(base) increasing",
        "expect accuracy(base) rising along bits",
        "expect accuracy(base > 0.9",
        "expect 0.9",
    ] {
        assert!(!accepts(Rule::expect_decl, bad), "{bad}");
    }
}

#[test]
fn scenario_accepts_statements_in_any_order_and_across_lines() {
    let text = "transfer base -> p using all\nmodel base = lenet5 {\n  epochs: 8, # eight\n}\nseed = 1\nvariant p = base\n  | prune magnitude { density: 0.5 }\nattack a = fgsm\n";
    assert!(accepts(Rule::scenario, text));
    assert!(!accepts(Rule::scenario, "seed = 1 )"));
}

#[test]
fn keywords_and_punctuation_are_rules_so_errors_can_name_them() {
    for (rule, text) in [
        (Rule::kw_model, "model"),
        (Rule::kw_variant, "variant"),
        (Rule::kw_ensemble, "ensemble"),
        (Rule::kw_attack, "attack"),
        (Rule::kw_transfer, "transfer"),
        (Rule::kw_using, "using"),
        (Rule::kw_defend, "defend"),
        (Rule::kw_prune, "prune"),
        (Rule::kw_quantise, "quantize"),
        (Rule::kw_finetune, "finetune"),
        (Rule::kw_all, "all"),
        (Rule::kw_expect, "expect"),
        (Rule::kw_along, "along"),
        (Rule::lparen, "("),
        (Rule::rparen, ")"),
        (Rule::eq, "="),
        (Rule::colon, ":"),
        (Rule::comma, ","),
        (Rule::pipe, "|"),
        (Rule::arrow, "->"),
        (Rule::lbrace, "{"),
        (Rule::rbrace, "}"),
        (Rule::lbracket, "["),
        (Rule::rbracket, "]"),
        (Rule::quote, "\""),
    ] {
        assert!(accepts(rule, text), "{rule:?}");
    }
    assert!(!accepts(Rule::kw_model, "models"));
}
