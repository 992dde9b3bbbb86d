//! Reruns that never shrink what is published.
//!
//! A rerun deletes an experiment's result tables, then analyses every date again. Killed in
//! between (a pod evicted, a laptop closed), the tables are left incomplete — and an ordinary
//! run would then export a view with fewer windows over the good file. So a rerun first writes
//! a marker, `<dataset>.jetstream_rerun_<slug>` (its start, last date, owner and heartbeat),
//! and removes it only when no window of its dates is missing. A marker whose rerun is no
//! longer running — its process is gone (same host), or its heartbeat is old — is completed
//! by the next daily run: every date, for the windows still missing only, and said so.
//! Independently, the statistics export refuses to replace a published object by a view with
//! fewer windows ([`jetstream_output::export::ExportPolicy`]) unless a complete rerun
//! publishes it.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_experimenter::Parsed;
use jetstream_output::export::ExportPolicy;
use jetstream_sql::naming;
use jetstream_sql::query::string_literal;
use jetstream_warehouse::{Column, TableMetadata, TableName};

use crate::daily::{Plan, PlanItem};
use crate::job::{Job, JobReport, Observer, delete_experiment_tables, failed};
use crate::{Event, JobError};

/// The prefix of the marker tables.
pub const RERUN_MARKER_PREFIX: &str = "jetstream_rerun_";

/// A rerun on another machine whose heartbeat is older than this is taken as interrupted (a
/// local rerun refreshes it after every date).
pub const LOCAL_RERUN_STALE: Duration = Duration::from_secs(2 * 3600);

/// The same for a rerun submitted to Argo (its pods do not refresh the heartbeat; its export
/// step removes the marker): longer than any workflow runs.
pub const ARGO_RERUN_STALE: Duration = Duration::from_secs(48 * 3600);

/// The owner of an Argo rerun's marker.
const ARGO_OWNER: &str = "argo";

/// An unfinished rerun, as its marker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedRerun {
    /// The experiment.
    pub slug: String,
    /// When the rerun began.
    pub started: DateTime<Utc>,
    /// Its last date.
    pub until: NaiveDate,
    /// When it last said it was alive.
    pub heartbeat: DateTime<Utc>,
    /// `host:pid` of a local rerun, `argo` for a workflow.
    pub owner: String,
}

impl UnfinishedRerun {
    /// Whether the rerun may still be running: its process lives (this host), or its
    /// heartbeat is recent (another host, a workflow).
    pub fn maybe_running(&self, now: DateTime<Utc>) -> bool {
        let age = (now - self.heartbeat).to_std().unwrap_or_default();
        if self.owner == ARGO_OWNER {
            return age < ARGO_RERUN_STALE;
        }
        match self.owner.rsplit_once(':') {
            Some((host, pid)) if host == this_host() => {
                std::path::Path::new(&format!("/proc/{pid}")).exists()
            }
            _ => age < LOCAL_RERUN_STALE,
        }
    }
}

