//! `preview` (the reference's command): analyse recent days of a platform as a dummy
//! experiment — the experiment's own branches and configs when the source knows its slug —
//! in a scratch dataset, then gather its report.
//!
//! As in the reference: the experiment is Live, enrolled for `enrollment_period` days before
//! `start_date`, analysed on each day from `start_date` to `end_date`; no data source filters
//! on an experiments column (the preview's clients were never tagged); the old preview tables
//! and the preview's own logs table `<dataset>.logs_<slug>` are deleted first; with
//! `generate_population`, enrollments are the platform's active clients in
//! `sample_id < population_sample_size`, assigned to branches by a hash. Instead of a Looker
//! link the caller gets the [`Report`].

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::enums::AnalysisUnit;
use jetstream_config::experiment::{Branch, Experiment};
use jetstream_config::resolve::{AnalysisConfiguration, DataSource, ExposureSignal};
use jetstream_report::Report;
use jetstream_sql::naming;
use jetstream_sql::preview::{population_enrollments_query, population_table};
use jetstream_warehouse::TableName;

use crate::{Job, JobError, JobOptions, JobReport, Observer, RunOptions, delete_experiment_tables};

/// What a preview analyses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewOptions {
    /// The experiment's slug (its recipe and config are used when known).
    pub slug: String,
    /// First analysed day.
    pub start_date: NaiveDate,
    /// Last analysed day.
    pub end_date: NaiveDate,
    /// The platform (`app_name`) of a dummy experiment.
    pub platform: String,
    /// Enrol the platform's population instead of the experiment's enrollment events.
    pub generate_population: bool,
    /// Percentage of the population enrolled (`sample_id < N`).
    pub population_sample_size: u32,
    /// Days of enrollment before `start_date`.
    pub enrollment_period: u32,
}

impl PreviewOptions {
    /// The reference's date defaults: the end is yesterday, the start `num_days` before it.
    pub fn dates(
        today: NaiveDate,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
        num_days: u32,
    ) -> (NaiveDate, NaiveDate) {
        let end = end.unwrap_or(today - Duration::days(1));
        let start = start.unwrap_or(end - Duration::days(i64::from(num_days)));
        (start, end)
    }

    /// The analysed days, `start_date` to `end_date`.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.start_date
            .iter_days()
            .take_while(|d| *d <= self.end_date)
            .collect()
    }

    /// The previewed experiment: `found` (the source's recipe of the slug) or a dummy one on
    /// the platform, Live, enrolling for `enrollment_period` days up to the day before
    /// `start_date`, not ended.
    pub fn experiment(&self, found: Option<&Experiment>) -> Experiment {
        let enrollment_start = self.start_date - Duration::days(i64::from(self.enrollment_period));
        let mut e = found
            .cloned()
            .unwrap_or_else(|| Experiment::dummy(&self.slug, &self.platform, enrollment_start));
        e.status = Some("Live".into());
        e.start_date = Some(enrollment_start);
        e.enrollment_end_date = Some(self.start_date - Duration::days(1));
        e.proposed_enrollment = Some(i64::from(self.enrollment_period));
        e.is_enrollment_paused = Some(true);
        e.end_date = None;
        e.is_high_population = false;
        if e.branches.is_empty() {
            e.branches = ["control", "treatment"]
                .map(|slug| Branch {
                    slug: slug.into(),
                    ratio: 1,
                })
                .to_vec();
            e.reference_branch = Some("control".into());
        }
        e
    }

    /// The preview's logs table: `<dataset>.logs_<slug>`.
    pub fn log_table(&self, dataset: &str) -> Result<TableName, JobError> {
        Ok(TableName::new(
            dataset,
            &format!("logs_{}", naming::bq_normalize_name(&self.slug)),
        )?)
    }

    /// The job options of a preview into `dataset`: its periods (default: days), enrollments
    /// recreated, logs to [`PreviewOptions::log_table`] with source `jetstream-preview`.
    pub fn job_options(
        &self,
        dataset: &str,
        periods: Option<Vec<AnalysisPeriod>>,
        run: RunOptions,
    ) -> Result<JobOptions, JobError> {
        Ok(JobOptions {
            run: RunOptions {
                dataset: dataset.to_string(),
                periods: Some(periods.unwrap_or_else(|| vec![AnalysisPeriod::Day])),
                recreate_enrollments: true,
                source: "jetstream-preview".into(),
                ..run
            },
            log_table: Some(self.log_table(dataset)?),
            processes: None,
            spool: None,
        })
    }
}

