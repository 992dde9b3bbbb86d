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

    /// A fresh database file per case (cases run in parallel), in a scratch folder removed
    /// after the case.
    fn fresh() -> (Box<dyn Warehouse>, jetstream_test_support::Scratch) {
        let dir = jetstream_test_support::scratch("conformance");
        let warehouse = DuckDbWarehouse::open(&dir.join("w.duckdb"), PROJECT).expect("open");
        (Box::new(warehouse), dir)
    }

    jetstream_warehouse::warehouse_conformance!(fresh);
}
