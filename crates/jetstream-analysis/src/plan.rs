//! Every query a config produces, for a dry run (`validate-config --dry-run`): the
//! enrollments query (with its segments and exposures) and one metrics query per metric and
//! analysis basis, over a stand-in enrollments table (the reference's mock `enrollments_table`).

use chrono::Days;
use jetstream_config::enums::{AnalysisBasis, AnalysisPeriod};
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_sql::query::{enrollments_query, metrics_query};
use jetstream_sql::readiness::{Ready, timelimits_if_ready};

use crate::{AnalysisError, RunOptions};

/// One query of a config, to be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedQuery {
    /// What it computes (`enrollments`, `metric active_hours (exposures)`).
    pub what: String,
    /// The metric, for a metrics query.
    pub metric: Option<String>,
    /// The SQL (BigQuery dialect).
    pub sql: String,
}

/// The stand-in for the enrollments table: one row with every column the metrics queries
/// read (as the reference's dry run injects).
const MOCK_ENROLLMENTS: &str = "enrollments_table AS (
    SELECT '00000' AS analysis_id, 'test' AS branch, DATE('2020-01-01') AS enrollment_date,
        1 AS num_enrollment_events, DATE('2020-01-01') AS exposure_date, 1 AS num_exposure_events
),
";

/// The queries `config` produces on the first date its first weekly window is ready (its
/// first daily window when it has no weekly one within a year of its start).
pub fn planned_queries(
    config: &AnalysisConfiguration,
    options: &RunOptions,
) -> Result<Vec<PlannedQuery>, AnalysisError> {
    let conf = &config.experiment;
    let slug = conf.normandy_slug().to_string();
    let sql_err = |message: String| AnalysisError::Sql {
        slug: slug.clone(),
        message,
    };
    let ready = first_ready(config, AnalysisPeriod::Week)
        .or_else(|| first_ready(config, AnalysisPeriod::Day))
        .ok_or_else(|| {
            sql_err("no analysis window becomes ready within a year of the start".into())
        })?;
    let tl = &ready.time_limits;
    let ctx = options.query_context(conf)?;
    let mut out = vec![PlannedQuery {
        what: "enrollments".into(),
        metric: None,
        sql: enrollments_query(
            &ctx,
            tl,
            conf.enrollment_query.as_deref(),
            conf.exposure_signal.as_ref(),
            &conf.segments,
        )
        .map_err(|e| sql_err(e.to_string()))?,
    }];
    let mut seen: Vec<(String, AnalysisBasis)> = Vec::new();
    for summaries in config.metrics.values() {
        for s in summaries {
            let m = &s.metric;
            if m.data_source.is_none() || m.select_expression.is_none() {
                continue; // derived (`depends_on`) metrics have no query of their own
            }
            let bases = if m.analysis_bases.is_empty() {
                vec![AnalysisBasis::Enrollments]
            } else {
                m.analysis_bases.clone()
            };
            for basis in bases {
                if seen.iter().any(|(n, b)| *n == m.name && *b == basis) {
                    continue;
                }
                seen.push((m.name.clone(), basis));
                let sql = metrics_query(
                    &ctx,
                    &[m.as_ref()],
                    tl,
                    "enrollments_table",
                    basis,
                    conf.exposure_signal.as_ref(),
                    true,
                )
                .map_err(|e| sql_err(format!("metric {}: {e}", m.name)))?;
                let sql = sql.replacen(
                    "WITH analysis_windows AS (",
                    &format!("WITH {MOCK_ENROLLMENTS}analysis_windows AS ("),
                    1,
                );
                out.push(PlannedQuery {
                    what: format!("metric {} ({})", m.name, basis.as_str()),
                    metric: Some(m.name.clone()),
                    sql,
                });
            }
        }
    }
    Ok(out)
}

fn first_ready(config: &AnalysisConfiguration, period: AnalysisPeriod) -> Option<Ready> {
    let conf = &config.experiment;
    let start = conf.start_date()?;
    (0..366u64).find_map(|i| {
        let date = start.checked_add_days(Days::new(i))?;
        timelimits_if_ready(period, date, conf).ok().flatten()
    })
}