/// What a preview did.
#[derive(Debug)]
pub struct Preview {
    /// The analyses (one per day).
    pub job: JobReport,
    /// Old preview tables and views deleted first.
    pub deleted: usize,
    /// The report of the preview's results.
    pub report: Report,
}

/// The exposure signal of a generated population (the reference's `sampled_exposure_signal`):
/// a client is exposed when it is active after enrolling, in the population's own table.
fn population_exposure(app_name: &str, app_id: Option<&str>) -> ExposureSignal {
    let (table, id, date) = population_table(app_name, app_id);
    ExposureSignal {
        name: "preview_population_active".into(),
        data_source: DataSource {
            name: "preview_population".into(),
            from_expression: format!("`{table}`"),
            experiments_column_type: None,
            client_id_column: id.into(),
            submission_date_column: date.into(),
            default_dataset: None,
            build_id_column: "NULL".into(),
            friendly_name: Some("Preview population".into()),
            description: Some("The platform's active clients the preview enrolled".into()),
            joins: Vec::new(),
            columns_as_dimensions: false,
            analysis_units: vec![AnalysisUnit::Client],
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
        },
        select_expression: "TRUE".into(),
        friendly_name: "Active after enrolling".into(),
        description: "Every client of the generated population, from its first active day".into(),
        window_start: None,
        window_end: None,
    }
}

/// Whether a data source (or one it joins) has an experiments column.
fn tagged(ds: &DataSource) -> bool {
    ds.experiments_column_type.is_some() || ds.joins.iter().any(|j| tagged(&j.data_source))
}

/// No data source filters on an experiments column.
fn untag(ds: &mut DataSource) {
    ds.experiments_column_type = None;
    for join in &mut ds.joins {
        untag(&mut join.data_source);
    }
}

impl Job<'_> {
    /// Preview `experiment` (see [`PreviewOptions::experiment`]) on the days of `options`.
    /// The job must have been built with [`PreviewOptions::job_options`]: its logs table is
    /// the preview's, which is deleted first (any other logs table is refused, so that a
    /// monitoring table is never dropped). Failures of single days are in
    /// [`Preview::job`] as in any run; the report is gathered whatever happened.
    pub fn preview(
        &self,
        options: &PreviewOptions,
        experiment: &Experiment,
        observer: &dyn Observer,
    ) -> Result<Preview, JobError> {
        let mut config: AnalysisConfiguration = self.resolve(experiment)?;
        let dataset = self.dataset_of(&config)?;
        let logs = options.log_table(&dataset)?;
        if self.options().log_table.as_ref() != Some(&logs) {
            return Err(JobError::Option {
                option: "preview".into(),
                message: format!(
                    "the job's logs table must be the preview's own {}.{} (it is deleted first)",
                    logs.dataset, logs.table
                ),
            });
        }
        for summaries in config.metrics.values_mut() {
            for s in summaries {
                if s.metric.data_source.as_ref().is_some_and(tagged)
                    && let Some(ds) = Arc::make_mut(&mut s.metric).data_source.as_mut()
                {
                    untag(ds);
                }
            }
        }
        if let Some(signal) = &mut config.experiment.exposure_signal {
            untag(&mut signal.data_source);
        }
        if options.generate_population {
            let e = &config.experiment.experiment;
            let branches: Vec<(String, i64)> = e
                .branches
                .iter()
                .map(|b| (b.slug.clone(), b.ratio))
                .collect();
            let query = population_enrollments_query(
                &options.slug,
                &e.app_name,
                e.app_id.as_deref(),
                &branches,
                e.start_date.unwrap_or(options.start_date),
                options.start_date - Duration::days(1),
                options.population_sample_size,
            )
            .map_err(|err| JobError::Option {
                option: "--generate-population".into(),
                message: err.to_string(),
            })?;
            config.experiment.enrollment_query = Some(query);
            config.experiment.exposure_signal =
                Some(population_exposure(&e.app_name, e.app_id.as_deref()));
        }
        let slug = config.experiment.normandy_slug().to_string();
        let mut deleted = delete_experiment_tables(self.warehouse(), &dataset, &slug, None)?;
        for table in [
            TableName::new(&dataset, &naming::enrollments_table(&slug))?,
            logs,
        ] {
            if self.warehouse().table_exists(&table)? {
                self.warehouse().delete_table(&table)?;
                deleted += 1;
            }
        }
        let mut job = JobReport::default();
        self.analyse(&config, &options.days(), observer, &mut job);
        let report = self.report(&config)?;
        Ok(Preview {
            job,
            deleted,
            report,
        })
    }
}
