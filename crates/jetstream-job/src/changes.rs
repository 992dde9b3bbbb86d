//! Which experiments' results are older than their configs (`rerun-config-changed`), and
//! marking experiments up to date (`rerun-skip`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use jetstream_experimenter::Parsed;
use jetstream_sql::naming;
use jetstream_warehouse::LogRecord;
use jetstream_warehouse::TableName;

use crate::{Job, JobError};

/// An experiment whose configs changed after its results were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// The experiment.
    pub slug: String,
    /// What changed, and when (one line each).
    pub reasons: Vec<String>,
}

/// What [`Job::config_changes`] found.
#[derive(Debug, Default)]
pub struct ConfigChanges {
    /// Experiments to rerun, in the order of the experiment list.
    pub changed: Vec<ConfigChange>,
    /// Experiments that could not be checked, with why.
    pub errors: Vec<(String, String)>,
}

impl Job<'_> {
    /// The experiments of `parsed` whose results are older than a config they use: their own
    /// experiment config (whatever their status), or, while they are live on `today` (or ended
    /// yesterday), their platform's defaults or one of their outcomes (which the reference
    /// misses). An experiment's results date from its oldest statistics table; an experiment
    /// without results is left to the daily run. A config's time is when its last change
    /// landed (git history) or its file's modification time.
    pub fn config_changes(&self, parsed: &Parsed, today: NaiveDate) -> ConfigChanges {
        let mut out = ConfigChanges::default();
        let mut listed: BTreeMap<String, Vec<TableName>> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        let yesterday = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        for e in &parsed.experiments {
            let slug = e.normandy_slug.as_str();
            if !seen.insert(slug) {
                continue;
            }
            let results = match self.results_written(slug, &mut listed) {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(err) => {
                    out.errors.push((slug.to_string(), err.to_string()));
                    continue;
                }
            };
            let configs = self.configs();
            let newer = |t: Option<DateTime<Utc>>| t.filter(|t| *t > results);
            let at = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
            let mut reasons = Vec::new();
            if let Some(t) = newer(configs.experiment_modified(slug)) {
                reasons.push(format!("its experiment config changed at {}", at(t)));
            }
            let live = e.start_date.is_some_and(|d| d <= today)
                && e.end_date.is_none_or(|d| d >= yesterday);
            if live {
                if let Some(t) = newer(configs.defaults_modified(&e.app_name)) {
                    reasons.push(format!("the {} defaults changed at {}", e.app_name, at(t)));
                }
                let mut outcomes: BTreeSet<&str> = e.outcomes.iter().map(String::as_str).collect();
                if let Some(spec) = configs.spec_for_experiment(slug) {
                    outcomes.extend(spec.experiment.outcomes.iter().map(String::as_str));
                }
                for o in outcomes {
                    if let Some(t) = newer(configs.outcome_modified(o, &e.app_name)) {
                        reasons.push(format!("its outcome {o} changed at {}", at(t)));
                    }
                }
            }
            if !reasons.is_empty() {
                for r in &mut reasons {
                    r.push_str(&format!(" (results from {})", at(results)));
                }
                out.changed.push(ConfigChange {
                    slug: slug.to_string(),
                    reasons,
                });
            }
        }
        out
    }

    /// When the oldest statistics table of `slug` was written (`None`: no results).
    /// `listed` keeps each dataset's statistics tables, listed once.
    fn results_written(
        &self,
        slug: &str,
        listed: &mut BTreeMap<String, Vec<TableName>>,
    ) -> Result<Option<DateTime<Utc>>, JobError> {
        let dataset = self.dataset_of_slug(slug)?;
        if !listed.contains_key(&dataset) {
            let tables = self.warehouse().list_tables(&dataset, "statistics_")?;
            listed.insert(dataset.clone(), tables);
        }
        let prefix = format!("statistics_{}_", naming::bq_normalize_name(slug));
        let mut oldest: Option<DateTime<Utc>> = None;
        for table in listed[&dataset]
            .iter()
            .filter(|t| t.table.starts_with(&prefix))
        {
            if let Some(m) = self.warehouse().table_metadata(table)?
                && m.description == slug
            {
                oldest = Some(oldest.map_or(m.last_updated, |o| o.min(m.last_updated)));
            }
        }
        Ok(oldest)
    }

    /// Mark `slugs` up to date without rerunning them (`rerun-skip`, the reference's
    /// `touch_tables`): every table of each gets `last_updated` = now. How many tables each
    /// had, or why it could not be marked.
    pub fn mark_up_to_date(&self, slugs: &[String]) -> Vec<(String, Result<usize, JobError>)> {
        let now = Utc::now();
        slugs
            .iter()
            .map(|slug| {
                let touched = self
                    .dataset_of_slug(slug)
                    .and_then(|dataset| self.touch_experiment(&dataset, slug, now));
                (slug.clone(), touched)
            })
            .collect()
    }
}

