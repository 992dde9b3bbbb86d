//! The warehouse conformance suite (`jetstream_warehouse::conformance`) on DuckDB: in memory,
//! and on a database file.

use jetstream_duckdb::DuckDbWarehouse;
use jetstream_warehouse::Warehouse;

const PROJECT: &str = "moz-fx-data-experiments";

mod in_memory {
    use super::*;

    jetstream_warehouse::warehouse_conformance!(|| -> Box<dyn Warehouse> {
        Box::new(DuckDbWarehouse::in_memory(PROJECT).expect("open"))
    });
}

mod file {
    use super::*;

    /// A fresh database file per case (cases run in parallel).
    fn fresh() -> Box<dyn Warehouse> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jetstream-conformance-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Box::new(DuckDbWarehouse::open(&dir.join("w.duckdb"), PROJECT).expect("open"))
    }

    jetstream_warehouse::warehouse_conformance!(fresh);
}
