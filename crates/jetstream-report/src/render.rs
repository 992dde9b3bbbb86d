//! The page: header, sample-ratio banner, enrollment, results per basis and segment, logs.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use jetstream_config::enums::AnalysisPeriod;
use jetstream_stats::srm::{SampleRatioTest, sample_ratio_test};

use crate::format;
use crate::html::esc;
use crate::plot::{self, Curve, Interval, Series, Tone};
use jetstream_stats::{Comparison, Row};

use crate::{MetricInfo, Report};

const STYLE: &str = include_str!("style.css");

/// Periods whose latest window is the headline, best first.
const HEADLINE: [AnalysisPeriod; 5] = [
    AnalysisPeriod::Overall,
    AnalysisPeriod::Cumulative,
    AnalysisPeriod::Days28,
    AnalysisPeriod::Week,
    AnalysisPeriod::Day,
];

/// Periods drawn as time courses.
const TIME_COURSES: [AnalysisPeriod; 4] = [
    AnalysisPeriod::Cumulative,
    AnalysisPeriod::Week,
    AnalysisPeriod::Day,
    AnalysisPeriod::Days28,
];

const PREENROLLMENT: [AnalysisPeriod; 2] = [
    AnalysisPeriod::PreenrollmentWeek,
    AnalysisPeriod::PreenrollmentDays28,
];

/// Rows are indexed by period and `basis \u{1f} segment \u{1f} metric`.
type Key = (AnalysisPeriod, String);

fn key(basis: &str, segment: &str, metric: &str) -> String {
    format!("{basis}\u{1f}{segment}\u{1f}{metric}")
}

/// What the page needs to look rows up quickly.
struct Page<'a> {
    report: &'a Report,
    reference: String,
    branches: Vec<String>,
    /// Rows by (period, basis, segment, metric).
    index: HashMap<Key, Vec<&'a Row>>,
    /// The (basis, segment) pairs with rows.
    pairs: BTreeSet<(String, String)>,
    metrics: Vec<MetricInfo>,
}

impl<'a> Page<'a> {
    fn new(report: &'a Report) -> Self {
        let mut index: HashMap<Key, Vec<&'a Row>> = HashMap::new();
        let mut pairs = BTreeSet::new();
        let mut seen_branches = BTreeSet::new();
        let mut seen_metrics = BTreeSet::new();
        let mut reference_votes: HashMap<&str, usize> = HashMap::new();
        for period in &report.statistics {
            for row in &period.rows {
                index
                    .entry((
                        period.period,
                        key(&row.analysis_basis, &row.segment, &row.metric),
                    ))
                    .or_default()
                    .push(row);
                if !pairs.contains(&(row.analysis_basis.clone(), row.segment.clone())) {
                    pairs.insert((row.analysis_basis.clone(), row.segment.clone()));
                }
                seen_branches.insert(row.branch.as_str());
                seen_metrics.insert(row.metric.as_str());
                if let Some(r) = &row.comparison_to_branch {
                    *reference_votes.entry(r.as_str()).or_default() += 1;
                }
            }
        }
        let mut branches: Vec<String> = report.branches.iter().map(|b| b.slug.clone()).collect();
        for b in seen_branches {
            if !branches.iter().any(|x| x == b) {
                branches.push(b.to_string());
            }
        }
        let reference = report
            .reference_branch
            .clone()
            .or_else(|| {
                reference_votes
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(r, _)| r.to_string())
            })
            .or_else(|| branches.first().cloned())
            .unwrap_or_default();
        let mut metrics: Vec<MetricInfo> = report
            .metrics
            .iter()
            .filter(|m| seen_metrics.contains(m.slug.as_str()))
            .cloned()
            .collect();
        for m in seen_metrics {
            if !metrics.iter().any(|x| x.slug == m) {
                metrics.push(MetricInfo {
                    slug: m.to_string(),
                    friendly_name: if m == "identity" {
                        "Clients".into()
                    } else {
                        m.to_string()
                    },
                    description: (m == "identity")
                        .then(|| "The number of clients in each branch.".to_string()),
                    bigger_is_better: true,
                });
            }
        }
        Page {
            report,
            reference,
            branches,
            index,
            pairs,
            metrics,
        }
    }

    /// The colour of a branch: grey for the reference, the palette in order for the others.
    fn color(&self, branch: &str) -> &'static str {
        if branch == self.reference {
            return plot::branch_color(None);
        }
        let i = self
            .branches
            .iter()
            .filter(|b| **b != self.reference)
            .position(|b| b == branch);
        plot::branch_color(Some(i.unwrap_or(0)))
    }

    fn others(&self) -> impl Iterator<Item = &String> {
        self.branches.iter().filter(|b| **b != self.reference)
    }

    fn rows(&self, period: AnalysisPeriod, basis: &str, segment: &str, metric: &str) -> &[&'a Row] {
        self.index
            .get(&(period, key(basis, segment, metric)))
            .map_or(&[], Vec::as_slice)
    }

    /// The (basis, segment) pairs with results: enrollments before exposures, `all` first.
    fn sections(&self) -> Vec<(String, String)> {
        let mut pairs: BTreeSet<(u8, String, u8, String)> = BTreeSet::new();
        for (basis, segment) in &self.pairs {
            pairs.insert((
                match basis.as_str() {
                    "enrollments" => 0,
                    "exposures" => 1,
                    _ => 2,
                },
                basis.to_string(),
                u8::from(segment != "all"),
                segment.to_string(),
            ));
        }
        pairs.into_iter().map(|(_, b, _, s)| (b, s)).collect()
    }

    /// The headline period and window of a section: the overall results, else the latest
    /// window of the longest period that has one.
    fn headline(&self, basis: &str, segment: &str) -> Option<(AnalysisPeriod, i64)> {
        HEADLINE.iter().find_map(|&period| {
            self.metrics
                .iter()
                .flat_map(|m| self.rows(period, basis, segment, &m.slug))
                .filter_map(|r| r.window_index)
                .max()
                .map(|w| (period, w))
        })
    }
}