/// This machine's name (Linux), for a marker's owner.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
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
    /// anything), owned by this process (`argo`: by a workflow about to be submitted).
    pub(crate) fn mark_rerun(
        &self,
        config: &AnalysisConfiguration,
        started: DateTime<Utc>,
        until: NaiveDate,
        argo: bool,
    ) -> Result<(), JobError> {
        let owner = if argo {
            ARGO_OWNER.to_string()
        } else {
            format!("{}:{}", this_host(), std::process::id())
        };
        let slug = config.experiment.normandy_slug();
        let time = |t: DateTime<Utc>| string_literal(&t.format("%Y-%m-%d %H:%M:%S").to_string());
        let sql = format!(
            "SELECT {} AS experiment, CAST({} AS TIMESTAMP) AS started, \
             CAST({} AS DATE) AS until_date, CAST({} AS TIMESTAMP) AS heartbeat, {} AS owner",
            string_literal(slug),
            time(started),
            string_literal(&until.format("%Y-%m-%d").to_string()),
            time(Utc::now()),
            string_literal(&owner),
        );
        self.warehouse()
            .write_table(&self.marker(config)?, &sql, &TableMetadata::now(slug))?;
        if !argo && let Ok(mut owned) = self.owned_reruns.lock() {
            owned.insert(slug.to_string(), (started, until));
        }
        Ok(())
    }

    /// A date of a rerun this process owns is done: its heartbeat moves.
    pub(crate) fn rerun_heartbeat(&self, config: &AnalysisConfiguration) {
        let slug = config.experiment.normandy_slug();
        let owned = self
            .owned_reruns
            .lock()
            .ok()
            .and_then(|o| o.get(slug).copied());
        if let Some((started, until)) = owned
            && let Err(e) = self.mark_rerun(config, started, until, false)
        {
            tracing::warn!(experiment = %slug, "the rerun's heartbeat could not be written: {e}");
        }
    }

    /// The rerun of `config` is done: its marker goes.
    pub(crate) fn unmark_rerun(&self, config: &AnalysisConfiguration) -> Result<(), JobError> {
        let slug = config.experiment.normandy_slug();
        if let Ok(mut owned) = self.owned_reruns.lock() {
            owned.remove(slug);
        }
        let marker = self.marker(config)?;
        if self.warehouse().table_exists(&marker)? {
            self.warehouse().delete_table(&marker)?;
        }
        Ok(())
    }

    /// Whether no window of `config`'s rerun dates up to `until` is missing.
    pub(crate) fn rerun_complete(&self, config: &AnalysisConfiguration, until: NaiveDate) -> bool {
        Self::rerun_dates(config, until)
            .iter()
            .all(|d| !self.misses(config, *d).unwrap_or(true))
    }

    /// The rerun marker of `config`, if there is one.
    pub(crate) fn rerun_of(
        &self,
        config: &AnalysisConfiguration,
    ) -> Result<Option<UnfinishedRerun>, JobError> {
        let marker = self.marker(config)?;
        if !self.warehouse().table_exists(&marker)? {
            return Ok(None);
        }
        Ok(self.read_marker(&marker))
    }

    fn read_marker(&self, table: &TableName) -> Option<UnfinishedRerun> {
        let rows = self
            .warehouse()
            .query_columns(&format!(
                "SELECT * FROM `{}.{}`",
                table.dataset, table.table
            ))
            .ok()?;
        let text = |name: &str| match rows.get(name) {
            Some(Column::Text(v)) => v.first().cloned().flatten(),
            _ => None,
        };
        let time = |name: &str| match rows.get(name) {
            Some(Column::Timestamp(v)) => v.first().copied().flatten().map(|t| t.and_utc()),
            _ => None,
        };
        let until = match rows.get("until_date") {
            Some(Column::Date(v)) => v.first().copied().flatten(),
            _ => None,
        };
        let started = time("started")?;
        Some(UnfinishedRerun {
            slug: text("experiment")?,
            started,
            until: until?,
            heartbeat: time("heartbeat").unwrap_or(started),
            owner: text("owner").unwrap_or_default(),
        })
    }

    /// The unfinished reruns of the job's dataset (private experiments' datasets aside).
    pub fn unfinished_reruns(&self) -> Result<Vec<UnfinishedRerun>, JobError> {
        let dataset = &self.options().run.dataset;
        let mut out = Vec::new();
        for table in self.warehouse().list_tables(dataset, RERUN_MARKER_PREFIX)? {
            match self.read_marker(&table) {
                Some(r) => out.push(r),
                None => tracing::warn!(table = %table, "a rerun marker that does not read"),
            }
        }
        Ok(out)
    }

    /// Add to `plan` the reruns of experiments in `parsed` (of `slugs`, when some are given)
    /// that were interrupted: every date of each, as catch-up dates (the windows still missing
    /// only), with the current configs (a rerun adopts them). A rerun that may still be
    /// running is left to itself; an experiment in a slug conflict is not analysed.
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
        let conflicts: std::collections::BTreeSet<String> = crate::job::conflicts(parsed)
            .into_values()
            .flatten()
            .collect();
        let now = Utc::now();
        for rerun in reruns
            .into_iter()
            .filter(|r| slugs.is_empty() || slugs.contains(&r.slug))
            .filter(|r| !conflicts.contains(&r.slug))
        {
            if rerun.maybe_running(now) {
                tracing::info!(
                    experiment = %rerun.slug,
                    owner = %rerun.owner,
                    heartbeat = %rerun.heartbeat,
                    "a rerun of this experiment is running: left to it"
                );
                continue;
            }
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
            item.completes_rerun = Some(rerun.until);
        }
    }

    /// After a run that completed reruns: those with no window missing over all their dates
    /// lose their marker, and are returned (their exports may publish fewer windows, as a
    /// complete rerun's do); the others stay for the next run.
    pub(crate) fn finish_reruns(&self, plan: &Plan, report: &mut JobReport) -> Vec<String> {
        let mut finished = Vec::new();
        for item in plan {
            let Some(until) = item.completes_rerun else {
                continue;
            };
            if !self.rerun_complete(&item.config, until) {
                tracing::warn!(experiment = %item.slug(), "the rerun is still unfinished: the next run goes on");
                continue;
            }
            match self.unmark_rerun(&item.config) {
                Ok(()) => finished.push(item.slug().to_string()),
                Err(e) => {
                    tracing::error!(experiment = %item.slug(), "the rerun marker stays: {e}");
                    report.failures += 1;
                }
            }
        }
        finished
    }
}

