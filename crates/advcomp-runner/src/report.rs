//! `report.md` and `transfer.csv` from [`Results`].
//!
//! Numbers in the Markdown are rounded to 3 decimals so that the report
//! can be snapshot-tested and diffed in review; `results.json` keeps full
//! precision.

use std::fmt::Write as _;

use advcomp_attack::NormStats;

use crate::results::{Results, WhiteBox};

fn r3(v: f64) -> String {
    format!("{v:.3}")
}

/// A rate, or `–` when there is none.
fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), r3)
}

/// A Markdown table: the header, its separator and one line per row.
fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

fn norm(n: &NormStats) -> String {
    n.mean.map_or("–".to_string(), r3)
}

/// The Markdown report.
pub fn markdown(results: &Results, plots: &[(String, String)]) -> String {
    let p = &results.provenance;
    let mut out = String::new();
    let _ = writeln!(out, "# advcomp report: {}\n", p.scenario);
    let _ = writeln!(
        out,
        "{} · seed {} · backend {} · {} train / {} test images · advcomp {} ({})\n",
        p.dataset,
        p.seed,
        p.backend,
        p.train_images,
        p.test_images,
        p.advcomp_version,
        p.git_commit
    );
    claims(&mut out, &results.claims);
    let _ = writeln!(out, "## Models\n");
    // One column per axis the linked compressors declare.
    let axes = advcomp_compress::registry::axes();
    let mut header = vec!["model", "accuracy"];
    header.extend(axes.iter().map(|a| a.title));
    table(
        &mut out,
        &header,
        results.models.iter().map(|m| {
            let mut row = vec![m.id.clone(), r3(m.accuracy)];
            row.extend(
                axes.iter()
                    .map(|a| m.axis(a.name).map_or(String::new(), a.show)),
            );
            row
        }),
    );
    let _ = writeln!(out, "\n## White-box attacks\n");
    let _ = writeln!(
        out,
        "Success rate over the attacked images the model classifies correctly; norms are means over the successful ones.\n"
    );
    table(
        &mut out,
        &[
            "attack",
            "model",
            "images",
            "success",
            "accuracy under attack",
            "L0",
            "L2",
            "L∞",
            "gradients/image",
            "queries/image",
        ],
        results.whitebox.iter().map(|w| {
            vec![
                match &w.target {
                    Some(rule) => format!("{} (targeted: {rule})", w.attack),
                    None => w.attack.clone(),
                },
                w.model.clone(),
                w.images.to_string(),
                r3(w.success_rate),
                r3(w.accuracy_under_attack),
                norm(&w.l0),
                norm(&w.l2),
                norm(&w.linf),
                w.gradients_per_image.round().to_string(),
                w.queries_per_image.round().to_string(),
            ]
        }),
    );
    let _ = writeln!(out, "\n## Transfer\n");
    let _ = writeln!(
        out,
        "Transfer rate (see docs/metrics.md): among samples both models classify correctly when clean and that fool the source, the share that also fools the target; eligible samples in brackets. Then the target's accuracy on the whole adversarial set.\n"
    );
    if results
        .transfers
        .iter()
        .any(|t| t.targeted_transfer_rate.is_some())
    {
        let _ = writeln!(
            out,
            "A targeted attack's samples count as fooling the source when they reach their target class on it; its targeted transfer rate is the share of those eligible samples the target model also assigns to that same class.\n"
        );
    }
    let mut attacks: Vec<&str> = Vec::new();
    for t in &results.transfers {
        if !attacks.contains(&t.attack.as_str()) {
            attacks.push(&t.attack);
        }
    }
    for attack in attacks {
        let cells: Vec<_> = results
            .transfers
            .iter()
            .filter(|t| t.attack == attack)
            .collect();
        let mut sources: Vec<&str> = Vec::new();
        let mut targets: Vec<&str> = Vec::new();
        for c in &cells {
            if !sources.contains(&c.source.as_str()) {
                sources.push(&c.source);
            }
            if !targets.contains(&c.target.as_str()) {
                targets.push(&c.target);
            }
        }
        // Rows and columns in model order, so the diagonal lines up.
        let rank = |id: &str| results.models.iter().position(|m| m.id == id);
        sources.sort_by_key(|id| rank(id));
        targets.sort_by_key(|id| rank(id));
        let defended = cells.iter().any(|c| c.detected.is_some());
        let mut tables = vec![
            ("transfer rate", 0usize),
            ("target accuracy on the adversarial set", 1),
        ];
        if cells.iter().any(|c| c.targeted_transfer_rate.is_some()) {
            tables.insert(
                1,
                (
                    "targeted transfer rate (the target model predicts the same target class)",
                    4,
                ),
            );
        }
        if defended {
            tables.push((
                "detection rate of the target's detector (eligible samples)",
                2,
            ));
            tables.push(("fooled the target and passed its detector", 3));
        }
        for (title, pick) in tables {
            let _ = writeln!(out, "### {attack}: {title}\n");
            let _ = writeln!(out, "| source \\ target | {} |", targets.join(" | "));
            let _ = writeln!(out, "|---|{}", "---|".repeat(targets.len()));
            for s in &sources {
                let row: Vec<String> = targets
                    .iter()
                    .map(|t| {
                        cells
                            .iter()
                            .find(|c| c.source == *s && c.target == *t)
                            .map_or("·".into(), |c| match pick {
                                0 => format!("{} ({})", opt(c.transfer_rate), c.eligible),
                                1 => r3(c.target_accuracy),
                                2 => opt(c.detection_rate),
                                3 => opt(c.evasion_rate),
                                _ => opt(c.targeted_transfer_rate),
                            })
                    })
                    .collect();
                let _ = writeln!(out, "| {s} | {} |", row.join(" | "));
            }
            let _ = writeln!(out);
        }
    }
    defences(&mut out, results);
    if !plots.is_empty() {
        let _ = writeln!(out, "## Plots\n");
        for (title, file) in plots {
            let _ = writeln!(out, "![{title}]({file})\n");
        }
    }
    out
}