/// A branch's rows of one statistic: `(branch, value, relative difference, absolute difference)`.
type BranchRows<'a> = (String, Option<&'a Row>, Option<&'a Row>, Option<&'a Row>);

/// The statistic of one metric in one window, per branch.
struct Statistic<'a> {
    name: &'a str,
    values: Vec<BranchRows<'a>>,
}

impl Statistic<'_> {
    fn has_comparisons(&self) -> bool {
        self.values.iter().any(|v| v.2.is_some() || v.3.is_some())
    }
}

/// The summary statistics (rows without a parameter) of `rows`, in order of appearance, each
/// with every branch's value, relative and absolute difference to the reference.
fn summaries<'a>(page: &Page<'_>, rows: &[&'a Row]) -> Vec<Statistic<'a>> {
    let mut names: Vec<&'a str> = Vec::new();
    for r in rows.iter().filter(|r| r.parameter.is_none()) {
        if !names.contains(&r.statistic.as_str()) {
            names.push(r.statistic.as_str());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let find = |branch: &str, comparison: Option<Comparison>| {
                rows.iter().copied().find(|r| {
                    r.parameter.is_none()
                        && r.statistic == name
                        && r.branch == branch
                        && r.comparison == comparison
                        && (comparison.is_none()
                            || r.comparison_to_branch.as_deref() == Some(page.reference.as_str()))
                })
            };
            let values = page
                .branches
                .iter()
                .filter_map(|b| {
                    let v = (
                        b.clone(),
                        find(b, None),
                        find(b, Some(Comparison::RelativeUplift)),
                        find(b, Some(Comparison::Difference)),
                    );
                    (v.1.is_some() || v.2.is_some() || v.3.is_some()).then_some(v)
                })
                .collect();
            Statistic { name, values }
        })
        .collect()
}

/// How a comparison reads: its interval above or below zero, turned by `bigger_is_better`.
fn tone(row: Option<&Row>, bigger_is_better: bool) -> Tone {
    let Some(r) = row else { return Tone::Neutral };
    match (r.lower, r.upper) {
        (Some(lo), _) if lo > 0.0 => {
            if bigger_is_better {
                Tone::Better
            } else {
                Tone::Worse
            }
        }
        (_, Some(hi)) if hi < 0.0 => {
            if bigger_is_better {
                Tone::Worse
            } else {
                Tone::Better
            }
        }
        _ => Tone::Neutral,
    }
}

fn verdict(t: Tone) -> &'static str {
    match t {
        Tone::Better => "better",
        Tone::Worse => "worse",
        Tone::Neutral => "no clear difference",
    }
}

