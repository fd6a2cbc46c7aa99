//! Judging a scenario's `expect` claims against its results.
//!
//! The scenario checker has already named every number a claim needs
//! ([`advcomp_scenario::resolved::Claim`]); this module looks them up,
//! turns the draws of one measurement (one per swept seed) into a mean
//! with a 95 % confidence interval, and gives one of three verdicts:
//!
//! - **holds**: the intervals say so (for `a > b`, the lower end of `a` is
//!   above the upper end of `b`);
//! - **fails**: they say the opposite, or a trend steps against its
//!   direction by more than its tolerance;
//! - **inconclusive**: the intervals overlap, or a number is missing (a
//!   transfer with no eligible sample). A claim is not "supported" by a
//!   difference smaller than the noise between seeds.
//!
//! With one draw (no seed swept) the interval is the number itself, and the
//! verdict is the plain comparison: the report says `n=1` so that a reader
//! knows one draw is all there is. The rules are written in
//! `docs/scenario-language.md#claims`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use advcomp_scenario::resolved::{
    Claim, ClaimKind, CmpOp, Direction, Lookup, Metric, Side, TrendSeries,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::results::Results;

/// What a claim came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The numbers support it.
    Holds,
    /// The numbers contradict it.
    Fails,
    /// The numbers cannot tell (overlapping intervals, missing numbers).
    Inconclusive,
}

impl Verdict {
    /// The mark printed before a claim.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Holds => "✅",
            Verdict::Fails => "❌",
            Verdict::Inconclusive => "❔",
        }
    }

    /// The word printed after the mark.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// The verdict of a claim made of parts that must all hold.
    fn all(parts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut out = Verdict::Holds;
        for v in parts {
            match v {
                Verdict::Fails => return Verdict::Fails,
                Verdict::Inconclusive => out = Verdict::Inconclusive,
                Verdict::Holds => {}
            }
        }
        out
    }
}

/// A measured value: the mean of its draws and a 95 % confidence interval
/// (Student's t; the value itself when there is one draw).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Mean of the draws.
    pub mean: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// Number of draws (0 for a number written in the claim).
    pub n: usize,
}

impl Estimate {
    /// A number written in the claim: exact.
    pub fn exact(x: f64) -> Self {
        Estimate {
            mean: x,
            low: x,
            high: x,
            n: 0,
        }
    }

    /// The mean and 95 % interval of `draws` (at least one).
    pub fn of(draws: &[f64]) -> Self {
        let n = draws.len();
        let mean = draws.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate {
                mean,
                low: mean,
                high: mean,
                n,
            };
        }
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t95(n - 1) * (var / n as f64).sqrt();
        Estimate {
            mean,
            low: mean - half,
            high: mean + half,
            n,
        }
    }

    fn text(&self) -> String {
        match self.n {
            0 => trim(self.mean),
            1 => format!("{:.3} (n=1)", self.mean),
            n => format!("{:.3} ± {:.3} (n={n})", self.mean, self.high - self.mean),
        }
    }
}

/// The two-sided 95 % quantile of Student's t with `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    TABLE.get(df.wrapping_sub(1)).copied().unwrap_or(1.960)
}

/// One claim, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimResult {
    /// The claim as written (canonical form).
    pub claim: String,
    /// Its line in the scenario file.
    pub line: usize,
    /// The verdict over all its cases or series.
    pub verdict: Verdict,
    /// The numbers behind it.
    #[serde(flatten)]
    pub detail: Detail,
}

/// The numbers behind a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Detail {
    /// A comparison, per point of the free sweep values.
    Compare {
        /// The sign.
        op: CmpOp,
        /// The cases.
        cases: Vec<CaseResult>,
    },
    /// A trend, per series.
    Trend {
        /// Which way.
        direction: Direction,
        /// The axis.
        axis: String,
        /// The tolerance.
        tolerance: f64,
        /// The series.
        series: Vec<SeriesResult>,
    },
}

/// One case of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The free sweep values of the case.
    pub at: BTreeMap<String, Value>,
    /// The left side (`None`: a number is missing).
    pub left: Option<Estimate>,
    /// The right side.
    pub right: Option<Estimate>,
    /// Its verdict.
    pub verdict: Verdict,
}

