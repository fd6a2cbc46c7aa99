//! `cargo xtask paper zhao2019`: runs a paper's scenarios and regenerates
//! its reproduction document and figures from the results.
//!
//! The scenarios (`scenarios/papers/`) hold everything that decides a
//! number: models, compression sweeps, attacks, seeds, and the paper's
//! findings as `expect` claims, each under a comment that quotes the paper.
//! This task only runs them (through the cache, so a rerun is quick) and
//! writes what they measured: the claims table ("paper says / advcomp
//! measures / holds?"), one table and one figure per compression family
//! (white-box success on the compressed model, full → compressed and
//! compressed → full transfer, means over seeds with 95 % intervals), and
//! nothing else — no number in the document is typed by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use advcomp_backend::BackendKind;
use advcomp_runner::claims::{Estimate, Verdict};
use advcomp_runner::{Results, RunOptions};
use advcomp_scenario::ast::{StatementKind, Trivia};
use advcomp_scenario::{Origin, Resolved};
use plotters::prelude::*;

#[derive(clap::Args)]
pub struct PaperArgs {
    /// Which paper (only `zhao2019` so far).
    name: String,
    /// Artifact cache (shared with `advcomp run`).
    #[arg(long, default_value = "runs/cache")]
    cache: PathBuf,
    /// Backend.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Dataset directory (default: the usual lookup, else the bundled MNIST).
    #[arg(long)]
    data: Option<PathBuf>,
}

/// A paper: its scenarios, its document and its figures.
struct Paper {
    /// Title line of the document.
    title: &'static str,
    /// The document written.
    doc: &'static str,
    /// Where its figures go (relative to the repository root).
    figures: &'static str,
    /// Hand-written context placed after the title (no numbers in it).
    preamble: &'static str,
    /// The scenarios, in order.
    scenarios: &'static [&'static str],
    /// The compression families tabulated and plotted.
    families: &'static [Family],
}

/// A swept variant declaration whose instances are compared with their
/// uncompressed parent.
struct Family {
    /// Section title.
    title: &'static str,
    /// The scenario it is in (an entry of `Paper::scenarios`).
    scenario: &'static str,
    /// The variant declaration.
    variant: &'static str,
    /// The sweep key that groups its instances (seeds are averaged).
    group: &'static str,
    /// What the x axis shows.
    x: X,
    /// The figure's file name.
    figure: &'static str,
}