fn window_name(period: AnalysisPeriod) -> &'static str {
    match period {
        AnalysisPeriod::Day => "day",
        AnalysisPeriod::Week => "week",
        AnalysisPeriod::Days28 => "28-day window",
        AnalysisPeriod::Overall => "overall",
        AnalysisPeriod::PreenrollmentWeek => "pre-enrollment week",
        AnalysisPeriod::PreenrollmentDays28 => "pre-enrollment 28 days",
        AnalysisPeriod::Cumulative => "day",
    }
}

fn headline_label(period: AnalysisPeriod, window: i64) -> String {
    match period {
        AnalysisPeriod::Overall => "Overall (the whole experiment)".into(),
        AnalysisPeriod::Cumulative => {
            format!("Cumulative (every client's first {window} days after enrolling)")
        }
        p => format!("Latest {} ({} {window})", window_name(p), window_name(p)),
    }
}

/// `(95% interval)` when the rows have intervals.
fn ci_label(rows: &[&Row]) -> String {
    if !rows.iter().any(|r| r.lower.is_some() || r.upper.is_some()) {
        return String::new();
    }
    let width = rows.iter().find_map(|r| r.ci_width).unwrap_or(0.95);
    format!(
        r#" <span class="muted">({}% interval)</span>"#,
        format::value(Some(width * 100.0))
    )
}

/// Render the report as one HTML document.
pub fn render(report: &Report) -> String {
    let page = Page::new(report);
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("{} — experiment report", report.slug);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{}</title><style>{STYLE}</style></head><body><main>
"#,
        esc(&title)
    );
    header(&mut out, report);
    let srm = sample_ratio(report);
    srm_banners(&mut out, &srm);
    problems(&mut out, report);
    logs_banner(&mut out, report);
    let sections = page.sections();
    toc(&mut out, &page, &sections);
    enrollment(&mut out, report, &srm);
    if sections.is_empty() {
        out.push_str(
            r#"<section id="results"><h2>Results</h2><p class="muted">No statistics yet: the experiment has no finished analysis window, or its analysis failed (see the errors below).</p></section>"#,
        );
    }
    for (i, (basis, segment)) in sections.iter().enumerate() {
        results_section(&mut out, &page, i, basis, segment);
    }
    logs(&mut out, report);
    let _ = write!(
        out,
        "<footer>Made by jetstream {}{}. Intervals are the statistics' own (95% unless configured otherwise); a difference is better or worse when its interval excludes zero, read with each metric's <code>bigger_is_better</code>.</footer></main></body></html>",
        esc(env!("CARGO_PKG_VERSION")),
        report
            .generated_at
            .map(|t| format!(" on {} UTC", t.format("%Y-%m-%d %H:%M")))
            .unwrap_or_default(),
    );
    out.push('\n');
    out
}

