//! The daily run's plan: the experiments of a date, the earlier dates a run missed
//! (`--catch-up`), and the check that the day's telemetry has landed (`--wait-for-data`).
//!
//! A day without a run (cluster down, a late upstream ETL) would otherwise leave the week,
//! 28-day and overall windows that were ready that day missing for good, since each is ready
//! on one date only. With `catch_up = N`, every date of the N before the run's date on which an
//! experiment had a ready window without a statistics table is analysed too — for those
//! windows only (`RunOptions::only_missing`): nothing already written is computed again, and a
//! second run finds nothing to catch up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use jetstream_analysis::{
    check_enrollment_complete, check_runnable, missing_windows, ready_windows,
};
use jetstream_config::resolve::{AnalysisConfiguration, DataSource, Metric};
use jetstream_experimenter::Parsed;
use jetstream_experimenter::select::daily_selection;
use jetstream_output::export::ExportPolicy;
use jetstream_warehouse::ExceptionType;

use crate::job::{Job, JobReport, Observer, failed};

/// How a daily run chooses its dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyOptions {
    /// Also analyse, for their missing windows only, the dates among the `catch_up` days
    /// before the run's date whose ready windows have no statistics table (0: none).
    pub catch_up: u32,
    /// Before analysing a date, check that every source table its queries read has rows for
    /// that date, and wait for them up to this long (zero: check once). When the deadline
    /// passes, the experiment is not analysed on that date and an ERROR row
    /// `UpstreamDataMissing` names the tables. `None`: no check.
    pub wait_for_data: Option<Duration>,
    /// Complete the interrupted reruns of the selected experiments ([`crate::reruns`]; the
    /// default). A workflow's pods do not: their planner did.
    pub complete_reruns: bool,
}

impl Default for DailyOptions {
    fn default() -> Self {
        Self {
            catch_up: 0,
            wait_for_data: None,
            complete_reruns: true,
        }
    }
}

/// The most days `--catch-up` may reach back (a quarter: beyond, rerun the experiment).
pub const MAX_CATCH_UP_DAYS: u32 = 90;

/// One experiment of a plan: its dates, and its catch-up dates (analysed first, for their
/// missing windows only).
#[derive(Debug, Clone)]
pub struct PlanItem {
    /// The resolved config.
    pub config: AnalysisConfiguration,
    /// Dates analysed in full.
    pub dates: Vec<NaiveDate>,
    /// Earlier dates analysed for their windows without a statistics table only.
    pub catch_up: Vec<NaiveDate>,
    /// The catch-up dates complete an interrupted rerun up to this date (see
    /// [`crate::reruns`]).
    pub completes_rerun: Option<NaiveDate>,
}

impl PlanItem {
    /// An item analysing `dates` in full.
    pub fn new(config: AnalysisConfiguration, dates: Vec<NaiveDate>) -> Self {
        Self {
            config,
            dates,
            catch_up: Vec::new(),
            completes_rerun: None,
        }
    }

    /// The experiment's slug.
    pub fn slug(&self) -> &str {
        self.config.experiment.normandy_slug()
    }

    /// Whether anything is left to analyse.
    pub fn is_empty(&self) -> bool {
        self.dates.is_empty() && self.catch_up.is_empty()
    }
}

/// Experiments × dates of a run (locally or as a workflow).
pub type Plan = Vec<PlanItem>;

