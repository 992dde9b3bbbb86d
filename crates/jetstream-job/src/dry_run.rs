//! Dry runs of a config's queries (`validate-config --dry-run`).

use jetstream_analysis::planned_queries;
use jetstream_config::resolve::AnalysisConfiguration;
use rayon::prelude::*;

use crate::{Job, JobError};

/// One query of a dry run and the warehouse's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCheck {
    /// What it computes (`enrollments`, `metric active_hours (enrollments)`).
    pub what: String,
    /// The metric, for a metrics query.
    pub metric: Option<String>,
    /// The bytes it would read, or the warehouse's message.
    pub outcome: Result<u64, String>,
}

impl Job<'_> {
    /// Render every query `config` produces (enrollments with segments and exposures, then one
    /// per metric and analysis basis) and plan each on the warehouse without running it, on
    /// the job's threads (the reference plans up to 8 at once).
    pub fn dry_run(&self, config: &AnalysisConfiguration) -> Result<Vec<QueryCheck>, JobError> {
        let options = self.run_options_for(config)?;
        let planned = planned_queries(config, &options).map_err(|e| JobError::Config {
            what: format!("the queries of {}", config.experiment.normandy_slug()),
            message: e.to_string(),
        })?;
        let warehouse = self.warehouse();
        Ok(self.install(|| {
            planned
                .into_par_iter()
                .map(|q| QueryCheck {
                    outcome: warehouse.dry_run(&q.sql).map_err(|e| e.to_string()),
                    what: q.what,
                    metric: q.metric,
                })
                .collect()
        }))
    }
}
