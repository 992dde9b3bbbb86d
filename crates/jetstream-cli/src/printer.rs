//! How the CLI shows the job's events: one line each on stdout, progress bars on stderr
//! (hidden when it is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jetstream_job::{Enrollments, Event, JobReport, Observer, Progress};

use crate::out;

/// Prints events and draws progress bars.
pub(crate) struct Printer {
    bar: ProgressBar,
    /// Events go to stderr (stdout carries a document: `--dry-run`'s workflow).
    to_stderr: bool,
}

impl Printer {
    /// Events on stderr: for commands whose stdout is a document.
    pub(crate) fn on_stderr() -> Self {
        Self {
            to_stderr: true,
            ..Self::new()
        }
    }

    /// One event line, escaped (see [`crate::out!`]).
    fn say(&self, line: String) {
        if self.to_stderr {
            crate::err!("{line}");
        } else {
            out!("{line}");
        }
    }

    pub(crate) fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:50!} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self {
            bar,
            to_stderr: false,
        }
    }

    /// Clear the bar and print the summary line; the exit status: 0 when nothing failed.
    pub(crate) fn finish(&self, report: &JobReport) -> std::process::ExitCode {
        self.bar.finish_and_clear();
        out!(
            "{} analyses, {} statistics tables, {} skipped, {} failures",
            report.analyses,
            report.tables,
            report.skipped,
            report.failures
        );
        for (slug, usage) in &report.usage {
            if usage.queries > 0 {
                out!(
                    "{slug}: {} queries, {:.3} GB processed, {:.1} slot-seconds",
                    usage.queries,
                    usage.bytes_processed as f64 / 1e9,
                    usage.slot_millis as f64 / 1e3
                );
            }
        }
        exit_code(report)
    }
}

/// 0 when nothing failed, 1 otherwise.
pub(crate) fn exit_code(report: &JobReport) -> std::process::ExitCode {
    if report.success() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

impl Progress for Printer {
    fn begin(&self, label: &str, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_message(label.to_string());
    }
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
}

impl jetstream_job::argo::WorkflowObserver for Printer {
    fn submitted(
        &self,
        cluster: &jetstream_job::argo::ArgoCluster,
        name: &str,
        existing: bool,
        experiments: usize,
        experiment_dates: usize,
    ) {
        let what = if existing {
            "following the workflow already submitted for this run:"
        } else {
            "submitted workflow"
        };
        crate::out!(
            "{what} {name} ({experiments} experiments, {experiment_dates} experiment-dates) in \
             namespace {} at {} ({})",
            cluster.namespace(),
            cluster.server(),
            cluster.via()
        );
    }

    fn status(&self, status: &jetstream_job::argo::WorkflowStatus) {
        match &status.progress {
            Some(p) => crate::out!("{}: {} ({p})", status.name, status.phase),
            None => crate::out!("{}: {}", status.name, status.phase),
        }
    }
}

impl Observer for Printer {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::NotFound { slug } => {
                self.say(format!("{slug}: not found among the experiments"));
                if !self.to_stderr {
                    crate::err!("error: {slug}: not found among the experiments");
                }
            }
            Event::Unreadable { slug, reason } => {
                self.say(format!("{slug}: unreadable recipe: {reason}"))
            }
            Event::Skipped {
                slug,
                date: Some(date),
                reason,
            } => self.say(format!("{slug}: skipped on {date}: {reason}")),
            Event::Skipped { slug, reason, .. } => self.say(format!("{slug}: skipped: {reason}")),
            Event::Analysed(r) => {
                for p in &r.periods {
                    self.say(format!(
                        "{} {}: {} ({} rows)",
                        r.slug, r.date, p.table, p.rows
                    ));
                }
                for e in &r.errors {
                    self.say(format!(
                        "{} {}: FAILED {} {} {} {}: {}",
                        r.slug,
                        r.date,
                        e.metric.as_deref().unwrap_or("-"),
                        e.statistic.as_deref().unwrap_or("-"),
                        e.analysis_basis.as_deref().unwrap_or("-"),
                        e.segment.as_deref().unwrap_or("-"),
                        e.message
                    ));
                }
                if r.lost_logs > 0 {
                    crate::err!(
                        "error: {} {}: {} log records could not be written to the logs table",
                        r.slug,
                        r.date,
                        r.lost_logs
                    );
                }
            }
            Event::Failed {
                slug,
                date: Some(date),
                message,
            } => self.say(format!("{slug} {date}: FAILED: {message}")),
            Event::Failed { slug, message, .. } => self.say(format!("{slug}: FAILED: {message}")),
            Event::Deleted { slug, count } => {
                self.say(format!("{slug}: deleted {count} result tables"))
            }
            Event::Enrollments { slug, outcome } => self.say(match outcome {
                Enrollments::Created(n) => format!("{slug}: enrollments created ({n} rows)"),
                Enrollments::Kept => format!("{slug}: enrollments exist, kept"),
                Enrollments::NotReady => format!("{slug}: no day window is ready yet"),
            }),
            Event::Exported {
                slug,
                location,
                errors: Some(n),
            } => self.say(format!("{slug}: {n} errors → {location}")),
            Event::Exported { slug, location, .. } => self.say(format!("{slug}: {location}")),
            Event::ExportFailed {
                slug,
                what,
                message,
            } => self.say(format!("{slug}: FAILED exporting {what}: {message}")),
            Event::Resumed {
                slug,
                started,
                dates,
            } => self.say(format!(
                "{slug}: completing the rerun begun at {} ({dates} dates, the windows still \
                 missing only)",
                started.format("%Y-%m-%d %H:%M:%S UTC")
            )),
            _ => {}
        }
    }
}
