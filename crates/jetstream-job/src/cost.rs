//! What a run read, per table: the telemetry its configs read (source tables) apart from the
//! experiments' own tables (enrollments, metrics, partials, statistics) — `--cost-report FILE`
//! and the summary line.

use std::path::Path;

use jetstream_warehouse::TableReads;
use serde_json::json;

use crate::job::Job;

/// What was read from one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCost {
    /// `project.dataset.table`.
    pub table: String,
    /// Rows scanned (DuckDB's profiler; 0 where unknown).
    pub rows_read: u64,
    /// Bytes processed (BigQuery's job statistics; 0 where unknown).
    pub bytes_read: u64,
    /// Queries that read it.
    pub queries: u64,
}

/// What a run read: source tables (the telemetry) and the run's own tables, apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostReport {
    /// Rows read from source tables.
    pub source_rows_read: u64,
    /// Bytes read from source tables.
    pub source_bytes_read: u64,
    /// Per source table, sorted by name.
    pub tables: Vec<TableCost>,
    /// Per table of the results and log datasets (enrollments, metrics, partials, …).
    pub own_tables: Vec<TableCost>,
}

impl CostReport {
    /// `reads`, split by whether a table is the run's own: in the warehouse's `project` and one
    /// of `own_datasets`.
    pub fn split(reads: &TableReads, project: &str, own_datasets: &[&str]) -> CostReport {
        let mut report = CostReport::default();
        for (table, r) in &reads.0 {
            let cost = TableCost {
                table: table.clone(),
                rows_read: r.rows_read,
                bytes_read: r.bytes_read,
                queries: r.queries,
            };
            let own = own_datasets
                .iter()
                .any(|d| table.starts_with(&format!("{project}.{d}.")));
            if own {
                report.own_tables.push(cost);
            } else {
                report.source_rows_read += r.rows_read;
                report.source_bytes_read += r.bytes_read;
                report.tables.push(cost);
            }
        }
        report
    }

    /// The JSON of `--cost-report`: `{"source_rows_read", "source_bytes_read", "tables":
    /// [{"table", "rows_read", "bytes_read", "queries"}], "own_tables": [...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let list = |tables: &[TableCost]| -> Vec<serde_json::Value> {
            tables
                .iter()
                .map(|t| {
                    json!({
                        "table": t.table,
                        "rows_read": t.rows_read,
                        "bytes_read": t.bytes_read,
                        "queries": t.queries,
                    })
                })
                .collect()
        };
        json!({
            "source_rows_read": self.source_rows_read,
            "source_bytes_read": self.source_bytes_read,
            "tables": list(&self.tables),
            "own_tables": list(&self.own_tables),
        })
    }

    /// Write [`CostReport::to_json`] to `path` (through a temporary file and a rename).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&self.to_json()).map_err(std::io::Error::other)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// One summary line.
    pub fn summary(&self) -> String {
        let own_rows: u64 = self.own_tables.iter().map(|t| t.rows_read).sum();
        format!(
            "read {} rows ({:.3} GB) from {} source tables; {} rows from the run's own tables",
            self.source_rows_read,
            self.source_bytes_read as f64 / 1e9,
            self.tables.len(),
            own_rows
        )
    }
}

impl Job<'_> {
    /// What the warehouse's queries read so far, per table.
    pub fn table_reads(&self) -> TableReads {
        self.warehouse.table_reads()
    }

    /// What was read since `before` (a [`Job::table_reads`]), split into source tables and
    /// the run's own (the results and log datasets).
    pub fn cost_report(&self, before: &TableReads) -> CostReport {
        let reads = self.warehouse.table_reads().since(before);
        let mut own = vec![self.options.run.dataset.as_str()];
        if let Some(log) = &self.options.log_table {
            own.push(log.dataset.as_str());
        }
        CostReport::split(&reads, self.warehouse.project(), &own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_tables_are_reported_apart_from_the_runs_own() {
        let mut reads = TableReads::default();
        reads.add("moz-fx-data-shared-prod.telemetry.clients_daily", 100, 0);
        reads.add("moz-fx-data-shared-prod.telemetry.clients_daily", 50, 0);
        reads.add("p.mozanalysis.enrollments_x", 7, 0);
        reads.add("p.other.t", 0, 30);
        let r = CostReport::split(&reads, "p", &["mozanalysis", "monitoring"]);
        assert_eq!(r.source_rows_read, 150);
        assert_eq!(r.source_bytes_read, 30);
        assert_eq!(r.tables.len(), 2);
        assert_eq!(r.tables[0].queries, 2);
        assert_eq!(r.own_tables.len(), 1);
        let json = r.to_json();
        assert_eq!(
            json["tables"][0]["table"],
            "moz-fx-data-shared-prod.telemetry.clients_daily"
        );
        assert_eq!(json["source_rows_read"], 150);
    }
}
