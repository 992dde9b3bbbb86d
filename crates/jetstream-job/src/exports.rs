//! The JSON exports of the job: statistics views, metadata and errors of each experiment
//! (after its analyses, or alone), and the experiments file.

use chrono::{DateTime, NaiveDate, Utc};
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_experimenter::Parsed;
use jetstream_output::OutputSink;
use jetstream_output::export::{ExportPolicy, export_errors, export_statistics};
use jetstream_output::metadata::export_metadata;

use crate::job::{Event, Observer, Outcome, failed};
use crate::{Job, JobReport};

impl Job<'_> {
    /// The JSON exports (statistics, metadata, errors) of `configs`, when a sink is set.
    pub fn export(
        &self,
        configs: &[AnalysisConfiguration],
        started: DateTime<Utc>,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        self.export_since(configs, started, None, observer, report);
    }

    /// [`Job::export`], leaving the log rows before `errors_since` out of the errors exports
    /// (a rerun's start: none of the rows of the results it replaced).
    pub fn export_since(
        &self,
        configs: &[AnalysisConfiguration],
        started: DateTime<Utc>,
        errors_since: Option<DateTime<Utc>>,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        self.export_with(
            configs,
            started,
            errors_since,
            ExportPolicy::default(),
            observer,
            report,
        );
    }

    /// [`Job::export_since`] with a statistics export `policy` (a completed rerun may publish
    /// fewer windows).
    pub(crate) fn export_with(
        &self,
        configs: &[AnalysisConfiguration],
        started: DateTime<Utc>,
        errors_since: Option<DateTime<Utc>>,
        policy: ExportPolicy,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        let Some(sink) = self.sink else { return };
        for config in configs {
            let slug = config.experiment.normandy_slug();
            if config.experiment.spec.is_private {
                // Private results stay in their own dataset: nothing of theirs goes to the
                // shared output (the reference does not export private metadata either).
                observer.event(&Event::Skipped {
                    slug,
                    date: None,
                    reason: "private experiment: no JSON export to the shared output",
                });
                continue;
            }
            match self.dataset_of(config) {
                Ok(dataset) => {
                    let exported = export_statistics(self.warehouse, sink, &dataset, slug, policy);
                    self.statistics_exported(sink, slug, exported, observer, report);
                }
                Err(e) => {
                    export_failed(report, observer, slug, "statistics", e.to_string());
                }
            }
            let mut fail = |what: &'static str, message: String| {
                export_failed(report, observer, slug, what, message);
            };
            match export_metadata(config, &self.configs, sink, Some(started)) {
                Ok(Some(k)) => observer.event(&Event::Exported {
                    slug,
                    location: sink.location(&k),
                    errors: None,
                }),
                Ok(None) => {}
                Err(e) => fail("metadata", e.to_string()),
            }
            self.export_errors_of(
                sink,
                slug,
                started,
                config.experiment.experiment.enrollment_end_date,
                errors_since,
                observer,
                report,
            );
        }
    }

    /// Export the logged errors of `slug` (when a monitoring table is configured): rows since
    /// the weekly analysis start of `started` (the reference's window), none before
    /// `errors_since`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn export_errors_of(
        &self,
        sink: &dyn OutputSink,
        slug: &str,
        started: DateTime<Utc>,
        enrollment_end: Option<NaiveDate>,
        errors_since: Option<DateTime<Utc>>,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        let Some(logs) = &self.options.log_table else {
            return;
        };
        match export_errors(
            self.warehouse,
            sink,
            logs,
            slug,
            started.naive_utc(),
            enrollment_end,
            errors_since.map(|t| t.naive_utc()),
        ) {
            Ok((k, n)) => observer.event(&Event::Exported {
                slug,
                location: sink.location(&k),
                errors: Some(n),
            }),
            Err(e) => {
                export_failed(report, observer, slug, "errors", e.to_string());
            }
        }
    }

    /// Export the statistics views of `slugs` (no experiment definitions needed).
    pub fn export_statistics(&self, slugs: &[String], observer: &dyn Observer) -> JobReport {
        let mut report = JobReport::default();
        let Some(sink) = self.sink else {
            return report;
        };
        for slug in slugs {
            let exported = export_statistics(
                self.warehouse,
                sink,
                &self.options.run.dataset,
                slug,
                ExportPolicy::default(),
            );
            match exported {
                Ok(export) if export.is_empty() => {
                    report.mark(slug, Outcome::Skipped);
                    observer.event(&Event::Skipped {
                        slug,
                        date: None,
                        reason: &format!("no statistics views in {}", self.options.run.dataset),
                    });
                }
                other => {
                    let failures = report.failures;
                    self.statistics_exported(sink, slug, other, observer, &mut report);
                    if report.failures == failures {
                        report.mark(slug, Outcome::Ok);
                    }
                }
            }
        }
        report
    }

    /// Tell `observer` what a statistics export did; refused views and errors are failures.
    fn statistics_exported(
        &self,
        sink: &dyn OutputSink,
        slug: &str,
        exported: Result<jetstream_output::export::StatisticsExport, jetstream_output::OutputError>,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        match exported {
            Ok(export) => {
                for k in export.written {
                    observer.event(&Event::Exported {
                        slug,
                        location: sink.location(&k),
                        errors: None,
                    });
                }
                for k in export.unchanged {
                    observer.event(&Event::Skipped {
                        slug,
                        date: None,
                        reason: &format!("{} is up to date", sink.location(&k)),
                    });
                }
                for (_, why) in export.refused {
                    export_failed(report, observer, slug, "statistics", why);
                }
            }
            Err(e) => {
                export_failed(report, observer, slug, "statistics", e.to_string());
            }
        }
    }

    /// Export the logged errors of `slugs` since the start of `date` (the reference's
    /// `export-experiment-logs-to-json`: no enrollment end, the window starts at the date).
    pub fn export_logs(
        &self,
        slugs: &[String],
        date: NaiveDate,
        observer: &dyn Observer,
    ) -> JobReport {
        let mut report = JobReport::default();
        let (Some(sink), Some(_)) = (self.sink, &self.options.log_table) else {
            return report;
        };
        let start = date.and_time(chrono::NaiveTime::MIN).and_utc();
        for slug in slugs {
            let failures = report.failures;
            self.export_errors_of(sink, slug, start, None, None, observer, &mut report);
            if report.failures == failures {
                report.mark(slug, Outcome::Ok);
            }
        }
        report
    }

    /// Export the statistics, metadata and errors of `slugs` (`export-to-json`: what a run
    /// with a sink exports after its analyses; the workflow's export step). `started` is the
    /// run's start (metadata's `analysis_start_time`, the errors' weekly window); no log row
    /// before `errors_since` is exported.
    pub fn export_experiments(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        started: DateTime<Utc>,
        errors_since: Option<DateTime<Utc>>,
        observer: &dyn Observer,
    ) -> JobReport {
        let mut report = JobReport::default();
        let configs = self.select_slugs(parsed, slugs, observer, &mut report);
        for config in &configs {
            report.mark(config.experiment.normandy_slug(), Outcome::Ok);
        }
        // A rerun's export step (a workflow's): once every window is back, its marker goes and
        // its views may be published with fewer windows.
        let mut finished = Vec::new();
        let mut others = Vec::new();
        for config in configs {
            match self.rerun_of(&config) {
                Ok(Some(rerun)) if self.rerun_complete(&config, rerun.until) => {
                    match self.unmark_rerun(&config) {
                        Ok(()) => finished.push(config),
                        Err(e) => {
                            failed(
                                &mut report,
                                observer,
                                config.experiment.normandy_slug(),
                                None,
                                &e.to_string(),
                            );
                            others.push(config);
                        }
                    }
                }
                _ => others.push(config),
            }
        }
        self.export_since(&others, started, errors_since, observer, &mut report);
        let allow = ExportPolicy::COMPLETE_RERUN;
        self.export_with(
            &finished,
            started,
            errors_since,
            allow,
            observer,
            &mut report,
        );
        report
    }

    /// Export the metadata of `slugs` (the reference's `export-metadata-to-json`).
    pub fn export_metadata(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        observer: &dyn Observer,
    ) -> JobReport {
        let mut report = JobReport::default();
        let Some(sink) = self.sink else {
            return report;
        };
        for config in self.select_slugs(parsed, slugs, observer, &mut report) {
            let slug = config.experiment.normandy_slug();
            match export_metadata(&config, &self.configs, sink, None) {
                Ok(Some(k)) => {
                    report.mark(slug, Outcome::Ok);
                    observer.event(&Event::Exported {
                        slug,
                        location: sink.location(&k),
                        errors: None,
                    });
                }
                Ok(None) => {
                    report.mark(slug, Outcome::Skipped);
                    observer.event(&Event::Skipped {
                        slug,
                        date: None,
                        reason: "private experiment: metadata is not exported",
                    });
                }
                Err(e) => {
                    export_failed(&mut report, observer, slug, "metadata", e.to_string());
                }
            }
        }
        report
    }
}

/// Count a failed export of `slug` (`what`: statistics, errors, metadata) and tell the
/// observer.
fn export_failed(
    report: &mut JobReport,
    observer: &dyn Observer,
    slug: &str,
    what: &'static str,
    message: String,
) {
    report.fail(slug);
    observer.event(&Event::ExportFailed {
        slug,
        what,
        message,
    });
}
