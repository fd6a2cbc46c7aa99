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
        for (title, pick) in [
            ("transfer rate", 0usize),
            ("target accuracy on the adversarial set", 1),
        ] {
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
                                _ => r3(c.target_accuracy),
                            })
                    })
                    .collect();
                let _ = writeln!(out, "| {s} | {} |", row.join(" | "));
            }
            let _ = writeln!(out);
        }
    }
    if !plots.is_empty() {
        let _ = writeln!(out, "## Plots\n");
        for (title, file) in plots {
            let _ = writeln!(out, "![{title}]({file})\n");
        }
    }
    out
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
    let mut out =
        String::from("attack,source,target,eligible,transferred,transfer_rate,target_accuracy\n");
    for t in &results.transfers {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            quote(&t.attack),
            quote(&t.source),
            quote(&t.target),
            t.eligible,
            t.transferred,
            t.transfer_rate.map_or(String::new(), |r| r.to_string()),
            t.target_accuracy
        );
    }
    out
}

/// `models.csv`: one row per model.
pub fn models_csv(results: &Results) -> String {
    let mut out = String::from("model,accuracy,density,weight_bits,act_bits\n");
    for m in &results.models {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            quote(&m.id),
            m.accuracy,
            m.density,
            m.weight_bits,
            m.act_bits
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
