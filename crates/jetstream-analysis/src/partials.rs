//! Daily per-client partials: which days of which data sources an analysis needs, which of
//! them to (re)compute, and the computation — one scan of a data source's days for every
//! experiment that needs them (see `jetstream_sql::partials` for the tables and the SQL).
//!
//! A day is computed when its partials table has no marker row for it (never computed, or the
//! table was rebuilt), when it is one of the last `lookback` days before the newest day the
//! analysis reads (rows that arrive late are picked up), and at most once per process (a
//! rerun or catch-up over many dates reads each day once). A table whose columns are not
//! those the metrics need (a metric's definition changed) is rebuilt over every day needed.
//! A failure falls back to the window queries for that data source's metrics, logged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDate};
use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::resolve::{AnalysisConfiguration, ExposureSignal, Metric};
use jetstream_sql::naming;
use jetstream_sql::partials::{
    KEYS, SourcePartials, Target, computed_days, experiment_rows, partials_query, source_key,
};
use jetstream_sql::query::{QueryContext, exposure_signal_dates, partition_by_data_source};
use jetstream_sql::readiness::Ready;
use jetstream_warehouse::{Column, TableMetadata, TableName, Warehouse, WarehouseError};

/// The default `--lookback`: the partials of the newest day and the two before it are
/// recomputed each run (telemetry of a day keeps landing for about two days).
pub const DEFAULT_LOOKBACK: u32 = 2;

/// Metrics from daily partials (the default) — or, with `None` in
/// [`crate::RunOptions::partials`], by scanning every window's days (`--full-scan`).
#[derive(Debug, Clone)]
pub struct PartialsOptions {
    /// Recompute the partials of the newest day read and of the `lookback` days before it.
    pub lookback: u32,
    /// Days refreshed by this process, per partials table (`dataset.table`).
    refreshed: Arc<Mutex<BTreeSet<(String, NaiveDate)>>>,
}

impl PartialsOptions {
    /// Partials with a lookback of `lookback` days.
    pub fn new(lookback: u32) -> Self {
        Self {
            lookback,
            refreshed: Arc::default(),
        }
    }

    fn was_refreshed(&self, table: &TableName, day: NaiveDate) -> bool {
        self.refreshed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&(table.to_string(), day))
    }

    fn mark(&self, table: &TableName, days: &[NaiveDate]) {
        let mut set = self
            .refreshed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for d in days {
            set.insert((table.to_string(), *d));
        }
    }
}

impl Default for PartialsOptions {
    fn default() -> Self {
        Self::new(DEFAULT_LOOKBACK)
    }
}

/// One data source's partials of one experiment: what it holds and which days to compute.
#[derive(Debug, Clone)]
pub struct PlannedSource {
    /// The decomposable metrics and their partials.
    pub partials: SourcePartials,
    /// The experiment's partials table.
    pub table: TableName,
    /// The days to compute now (sorted).
    pub days: Vec<NaiveDate>,
}

/// One experiment's partials on one analysis date.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The experiment's slug.
    pub slug: String,
    /// Its query context.
    pub ctx: QueryContext,
    /// Its enrollments table, `project.dataset.table`.
    pub enrollments: String,
    /// Per data source with decomposable metrics.
    pub sources: Vec<PlannedSource>,
}

/// A data source's partials that failed, and why.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The experiment.
    pub slug: String,
    /// The data source.
    pub data_source: String,
    /// The partials table that was not computed.
    pub table: TableName,
    /// Why.
    pub message: String,
}

/// Every metric of `config` (all periods) with a data source and a SELECT expression, once.
fn all_metrics(config: &AnalysisConfiguration) -> Vec<&Metric> {
    let mut out: Vec<&Metric> = Vec::new();
    for summaries in config.metrics.values() {
        for s in summaries {
            let m = s.metric.as_ref();
            if m.data_source.is_some()
                && m.select_expression.is_some()
                && !out.iter().any(|x| x.name == m.name)
            {
                out.push(m);
            }
        }
    }
    out
}

/// The days the windows `ready` read, from the first to the last.
fn days_read(ready: &[(AnalysisPeriod, Ready)]) -> Option<(NaiveDate, NaiveDate)> {
    let first = ready
        .iter()
        .map(|(_, r)| r.time_limits.first_date_data_required)
        .min()?;
    let last = ready
        .iter()
        .map(|(_, r)| r.time_limits.last_date_data_required)
        .max()?;
    Some((first, last))
}