/// One series of a trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesResult {
    /// The other free sweep values of the series.
    pub at: BTreeMap<String, Value>,
    /// Axis value and estimate, in axis order.
    pub points: Vec<(f64, Option<Estimate>)>,
    /// Its verdict.
    pub verdict: Verdict,
    /// Why, in a few words.
    pub reason: String,
}

/// Judges every claim of a run.
pub fn judge(claims: &[Claim], results: &Results) -> Vec<ClaimResult> {
    claims.iter().map(|c| judge_one(c, results)).collect()
}

fn judge_one(claim: &Claim, results: &Results) -> ClaimResult {
    let detail = match &claim.kind {
        ClaimKind::Compare { op, cases } => Detail::Compare {
            op: *op,
            cases: cases
                .iter()
                .map(|c| {
                    let left = side(&c.left, results);
                    let right = side(&c.right, results);
                    let verdict = match (left, right) {
                        (Some(l), Some(r)) => compare(*op, l, r),
                        _ => Verdict::Inconclusive,
                    };
                    CaseResult {
                        at: c.at.clone(),
                        left,
                        right,
                        verdict,
                    }
                })
                .collect(),
        },
        ClaimKind::Trend {
            direction,
            axis,
            tolerance,
            series,
        } => Detail::Trend {
            direction: *direction,
            axis: axis.clone(),
            tolerance: *tolerance,
            series: series
                .iter()
                .map(|s| trend(s, *direction, *tolerance, axis, results))
                .collect(),
        },
    };
    let verdict = match &detail {
        Detail::Compare { cases, .. } => Verdict::all(cases.iter().map(|c| c.verdict)),
        Detail::Trend { series, .. } => Verdict::all(series.iter().map(|s| s.verdict)),
    };
    ClaimResult {
        claim: claim.text.clone(),
        line: claim.line,
        verdict,
        detail,
    }
}

fn side(s: &Side, results: &Results) -> Option<Estimate> {
    match s {
        Side::Number(x) => Some(Estimate::exact(*x)),
        Side::Draws(draws) => estimate(draws, results),
    }
}

/// The estimate of a measurement's draws; `None` if one is missing.
fn estimate(draws: &[Lookup], results: &Results) -> Option<Estimate> {
    let values: Option<Vec<f64>> = draws.iter().map(|d| lookup(d, results)).collect();
    values.filter(|v| !v.is_empty()).map(|v| Estimate::of(&v))
}

/// One number of the results.
pub fn lookup(d: &Lookup, results: &Results) -> Option<f64> {
    let attack = d.attack.as_deref();
    match d.metric {
        Metric::Transfer => results
            .transfers
            .iter()
            .find(|t| {
                Some(t.attack.as_str()) == attack
                    && t.source == d.model
                    && Some(t.target.as_str()) == d.target.as_deref()
            })
            .and_then(|t| t.transfer_rate),
        Metric::Success | Metric::RobustAccuracy | Metric::L2 => results
            .whitebox
            .iter()
            .find(|w| Some(w.attack.as_str()) == attack && w.model == d.model)
            .and_then(|w| match d.metric {
                Metric::Success => Some(w.success_rate),
                Metric::RobustAccuracy => Some(w.accuracy_under_attack),
                _ => w.l2.mean,
            }),
        Metric::Accuracy | Metric::Density => results
            .models
            .iter()
            .find(|m| m.id == d.model)
            .and_then(|m| {
                if d.metric == Metric::Accuracy {
                    Some(m.accuracy)
                } else {
                    m.axis(advcomp_compress::axis::DENSITY.name)
                }
            }),
    }
}

/// `l op r`, judged on the intervals.
fn compare(op: CmpOp, l: Estimate, r: Estimate) -> Verdict {
    // Written for `>` and `>=`; `<` and `<=` swap the sides.
    let (a, b, strict) = match op {
        CmpOp::Gt => (l, r, true),
        CmpOp::Ge => (l, r, false),
        CmpOp::Lt => (r, l, true),
        CmpOp::Le => (r, l, false),
    };
    let (holds, fails) = if strict {
        (a.low > b.high, a.high <= b.low)
    } else {
        (a.low >= b.high, a.high < b.low)
    };
    if holds {
        Verdict::Holds
    } else if fails {
        Verdict::Fails
    } else {
        Verdict::Inconclusive
    }
}