/// The x value of a group.
#[derive(Clone, Copy)]
enum X {
    /// The sweep value itself (bits).
    Sweep(&'static str),
    /// The density the group's models reached (mean over seeds).
    Density,
}

const ZHAO2019: Paper = Paper {
    title: "Reproducing Zhao et al. 2019, *To compress or not to compress*",
    doc: "docs/papers/zhao2019.md",
    figures: "docs/papers/zhao2019",
    preamble: include_str!("paper/zhao2019-preamble.md"),
    scenarios: &[
        "scenarios/papers/zhao2019-lenet5-pruning.scn",
        "scenarios/papers/zhao2019-lenet5-quantisation.scn",
    ],
    families: &[
        Family {
            title: "Pruning (Dynamic Network Surgery)",
            scenario: "scenarios/papers/zhao2019-lenet5-pruning.scn",
            variant: "pruned",
            group: "alpha",
            x: X::Density,
            figure: "lenet5-pruning.svg",
        },
        Family {
            title: "Quantisation: integer bits (4 fraction bits)",
            scenario: "scenarios/papers/zhao2019-lenet5-quantisation.scn",
            variant: "q_int",
            group: "int_bits",
            x: X::Sweep("integer bits"),
            figure: "lenet5-integer-bits.svg",
        },
        Family {
            title: "Quantisation: fraction bits (4 integer bits)",
            scenario: "scenarios/papers/zhao2019-lenet5-quantisation.scn",
            variant: "q_frac",
            group: "frac_bits",
            x: X::Sweep("fraction bits"),
            figure: "lenet5-fraction-bits.svg",
        },
    ],
};

/// One scenario, run.
struct Ran {
    path: &'static str,
    resolved: Resolved,
    results: Results,
    plan: advcomp_runner::Plan,
    /// The comment lines above each `expect`, by line of the statement.
    comments: BTreeMap<usize, String>,
}

pub fn run(args: &PaperArgs) -> Result<(), String> {
    let paper = match args.name.as_str() {
        "zhao2019" => &ZHAO2019,
        other => return Err(format!("unknown paper `{other}`; known: zhao2019")),
    };
    let kind: BackendKind = args
        .backend
        .parse()
        .map_err(|e: advcomp_backend::BackendError| e.to_string())?;
    let device = advcomp_backend::device(kind).map_err(|e| e.to_string())?;
    let mut ran = Vec::new();
    for &path in paper.scenarios {
        let started = std::time::Instant::now();
        let (bytes, resolved) = advcomp_runner::load(Path::new(path)).map_err(|e| e.to_string())?;
        let stem = Path::new(path)
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let options = RunOptions {
            scenario: PathBuf::from(path),
            out_dir: PathBuf::from("runs/papers").join(&stem),
            cache_dir: args.cache.clone(),
            data_dir: args.data.clone(),
            backend: kind.resolve().to_string(),
            ..RunOptions::default()
        };
        eprintln!("running {path}");
        let outcome = advcomp_runner::run(&resolved, &bytes, &options, &device, &mut Progress)
            .map_err(|e| format!("{path}: {e}"))?;
        let results = outcome
            .results
            .ok_or_else(|| format!("{path}: the run stopped early"))?;
        eprintln!(
            "{path}: {} steps in {:.0} s",
            outcome.plan.steps.len(),
            started.elapsed().as_secs_f64()
        );
        let comments = claim_comments(&String::from_utf8_lossy(&bytes), path)?;
        ran.push(Ran {
            path,
            resolved,
            results,
            plan: outcome.plan,
            comments,
        });
    }
    std::fs::create_dir_all(paper.figures).map_err(|e| format!("{}: {e}", paper.figures))?;
    let mut doc = String::new();
    let _ = writeln!(doc, "# {}\n", paper.title);
    let _ = writeln!(
        doc,
        "<!-- Generated by `cargo xtask paper {}` from the scenarios below; edit those, xtask/src/paper.rs or xtask/src/paper/, not this file. -->\n",
        args.name
    );
    doc.push_str(paper.preamble);
    provenance(&mut doc, &ran);
    claims_table(&mut doc, &ran);
    for family in paper.families {
        let Some(r) = ran.iter().find(|r| r.path == family.scenario) else {
            continue;
        };
        let table = family_table(family, r);
        let _ = writeln!(doc, "## {}\n", family.title);
        let _ = writeln!(
            doc,
            "`{}` in [`{}`](../../{}); means over fine-tuning seeds ± the half-width of their 95 % interval (n = {}).\n",
            family.variant,
            Path::new(family.scenario)
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            family.scenario,
            table.seeds
        );
        write_table(&mut doc, family, &table);
        let figure = Path::new(paper.figures).join(family.figure);
        plot(&figure, family, &table)?;
        let _ = writeln!(
            doc,
            "\n![{}]({}/{})\n",
            family.title,
            Path::new(paper.figures)
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            family.figure
        );
    }
    if let Some(first) = ran.first() {
        let file = "digits.png";
        let attacks = digit_grid(&Path::new(paper.figures).join(file), first, args)?;
        let _ = writeln!(doc, "## What the attacks do to a digit\n");
        let _ = writeln!(
            doc,
            "Test digits the full model classifies correctly and each attack fools on it (the first {DIGITS} in test order), clean above and adversarial below, for {} from top to bottom.\n",
            attacks.join(", ")
        );
        let _ = writeln!(
            doc,
            "![clean and adversarial digits]({}/{file})",
            Path::new(paper.figures)
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
        );
    }
    advcomp_runner::cache::write(Path::new(paper.doc), doc.as_bytes())
        .map_err(|e| e.to_string())?;
    eprintln!("wrote {} and {}/", paper.doc, paper.figures);
    Ok(())
}

/// Prints each computed step's label and time.
struct Progress;

impl advcomp_runner::RunObserver for Progress {
    fn step_end(
        &mut self,
        index: usize,
        step: &advcomp_runner::plan::PlanStep,
        cached: bool,
        seconds: f64,
    ) {
        if !cached {
            eprintln!("  {:>4}. {} ({seconds:.1} s)", index + 1, step.label);
        }
    }
}

/// The full-line comments just above each `expect` statement, by the
/// statement's line: the paper's words the claim formalises. A claim
/// written directly under another (no comment, no blank line between)
/// formalises the same words.
fn claim_comments(text: &str, path: &str) -> Result<BTreeMap<usize, String>, String> {
    let ast = advcomp_scenario::parse(text, path).map_err(|d| d.render(false))?;
    let mut out = BTreeMap::new();
    let mut previous: Option<String> = None;
    for st in &ast.statements {
        if !matches!(st.kind, StatementKind::Expect(_)) {
            previous = None;
            continue;
        }
        if st.leading.is_empty()
            && let Some(words) = &previous
        {
            out.insert(ast.source.line_col(st.span.start).0, words.clone());
            continue;
        }
        // The comment block nearest the statement (after the last blank).
        let start = st
            .leading
            .iter()
            .rposition(|t| *t == Trivia::Blank)
            .map_or(0, |i| i + 1);
        let words: Vec<&str> = st.leading[start..]
            .iter()
            .filter_map(|t| match t {
                Trivia::Comment(c) => Some(c.trim()),
                Trivia::Blank => None,
            })
            .collect();
        let words = words.join(" ");
        out.insert(ast.source.line_col(st.span.start).0, words.clone());
        previous = Some(words);
    }
    Ok(out)
}

fn provenance(doc: &mut String, ran: &[Ran]) {
    let _ = writeln!(doc, "## How these numbers were made\n");
    let _ = writeln!(
        doc,
        "| scenario | dataset | train / test images | seed | backend | steps |\n|---|---|---|---|---|---|"
    );
    for r in ran {
        let p = &r.results.provenance;
        let _ = writeln!(
            doc,
            "| [`{}`](../../{}) | {} | {} / {} | {} | {} | {} |",
            r.path.rsplit('/').next().unwrap_or(r.path),
            r.path,
            p.dataset,
            p.train_images,
            p.test_images,
            p.seed,
            p.backend,
            r.results.timings.len()
        );
    }
    let base = ran
        .iter()
        .flat_map(|r| &r.results.models)
        .find(|m| m.id == "base");
    if let Some(b) = base {
        let _ = writeln!(
            doc,
            "\nThe full-precision LeNet-5 (`base`) reaches {:.2} % on the test images.",
            100.0 * b.accuracy
        );
    }
    let _ = writeln!(
        doc,
        "White-box success of each attack on it, the budget the scenarios use:\n"
    );
    let _ = writeln!(
        doc,
        "| attack | configuration | success on `base` | mean L2 | mean L∞ |\n|---|---|---|---|---|"
    );
    let mut seen = Vec::new();
    for r in ran {
        for w in r.results.whitebox.iter().filter(|w| w.model == "base") {
            if seen.contains(&w.attack) {
                continue;
            }
            seen.push(w.attack.clone());
            let config = r
                .resolved
                .attacks
                .iter()
                .find(|a| a.id == w.attack)
                .map(|a| {
                    format!(
                        "`{}` {}",
                        a.attack,
                        serde_json::Value::Object(a.params.clone())
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                doc,
                "| {} | {} | {:.3} | {} | {} |",
                w.attack,
                config,
                w.success_rate,
                w.l2.mean.map_or("–".into(), |v| format!("{v:.3}")),
                w.linf.mean.map_or("–".into(), |v| format!("{v:.3}")),
            );
        }
    }
    doc.push('\n');
}

fn claims_table(doc: &mut String, ran: &[Ran]) {
    let _ = writeln!(doc, "## The findings, claim by claim\n");
    let _ = writeln!(
        doc,
        "Each claim was written in the scenario before it was run and is judged by `advcomp run` on 95 % intervals over seeds (docs/scenario-language.md#claims): ✅ holds, ❌ fails, ❔ inconclusive (the intervals overlap). A failing claim is a finding that does not hold on our models; it stays failing here.\n"
    );
    let _ = writeln!(
        doc,
        "| | paper says | claim | advcomp measures |\n|---|---|---|---|"
    );
    let mut counts = BTreeMap::new();
    for r in ran {
        let file = r.path.rsplit('/').next().unwrap_or(r.path);
        for c in &r.results.claims {
            *counts.entry(c.verdict.word()).or_insert(0usize) += 1;
            let says = r.comments.get(&c.line).cloned().unwrap_or_default();
            let numbers = advcomp_runner::claims::lines(c).join("<br>");
            let _ = writeln!(
                doc,
                "| {} {} | {} | `{}` ([{file}:{}](../../{})) | {} |",
                c.verdict.mark(),
                c.verdict.word(),
                escape(&says),
                c.claim,
                c.line,
                r.path,
                escape(&numbers)
            );
        }
    }
    let summary: Vec<String> = [Verdict::Holds, Verdict::Fails, Verdict::Inconclusive]
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                counts.get(v.word()).copied().unwrap_or(0),
                v.word()
            )
        })
        .collect();
    let _ = writeln!(doc, "\nIn all: {}.\n", summary.join(", "));
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A family's numbers: per attack, per group, the estimates.
struct Table {
    attacks: Vec<String>,
    rows: Vec<Row>,
    seeds: usize,
}

struct Row {
    /// The group's sweep value, as written in ids.
    label: String,
    x: f64,
    accuracy: Estimate,
    density: Estimate,
    /// Per attack: (white-box success on the compressed model, full →
    /// compressed, compressed → full).
    cells: Vec<[Option<Estimate>; 3]>,
}

fn family_table(f: &Family, r: &Ran) -> Table {
    let res = &r.results;
    let members: Vec<_> = r
        .resolved
        .models
        .iter()
        .filter(|m| m.decl == f.variant)
        .collect();
    let attacks: Vec<String> = r
        .resolved
        .attacks
        .iter()
        .map(|a| a.id.clone())
        .filter(|a| res.whitebox.iter().any(|w| &w.attack == a))
        .collect();
    let mut groups: Vec<(String, f64, Vec<&advcomp_scenario::ModelInstance>)> = Vec::new();
    for m in &members {
        let Some(v) = m.sweep.get(f.group) else {
            continue;
        };
        let label = advcomp_scenario::expand::id_value(v);
        match groups.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.2.push(m),
            None => groups.push((label, v.as_f64().unwrap_or(f64::NAN), vec![m])),
        }
    }
    let mut seeds = 0;
    let mut rows = Vec::new();
    for (label, value, ms) in groups {
        seeds = seeds.max(ms.len());
        let model = |id: &str| res.models.iter().find(|m| m.id == id);
        let est = |xs: Vec<f64>| Estimate::of(&xs);
        let accuracy = est(ms
            .iter()
            .filter_map(|m| model(&m.id))
            .map(|m| m.accuracy)
            .collect());
        let density = est(ms
            .iter()
            .filter_map(|m| model(&m.id))
            .filter_map(|m| m.axis(advcomp_compress::axis::DENSITY.name))
            .collect());
        let cells = attacks
            .iter()
            .map(|a| {
                let collect = |pick: &dyn Fn(&str, &str) -> Option<f64>| -> Option<Estimate> {
                    let xs: Option<Vec<f64>> = ms
                        .iter()
                        .map(|m| {
                            let parent = match &m.origin {
                                Origin::Derived { parent, .. } => parent.as_str(),
                                Origin::Trained { .. } | Origin::Ensemble { .. } => m.id.as_str(),
                            };
                            pick(&m.id, parent)
                        })
                        .collect();
                    xs.filter(|v| !v.is_empty()).map(|v| Estimate::of(&v))
                };
                let whitebox = collect(&|id, _| {
                    res.whitebox
                        .iter()
                        .find(|w| w.model == id && &w.attack == a)
                        .map(|w| w.success_rate)
                });
                let transfer = |s: &str, t: &str| {
                    res.transfers
                        .iter()
                        .find(|x| x.source == s && x.target == t && &x.attack == a)
                        .and_then(|x| x.transfer_rate)
                };
                let s1 = collect(&|id, parent| transfer(parent, id));
                let s2 = collect(&|id, parent| transfer(id, parent));
                [whitebox, s1, s2]
            })
            .collect();
        let x = match f.x {
            X::Sweep(_) => value,
            X::Density => density.mean,
        };
        rows.push(Row {
            label,
            x,
            accuracy,
            density,
            cells,
        });
    }
    rows.sort_by(|a, b| b.x.total_cmp(&a.x));
    Table {
        attacks,
        rows,
        seeds,
    }
}

