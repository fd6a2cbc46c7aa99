//! SVG plots of transfer rate against each axis the compressors declare a
//! plot for (density, bitwidth, a plugin's own), one line per attack and
//! direction, drawn with plotters.
//!
//! A point is a transfer cell between an uncompressed model and a
//! compressed one that varies the plot's axis and no other plotted one:
//! the x value is the compressed model's value on the axis, whichever side
//! of the transfer it is on.

use std::collections::BTreeMap;
use std::path::Path;

use advcomp_compress::axis::{Axis, Plot};
use plotters::prelude::*;

use crate::error::RunError;
use crate::results::{ModelResult, Results};

/// Draws the plots that have data into `dir`; returns `(title, file)`.
pub fn draw(results: &Results, dir: &Path) -> Result<Vec<(String, String)>, RunError> {
    let axes = advcomp_compress::registry::axes();
    let plotted: Vec<&str> = axes
        .iter()
        .filter(|a| a.plot.is_some())
        .map(|a| a.name)
        .collect();
    let mut made = Vec::new();
    for axis in &axes {
        let Some(plot) = axis.plot else {
            continue;
        };
        let series = series(results, axis, &plotted);
        if series.values().all(|v| v.is_empty()) {
            continue;
        }
        let path = dir.join(plot.file);
        // Drawn in memory, then written atomically like every output (a
        // file planted at `path`, a symlink included, is replaced, never
        // written through).
        let mut svg = String::new();
        render(&mut svg, &plot, &series).map_err(|e| RunError::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        crate::cache::write(&path, svg.as_bytes())?;
        made.push((plot.title.to_string(), plot.file.to_string()));
    }
    Ok(made)
}

/// `m`'s value on `axis` if it varies that axis and no other plotted one.
fn x_of(m: &ModelResult, axis: &Axis, plotted: &[&str]) -> Option<f64> {
    let alone = plotted
        .iter()
        .all(|other| *other == axis.name || !m.varies(other));
    (m.varies(axis.name) && alone)
        .then(|| m.axis(axis.name))
        .flatten()
}

/// Per attack and direction, the points sorted by x.
fn series(results: &Results, axis: &Axis, plotted: &[&str]) -> BTreeMap<String, Vec<(f64, f64)>> {
    let model = |id: &str| results.models.iter().find(|m| m.id == id);
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for t in &results.transfers {
        let (Some(s), Some(tg), Some(rate)) = (model(&t.source), model(&t.target), t.transfer_rate)
        else {
            continue;
        };
        let (x, direction) = if s.uncompressed() {
            (x_of(tg, axis, plotted), "full → compressed")
        } else if tg.uncompressed() {
            (x_of(s, axis, plotted), "compressed → full")
        } else {
            (None, "")
        };
        if let Some(x) = x {
            out.entry(format!("{} ({direction})", t.attack))
                .or_default()
                .push((x, rate));
        }
    }
    for points in out.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn render(
    svg: &mut String,
    plot: &Plot,
    series: &BTreeMap<String, Vec<(f64, f64)>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (720, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let xs = series.values().flatten().map(|p| p.0);
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let pad = ((hi - lo) * 0.05).max(0.01);
    let mut chart = ChartBuilder::on(&root)
        .caption(plot.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label)
        .y_desc("transfer rate")
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}