/// What `config`'s analysis of the windows `ready` needs computed: per data source with
/// decomposable metrics, the days without partials, the lookback days and the days of a
/// rebuilt table (a table whose columns are not the metrics' is deleted here), less the days
/// this process computed already. `enrollments` is the experiment's enrollments table.
pub fn plan(
    config: &AnalysisConfiguration,
    ctx: &QueryContext,
    ready: &[(AnalysisPeriod, Ready)],
    warehouse: &dyn Warehouse,
    dataset: &str,
    options: &PartialsOptions,
) -> Result<Plan, WarehouseError> {
    let slug = config.experiment.normandy_slug().to_string();
    let enrollments = format!(
        "{}.{dataset}.{}",
        warehouse.project(),
        naming::enrollments_table(&slug)
    );
    let mut plan = Plan {
        slug: slug.clone(),
        ctx: ctx.clone(),
        enrollments,
        sources: Vec::new(),
    };
    let Some((first, last)) = days_read(ready) else {
        return Ok(plan);
    };
    let needed: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let recent = last - Duration::days(i64::from(options.lookback));
    for (ds, metrics) in partition_by_data_source(&all_metrics(config)) {
        let Ok(partials) = SourcePartials::of(ctx, ds, &metrics) else {
            continue; // a template error: the window query reports it
        };
        if partials.metrics.is_empty() {
            continue;
        }
        let table = TableName::new(dataset, &naming::partials_table(&slug, &ds.name))?;
        plan.sources.push(planned(
            warehouse, partials, table, &needed, recent, last, options,
        )?);
    }
    if let Some(signal) = exposure_signal(config) {
        // The signal's days are fixed by the enrollment period and may lie past the newest
        // day the windows read (a rerun of an early date reads them): those are computed
        // again, as the lookback days are, until they are in the past.
        let mut needed = BTreeSet::new();
        for (_, r) in ready {
            let (from, to) = exposure_signal_dates(signal, &r.time_limits);
            needed.extend(from.iter_days().take_while(|d| *d <= to));
        }
        let needed: Vec<NaiveDate> = needed.into_iter().collect();
        let partials = SourcePartials::exposure(signal);
        let table = TableName::new(dataset, &naming::exposure_partials_table(&slug))?;
        plan.sources.push(planned(
            warehouse, partials, table, &needed, recent, last, options,
        )?);
    }
    Ok(plan)
}

/// `partials` in `table` with the days of `needed` to compute now: a day without its marker
/// (even if this process computed it before: the table was rebuilt since), and once per
/// process a recent day (from `recent`) or one past `last`, the newest day the windows read.
fn planned(
    warehouse: &dyn Warehouse,
    partials: SourcePartials,
    table: TableName,
    needed: &[NaiveDate],
    recent: NaiveDate,
    last: NaiveDate,
    options: &PartialsOptions,
) -> Result<PlannedSource, WarehouseError> {
    let present = computed(warehouse, &table, &partials)?;
    let days = needed
        .iter()
        .copied()
        .filter(|d| {
            !present.contains(d)
                || ((*d >= recent || *d > last) && !options.was_refreshed(&table, *d))
        })
        .collect();
    Ok(PlannedSource {
        partials,
        table,
        days,
    })
}

/// The exposure signal of `config`, when a metric is analysed on the exposures basis (the
/// only one whose metrics queries read it).
fn exposure_signal(config: &AnalysisConfiguration) -> Option<&ExposureSignal> {
    let signal = config.experiment.exposure_signal.as_ref()?;
    let exposures = config.metrics.values().flatten().any(|s| {
        s.metric
            .analysis_bases
            .contains(&jetstream_config::enums::AnalysisBasis::Exposures)
    });
    exposures.then_some(signal)
}

/// Delete `config`'s partials tables (its enrollments were created again: the clients
/// changed).
pub fn forget(
    config: &AnalysisConfiguration,
    warehouse: &dyn Warehouse,
    dataset: &str,
) -> Result<(), WarehouseError> {
    let slug = config.experiment.normandy_slug();
    let sources = partition_by_data_source(&all_metrics(config));
    let tables = sources
        .iter()
        .map(|(ds, _)| naming::partials_table(slug, &ds.name))
        .chain([naming::exposure_partials_table(slug)]);
    for name in tables {
        let table = TableName::new(dataset, &name)?;
        if warehouse.table_exists(&table)? {
            warehouse.delete_table(&table)?;
        }
    }
    Ok(())
}

/// The days `table` holds partials for; a table without every column of `partials` (a
/// definition changed) is deleted and holds none.
fn computed(
    warehouse: &dyn Warehouse,
    table: &TableName,
    partials: &SourcePartials,
) -> Result<BTreeSet<NaiveDate>, WarehouseError> {
    if !warehouse.table_exists(table)? {
        return Ok(BTreeSet::new());
    }
    let qualified = format!("{}.{}.{}", warehouse.project(), table.dataset, table.table);
    let head = warehouse.query_columns(&format!("SELECT * FROM `{qualified}` LIMIT 0"))?;
    let wanted: Vec<String> = KEYS
        .iter()
        .map(|k| k.to_string())
        .chain(partials.columns().into_iter().map(|(n, _)| n))
        .collect();
    if wanted.iter().any(|w| !head.names().contains(w)) {
        tracing::info!(table = %table, "the metrics' partials changed: the table is rebuilt");
        warehouse.delete_table(table)?;
        return Ok(BTreeSet::new());
    }
    let sql = computed_days(&qualified).map_err(sql_error)?;
    let days = warehouse.query_columns(&sql)?;
    Ok(match days.columns().first() {
        Some(Column::Date(v)) => v.iter().flatten().copied().collect(),
        _ => BTreeSet::new(),
    })
}

