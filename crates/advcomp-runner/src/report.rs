//! `report.md` and `transfer.csv` from [`Results`].
//!
//! Numbers in the Markdown are rounded to 3 decimals so that the report
//! can be snapshot-tested and diffed in review; `results.json` keeps full
//! precision.

use std::fmt::Write as _;

use advcomp_attack::NormStats;

use crate::results::Results;

fn r3(v: f64) -> String {
    format!("{v:.3}")
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
    let _ = writeln!(out, "## Models\n");
    let _ = writeln!(
        out,
        "| model | accuracy | density | weight bits | activation bits |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for m in &results.models {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            m.id,
            r3(m.accuracy),
            r3(m.density),
            bits(m.weight_bits),
            bits(m.act_bits)
        );
    }
    let _ = writeln!(out, "\n## White-box attacks\n");
    let _ = writeln!(
        out,
        "Success rate over the attacked images the model classifies correctly; norms are means over the successful ones.\n"
    );
    let _ = writeln!(
        out,
        "| attack | model | images | success | accuracy under attack | L0 | L2 | L∞ | gradients/image |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for w in &results.whitebox {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            w.attack,
            w.model,
            w.images,
            r3(w.success_rate),
            r3(w.accuracy_under_attack),
            norm(&w.l0),
            norm(&w.l2),
            norm(&w.linf),
            w.gradients_per_image.round()
        );
    }
    let _ = writeln!(out, "\n## Transfer\n");
    let _ = writeln!(
        out,
        "Transfer rate (see docs/metrics.md): among samples both models classify correctly when clean and that fool the source, the share that also fools the target; eligible samples in brackets. Then the target's accuracy on the whole adversarial set.\n"
    );
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
                                0 => format!(
                                    "{} ({})",
                                    c.transfer_rate.map_or("–".into(), r3),
                                    c.eligible
                                ),
                                1 => r3(c.target_accuracy),
                                2 => c.detection_rate.map_or("–".into(), r3),
                                _ => c.evasion_rate.map_or("–".into(), r3),
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
        "Key ids, never keys. Cost: accuracy of the unkeyed twin (the same fine-tune without the defence) minus the model's. False positives: share of the clean test images the detector flags. White-box detection: share of the samples made on the model itself (without knowledge of the detector) that its detector flags.\n"
    );
    let _ = writeln!(
        out,
        "| model | defence | key id | accuracy | unkeyed twin | cost | false positives | white-box detection |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for m in &results.models {
        let Some(d) = &m.defence else { continue };
        let defence = if d.applied_to == m.id {
            d.defence.clone()
        } else {
            format!("{} (from {})", d.defence, d.applied_to)
        };
        let whitebox: Vec<String> = results
            .whitebox
            .iter()
            .filter(|w| w.model == m.id)
            .filter_map(|w| w.detection_rate.map(|r| format!("{} {}", w.attack, r3(r))))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            m.id,
            defence,
            d.key_id.as_deref().unwrap_or("–"),
            r3(m.accuracy),
            d.twin_accuracy.map_or("–".into(), r3),
            d.accuracy_cost.map_or("–".into(), r3),
            d.false_positive_rate.map_or("–".into(), r3),
            if whitebox.is_empty() {
                "–".into()
            } else {
                whitebox.join(", ")
            }
        );
    }
    if !results.keyed.is_empty() {
        let _ = writeln!(out, "\n## Transfer with and without keys\n");
        let _ = writeln!(
            out,
            "Pooled over (source, target) pairs of each kind: `unkeyed` (neither model has a detector), `different keys (D)` (both keyed by defence D), `same key (D)` (e.g. a compressed variant of the source), `mixed` (anything else). Transfer: share of eligible samples that fool the target; undetected: share that fool it and pass its detector.\n"
        );
        let _ = writeln!(
            out,
            "| attack | pairs | count | eligible | transfer | detected | fooled and undetected |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for k in &results.keyed {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                k.attack,
                k.pairs_kind,
                k.pairs,
                k.eligible,
                k.transfer_rate.map_or("–".into(), r3),
                k.detection_rate.map_or("–".into(), r3),
                k.evasion_rate.map_or("–".into(), r3)
            );
        }
    }
    if !results.traceback.is_empty() {
        let _ = writeln!(out, "\n## Traceback\n");
        let _ = writeln!(
            out,
            "Samples that fool their source, checked by the source and every differently keyed target of the same defence; a sample flagged by any of them is attributed to one key (docs/defences.md). Accuracy: share of the detected samples attributed to the source's key.\n"
        );
        let _ = writeln!(
            out,
            "| attack | source | suspects | samples | detected | traced | accuracy | chance |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for t in &results.traceback {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                t.attack,
                t.source,
                t.suspects.len(),
                t.samples,
                t.detected,
                t.traced,
                t.accuracy.map_or("–".into(), r3),
                r3(t.chance)
            );
        }
    }
    let _ = writeln!(out);
}

fn bits(b: u8) -> String {
    if b >= 32 {
        "float".into()
    } else {
        b.to_string()
    }
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

/// `models.csv`: one row per model.
pub fn models_csv(results: &Results) -> String {
    let mut out = String::from(
        "model,accuracy,density,weight_bits,act_bits,defence,key_id,false_positive_rate,accuracy_cost\n",
    );
    for m in &results.models {
        let d = m.defence.as_ref();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            quote(&m.id),
            m.accuracy,
            m.density,
            m.weight_bits,
            m.act_bits,
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
