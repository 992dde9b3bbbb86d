//! Inline SVG plots: intervals, time courses and distribution curves.
//!
//! Every plot is a `viewBox` drawing that scales to its container's width; text is in user
//! units so it scales with it. Nothing is interactive.

use std::fmt::Write as _;

use crate::format;
use crate::html::esc;

/// How a difference reads for the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// The interval excludes zero on the good side.
    Better,
    /// The interval excludes zero on the bad side.
    Worse,
    /// The interval holds zero, or there is no interval.
    Neutral,
}

impl Tone {
    pub(crate) fn class(self) -> &'static str {
        match self {
            Tone::Better => "better",
            Tone::Worse => "worse",
            Tone::Neutral => "neutral",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Tone::Better => "#15803d",
            Tone::Worse => "#b91c1c",
            Tone::Neutral => "#4b5563",
        }
    }
}

/// Branch colours: the reference is grey, the others take these in order.
const PALETTE: [&str; 6] = [
    "#2563eb", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
];

/// The colour of the `index`-th non-reference branch, or grey for the reference.
pub(crate) fn branch_color(index: Option<usize>) -> &'static str {
    match index {
        None => "#6b7280",
        Some(i) => PALETTE[i % PALETTE.len()],
    }
}

/// A linear map from a data interval to a pixel interval.
#[derive(Debug, Clone, Copy)]
struct Scale {
    /// The smallest and largest value drawn (the ticks).
    lo: f64,
    hi: f64,
    /// The padded domain.
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    /// A scale over `values` (and `zero` when asked), padded by 8% on each side.
    fn over(values: impl Iterator<Item = f64>, zero: bool, r0: f64, r1: f64) -> Option<Self> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if !lo.is_finite() || !hi.is_finite() {
            return None;
        }
        if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            lo -= pad;
            hi += pad;
        }
        let pad = (hi - lo) * 0.08;
        Some(Scale {
            lo,
            hi,
            d0: lo - pad,
            d1: hi + pad,
            r0,
            r1,
        })
    }

    fn at(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// Ticks at the smallest and largest value, and at zero when it is inside and far enough
/// (34 units, a label's width) from both.
fn edge_ticks(s: &Scale) -> Vec<(f64, &'static str)> {
    let mut ticks = vec![(s.lo, "middle"), (s.hi, "middle")];
    if s.lo < 0.0
        && s.hi > 0.0
        && (s.at(0.0) - s.at(s.lo)).abs() > 34.0
        && (s.at(s.hi) - s.at(0.0)).abs() > 34.0
    {
        ticks.push((0.0, "middle"));
    }
    ticks
}

fn open_svg(out: &mut String, width: f64, height: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="plot" viewBox="0 0 {width} {height}" role="img" aria-label="{l}" xmlns="http://www.w3.org/2000/svg"><title>{l}</title>"#,
        l = esc(label)
    );
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, class: &str, content: &str) {
    let _ = write!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" class="{class}">{}</text>"#,
        esc(content)
    );
}

/// One interval of an interval plot.
pub(crate) struct Interval {
    pub(crate) label: String,
    pub(crate) color: &'static str,
    pub(crate) point: Option<f64>,
    pub(crate) lower: Option<f64>,
    pub(crate) upper: Option<f64>,
    pub(crate) tone: Tone,
}