fn trend(
    s: &TrendSeries,
    direction: Direction,
    tolerance: f64,
    axis: &str,
    results: &Results,
) -> SeriesResult {
    let points: Vec<(f64, Option<Estimate>)> = s
        .points
        .iter()
        .map(|p| (p.x, estimate(&p.draws, results)))
        .collect();
    let (verdict, reason) = trend_verdict(&points, direction, tolerance, axis);
    SeriesResult {
        at: s.at.clone(),
        points,
        verdict,
        reason,
    }
}

/// A series' verdict: it fails if one step goes against the direction by
/// more than `tolerance` or the last point is not beyond the first; it
/// holds if, besides, the first and last intervals are apart.
fn trend_verdict(
    points: &[(f64, Option<Estimate>)],
    direction: Direction,
    tolerance: f64,
    axis: &str,
) -> (Verdict, String) {
    let mut known = Vec::with_capacity(points.len());
    for (x, e) in points {
        match e {
            Some(e) => known.push((*x, *e)),
            None => {
                return (
                    Verdict::Inconclusive,
                    format!("no number at {axis}={}", trim(*x)),
                );
            }
        }
    }
    // Signed so that "in the direction" is always "up".
    let sign = match direction {
        Direction::Increasing => 1.0,
        Direction::Decreasing => -1.0,
    };
    for w in known.windows(2) {
        let ((x0, e0), (x1, e1)) = (w[0], w[1]);
        if sign * (e1.mean - e0.mean) < -tolerance {
            return (
                Verdict::Fails,
                format!(
                    "{} from {:.3} at {axis}={} to {:.3} at {axis}={}",
                    if sign > 0.0 { "falls" } else { "rises" },
                    e0.mean,
                    trim(x0),
                    e1.mean,
                    trim(x1)
                ),
            );
        }
    }
    let ((x0, first), (x1, last)) = (known[0], known[known.len() - 1]);
    if sign * (last.mean - first.mean) <= 0.0 {
        return (
            Verdict::Fails,
            format!(
                "no net change from {axis}={} to {axis}={} ({:.3} → {:.3})",
                trim(x0),
                trim(x1),
                first.mean,
                last.mean
            ),
        );
    }
    let apart = match direction {
        Direction::Increasing => last.low > first.high,
        Direction::Decreasing => last.high < first.low,
    };
    if apart {
        (Verdict::Holds, String::new())
    } else {
        (
            Verdict::Inconclusive,
            format!(
                "the change from {axis}={} to {axis}={} is within the confidence intervals",
                trim(x0),
                trim(x1)
            ),
        )
    }
}

/// A claim and its numbers as plain text lines (the CLI prints them; the
/// report indents them under the claim).
pub fn lines(r: &ClaimResult) -> Vec<String> {
    let mut out = Vec::new();
    match &r.detail {
        Detail::Compare { op, cases } => {
            for c in cases {
                let mut line = at_prefix(&c.at);
                let side = |e: &Option<Estimate>| e.map_or("no data".to_string(), |e| e.text());
                let _ = write!(line, "{} {} {}", side(&c.left), op.symbol(), side(&c.right));
                if cases.len() > 1 {
                    let _ = write!(line, "  {}", c.verdict.mark());
                }
                out.push(line);
            }
        }
        Detail::Trend { axis, series, .. } => {
            for s in series {
                let mut line = at_prefix(&s.at);
                let pts: Vec<String> = s
                    .points
                    .iter()
                    .map(|(x, e)| {
                        format!(
                            "{axis}={}: {}",
                            trim(*x),
                            e.map_or("no data".to_string(), |e| e.text())
                        )
                    })
                    .collect();
                line.push_str(&pts.join(", "));
                if series.len() > 1 {
                    let _ = write!(line, "  {}", s.verdict.mark());
                }
                if !s.reason.is_empty() {
                    let _ = write!(line, " — {}", s.reason);
                }
                out.push(line);
            }
        }
    }
    out
}

fn at_prefix(at: &BTreeMap<String, Value>) -> String {
    if at.is_empty() {
        return String::new();
    }
    let kv: Vec<String> = at
        .iter()
        .map(|(k, v)| format!("{k}={}", advcomp_scenario::expand::id_value(v)))
        .collect();
    format!("[{}] ", kv.join(","))
}