/// The defence sections (only when some model is defended).
fn defences(out: &mut String, results: &Results) {
    if !results.models.iter().any(|m| m.defence.is_some()) {
        return;
    }
    let _ = writeln!(out, "## Defences\n");
    let _ = writeln!(
        out,
        "Key ids, never keys. Cost: accuracy of the unkeyed twin (the same fine-tune without the defence) minus the model's. False positives: share of the clean test images the detector flags.\n"
    );
    let rows = results.models.iter().filter_map(|m| {
        let d = m.defence.as_ref()?;
        let defence = if d.applied_to == m.id {
            d.defence.clone()
        } else {
            format!("{} (from {})", d.defence, d.applied_to)
        };
        Some(vec![
            m.id.clone(),
            defence,
            d.key_id.clone().unwrap_or_else(|| "–".into()),
            r3(m.accuracy),
            opt(d.twin_accuracy),
            opt(d.accuracy_cost),
            opt(d.false_positive_rate),
        ])
    });
    table(
        out,
        &[
            "model",
            "defence",
            "key id",
            "accuracy",
            "unkeyed twin",
            "cost",
            "false positives",
        ],
        rows,
    );
    let attacked: Vec<&WhiteBox> = results
        .whitebox
        .iter()
        .filter(|w| w.evasion_rate.is_some())
        .collect();
    if !attacked.is_empty() {
        let _ = writeln!(out, "\n### White-box attacks on defended models\n");
        let _ = writeln!(
            out,
            "Samples made on the model itself; only adaptive attacks such as `adaptive_pgd` know the detector. Success: share of the correctly classified images the attack fools. Flagged: share of those successful samples the model's own detector flags. Fooled and undetected: share of the correctly classified images turned into samples that fool the model and pass its detector.\n"
        );
        table(
            out,
            &[
                "model",
                "attack",
                "success",
                "flagged",
                "fooled and undetected",
            ],
            attacked.iter().map(|w| {
                vec![
                    w.model.clone(),
                    w.attack.clone(),
                    r3(w.success_rate),
                    opt(w.detection_rate),
                    opt(w.evasion_rate),
                ]
            }),
        );
    }
    if !results.keyed.is_empty() {
        let _ = writeln!(out, "\n## Transfer with and without keys\n");
        let _ = writeln!(
            out,
            "Pooled over (source, target) pairs of each kind: `unkeyed` (neither model is defended), `different keys (D)` (both keyed by defence D), `same key (D)` (e.g. a compressed variant of the source), `to a model trained with (D)` (a target defended without a detector, e.g. adversarial training), `to a model guarded by (D)` (a target behind an unkeyed input detector, e.g. feature squeezing), `ensemble of other keys (D)` (an ensemble of models keyed by D under keys other than the target's: an attacker who knows the method, not the key), `mixed` (anything else). Transfer: share of eligible samples that fool the target; undetected: share that fool it and pass its detector.\n"
        );
        table(
            out,
            &[
                "attack",
                "pairs",
                "count",
                "eligible",
                "transfer",
                "detected",
                "fooled and undetected",
            ],
            results.keyed.iter().map(|k| {
                vec![
                    k.attack.clone(),
                    k.pairs_kind.clone(),
                    k.pairs.to_string(),
                    k.eligible.to_string(),
                    opt(k.transfer_rate),
                    opt(k.detection_rate),
                    opt(k.evasion_rate),
                ]
            }),
        );
    }
    if !results.traceback.is_empty() {
        let _ = writeln!(out, "\n## Traceback\n");
        let _ = writeln!(
            out,
            "Samples that fool their source, checked by the source and every differently keyed target of the same defence; a sample flagged by any of them is attributed to one key (docs/defences.md). Accuracy: share of the detected samples attributed to the source's key.\n"
        );
        table(
            out,
            &[
                "attack", "source", "suspects", "samples", "detected", "traced", "accuracy",
                "chance",
            ],
            results.traceback.iter().map(|t| {
                vec![
                    t.attack.clone(),
                    t.source.clone(),
                    t.suspects.len().to_string(),
                    t.samples.to_string(),
                    t.detected.to_string(),
                    t.traced.to_string(),
                    opt(t.accuracy),
                    r3(t.chance),
                ]
            }),
        );
    }
    let _ = writeln!(out);
}