/// A horizontal interval plot of relative differences (fractions, shown in percent) around a
/// zero line, one row per interval.
pub(crate) fn intervals(rows: &[Interval], label: &str) -> String {
    let row_h = 26.0;
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    let (width, right, top) = (360.0, 344.0, 8.0);
    let left = (12.0 + 6.6 * longest as f64).clamp(60.0, 200.0);
    let height = top + row_h * rows.len() as f64 + 22.0;
    let values = rows
        .iter()
        .flat_map(|r| [r.point, r.lower, r.upper])
        .flatten();
    let mut out = String::new();
    open_svg(&mut out, width, height, label);
    let Some(x) = Scale::over(values, true, left, right) else {
        text(
            &mut out,
            width / 2.0,
            height / 2.0,
            "middle",
            "note",
            "no interval to show",
        );
        out.push_str("</svg>");
        return out;
    };
    let bottom = top + row_h * rows.len() as f64;
    let zero = x.at(0.0);
    let _ = write!(
        out,
        r#"<line x1="{zero:.1}" y1="{top}" x2="{zero:.1}" y2="{bottom}" class="zero"/>"#
    );
    for (v, anchor) in edge_ticks(&x) {
        let tick = if v == 0.0 {
            "0%".to_string()
        } else {
            format::percent(Some(v))
        };
        text(&mut out, x.at(v), bottom + 15.0, anchor, "tick", &tick);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * (i as f64 + 0.5);
        text(&mut out, 4.0, y + 4.0, "start", "label", &r.label);
        if let (Some(lo), Some(hi)) = (r.lower, r.upper) {
            let _ = write!(
                out,
                r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" class="ci"/>"#,
                x.at(lo),
                x.at(hi),
                r.tone.color()
            );
        }
        if let Some(p) = r.point {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{y:.1}" r="4.5" fill="{}" stroke="{}"/>"#,
                x.at(p),
                r.tone.color(),
                r.color
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// One branch's line over the windows.
/// `(window, point, lower, upper)` of a time course.
pub(crate) type Point = (i64, Option<f64>, Option<f64>, Option<f64>);

pub(crate) struct Series {
    pub(crate) color: &'static str,
    pub(crate) points: Vec<Point>,
}

/// The time course of a statistic over the windows of a period: a line per branch with its
/// interval as a band; `percent` formats the axis as relative differences.
pub(crate) fn time_course(
    series: &[Series],
    window_name: &str,
    percent: bool,
    label: &str,
) -> String {
    let (width, height, left, right, top, bottom) = (360.0, 170.0, 50.0, 350.0, 10.0, 140.0);
    let mut out = String::new();
    open_svg(&mut out, width, height, label);
    let windows: Vec<i64> = {
        let mut w: Vec<i64> = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        w.sort_unstable();
        w.dedup();
        w
    };
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3]))
        .flatten();
    let (Some(y), Some(&first), Some(&last)) = (
        Scale::over(values, percent, bottom, top),
        windows.first(),
        windows.last(),
    ) else {
        text(
            &mut out,
            width / 2.0,
            height / 2.0,
            "middle",
            "note",
            "no values to show",
        );
        out.push_str("</svg>");
        return out;
    };
    let span = (last - first).max(1) as f64;
    let x = |w: i64| left + (w - first) as f64 / span * (right - left);
    let tick = |v: f64| {
        if percent {
            if v == 0.0 {
                "0%".into()
            } else {
                format::percent(Some(v))
            }
        } else {
            format::value(Some(v))
        }
    };
    let _ = write!(
        out,
        r#"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>"#
    );
    if percent {
        let z = y.at(0.0);
        let _ = write!(
            out,
            r#"<line x1="{left}" y1="{z:.1}" x2="{right}" y2="{z:.1}" class="zero"/>"#
        );
    }
    for (v, _) in edge_ticks(&y) {
        text(&mut out, left - 4.0, y.at(v) + 4.0, "end", "tick", &tick(v));
    }
    let mut labels = vec![first, last];
    if windows.len() > 2 {
        labels.push(windows[windows.len() / 2]);
    }
    labels.dedup();
    for w in labels {
        let anchor = if w == first {
            "start"
        } else if w == last {
            "end"
        } else {
            "middle"
        };
        text(
            &mut out,
            x(w),
            bottom + 16.0,
            anchor,
            "tick",
            &format!("{window_name} {w}"),
        );
    }
    for s in series {
        let band: Vec<(f64, f64, f64)> = s
            .points
            .iter()
            .filter_map(|&(w, _, lo, hi)| Some((x(w), y.at(lo?), y.at(hi?))))
            .collect();
        if band.len() >= 2 {
            let mut pts: Vec<String> = band
                .iter()
                .map(|(px, _, hi)| format!("{px:.1},{hi:.1}"))
                .collect();
            pts.extend(
                band.iter()
                    .rev()
                    .map(|(px, lo, _)| format!("{px:.1},{lo:.1}")),
            );
            let _ = write!(
                out,
                r#"<polygon points="{}" fill="{}" class="band"/>"#,
                pts.join(" "),
                s.color
            );
        } else {
            for (px, lo, hi) in &band {
                let _ = write!(
                    out,
                    r#"<line x1="{px:.1}" y1="{lo:.1}" x2="{px:.1}" y2="{hi:.1}" stroke="{}" class="ci"/>"#,
                    s.color
                );
            }
        }
        let line: Vec<String> = s
            .points
            .iter()
            .filter_map(|&(w, p, _, _)| Some(format!("{:.1},{:.1}", x(w), y.at(p?))))
            .collect();
        let _ = write!(
            out,
            r#"<polyline points="{}" stroke="{}" class="line"/>"#,
            line.join(" "),
            s.color
        );
        for point in &line {
            let (px, py) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                out,
                r#"<circle cx="{px}" cy="{py}" r="2.5" fill="{}"/>"#,
                s.color
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// One branch's distribution curve.
pub(crate) struct Curve {
    pub(crate) color: &'static str,
    /// `(x, y)`, sorted by x.
    pub(crate) points: Vec<(f64, f64)>,
}

/// Distribution curves (density, cumulative distribution, deciles) of each branch.
pub(crate) fn curves(curves: &[Curve], label: &str) -> String {
    let (width, height, left, right, top, bottom) = (360.0, 170.0, 50.0, 350.0, 10.0, 140.0);
    let mut out = String::new();
    open_svg(&mut out, width, height, label);
    let xs = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0));
    let ys = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (Some(x), Some(y)) = (
        Scale::over(xs, false, left, right),
        Scale::over(ys, false, bottom, top),
    ) else {
        text(
            &mut out,
            width / 2.0,
            height / 2.0,
            "middle",
            "note",
            "no values to show",
        );
        out.push_str("</svg>");
        return out;
    };
    let _ = write!(
        out,
        r#"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>"#
    );
    for v in [y.lo, y.hi] {
        text(
            &mut out,
            left - 4.0,
            y.at(v) + 4.0,
            "end",
            "tick",
            &format::value(Some(v)),
        );
    }
    for (v, anchor) in [(x.lo, "start"), (x.hi, "end")] {
        text(
            &mut out,
            x.at(v),
            bottom + 16.0,
            anchor,
            "tick",
            &format::value(Some(v)),
        );
    }
    for c in curves {
        let pts: Vec<String> = c
            .points
            .iter()
            .map(|&(px, py)| format!("{:.1},{:.1}", x.at(px), y.at(py)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline points="{}" stroke="{}" class="line"/>"#,
            pts.join(" "),
            c.color
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_include_zero_and_pad() {
        let s = Scale::over([0.02, 0.05].into_iter(), true, 0.0, 100.0).unwrap();
        assert!(s.d0 < 0.0 && s.d1 > 0.05);
        assert!(s.at(0.0) > 0.0 && s.at(0.05) < 100.0);
        assert!(Scale::over(std::iter::empty(), false, 0.0, 1.0).is_none());
        let flat = Scale::over([3.0, 3.0].into_iter(), false, 0.0, 1.0).unwrap();
        assert!(flat.d0 < 3.0 && flat.d1 > 3.0);
    }

    #[test]
    fn plots_are_well_formed_and_escape_labels() {
        let svg = intervals(
            &[Interval {
                label: "<b>".into(),
                color: branch_color(Some(0)),
                point: Some(0.05),
                lower: Some(0.01),
                upper: Some(0.09),
                tone: Tone::Better,
            }],
            "a & b",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;b&gt;") && svg.contains("a &amp; b"));
        assert!(svg.contains("#15803d"));
        let empty = time_course(&[], "week", true, "nothing");
        assert!(empty.contains("no values to show"));
        let line = curves(
            &[Curve {
                color: branch_color(None),
                points: vec![(0.0, 0.1), (1.0, 0.4), (2.0, 0.2)],
            }],
            "kde",
        );
        assert_eq!(line.matches("<polyline").count(), 1);
    }
}
