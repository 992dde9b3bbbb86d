//! `simulate`: synthetic telemetry with planted effects, with the recipes and configs that
//! analyse it (feature `simulate`). The CLI's `simulate` and `demo` call [`write_simulation`];
//! so can benchmarks and other tools.

use std::path::{Path, PathBuf};

pub use jetstream_simulate::{
    EXPERIMENT_A, EXPERIMENT_B, EXPERIMENT_FENIX, SimExperiment, SimOptions, SimReport,
};

use crate::{JobError, LocalFolder, OutputSink as _, WarehouseSpec};

/// Where the simulation goes.
#[derive(Debug, Clone)]
pub struct SimulationRequest {
    /// The data: clients, dates, seed, planted lifts.
    pub options: SimOptions,
    /// The DuckDB warehouse the telemetry goes into (`duckdb:PATH`); with `parquet`, only a
    /// scratch space.
    pub warehouse: String,
    /// Memory DuckDB may use before spilling to disk (`4GB`).
    pub memory_limit: Option<String>,
    /// Also write the telemetry as Parquet files under this data folder
    /// (`DIR/<project>/<dataset>/<table>.parquet`), and keep the warehouse in memory.
    pub parquet: Option<PathBuf>,
    /// The recipes file (Experimenter v8 shape) to write.
    pub experiments_file: PathBuf,
    /// The folder of the experiments' configs (`<slug>.toml`).
    pub config_dir: PathBuf,
    /// More experiments: copies of the two desktop ones, `<slug>-copy-K`.
    pub copies: u32,
}

/// What [`write_simulation`] wrote.
#[derive(Debug, Clone)]
pub struct SimulationWritten {
    /// The experiments, tables and rows simulated.
    pub report: SimReport,
    /// Parquet files written (with a data folder).
    pub parquet_files: Vec<PathBuf>,
    /// The recipes file.
    pub experiments_file: PathBuf,
    /// The config files.
    pub config_files: Vec<PathBuf>,
}

fn simulate_error(e: jetstream_simulate::SimulateError) -> JobError {
    JobError::Open {
        what: "simulated telemetry".into(),
        source: Box::new(e),
    }
}

/// Simulate the telemetry into the warehouse (or Parquet files), then write the recipes and
/// the configs of its experiments (and their copies). The files are written atomically.
pub fn write_simulation(request: &SimulationRequest) -> Result<SimulationWritten, JobError> {
    let mut spec = WarehouseSpec::new(if request.parquet.is_some() {
        "duckdb::memory:"
    } else {
        &request.warehouse
    });
    spec.memory_limit = request.memory_limit.clone();
    let wh = spec.open_duckdb()?;
    let mut report = jetstream_simulate::simulate(&wh, &request.options).map_err(simulate_error)?;
    let mut copies = Vec::new();
    for k in 1..=request.copies {
        let from = if k % 2 == 1 {
            EXPERIMENT_A
        } else {
            EXPERIMENT_B
        };
        let to = format!("{from}-copy-{k}");
        jetstream_simulate::clone_experiment(&wh, &mut report, from, &to)
            .map_err(simulate_error)?;
        copies.push((from, to));
    }
    let parquet_files = match &request.parquet {
        Some(dir) => jetstream_simulate::export_parquet(&wh, dir).map_err(simulate_error)?,
        None => Vec::new(),
    };
    let file = &request.experiments_file;
    let name = file
        .file_name()
        .ok_or_else(|| JobError::Option {
            option: format!("--experiments-file {}", file.display()),
            message: "names no file".into(),
        })?
        .to_string_lossy()
        .into_owned();
    let recipes =
        serde_json::to_string_pretty(&jetstream_simulate::recipes(&report)).map_err(|e| {
            JobError::Io {
                what: format!("writing {}", file.display()),
                source: e.into(),
            }
        })?;
    LocalFolder::new(file.parent().unwrap_or(Path::new("."))).put(&name, recipes.as_bytes())?;
    let configs = LocalFolder::new(&request.config_dir);
    let sim_configs = jetstream_simulate::configs();
    let copied = copies.iter().filter_map(|(from, to)| {
        let toml = sim_configs.iter().find(|(s, _)| s == from)?.1.clone();
        Some((to.clone(), toml))
    });
    let mut config_files = Vec::new();
    for (slug, toml) in sim_configs.iter().cloned().chain(copied) {
        let key = format!("{slug}.toml");
        configs.put(&key, toml.as_bytes())?;
        config_files.push(request.config_dir.join(key));
    }
    Ok(SimulationWritten {
        report,
        parquet_files,
        experiments_file: file.clone(),
        config_files,
    })
}