/// `transfer.csv`: one row per (attack, source, target).
pub fn csv(results: &Results) -> String {
    let mut out = String::from(
        "attack,source,target,eligible,transferred,transfer_rate,target_accuracy,detected,evaded\n",
    );
    for t in &results.transfers {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            quote(&t.attack),
            quote(&t.source),
            quote(&t.target),
            t.eligible,
            t.transferred,
            t.transfer_rate.map_or(String::new(), |r| r.to_string()),
            t.target_accuracy,
            t.detected.map_or(String::new(), |d| d.to_string()),
            t.evaded.map_or(String::new(), |d| d.to_string())
        );
    }
    out
}

/// `models.csv`: one row per model, a column per axis the linked
/// compressors declare.
pub fn models_csv(results: &Results) -> String {
    let axes = advcomp_compress::registry::axes();
    let mut out = String::from("model,accuracy,");
    for a in &axes {
        out.push_str(a.name);
        out.push(',');
    }
    out.push_str("defence,key_id,false_positive_rate,accuracy_cost\n");
    for m in &results.models {
        let d = m.defence.as_ref();
        let values: String = axes
            .iter()
            .map(|a| m.axis(a.name).map_or(String::new(), |v| v.to_string()) + ",")
            .collect();
        let _ = writeln!(
            out,
            "{},{},{values}{},{},{},{}",
            quote(&m.id),
            m.accuracy,
            d.map_or("", |d| d.defence.as_str()),
            d.and_then(|d| d.key_id.as_deref()).unwrap_or(""),
            d.and_then(|d| d.false_positive_rate)
                .map_or(String::new(), |r| r.to_string()),
            d.and_then(|d| d.accuracy_cost)
                .map_or(String::new(), |r| r.to_string())
        );
    }
    out
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The scenario's `expect` claims, verdict first, with the numbers behind
/// each (the headline of a report, so it comes first).
fn claims(out: &mut String, claims: &[crate::claims::ClaimResult]) {
    if claims.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Claims\n");
    let _ = writeln!(
        out,
        "Means over seeds with 95 % confidence intervals (n = draws); a claim holds only where the intervals say so (docs/scenario-language.md#claims).\n"
    );
    for c in claims {
        let _ = writeln!(
            out,
            "- {} **{}** — `{}` (line {})",
            c.verdict.mark(),
            c.verdict.word(),
            c.claim,
            c.line
        );
        for line in crate::claims::lines(c) {
            let _ = writeln!(out, "  - {line}");
        }
    }
    out.push('\n');
}