impl Job<'_> {
    /// The daily run on `date` as a plan: the experiments [`Job::run_daily`] analyses on
    /// `date`, each with its catch-up dates (`daily.catch_up`); with `daily.wait_for_data`,
    /// the dates whose telemetry has not landed by the deadline are taken out (and logged as
    /// `UpstreamDataMissing`). Experiments left without dates stay in the plan: a local run
    /// still exports them (the errors object shows the row); a workflow has no step for them,
    /// so their exports wait for their next analysis.
    pub fn daily_plan(
        &self,
        parsed: &Parsed,
        date: NaiveDate,
        slugs: &[String],
        daily: &DailyOptions,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Plan {
        let configs = self.select(parsed, date, slugs, observer, report);
        let mut plan: Plan = configs
            .into_iter()
            .map(|c| PlanItem::new(c, vec![date]))
            .collect();
        if daily.complete_reruns {
            self.add_unfinished_reruns(parsed, slugs, &mut plan, observer, report);
        }
        if daily.catch_up > 0 {
            self.add_catch_up(
                parsed,
                date,
                slugs,
                daily.catch_up,
                &mut plan,
                observer,
                report,
            );
        }
        for item in &mut plan {
            item.catch_up.sort();
        }
        if let Some(deadline) = daily.wait_for_data {
            self.wait_for_data(&mut plan, deadline, observer, report);
        }
        self.flush_logs(report);
        plan
    }

    /// The daily run with `daily`'s catch-up and data check: the catch-up dates first (for
    /// their missing windows), then `date`, then the exports of every selected experiment.
    pub fn run_daily_with(
        &self,
        parsed: &Parsed,
        date: NaiveDate,
        slugs: &[String],
        daily: &DailyOptions,
        observer: &dyn Observer,
    ) -> JobReport {
        let started = Utc::now();
        let mut report = JobReport::default();
        self.deliver_spool(&mut report);
        let plan = self.daily_plan(parsed, date, slugs, daily, observer, &mut report);
        let catch_up: Vec<_> = plan
            .iter()
            .filter(|i| !i.catch_up.is_empty())
            .map(|i| (&i.config, i.catch_up.clone()))
            .collect();
        if !catch_up.is_empty() {
            self.analyse_plan(&catch_up, true, observer, &mut report);
        }
        let main: Vec<_> = plan
            .iter()
            .filter(|i| !i.dates.is_empty())
            .map(|i| (&i.config, i.dates.clone()))
            .collect();
        self.share_partials(&main);
        self.analyse_plan(&main, false, observer, &mut report);
        // A rerun completed now publishes its views as a complete rerun does.
        let finished = self.finish_reruns(&plan, &mut report);
        let (reruns, others): (Vec<AnalysisConfiguration>, Vec<AnalysisConfiguration>) = plan
            .into_iter()
            .map(|i| i.config)
            .partition(|c| finished.iter().any(|s| s == c.experiment.normandy_slug()));
        self.export(&others, started, observer, &mut report);
        let complete = ExportPolicy::COMPLETE_RERUN;
        self.export_with(&reruns, started, None, complete, observer, &mut report);
        report
    }

    /// The daily partials of every experiment in `plan` whose enrollments exist, computed
    /// before their analyses: per date and data source, one scan of the source's days for all
    /// the experiments that read it (each analysis then finds its days computed). An
    /// experiment that cannot be planned, or a scan that fails, is left to its own analysis,
    /// which computes (or falls back to window queries) and logs on its own.
    pub(crate) fn share_partials(&self, plan: &[(&AnalysisConfiguration, Vec<NaiveDate>)]) {
        if self.options.run.partials.is_none() || self.options.run.statistics_only {
            return;
        }
        let mut by_date: BTreeMap<NaiveDate, Vec<&AnalysisConfiguration>> = BTreeMap::new();
        for (config, dates) in plan {
            for d in dates {
                by_date.entry(*d).or_default().push(config);
            }
        }
        for (date, configs) in by_date {
            let mut plans = Vec::new();
            let mut shared = None;
            for config in configs {
                let Ok(options) = self.run_options_for(config) else {
                    continue;
                };
                let slug = config.experiment.normandy_slug();
                let Ok(enrollments) = jetstream_warehouse::TableName::new(
                    &options.dataset,
                    &jetstream_sql::naming::enrollments_table(slug),
                ) else {
                    continue;
                };
                if check_runnable(&config.experiment, date).is_err()
                    || !self.warehouse.table_exists(&enrollments).unwrap_or(false)
                {
                    continue;
                }
                let (Ok(ctx), Ok(ready), Some(partials)) = (
                    options.query_context(&config.experiment),
                    ready_windows(config, date, options.periods.as_deref()),
                    options.partials.as_ref(),
                ) else {
                    continue;
                };
                match jetstream_analysis::partials::plan(
                    config,
                    &ctx,
                    &ready,
                    self.warehouse,
                    &options.dataset,
                    partials,
                ) {
                    Ok(p) => {
                        plans.push((p, options.dataset.clone()));
                        shared.get_or_insert_with(|| partials.clone());
                    }
                    Err(e) => {
                        tracing::warn!(experiment = slug, error = %e, "partials not planned: the analysis computes its own");
                    }
                }
            }
            let Some(partials) = shared else { continue };
            // Experiments with different results datasets share nothing.
            let mut by_dataset: BTreeMap<&str, Vec<&jetstream_analysis::partials::Plan>> =
                BTreeMap::new();
            for (p, dataset) in &plans {
                by_dataset.entry(dataset).or_default().push(p);
            }
            for (dataset, plans) in by_dataset {
                if plans.len() < 2 {
                    continue; // one experiment computes its own in its analysis
                }
                for f in jetstream_analysis::partials::execute(
                    &plans,
                    self.warehouse,
                    dataset,
                    &partials,
                ) {
                    tracing::warn!(experiment = %f.slug, data_source = %f.data_source,
                        error = %f.message, "shared partials failed: the analysis computes its own");
                }
            }
        }
    }

    /// Add to `plan` the catch-up dates of the `days` before `date`: for each date, the
    /// experiments the daily rule selects then (ended ones included: an overall window is
    /// ready the day after the end) that have a ready window without a statistics table.
    #[allow(clippy::too_many_arguments)]
    fn add_catch_up(
        &self,
        parsed: &Parsed,
        date: NaiveDate,
        slugs: &[String],
        days: u32,
        plan: &mut Plan,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        let conflicts: BTreeSet<String> = crate::job::conflicts(parsed)
            .into_values()
            .flatten()
            .collect();
        // Experiments selected on some earlier date but not today: resolved once each.
        let mut resolved: BTreeMap<String, Option<usize>> = plan
            .iter()
            .enumerate()
            .map(|(i, item)| (item.slug().to_string(), Some(i)))
            .collect();
        let first = date - chrono::Days::new(u64::from(days.min(MAX_CATCH_UP_DAYS)));
        for day in first.iter_days().take_while(|d| *d < date) {
            let (decisions, _) =
                daily_selection(&parsed.experiments, day, slugs, |e| self.overrides(e));
            for decision in decisions.into_iter().filter(|d| d.verdict.is_ok()) {
                let slug = decision.experiment.normandy_slug.clone();
                if conflicts.contains(&slug) {
                    continue;
                }
                let index = match resolved.get(&slug) {
                    Some(index) => *index,
                    None => {
                        let index = match self.resolve(&decision.experiment) {
                            Ok(config) => {
                                plan.push(PlanItem::new(config, Vec::new()));
                                Some(plan.len() - 1)
                            }
                            Err(e) => {
                                let message = e.to_string();
                                self.fail_logged(
                                    report,
                                    observer,
                                    &slug,
                                    Some(day),
                                    &message,
                                    ExceptionType::ConfigError,
                                );
                                None
                            }
                        };
                        resolved.insert(slug.clone(), index);
                        index
                    }
                };
                let Some(index) = index else { continue };
                let item = &mut plan[index];
                match self.misses(&item.config, day) {
                    Ok(true) if !item.catch_up.contains(&day) => item.catch_up.push(day),
                    Ok(true) => {}
                    Ok(false) => {}
                    Err(message) => {
                        failed(report, observer, &slug, Some(day), &message);
                    }
                }
            }
        }
        for item in plan.iter().filter(|i| !i.catch_up.is_empty()) {
            tracing::info!(
                experiment = %item.slug(),
                dates = ?item.catch_up,
                "catch-up: ready windows without statistics"
            );
        }
    }

    /// Whether `config` had a ready window on `day` (of the selected periods) that has no
    /// statistics table, on a date the analysis would run.
    pub(crate) fn misses(
        &self,
        config: &AnalysisConfiguration,
        day: NaiveDate,
    ) -> Result<bool, String> {
        let conf = &config.experiment;
        if check_runnable(conf, day).is_err() || check_enrollment_complete(conf).is_err() {
            return Ok(false);
        }
        let options = self.run_options_for(config).map_err(|e| e.to_string())?;
        missing_windows(config, day, self.warehouse(), &options)
            .map(|m| !m.is_empty())
            .map_err(|e| e.to_string())
    }

    /// Probe the source tables of every (experiment, date) of `plan` until each has rows for
    /// its date or `deadline` has passed; then take the dates still without data out of the
    /// plan, each logged as an ERROR row `UpstreamDataMissing` naming the tables.
    fn wait_for_data(
        &self,
        plan: &mut Plan,
        deadline: Duration,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        let started = Instant::now();
        // (experiment index, date) → the probes it needs: (data source, query).
        let mut needs: BTreeMap<(usize, NaiveDate), Vec<Probe>> = BTreeMap::new();
        for (i, item) in plan.iter().enumerate() {
            for day in item.catch_up.iter().chain(&item.dates) {
                match self.probes(&item.config, *day) {
                    Ok(probes) => {
                        needs.insert((i, *day), probes);
                    }
                    Err(message) => {
                        failed(report, observer, item.slug(), Some(*day), &message);
                    }
                }
            }
        }
        let all: BTreeSet<Probe> = needs.values().flatten().cloned().collect();
        // By query: the probes that found rows, and why the others did not.
        let mut landed: BTreeSet<String> = BTreeSet::new();
        let mut why: BTreeMap<String, String> = BTreeMap::new();
        let interval = (deadline / 20).clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            for probe in &all {
                if landed.contains(&probe.sql) {
                    continue;
                }
                match self.warehouse().query_columns(&probe.sql) {
                    Ok(rows) if rows.rows() > 0 => {
                        landed.insert(probe.sql.clone());
                    }
                    Ok(_) => {
                        why.insert(probe.sql.clone(), "no rows".into());
                    }
                    Err(e) => {
                        why.insert(probe.sql.clone(), e.to_string());
                    }
                }
            }
            let waiting = all.len() - landed.len();
            if waiting == 0 || started.elapsed() >= deadline {
                break;
            }
            tracing::info!(
                waiting,
                elapsed_s = started.elapsed().as_secs(),
                deadline_s = deadline.as_secs(),
                "waiting for the day's telemetry"
            );
            std::thread::sleep(interval.min(deadline.saturating_sub(started.elapsed())));
        }
        for ((i, day), probes) in needs {
            let missing: Vec<String> = probes
                .iter()
                .filter(|p| !landed.contains(&p.sql))
                .map(|p| {
                    let reason = why.get(&p.sql).map(String::as_str).unwrap_or("not checked");
                    format!("{} ({reason})", p.source)
                })
                .collect();
            if missing.is_empty() {
                continue;
            }
            let item = &mut plan[i];
            item.dates.retain(|d| *d != day);
            item.catch_up.retain(|d| *d != day);
            let slug = item.slug().to_string();
            let message = format!(
                "no data for {day} in {} after waiting {} s: nothing analysed for {day}",
                missing.join(", "),
                started.elapsed().as_secs()
            );
            self.fail_logged(
                report,
                observer,
                &slug,
                Some(day),
                &message,
                ExceptionType::UpstreamDataMissing,
            );
        }
    }

    /// The probes of the data sources `config`'s analysis on `day` reads (the metrics of its
    /// ready windows, and the upstream metrics of derived ones).
    fn probes(&self, config: &AnalysisConfiguration, day: NaiveDate) -> Result<Vec<Probe>, String> {
        let options = self.run_options_for(config).map_err(|e| e.to_string())?;
        let ctx = options
            .query_context(&config.experiment)
            .map_err(|e| e.to_string())?;
        let windows =
            ready_windows(config, day, options.periods.as_deref()).map_err(|e| e.to_string())?;
        let mut sources: BTreeMap<String, &DataSource> = BTreeMap::new();
        fn add<'m>(metric: &'m Metric, sources: &mut BTreeMap<String, &'m DataSource>) {
            if let Some(ds) = &metric.data_source {
                sources.entry(ds.name.clone()).or_insert(ds);
            }
            for upstream in metric.depends_on.iter().flatten() {
                add(upstream, sources);
            }
        }
        for (period, _) in &windows {
            for summary in config.metrics.get(period).into_iter().flatten() {
                add(&summary.metric, &mut sources);
            }
        }
        sources
            .values()
            .map(|ds| {
                let sql = jetstream_sql::query::data_probe_query(&ctx, ds, day)
                    .map_err(|e| e.to_string())?;
                let from = ds
                    .from_expr_for(ctx.dataset.as_deref())
                    .unwrap_or_else(|_| ds.from_expression.clone());
                let from: String = from.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = from.chars().take(160).collect();
                Ok(Probe {
                    source: format!(
                        "{} ({short}{})",
                        ds.name,
                        if short.len() < from.len() { "…" } else { "" }
                    ),
                    sql,
                })
            })
            .collect()
    }
}

/// One probe of a data source on a date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Probe {
    /// The data source and its FROM expression (what the log row names).
    source: String,
    /// The bounded query.
    sql: String,
}