fn cell(e: &Option<Estimate>) -> String {
    match e {
        None => "–".into(),
        Some(e) if e.n > 1 => format!("{:.3} ± {:.3}", e.mean, e.high - e.mean),
        Some(e) => format!("{:.3}", e.mean),
    }
}

fn write_table(doc: &mut String, f: &Family, t: &Table) {
    let _ = write!(doc, "| {} | density | accuracy |", f.group);
    for a in &t.attacks {
        let _ = write!(
            doc,
            " {a}: white box | {a}: full → compressed | {a}: compressed → full |"
        );
    }
    doc.push('\n');
    doc.push_str("|---|---|---|");
    for _ in &t.attacks {
        doc.push_str("---|---|---|");
    }
    doc.push('\n');
    for r in &t.rows {
        let _ = write!(
            doc,
            "| {} | {} | {} |",
            r.label,
            cell(&Some(r.density)),
            cell(&Some(r.accuracy))
        );
        for c in &r.cells {
            let _ = write!(
                doc,
                " {} | {} | {} |",
                cell(&c[0]),
                cell(&c[1]),
                cell(&c[2])
            );
        }
        doc.push('\n');
    }
}

/// One panel per attack: the three rates against x, with 95 % error bars.
fn plot(path: &Path, f: &Family, t: &Table) -> Result<(), String> {
    let mut svg = String::new();
    {
        let width = 360 * t.attacks.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (width, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((1, t.attacks.len().max(1)));
        let xs: Vec<f64> = t
            .rows
            .iter()
            .map(|r| r.x)
            .filter(|x| x.is_finite())
            .collect();
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let pad = ((hi - lo) * 0.05).max(0.01);
        let x_label = match f.x {
            X::Sweep(label) => label,
            X::Density => "density (share of weights kept)",
        };
        let lines: [(&str, RGBColor); 3] = [
            ("white box on compressed", RGBColor(0x33, 0x33, 0x33)),
            ("full → compressed", RGBColor(0x1f, 0x77, 0xb4)),
            ("compressed → full", RGBColor(0xd6, 0x27, 0x28)),
        ];
        for (k, (panel, attack)) in panels.iter().zip(&t.attacks).enumerate() {
            let mut chart = ChartBuilder::on(panel)
                .caption(attack, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(40)
                .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..1.05)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc("rate")
                .light_line_style(WHITE)
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, (name, color)) in lines.iter().enumerate() {
                let pts: Vec<(f64, Estimate)> = t
                    .rows
                    .iter()
                    .filter_map(|r| r.cells[k][i].map(|e| (r.x, e)))
                    .collect();
                let series = chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|(x, e)| (*x, e.mean)),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?;
                if k == 0 {
                    series.label(*name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
                }
                // 95 % intervals as vertical bars (over seeds), and the means.
                chart
                    .draw_series(pts.iter().filter(|(_, e)| e.n > 1).map(|(x, e)| {
                        PathElement::new(vec![(*x, e.low), (*x, e.high)], color.stroke_width(1))
                    }))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(
                        pts.iter()
                            .map(|(x, e)| Circle::new((*x, e.mean), 3, color.filled())),
                    )
                    .map_err(|e| e.to_string())?;
            }
            if k == 0 {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    advcomp_runner::cache::write(path, svg.as_bytes()).map_err(|e| e.to_string())
}

/// Digits per attack in the grid.
const DIGITS: usize = 8;

/// One attack's digits: its id, the clean images and the adversarial ones,
/// each `pixels` long.
type GridRow<'a> = (String, Vec<&'a [f32]>, Vec<Vec<f32>>);

/// A PNG of clean and adversarial digits on `base`, two rows per attack;
/// returns the attacks in row order.
fn digit_grid(path: &Path, r: &Ran, args: &PaperArgs) -> Result<Vec<String>, String> {
    use advcomp_runner::plan::StepKind;
    let s = &r.resolved.settings;
    let kind: advcomp_data::DatasetKind = s.data.parse().map_err(|e| format!("{e}"))?;
    let dir = advcomp_data::resolve(kind, args.data.as_deref()).map_err(|e| e.to_string())?;
    let split = advcomp_data::load(kind, &dir).map_err(|e| e.to_string())?;
    let test = advcomp_train::Limits {
        train: s.train_images,
        test: Some(s.test_images),
    }
    .test_set(&split);
    let shape = [test.shape.channels, test.shape.height, test.shape.width];
    let pixels = shape.iter().product::<usize>();
    let cache = advcomp_runner::cache::Cache::open(&args.cache).map_err(|e| e.to_string())?;
    let mut rows: Vec<GridRow<'_>> = Vec::new();
    for a in &r.resolved.attacks {
        let Some(step_dir) = advcomp_runner::execute::find_dir(
            &r.plan,
            &cache,
            |k| matches!(k, StepKind::Attack { model, attack, .. } if model == "base" && *attack == a.id),
        ) else {
            continue;
        };
        let rec = advcomp_runner::artifacts::read_attack(&step_dir, test.labels.len())
            .map_err(|e| e.to_string())?;
        let adv = advcomp_runner::artifacts::read_images(&step_dir, rec.dims, shape)
            .map_err(|e| e.to_string())?;
        let picked: Vec<usize> = (0..rec.rows.len())
            .filter(|&k| rec.metrics.success[k] && rec.metrics.clean_correct[k])
            .take(DIGITS)
            .collect();
        let clean = picked
            .iter()
            .map(|&k| &test.images[rec.rows[k] * pixels..(rec.rows[k] + 1) * pixels])
            .collect();
        let adversarial = picked
            .iter()
            .map(|&k| adv[k * pixels..(k + 1) * pixels].to_vec())
            .collect();
        rows.push((a.id.clone(), clean, adversarial));
    }
    // Grayscale (first channel), each digit scaled 2× with a 2-pixel gap.
    let (scale, gap) = (2usize, 2usize);
    let (h, w) = (shape[1] * scale, shape[2] * scale);
    let width = DIGITS * (w + gap) + gap;
    let height = rows.len() * 2 * (h + gap) + rows.len() * gap + gap;
    let mut img = vec![255u8; width * height];
    let mut put = |digit: &[f32], top: usize, left: usize| {
        for y in 0..h {
            for x in 0..w {
                let v = digit[(y / scale) * shape[2] + x / scale].clamp(0.0, 1.0);
                // Ink dark on white, as digits are usually shown.
                img[(top + y) * width + left + x] = (255.0 * (1.0 - v)).round() as u8;
            }
        }
    };
    for (i, (_, clean, adv)) in rows.iter().enumerate() {
        let top = gap + i * (2 * (h + gap) + gap);
        for (j, d) in clean.iter().enumerate() {
            put(d, top, gap + j * (w + gap));
        }
        for (j, d) in adv.iter().enumerate() {
            put(d, top + h + gap, gap + j * (w + gap));
        }
    }
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, width as u32, height as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&img).map_err(|e| e.to_string())?;
    }
    advcomp_runner::cache::write(path, &bytes).map_err(|e| e.to_string())?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