fn header(out: &mut String, r: &Report) {
    let _ = write!(out, "<header><h1>{}</h1>", esc(&r.slug));
    if let Some(s) = &r.subtitle {
        let _ = write!(out, r#"<p class="subtitle">{}</p>"#, esc(s));
    }
    out.push_str(r#"<ul class="facts">"#);
    let date = |d: Option<chrono::NaiveDate>| d.map_or("–".to_string(), |d| d.to_string());
    let facts = [
        ("Platform", esc(&r.app_name)),
        ("Status", esc(r.status.as_deref().unwrap_or("unknown"))),
        ("Start", date(r.start_date)),
        ("Enrollment end", date(r.enrollment_end_date)),
        ("End", date(r.end_date)),
        (
            "Reference branch",
            esc(r.reference_branch.as_deref().unwrap_or("–")),
        ),
    ];
    for (k, v) in facts {
        let _ = write!(out, "<li>{k}: <b>{v}</b></li>");
    }
    out.push_str("</ul></header>\n");
}

/// The sample-ratio test of each basis, when the counts and ratios allow one.
fn sample_ratio(r: &Report) -> Vec<(&'static str, Vec<u64>, SampleRatioTest)> {
    let Some(counts) = &r.counts else {
        return Vec::new();
    };
    let ratios: Vec<f64> = r.branches.iter().map(|b| b.ratio).collect();
    if ratios.iter().any(|x| *x <= 0.0) {
        return Vec::new();
    }
    [
        ("enrollments", &counts.enrolled),
        ("exposures", &counts.exposed),
    ]
    .into_iter()
    .filter_map(|(basis, c)| {
        let test = sample_ratio_test(c, &ratios).ok()??;
        Some((basis, c.clone(), test))
    })
    .collect()
}

fn srm_banners(out: &mut String, tests: &[(&'static str, Vec<u64>, SampleRatioTest)]) {
    for (basis, _, t) in tests.iter().filter(|t| t.2.mismatch()) {
        let _ = write!(
            out,
            r#"<div class="banner alert" role="alert"><strong>Sample ratio mismatch ({basis} basis)</strong>The branches did not get the share of clients they were configured for (chi-square {:.1}, p = {}). Results may be biased: look at how clients were enrolled{} before trusting any difference below.</div>"#,
            t.chi_square,
            format::p_value(t.p_value),
            if *basis == "exposures" {
                " and what counts as an exposure"
            } else {
                ""
            }
        );
        out.push('\n');
    }
}

fn problems(out: &mut String, r: &Report) {
    if r.problems.is_empty() {
        return;
    }
    out.push_str(
        r#"<div class="banner warn"><strong>Parts of this report could not be read</strong><ul>"#,
    );
    for p in &r.problems {
        let _ = write!(out, "<li>{}</li>", esc(p));
    }
    out.push_str("</ul></div>\n");
}

fn logs_banner(out: &mut String, r: &Report) {
    let errors = r.logs.iter().filter(|l| l.level == "ERROR").count();
    let warnings = r.logs.len() - errors;
    if r.logs.is_empty() {
        return;
    }
    let class = if errors > 0 { "alert" } else { "warn" };
    let _ = write!(
        out,
        r##"<div class="banner {class}"><strong>{errors} error{} and {warnings} warning{} logged</strong>Some results may be missing. <a href="#logs">See what went wrong</a>.</div>"##,
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    );
    out.push('\n');
}

fn section_title(basis: &str, segment: &str) -> String {
    let who = if segment == "all" {
        "all clients".to_string()
    } else {
        format!("segment {segment}")
    };
    format!("{} basis · {who}", capitalize(basis))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn toc(out: &mut String, page: &Page<'_>, sections: &[(String, String)]) {
    out.push_str(r##"<nav class="toc" aria-label="Contents"><strong>Contents</strong><ul><li><a href="#enrollment">Enrollment</a></li>"##);
    for (i, (basis, segment)) in sections.iter().enumerate() {
        let _ = write!(
            out,
            r##"<li><a href="#results-{i}">{}</a></li>"##,
            esc(&section_title(basis, segment))
        );
    }
    let _ = write!(
        out,
        r##"<li><a href="#logs">Errors and warnings ({})</a></li></ul></nav>"##,
        page.report.logs.len()
    );
    out.push('\n');
}

fn enrollment(out: &mut String, r: &Report, srm: &[(&'static str, Vec<u64>, SampleRatioTest)]) {
    out.push_str(r#"<section id="enrollment"><h2>Enrollment</h2>"#);
    let total_ratio: f64 = r.branches.iter().map(|b| b.ratio.max(0.0)).sum();
    let enrolled_total: u64 = r.counts.as_ref().map_or(0, |c| c.enrolled.iter().sum());
    let exposed_total: u64 = r.counts.as_ref().map_or(0, |c| c.exposed.iter().sum());
    out.push_str(r#"<div class="scroll"><table><thead><tr><th>Branch</th><th class="num">Configured share</th><th class="num">Enrolled</th><th class="num">Share</th><th class="num">Exposed</th><th class="num">Share</th></tr></thead><tbody>"#);
    let share = |n: u64, total: u64| {
        if total == 0 {
            "–".to_string()
        } else {
            format!("{:.1}%", n as f64 / total as f64 * 100.0)
        }
    };
    for (i, b) in r.branches.iter().enumerate() {
        let configured = if total_ratio > 0.0 {
            format!("{:.1}%", b.ratio / total_ratio * 100.0)
        } else {
            "–".into()
        };
        let (enrolled, exposed) = r.counts.as_ref().map_or((None, None), |c| {
            (c.enrolled.get(i).copied(), c.exposed.get(i).copied())
        });
        let _ = write!(
            out,
            r#"<tr><td>{}{}</td><td class="num">{configured}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(&b.slug),
            if Some(b.slug.as_str()) == r.reference_branch.as_deref() {
                r#" <span class="muted">(reference)</span>"#
            } else {
                ""
            },
            enrolled.map_or("–".into(), format::count),
            enrolled.map_or("–".into(), |n| share(n, enrolled_total)),
            exposed.map_or("–".into(), format::count),
            exposed.map_or("–".into(), |n| share(n, exposed_total)),
        );
    }
    out.push_str("</tbody></table></div>");
    if r.counts.is_none() {
        out.push_str(r#"<p class="muted">No enrollments table: the enrollment counts and the sample ratio check are not available.</p>"#);
    }
    for (basis, _, t) in srm {
        let _ = write!(
            out,
            r#"<p class="{}">Sample ratio check ({basis} basis): chi-square {:.2} with {} degree{} of freedom, p = {} — {}.</p>"#,
            if t.mismatch() { "worse" } else { "muted" },
            t.chi_square,
            t.degrees_of_freedom,
            if t.degrees_of_freedom == 1 { "" } else { "s" },
            format::p_value(t.p_value),
            if t.mismatch() {
                "mismatch (p < 0.001)"
            } else {
                "consistent with the configured ratios"
            }
        );
    }
    out.push_str("</section>\n");
}

fn legend(out: &mut String, page: &Page<'_>, branches: &[&String]) {
    out.push_str(r#"<div class="legend" aria-hidden="true">"#);
    for b in branches {
        let _ = write!(
            out,
            r#"<span class="swatch" style="background:{}"></span>{}"#,
            page.color(b),
            esc(b)
        );
    }
    out.push_str("</div>");
}

fn results_section(out: &mut String, page: &Page<'_>, i: usize, basis: &str, segment: &str) {
    let _ = write!(
        out,
        r#"<section id="results-{i}"><h2>{}</h2>"#,
        esc(&section_title(basis, segment))
    );
    let Some((period, window)) = page.headline(basis, segment) else {
        out.push_str(r#"<p class="muted">Only pre-enrollment results so far.</p>"#);
        preenrollment_only(out, page, basis, segment);
        out.push_str("</section>\n");
        return;
    };
    let _ = write!(
        out,
        r#"<p>Headline: <b>{}</b>. Compared with <b>{}</b>.</p>"#,
        esc(&headline_label(period, window)),
        esc(&page.reference)
    );
    let metrics: Vec<&MetricInfo> = page
        .metrics
        .iter()
        .filter(|m| {
            HEADLINE
                .iter()
                .chain(&PREENROLLMENT)
                .any(|p| !page.rows(*p, basis, segment, &m.slug).is_empty())
        })
        .collect();
    at_a_glance(out, page, i, basis, segment, (period, window), &metrics);
    for (j, m) in metrics.iter().enumerate() {
        metric_card(out, page, (i, j), basis, segment, (period, window), m);
    }
    out.push_str("</section>\n");
}

fn preenrollment_only(out: &mut String, page: &Page<'_>, basis: &str, segment: &str) {
    for m in &page.metrics {
        for p in PREENROLLMENT {
            let rows = page.rows(p, basis, segment, &m.slug);
            if rows.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "<h3>{} — {}</h3>",
                esc(&m.friendly_name),
                window_name(p)
            );
            summary_table(out, page, &summaries(page, rows), m.bigger_is_better);
        }
    }
}

fn headline_rows<'a>(
    page: &Page<'a>,
    (period, window): (AnalysisPeriod, i64),
    basis: &str,
    segment: &str,
    metric: &str,
) -> Vec<&'a Row> {
    page.rows(period, basis, segment, metric)
        .iter()
        .copied()
        .filter(|r| r.window_index == Some(window))
        .collect()
}

fn at_a_glance(
    out: &mut String,
    page: &Page<'_>,
    i: usize,
    basis: &str,
    segment: &str,
    headline: (AnalysisPeriod, i64),
    metrics: &[&MetricInfo],
) {
    let others: Vec<&String> = page.others().collect();
    if others.is_empty() || metrics.is_empty() {
        return;
    }
    let _ = write!(
        out,
        r#"<div class="scroll"><table class="glance"><caption class="muted">Relative difference to {} of each metric's first statistic, with its interval</caption><thead><tr><th>Metric</th>"#,
        esc(&page.reference)
    );
    for b in &others {
        let _ = write!(out, r#"<th class="num">{}</th>"#, esc(b));
    }
    out.push_str("</tr></thead><tbody>");
    for (j, m) in metrics.iter().enumerate() {
        let rows = headline_rows(page, headline, basis, segment, &m.slug);
        let stats = summaries(page, &rows);
        let Some(primary) = stats.iter().find(|s| s.has_comparisons()) else {
            continue;
        };
        let primary = Some(primary);
        let _ = write!(
            out,
            r##"<tr><td><a href="#m-{i}-{j}">{}</a>{}</td>"##,
            esc(&m.friendly_name),
            primary.map_or(String::new(), |s| format!(
                r#" <span class="muted">{}</span>"#,
                esc(s.name)
            ))
        );
        for b in &others {
            let rel = primary
                .and_then(|s| s.values.iter().find(|v| &v.0 == *b))
                .and_then(|v| v.2);
            match rel {
                Some(r) => {
                    let t = tone(Some(r), m.bigger_is_better);
                    let _ = write!(
                        out,
                        r#"<td class="num {}">{}<span class="ci">{}</span></td>"#,
                        t.class(),
                        format::percent(r.point),
                        format::interval(r.lower, r.upper, format::percent)
                    );
                }
                None => out.push_str(r#"<td class="num muted">–</td>"#),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>\n");
}

fn summary_table(
    out: &mut String,
    page: &Page<'_>,
    stats: &[Statistic<'_>],
    bigger_is_better: bool,
) {
    if stats.is_empty() {
        return;
    }
    let all_rows: Vec<&Row> = stats
        .iter()
        .flat_map(|s| s.values.iter().flat_map(|v| [v.1, v.2, v.3]))
        .flatten()
        .collect();
    let _ = write!(
        out,
        r#"<div class="scroll"><table><thead><tr><th>Branch</th><th class="num">Value</th><th class="num">Relative to {r}</th><th class="num">Absolute to {r}</th></tr></thead><tbody>"#,
        r = esc(&page.reference)
    );
    for s in stats {
        let _ = write!(
            out,
            r#"<tr class="group"><th colspan="4">{}{}</th></tr>"#,
            esc(s.name),
            ci_label(&all_rows)
        );
        for (branch, value, rel, abs) in &s.values {
            let t = tone(rel.or(*abs), bigger_is_better);
            let cell = |row: Option<&Row>, f: fn(Option<f64>) -> String| match row {
                Some(r) => format!(
                    "{}<span class=\"ci\">{}</span>",
                    f(r.point),
                    format::interval(r.lower, r.upper, f)
                ),
                None => "–".into(),
            };
            let (rel_cell, abs_cell) = if *branch == page.reference {
                (
                    r#"<span class="muted">reference</span>"#.to_string(),
                    String::new(),
                )
            } else {
                (cell(*rel, format::percent), cell(*abs, format::signed))
            };
            let _ = write!(
                out,
                r#"<tr><td><span class="swatch" style="background:{}"></span>{}{}</td><td class="num">{}</td><td class="num {c}">{rel_cell}</td><td class="num {c}">{abs_cell}</td></tr>"#,
                page.color(branch),
                esc(branch),
                if *branch == page.reference || (rel.is_none() && abs.is_none()) {
                    String::new()
                } else {
                    format!(r#" <span class="chip {}">{}</span>"#, t.class(), verdict(t))
                },
                cell(*value, format::value),
                c = t.class(),
            );
        }
    }
    out.push_str("</tbody></table></div>");
}

fn metric_card(
    out: &mut String,
    page: &Page<'_>,
    (i, j): (usize, usize),
    basis: &str,
    segment: &str,
    headline: (AnalysisPeriod, i64),
    m: &MetricInfo,
) {
    let rows = headline_rows(page, headline, basis, segment, &m.slug);
    let stats = summaries(page, &rows);
    let _ = write!(
        out,
        r#"<article class="metric" id="m-{i}-{j}"><div class="metric-head"><h3>{}</h3><span class="muted">{}</span><span class="chip neutral">{}</span>"#,
        esc(&m.friendly_name),
        esc(&m.slug),
        if m.bigger_is_better {
            "bigger is better"
        } else {
            "smaller is better"
        }
    );
    if let Some(primary) = stats.iter().find(|s| s.has_comparisons()) {
        for (branch, _, rel, abs) in primary.values.iter().filter(|v| v.0 != page.reference) {
            let t = tone(rel.or(*abs), m.bigger_is_better);
            let _ = write!(
                out,
                r#"<span class="chip {}">{}: {}</span>"#,
                t.class(),
                esc(branch),
                match rel {
                    Some(r) => format!("{} {}", format::percent(r.point), verdict(t)),
                    None => verdict(t).to_string(),
                }
            );
        }
    }
    out.push_str("</div>");
    if let Some(d) = m.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let _ = write!(out, r#"<p class="description">{}</p>"#, esc(d.trim()));
    }
    out.push_str(r#"<div class="metric-body"><div>"#);
    if stats.is_empty() {
        let _ = write!(
            out,
            r#"<p class="muted">No results in the headline window ({}).</p>"#,
            esc(&headline_label(headline.0, headline.1))
        );
    }
    summary_table(out, page, &stats, m.bigger_is_better);
    out.push_str("</div><div>");
    let intervals: Vec<Interval> = stats
        .iter()
        .flat_map(|s| {
            let several = stats.len() > 1;
            s.values
                .iter()
                .filter(|v| v.0 != page.reference && v.2.is_some())
                .map(move |(b, _, rel, _)| (s.name, several, b, *rel))
        })
        .filter_map(|(name, several, b, rel)| {
            let r = rel?;
            Some(Interval {
                label: if several {
                    format!("{b} · {name}")
                } else {
                    b.clone()
                },
                color: page.color(b),
                point: r.point,
                lower: r.lower,
                upper: r.upper,
                tone: tone(Some(r), m.bigger_is_better),
            })
        })
        .collect();
    if !intervals.is_empty() {
        let label = format!(
            "{}: relative difference to {} with intervals",
            m.friendly_name, page.reference
        );
        let _ = write!(
            out,
            r#"<figure><figcaption>Relative difference to {}</figcaption>{}</figure>"#,
            esc(&page.reference),
            plot::intervals(&intervals, &label)
        );
    }
    out.push_str("</div></div>");
    let mut figures = String::new();
    let primary_name = stats
        .iter()
        .find(|s| s.has_comparisons())
        .or(stats.first())
        .map(|s| s.name);
    if let Some(name) = primary_name {
        for period in TIME_COURSES {
            time_course_figure(&mut figures, page, period, basis, segment, m, name);
        }
    }
    distribution_figures(&mut figures, page, &rows, m);
    if !figures.is_empty() {
        let shown: Vec<&String> = page.branches.iter().collect();
        out.push_str(r#"<div class="plots">"#);
        out.push_str(&figures);
        out.push_str("</div>");
        legend(out, page, &shown);
    }
    for p in PREENROLLMENT {
        let pre = page.rows(p, basis, segment, &m.slug);
        if pre.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<details><summary>Before enrollment ({})</summary>",
            window_name(p)
        );
        summary_table(out, page, &summaries(page, pre), m.bigger_is_better);
        out.push_str("</details>");
    }
    out.push_str("</article>\n");
}

/// The windows of `period` for the metric's primary statistic: relative differences per
/// non-reference branch, or the branch values when there are no comparisons.
fn time_course_figure(
    out: &mut String,
    page: &Page<'_>,
    period: AnalysisPeriod,
    basis: &str,
    segment: &str,
    m: &MetricInfo,
    statistic: &str,
) {
    let rows: Vec<&Row> = page
        .rows(period, basis, segment, &m.slug)
        .iter()
        .copied()
        .filter(|r| r.statistic == statistic && r.parameter.is_none())
        .collect();
    let windows: BTreeSet<i64> = rows.iter().filter_map(|r| r.window_index).collect();
    if windows.len() < 2 {
        return;
    }
    let relative = rows.iter().any(|r| {
        r.comparison == Some(Comparison::RelativeUplift)
            && r.comparison_to_branch.as_deref() == Some(page.reference.as_str())
    });
    let series: Vec<Series> = page
        .branches
        .iter()
        .filter(|b| !relative || **b != page.reference)
        .map(|b| {
            let mut points: Vec<plot::Point> = rows
                .iter()
                .filter(|r| {
                    r.branch == *b
                        && if relative {
                            r.comparison == Some(Comparison::RelativeUplift)
                                && r.comparison_to_branch.as_deref()
                                    == Some(page.reference.as_str())
                        } else {
                            r.comparison.is_none()
                        }
                })
                .filter_map(|r| Some((r.window_index?, r.point, r.lower, r.upper)))
                .collect();
            points.sort_by_key(|p| p.0);
            Series {
                color: page.color(b),
                points,
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return;
    }
    let what = if relative {
        format!("{statistic}: relative difference to {}", page.reference)
    } else {
        format!("{statistic} per branch")
    };
    let caption = if period == AnalysisPeriod::Cumulative {
        format!("{what}, cumulative to each day")
    } else {
        format!("{what}, by {}", window_name(period))
    };
    let _ = write!(
        out,
        "<figure><figcaption>{}</figcaption>{}</figure>",
        esc(&caption),
        plot::time_course(
            &series,
            window_name(period),
            relative,
            &format!("{}: {caption}", m.friendly_name)
        )
    );
}

/// One plot per distribution statistic (rows with a parameter) of the headline window.
fn distribution_figures(out: &mut String, page: &Page<'_>, rows: &[&Row], m: &MetricInfo) {
    let mut names: Vec<&str> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.parameter.is_some() && r.comparison.is_none())
    {
        if !names.contains(&r.statistic.as_str()) {
            names.push(r.statistic.as_str());
        }
    }
    for name in names {
        let curves: Vec<Curve> = page
            .branches
            .iter()
            .map(|b| {
                let mut points: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r.statistic == name && r.branch == *b && r.comparison.is_none())
                    .filter_map(|r| {
                        let x: f64 = r.parameter.as_deref()?.parse().ok()?;
                        let y = r.point?;
                        (x.is_finite() && y.is_finite()).then_some((x, y))
                    })
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Curve {
                    color: page.color(b),
                    points,
                }
            })
            .filter(|c| !c.points.is_empty())
            .collect();
        if curves.is_empty() {
            continue;
        }
        let caption = format!("{} per branch", name.replace('_', " "));
        let _ = write!(
            out,
            "<figure><figcaption>{}</figcaption>{}</figure>",
            esc(&caption),
            plot::curves(&curves, &format!("{}: {caption}", m.friendly_name))
        );
    }
}

fn logs(out: &mut String, r: &Report) {
    out.push_str(r#"<section id="logs"><h2>Errors and warnings</h2>"#);
    if r.logs.is_empty() {
        out.push_str(r#"<p class="muted">Nothing was logged for this experiment.</p></section>"#);
        out.push('\n');
        return;
    }
    out.push_str(r#"<div class="scroll"><table><thead><tr><th>When (UTC)</th><th>Level</th><th>What</th><th>Where</th><th>Message</th></tr></thead><tbody>"#);
    for l in &r.logs {
        let place: Vec<String> = [
            ("basis", &l.analysis_basis),
            ("segment", &l.segment),
            ("period", &l.analysis_period),
            ("metric", &l.metric),
            ("statistic", &l.statistic),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k} {}", esc(v)))
        })
        .collect();
        let _ = write!(
            out,
            r#"<tr><td class="num">{}</td><td class="{}">{}</td><td>{}</td><td>{}</td><td class="message">{}</td></tr>"#,
            l.timestamp
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            if l.level == "ERROR" {
                "worse"
            } else {
                "neutral"
            },
            esc(&l.level),
            esc(l.exception_type.as_deref().unwrap_or("")),
            place.join("<br>"),
            esc(&l.message)
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}