impl Job<'_> {
    /// Every date a rerun analyses `config` on, up to `until` (the reference's rule: from the
    /// start date to the day after the end date, at most `until`).
    pub fn rerun_dates(config: &AnalysisConfiguration, until: NaiveDate) -> Vec<NaiveDate> {
        let conf = &config.experiment;
        match conf.start_date() {
            Some(start) => {
                jetstream_experimenter::select::analysis_dates(start, conf.end_date(), until)
            }
            None => Vec::new(),
        }
    }

    /// Rerun `slugs`: delete their result tables (of the selected periods; the enrollments
    /// too when recreating them), then analyse every date up to `until`, then export.
    pub fn rerun(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        until: NaiveDate,
        observer: &dyn Observer,
    ) -> JobReport {
        let started = Utc::now();
        let mut report = JobReport::default();
        self.deliver_spool(&mut report);
        let configs = self.select_slugs_current(parsed, slugs, observer, &mut report);
        let analysed: Vec<_> = configs
            .into_iter()
            .filter(|config| self.delete_for_rerun(config, false, until, observer, &mut report))
            .collect();
        let plan: Vec<_> = analysed
            .iter()
            .map(|c| (c, Self::rerun_dates(c, until)))
            .collect();
        self.analyse_all(&plan, observer, &mut report);
        // A rerun with every window back publishes its views even with fewer windows (an
        // earlier `--until`) and loses its marker; one with windows missing (a date failed)
        // keeps both guards: the next run completes it. The errors of the results just
        // replaced are not this rerun's.
        let partial = self.options.run.statistics_only || self.options.run.metric_slugs.is_some();
        let (complete, incomplete): (Vec<AnalysisConfiguration>, Vec<AnalysisConfiguration>) =
            analysed
                .into_iter()
                .partition(|c| partial || self.rerun_complete(c, until));
        let allow = ExportPolicy::COMPLETE_RERUN;
        self.export_with(
            &complete,
            started,
            Some(started),
            allow,
            observer,
            &mut report,
        );
        let keep = ExportPolicy::default();
        self.export_with(
            &incomplete,
            started,
            Some(started),
            keep,
            observer,
            &mut report,
        );
        for config in &complete {
            if let Err(e) = self.unmark_rerun(config) {
                failed(
                    &mut report,
                    observer,
                    config.experiment.normandy_slug(),
                    None,
                    &format!("the rerun is done but its marker stays: {e}"),
                );
            }
        }
        for config in &incomplete {
            failed(
                &mut report,
                observer,
                config.experiment.normandy_slug(),
                None,
                "the rerun left windows missing: the next run completes it",
            );
        }
        report
    }

    /// `<dataset>.enrollments_<slug>` of an experiment.
    pub(crate) fn enrollments_table_of(
        &self,
        config: &AnalysisConfiguration,
    ) -> Result<TableName, JobError> {
        let dataset = self.dataset_of(config)?;
        let slug = config.experiment.normandy_slug();
        Ok(TableName::new(&dataset, &naming::enrollments_table(slug))?)
    }

    /// Delete an experiment's enrollments table, if there is one; how many were deleted.
    pub(crate) fn delete_enrollments(
        &self,
        config: &AnalysisConfiguration,
    ) -> Result<usize, JobError> {
        let table = self.enrollments_table_of(config)?;
        if !self.warehouse.table_exists(&table)? {
            return Ok(0);
        }
        self.warehouse.delete_table(&table)?;
        Ok(1)
    }

    /// Delete what a rerun of `config` replaces: its result tables of the selected periods
    /// (nothing for a partial rerun, which reads or merges into them), and its enrollments
    /// table when `enrollments` (Argo pods do not recreate them). Whether it can go on.
    pub(crate) fn delete_for_rerun(
        &self,
        config: &AnalysisConfiguration,
        on_argo: bool,
        until: NaiveDate,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> bool {
        let slug = config.experiment.normandy_slug();
        // As the reference's touch_tables, before anything else: the experiment counts as
        // analysed now (its configs and image are the current ones from here on), and a rerun
        // that fails is not picked up again and again by rerun-config-changed.
        if let Err(e) = self
            .dataset_of(config)
            .and_then(|dataset| self.touch_experiment(&dataset, slug, Utc::now()))
        {
            failed(report, observer, slug, None, &e.to_string());
            return false;
        }
        let run = &self.options.run;
        if run.statistics_only || run.metric_slugs.is_some() {
            return true;
        }
        // Before anything is deleted: until the rerun is done, a run completes it instead of
        // publishing the incomplete tables.
        if let Err(e) = self.mark_rerun(config, Utc::now(), until, on_argo) {
            failed(
                report,
                observer,
                slug,
                None,
                &format!("cannot mark the rerun: {e}"),
            );
            return false;
        }
        let deleted = self.dataset_of(config).and_then(|dataset| {
            let mut count =
                delete_experiment_tables(self.warehouse, &dataset, slug, run.periods.as_deref())?;
            if on_argo && run.recreate_enrollments {
                count += self.delete_enrollments(config)?;
            }
            Ok(count)
        });
        match deleted {
            Ok(count) => {
                observer.event(&Event::Deleted { slug, count });
                true
            }
            Err(e) => {
                failed(report, observer, slug, None, &e.to_string());
                false
            }
        }
    }
}
