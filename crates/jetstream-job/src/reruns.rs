//! Reruns that never shrink what is published.
//!
//! A rerun deletes an experiment's result tables, then analyses every date again. Killed in
//! between (a pod evicted, a laptop closed), the tables are left incomplete — and an ordinary
//! run would then export a view with fewer windows over the good file. So a rerun first writes
//! a marker, `<dataset>.jetstream_rerun_<slug>` (its start and last date), and removes it only
//! when it is done; while a marker is there, the daily run completes the rerun — every date of
//! it, for the windows still missing only — and says so. Independently, the statistics export
//! refuses to replace a published object by a view with fewer windows
//! ([`jetstream_output::export::ExportPolicy`]).

use chrono::{DateTime, NaiveDate, Utc};
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_experimenter::Parsed;
use jetstream_sql::naming;
use jetstream_sql::query::string_literal;
use jetstream_warehouse::{Column, TableMetadata, TableName};

use crate::daily::{Plan, PlanItem};
use crate::job::{Job, JobReport, Observer, failed};
use crate::{Event, JobError};

/// The prefix of the marker tables.
pub const RERUN_MARKER_PREFIX: &str = "jetstream_rerun_";

/// An unfinished rerun, as its marker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedRerun {
    /// The experiment.
    pub slug: String,
    /// When the rerun began.
    pub started: DateTime<Utc>,
    /// Its last date.
    pub until: NaiveDate,
}

impl Job<'_> {
    fn marker(&self, config: &AnalysisConfiguration) -> Result<TableName, JobError> {
        let slug = config.experiment.normandy_slug();
        Ok(TableName::new(
            &self.dataset_of(config)?,
            &format!("{RERUN_MARKER_PREFIX}{}", naming::bq_normalize_name(slug)),
        )?)
    }

    /// Record that a rerun of `config` up to `until` began at `started` (before it deletes
    /// anything).
    pub(crate) fn mark_rerun(
        &self,
        config: &AnalysisConfiguration,
        started: DateTime<Utc>,
        until: NaiveDate,
    ) -> Result<(), JobError> {
        let slug = config.experiment.normandy_slug();
        let sql = format!(
            "SELECT {} AS experiment, CAST({} AS TIMESTAMP) AS started, \
             CAST({} AS DATE) AS until_date",
            string_literal(slug),
            string_literal(&started.format("%Y-%m-%d %H:%M:%S").to_string()),
            string_literal(&until.format("%Y-%m-%d").to_string()),
        );
        self.warehouse()
            .write_table(&self.marker(config)?, &sql, &TableMetadata::now(slug))?;
        Ok(())
    }

    /// The rerun of `config` is done: its marker goes.
    pub(crate) fn unmark_rerun(&self, config: &AnalysisConfiguration) -> Result<(), JobError> {
        let marker = self.marker(config)?;
        if self.warehouse().table_exists(&marker)? {
            self.warehouse().delete_table(&marker)?;
        }
        Ok(())
    }

    /// The unfinished reruns of the job's dataset (private experiments' datasets aside).
    pub fn unfinished_reruns(&self) -> Result<Vec<UnfinishedRerun>, JobError> {
        let dataset = &self.options().run.dataset;
        let mut out = Vec::new();
        for table in self.warehouse().list_tables(dataset, RERUN_MARKER_PREFIX)? {
            let rows = self.warehouse().query_columns(&format!(
                "SELECT experiment, started, until_date FROM `{}.{}`",
                table.dataset, table.table
            ))?;
            let slug = match rows.get("experiment") {
                Some(Column::Text(v)) => v.first().cloned().flatten(),
                _ => None,
            };
            let started = match rows.get("started") {
                Some(Column::Timestamp(v)) => v.first().copied().flatten(),
                _ => None,
            };
            let until = match rows.get("until_date") {
                Some(Column::Date(v)) => v.first().copied().flatten(),
                _ => None,
            };
            match (slug, started, until) {
                (Some(slug), Some(started), Some(until)) => out.push(UnfinishedRerun {
                    slug,
                    started: started.and_utc(),
                    until,
                }),
                _ => tracing::warn!(table = %table, "a rerun marker that does not read"),
            }
        }
        Ok(out)
    }

    /// Add to `plan` the unfinished reruns of experiments in `parsed` (of `slugs`, when some
    /// are given): every date of each, as catch-up dates (the windows still missing only), with
    /// the current configs (a rerun adopts them).
    pub(crate) fn add_unfinished_reruns(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        plan: &mut Plan,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        let reruns = match self.unfinished_reruns() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("the rerun markers cannot be read: {e}");
                report.failures += 1;
                return;
            }
        };
        for rerun in reruns
            .into_iter()
            .filter(|r| slugs.is_empty() || slugs.contains(&r.slug))
        {
            let Some(experiment) =
                jetstream_experimenter::select::with_slug(&parsed.experiments, &rerun.slug)
            else {
                tracing::warn!(experiment = %rerun.slug, "an unfinished rerun of an experiment without a recipe here");
                continue;
            };
            let config = match self.resolve_current(experiment) {
                Ok(c) => c,
                Err(e) => {
                    failed(report, observer, &rerun.slug, None, &e.to_string());
                    continue;
                }
            };
            let dates = Self::rerun_dates(&config, rerun.until);
            observer.event(&Event::Resumed {
                slug: &rerun.slug,
                started: rerun.started,
                dates: dates.len(),
            });
            let index = match plan.iter().position(|i| i.slug() == rerun.slug) {
                Some(i) => i,
                None => {
                    plan.push(PlanItem::new(config, Vec::new()));
                    plan.len() - 1
                }
            };
            let item = &mut plan[index];
            for d in dates {
                if !item.catch_up.contains(&d) {
                    item.catch_up.push(d);
                }
            }
            item.catch_up.sort();
            item.completes_rerun = true;
        }
    }

    /// After a run that completed reruns: the markers of those with no window missing any
    /// more go.
    pub(crate) fn finish_reruns(&self, plan: &Plan, report: &mut JobReport) {
        for item in plan.iter().filter(|i| i.completes_rerun) {
            let missing = item
                .catch_up
                .iter()
                .any(|d| self.misses(&item.config, *d).unwrap_or(true));
            if missing {
                tracing::warn!(experiment = %item.slug(), "the rerun is still unfinished: the next run goes on");
                continue;
            }
            if let Err(e) = self.unmark_rerun(&item.config) {
                tracing::error!(experiment = %item.slug(), "the rerun marker stays: {e}");
                report.failures += 1;
            }
        }
    }
}