impl Job<'_> {
    /// The rows of the monitoring table logged at or after `since` (UTC; all when `None`), of
    /// `slugs` (every experiment when empty), newest first: what the reference's error
    /// dashboard shows. Rows waiting in the log spool (the table refused them) come first,
    /// their message marked. No monitoring table (nothing ever logged) or none configured: no
    /// rows but the spool's.
    pub fn logged(
        &self,
        slugs: &[String],
        since: Option<chrono::NaiveDateTime>,
    ) -> Result<jetstream_warehouse::Columns, JobError> {
        let table = self.logged_in_table(slugs, since)?;
        let spooled: Vec<LogRecord> = self
            .spool()
            .map(|s| s.pending().into_iter().flat_map(|(_, rows)| rows).collect())
            .unwrap_or_default();
        let spooled: Vec<LogRecord> = spooled
            .into_iter()
            .filter(|r| {
                slugs.is_empty()
                    || r.experiment
                        .as_ref()
                        .is_some_and(|e| slugs.iter().any(|s| s == e))
            })
            .filter(|r| since.is_none_or(|t| r.timestamp >= t))
            .collect();
        if spooled.is_empty() {
            return Ok(table);
        }
        Ok(with_spooled(table, spooled)?)
    }

    fn logged_in_table(
        &self,
        slugs: &[String],
        since: Option<chrono::NaiveDateTime>,
    ) -> Result<jetstream_warehouse::Columns, JobError> {
        let Some(logs) = &self.options().log_table else {
            return Ok(jetstream_warehouse::Columns::default());
        };
        if !self.warehouse().table_exists(logs)? {
            return Ok(jetstream_warehouse::Columns::default());
        }
        let mut filters = Vec::new();
        if !slugs.is_empty() {
            let list: Vec<String> = slugs
                .iter()
                .map(|s| jetstream_sql::query::string_literal(s))
                .collect();
            filters.push(format!("experiment IN ({})", list.join(", ")));
        }
        if let Some(t) = since {
            filters.push(format!(
                "timestamp >= CAST('{}' AS TIMESTAMP)",
                t.format("%Y-%m-%d %H:%M:%S")
            ));
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        };
        let sql = format!(
            "SELECT timestamp, log_level, experiment, exception_type, analysis_basis, segment, \
             analysis_period, metric, statistic, message FROM `{}.{}`{filter} \
             ORDER BY timestamp DESC, experiment",
            logs.dataset, logs.table
        );
        Ok(self.warehouse().query_columns(&sql)?)
    }
}

/// `table`'s rows after the spooled ones (newest first), in the columns of
/// [`Job::logged`]; a spooled row's message says it is not in the table yet.
fn with_spooled(
    table: jetstream_warehouse::Columns,
    mut spooled: Vec<LogRecord>,
) -> Result<jetstream_warehouse::Columns, jetstream_warehouse::WarehouseError> {
    use jetstream_warehouse::Column;
    spooled.sort_by_key(|r| std::cmp::Reverse(r.timestamp));
    let n = table.rows();
    let text = |name: &str, own: &dyn Fn(&LogRecord) -> Option<String>| -> Column {
        let mut v: Vec<Option<String>> = spooled.iter().map(own).collect();
        match table.get(name).and_then(|c| c.as_text()) {
            Some(rows) => v.extend(rows.iter().cloned()),
            None => v.extend(std::iter::repeat_n(None, n)),
        }
        Column::Text(v)
    };
    let mut times: Vec<Option<chrono::NaiveDateTime>> =
        spooled.iter().map(|r| Some(r.timestamp)).collect();
    match table.get("timestamp") {
        Some(Column::Timestamp(rows)) => times.extend(rows.iter().copied()),
        _ => times.extend(std::iter::repeat_n(None, n)),
    }
    jetstream_warehouse::Columns::from_pairs(vec![
        ("timestamp".into(), Column::Timestamp(times)),
        (
            "log_level".into(),
            text("log_level", &|r| Some(r.log_level.clone())),
        ),
        (
            "experiment".into(),
            text("experiment", &|r| r.experiment.clone()),
        ),
        (
            "exception_type".into(),
            text("exception_type", &|r| r.exception_type.clone()),
        ),
        (
            "analysis_basis".into(),
            text("analysis_basis", &|r| r.analysis_basis.clone()),
        ),
        ("segment".into(), text("segment", &|r| r.segment.clone())),
        (
            "analysis_period".into(),
            text("analysis_period", &|r| r.analysis_period.clone()),
        ),
        ("metric".into(), text("metric", &|r| r.metric.clone())),
        (
            "statistic".into(),
            text("statistic", &|r| r.statistic.clone()),
        ),
        (
            "message".into(),
            text("message", &|r| {
                Some(format!(
                    "(not in the monitoring table yet: in the log spool) {}",
                    r.message
                ))
            }),
        ),
    ])
}