fn sql_error(e: jetstream_sql::query::SqlError) -> WarehouseError {
    WarehouseError::new(
        jetstream_warehouse::WarehouseErrorKind::Query,
        "partials",
        e.to_string(),
    )
}

/// Compute the planned days of every plan: per data source (shared by the experiments that
/// read it the same way: same source, app dataset and client id), one query over its days
/// for all of them into a scratch table, then each experiment's days replaced in its
/// partials table. Returns the failures (the other sources go on).
pub fn execute(
    plans: &[&Plan],
    warehouse: &dyn Warehouse,
    dataset: &str,
    options: &PartialsOptions,
) -> Vec<Failure> {
    // source key -> (plan, source) pairs with days to compute
    let mut groups: BTreeMap<String, Vec<(&Plan, &PlannedSource)>> = BTreeMap::new();
    let mut failures = Vec::new();
    for plan in plans {
        for s in &plan.sources {
            if s.days.is_empty() {
                continue;
            }
            match source_key(&plan.ctx, &s.partials) {
                Ok(key) => groups.entry(key).or_default().push((plan, s)),
                Err(e) => failures.push(Failure {
                    slug: plan.slug.clone(),
                    data_source: s.partials.data_source.name.clone(),
                    table: s.table.clone(),
                    message: e.to_string(),
                }),
            }
        }
    }
    for (key, members) in groups {
        if let Err(message) = scan(&members, warehouse, dataset, options, &key) {
            for (plan, s) in members {
                failures.push(Failure {
                    slug: plan.slug.clone(),
                    data_source: s.partials.data_source.name.clone(),
                    table: s.table.clone(),
                    message: message.clone(),
                });
            }
        }
    }
    failures
}

/// A scratch table name suffix unique to this call: two scans may run at once (analyses in
/// parallel, one experiment's dates included) and must not share a scratch table.
fn scratch_id(key: &str, slug: &str) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    jetstream_sql::decompose::fnv1a(
        format!("{key}\n{slug}\n{}\n{call}", std::process::id()).as_bytes(),
    )
}

/// One shared scan: the union of the members' partial columns over the union of their days,
/// then each member's rows copied into its table.
fn scan(
    members: &[(&Plan, &PlannedSource)],
    warehouse: &dyn Warehouse,
    dataset: &str,
    options: &PartialsOptions,
    key: &str,
) -> Result<(), String> {
    let (first_plan, first_source) = members[0];
    let ds = &first_source.partials.data_source;
    let mut columns: BTreeMap<String, String> = BTreeMap::new();
    for (_, s) in members {
        columns.extend(s.partials.columns());
    }
    let columns: Vec<(String, String)> = columns.into_iter().collect();
    let targets: Vec<Target<'_>> = members
        .iter()
        .map(|(p, s)| Target {
            slug: &p.slug,
            enrollments_table: p.enrollments.clone(),
            dates: s.days.clone(),
        })
        .collect();
    let query = partials_query(
        &first_plan.ctx,
        ds,
        &first_source.partials.kind,
        &targets,
        &columns,
    )
    .map_err(|e| e.to_string())?;
    let scratch = TableName::new(
        dataset,
        &format!(
            "partials_scan_{}_{:016x}",
            naming::bq_normalize_name(&ds.name),
            scratch_id(key, &first_plan.slug)
        ),
    )
    .map_err(|e| e.to_string())?;
    let meta = TableMetadata::now(&first_plan.slug);
    let experiments: Vec<&str> = members.iter().map(|(p, _)| p.slug.as_str()).collect();
    tracing::info!(data_source = %ds.name, experiments = ?experiments,
        days = targets.iter().map(|t| t.dates.len()).sum::<usize>(), "daily partials: one scan");
    let result = (|| {
        warehouse
            .write_table(&scratch, &query, &meta)
            .map_err(|e| e.to_string())?;
        let qualified = format!(
            "{}.{}.{}",
            warehouse.project(),
            scratch.dataset,
            scratch.table
        );
        for (plan, s) in members {
            let own = s.partials.columns();
            let rows = experiment_rows(&qualified, &plan.slug, &own).map_err(|e| e.to_string())?;
            warehouse
                .replace_partitions(
                    &s.table,
                    "submission_date",
                    &s.days,
                    &rows,
                    &["analysis_id"],
                    &TableMetadata::now(&plan.slug),
                )
                .map_err(|e| format!("{}: {e}", s.table))?;
            options.mark(&s.table, &s.days);
        }
        Ok(())
    })();
    if let Err(e) = warehouse.delete_table(&scratch) {
        tracing::warn!(table = %scratch, error = %e, "could not delete a scratch table");
    }
    result
}
