//! The HTML report of an experiment: read its statistics views, enrollment counts and logged
//! errors from the warehouse into a [`jetstream_report::Report`], render it, write it.

use std::path::Path;

use chrono::Utc;
use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_output::metadata::python_title;
use jetstream_report::{BranchCounts, BranchInfo, LogEntry, MetricInfo, PeriodStatistics, Report};
use jetstream_sql::naming;
use jetstream_warehouse::{Column, Columns, TableName};

use jetstream_experimenter::Parsed;

use crate::{Job, JobError};

impl Job<'_> {
    /// Gather the report of a resolved experiment: its dates and branches, its enrollment
    /// counts, the rows of every period's statistics view, its metrics' descriptions and the
    /// errors logged for it. A part that cannot be read is named in
    /// [`Report::problems`] and the rest is still gathered; only an unusable dataset name fails.
    pub fn report(&self, config: &AnalysisConfiguration) -> Result<Report, JobError> {
        let experiment = &config.experiment;
        let slug = experiment.normandy_slug();
        let dataset = self.dataset_of(config)?;
        let mut report = self.report_of_slug(slug, &dataset);
        report.app_name = experiment.app_name().to_string();
        report.status = experiment.status().map(str::to_string);
        report.start_date = experiment.start_date();
        report.end_date = experiment.end_date();
        // Experimenter's date when it has one (the analysis windows count from the day after,
        // the reference's `start + enrollment period`).
        report.enrollment_end_date = experiment
            .experiment
            .enrollment_end_date
            .or_else(|| experiment.last_enrollment_date());
        report.reference_branch = experiment.reference_branch().map(str::to_string);
        report.branches = experiment
            .experiment
            .branches
            .iter()
            .map(|b| BranchInfo {
                slug: b.slug.clone(),
                ratio: b.ratio as f64,
            })
            .collect();
        report.metrics = metrics(config);
        let names: Vec<String> = report.branches.iter().map(|b| b.slug.clone()).collect();
        let table = TableName::new(&dataset, &naming::enrollments_table(slug))?;
        match self.warehouse().table_exists(&table) {
            Ok(false) => {}
            Ok(true) => {
                let qualified = format!(
                    "{}.{}.{}",
                    self.warehouse().project(),
                    table.dataset,
                    table.table
                );
                match jetstream_analysis::branch_counts(self.warehouse(), &qualified, &names) {
                    Ok(c) => {
                        report.counts = Some(BranchCounts {
                            enrolled: c.enrolled,
                            exposed: c.exposed,
                        })
                    }
                    Err(e) => report.problems.push(format!("{}: {e}", table.table)),
                }
            }
            Err(e) => report.problems.push(format!("{}: {e}", table.table)),
        }
        Ok(report)
    }

    /// The report of `slug`: resolved with its pinned configs when the experiment source
    /// knows it; otherwise (or when its config does not resolve) from its statistics and logs
    /// alone, the reason named in [`Report::problems`].
    pub fn report_for(&self, parsed: &Parsed, slug: &str) -> Result<Report, JobError> {
        let Some(experiment) = parsed.experiments.iter().find(|e| e.normandy_slug == slug) else {
            let mut report = self.report_of_slug(slug, &self.dataset_of_slug(slug)?);
            report.problems.push(format!(
                "{slug} is not among the experiments read: its dates, branches and metric \
                 descriptions are missing"
            ));
            return Ok(report);
        };
        match self.resolve(experiment) {
            Ok(config) => self.report(&config),
            Err(e) => {
                let mut report = self.report_of_slug(slug, &self.dataset_of_slug(slug)?);
                report.problems.push(format!("the config of {slug}: {e}"));
                Ok(report)
            }
        }
    }

    /// The report of an experiment known only by its slug (no recipe): its statistics and
    /// logged errors, without dates, branch ratios or metric descriptions.
    pub fn report_of_slug(&self, slug: &str, dataset: &str) -> Report {
        let mut report = Report {
            slug: slug.to_string(),
            generated_at: Some(Utc::now().naive_utc()),
            ..Report::default()
        };
        for &period in AnalysisPeriod::ALL {
            let view = naming::statistics_view(slug, period);
            let rows = TableName::new(dataset, &view)
                .map_err(JobError::from)
                .and_then(|name| {
                    if !self.warehouse().table_exists(&name)? {
                        return Ok(None);
                    }
                    let sql = format!(
                        "SELECT {} FROM `{}.{}.{}`",
                        jetstream_stats::Row::FIELDS.join(", "),
                        self.warehouse().project(),
                        name.dataset,
                        name.table
                    );
                    let columns = self.warehouse().query_columns(&sql)?;
                    Ok(Some(jetstream_output::statistics_rows(&view, &columns)?))
                });
            match rows {
                Ok(Some(rows)) => report.statistics.push(PeriodStatistics { period, rows }),
                Ok(None) => {}
                Err(e) => report.problems.push(format!("{view}: {e}")),
            }
        }
        match self.logged(&[slug.to_string()], None) {
            Ok(columns) => report.logs = log_entries(&columns),
            Err(e) => report.problems.push(format!("logs: {e}")),
        }
        report
    }
}

/// Render `report` and write it to `path` atomically (a temporary file beside it, renamed):
/// an interrupted write never leaves half a page.
pub fn write_report(report: &Report, path: &Path) -> Result<(), JobError> {
    let html = jetstream_report::render(report);
    let fail = |e: std::io::Error| JobError::Io {
        what: format!("writing the report {}", path.display()),
        source: e,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report.html".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, html).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

/// Each metric once, in the config's order, named as in the metadata export.
fn metrics(config: &AnalysisConfiguration) -> Vec<MetricInfo> {
    let mut out: Vec<MetricInfo> = Vec::new();
    for summary in config.metrics.values().flatten() {
        let m = &summary.metric;
        if out.iter().any(|x| x.slug == m.name) {
            continue;
        }
        out.push(MetricInfo {
            slug: m.name.clone(),
            friendly_name: m
                .friendly_name
                .clone()
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| python_title(&m.name.replace('_', " "))),
            description: m.description.clone(),
            bigger_is_better: m.bigger_is_better,
        });
    }
    out
}

fn text(columns: &Columns, name: &str, row: usize) -> Option<String> {
    match columns.get(name)? {
        Column::Text(v) => v.get(row).cloned().flatten(),
        other => Some(other.display(row)).filter(|v| v != "NULL"),
    }
}

fn log_entries(columns: &Columns) -> Vec<LogEntry> {
    let timestamps = match columns.get("timestamp") {
        Some(Column::Timestamp(v)) => v.clone(),
        _ => vec![None; columns.rows()],
    };
    (0..columns.rows())
        .map(|i| LogEntry {
            timestamp: timestamps.get(i).copied().flatten(),
            level: text(columns, "log_level", i).unwrap_or_default(),
            exception_type: text(columns, "exception_type", i),
            analysis_basis: text(columns, "analysis_basis", i),
            segment: text(columns, "segment", i),
            analysis_period: text(columns, "analysis_period", i),
            metric: text(columns, "metric", i),
            statistic: text(columns, "statistic", i),
            message: text(columns, "message", i).unwrap_or_default(),
        })
        .collect()
}