/// A number in its shortest form (`0.5`, `8`).
fn trim(x: f64) -> String {
    format!("{x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(draws: &[f64]) -> Estimate {
        Estimate::of(draws)
    }

    #[test]
    fn one_draw_is_its_own_interval_and_several_use_student_t() {
        let e = est(&[0.5]);
        assert_eq!((e.low, e.mean, e.high, e.n), (0.5, 0.5, 0.5, 1));
        // Three draws 0.8, 0.9, 1.0: mean 0.9, s = 0.1, half-width
        // t(2) · s/√3 = 4.303 · 0.0577 = 0.2484.
        let e = est(&[0.8, 0.9, 1.0]);
        assert!((e.mean - 0.9).abs() < 1e-12);
        assert!((e.high - e.mean - 4.303 * 0.1 / 3f64.sqrt()).abs() < 1e-9);
        assert!((e.mean - e.low - (e.high - e.mean)).abs() < 1e-12);
    }

    #[test]
    fn comparisons_are_judged_on_the_intervals() {
        let hi = est(&[0.90, 0.91, 0.92]);
        let lo = est(&[0.40, 0.42, 0.44]);
        assert_eq!(compare(CmpOp::Gt, hi, lo), Verdict::Holds);
        assert_eq!(compare(CmpOp::Lt, lo, hi), Verdict::Holds);
        assert_eq!(compare(CmpOp::Gt, lo, hi), Verdict::Fails);
        assert_eq!(compare(CmpOp::Le, hi, lo), Verdict::Fails);
        // Means apart, intervals overlapping: not supported either way.
        let a = est(&[0.50, 0.60, 0.70]);
        let b = est(&[0.45, 0.55, 0.65]);
        assert_eq!(compare(CmpOp::Gt, a, b), Verdict::Inconclusive);
        // One draw each: the plain comparison.
        assert_eq!(
            compare(CmpOp::Gt, est(&[0.6]), est(&[0.55])),
            Verdict::Holds
        );
        assert_eq!(compare(CmpOp::Gt, est(&[0.5]), est(&[0.5])), Verdict::Fails);
        assert_eq!(
            compare(CmpOp::Ge, est(&[0.5]), Estimate::exact(0.5)),
            Verdict::Holds
        );
    }

    #[test]
    fn trends_fail_on_a_step_back_beyond_the_tolerance() {
        let pts = |v: &[f64]| -> Vec<(f64, Option<Estimate>)> {
            v.iter()
                .enumerate()
                .map(|(i, &y)| (i as f64, Some(est(&[y]))))
                .collect()
        };
        let up = Direction::Increasing;
        assert_eq!(
            trend_verdict(&pts(&[0.1, 0.2, 0.3]), up, 0.0, "d").0,
            Verdict::Holds
        );
        assert_eq!(
            trend_verdict(&pts(&[0.1, 0.25, 0.24, 0.3]), up, 0.0, "d").0,
            Verdict::Fails
        );
        assert_eq!(
            trend_verdict(&pts(&[0.1, 0.25, 0.24, 0.3]), up, 0.02, "d").0,
            Verdict::Holds
        );
        // Small steps back that add up to no net change still fail.
        assert_eq!(
            trend_verdict(&pts(&[0.3, 0.29, 0.3]), up, 0.02, "d").0,
            Verdict::Fails
        );
        assert_eq!(
            trend_verdict(&pts(&[0.3, 0.2, 0.1]), Direction::Decreasing, 0.0, "d").0,
            Verdict::Holds
        );
        let missing = vec![(0.0, Some(est(&[0.1]))), (1.0, None)];
        assert_eq!(
            trend_verdict(&missing, up, 0.0, "d").0,
            Verdict::Inconclusive
        );
        // Rising means whose end intervals overlap: inconclusive.
        let noisy = vec![
            (0.0, Some(est(&[0.1, 0.3, 0.5]))),
            (1.0, Some(est(&[0.2, 0.4, 0.6]))),
        ];
        assert_eq!(trend_verdict(&noisy, up, 0.0, "d").0, Verdict::Inconclusive);
    }

    #[test]
    fn a_claim_holds_only_when_every_part_holds() {
        use Verdict::*;
        assert_eq!(Verdict::all([Holds, Holds]), Holds);
        assert_eq!(Verdict::all([Holds, Inconclusive]), Inconclusive);
        assert_eq!(Verdict::all([Inconclusive, Fails, Holds]), Fails);
        assert_eq!(Verdict::all([]), Holds);
    }
}
