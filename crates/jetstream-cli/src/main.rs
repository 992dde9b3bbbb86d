//! The `jetstream` binary: argument parsing and glue over the library crates.
//!
//! Every command lives in its own module; the work itself is done by the libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod config_cmds;
mod experiments_cmd;
mod export_cmds;
mod printer;
mod report_cmd;
mod run_cmds;
mod stats_cmd;
#[cfg(test)]
mod tests;

/// Print a line to stdout; a closed pipe (`jetstream ... | head`) ends the process quietly
/// instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(&format!($($arg)*))
    };
}

pub(crate) fn write_stdout(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        #[allow(clippy::print_stderr)] // nowhere else to report it
        {
            eprintln!("error: cannot write to stdout: {e}");
        }
        std::process::exit(2);
    }
}

/// Automated analysis of online experiments.
#[derive(Debug, Parser)]
#[command(name = "jetstream", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log debug messages (default: warnings and errors; `RUST_LOG` overrides).
    #[arg(long, global = true)]
    debug: bool,
    #[command(flatten)]
    log: args::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate config files offline (experiment configs, outcomes, defaults, definitions,
    /// functions).
    #[command(alias = "validate_config")]
    ValidateConfig(config_cmds::ValidateArgs),
    /// Print the resolved analysis of an experiment as JSON: per period the metrics with their
    /// data source, select expression, analysis bases, statistics and pre-treatments.
    #[command(alias = "resolve_config")]
    ResolveConfig(config_cmds::ResolveArgs),
    /// List the experiments a daily run on a date would analyse, and why the others are skipped.
    Experiments(experiments_cmd::ExperimentsArgs),
    /// Compute one statistic on a CSV of per-client rows and print the result rows as JSON
    /// (the shape of the reference's statistics tables).
    Statistics(stats_cmd::StatisticsArgs),
    /// Analyse experiments on a date: enrollments, metric tables, statistics tables and views,
    /// errors to the logs table, and (with --output-dir) the JSON exports.
    Run(run_cmds::RunArgs),
    /// Delete an experiment's result tables and analyse every date up to yesterday.
    Rerun(run_cmds::RerunArgs),
    /// Rerun the experiments whose experiment config, platform defaults (live experiments) or
    /// outcomes (live experiments) changed after their results were written; with --dry-run,
    /// print their slugs, one per line, and change nothing.
    #[command(alias = "rerun_config_changed")]
    RerunConfigChanged(run_cmds::RerunArgs),
    /// Mark experiments up to date without rerunning them (default: those
    /// rerun-config-changed would rerun).
    #[command(alias = "rerun_skip")]
    RerunSkip(run_cmds::RerunSkipArgs),
    /// The daily run as one Argo Workflow (experiments fan out, dates in parallel); with
    /// --dry-run, print the rendered workflow (YAML) and submit nothing.
    #[command(alias = "run_argo")]
    RunArgo(run_cmds::RunArgoArgs),
    /// Write synthetic telemetry with planted effects, with recipes and configs.
    Simulate(run_cmds::SimulateArgs),
    /// Simulate a small dataset, analyse every date, export, and show the headline results.
    Demo(run_cmds::DemoArgs),
    /// The logged errors and warnings (newest first, with their context); exit 1 when an
    /// error is among them, for an alert.
    Errors(export_cmds::ErrorsArgs),
    /// Write an experiment's report: one self-contained HTML page with its results, plots,
    /// sample ratio check and logged errors.
    Report(report_cmd::ReportArgs),
    /// Analyse recent days of a platform as a dummy experiment (or an experiment's recipe
    /// with its dates moved) in a scratch dataset, and write its report.
    Preview(report_cmd::PreviewArgs),
    /// Run a query (BigQuery dialect) on the warehouse and print its rows (TSV or JSON).
    Query(export_cmds::QueryArgs),
    /// Create the enrollments tables of experiments (kept once created, unless recreated).
    #[command(alias = "ensure_enrollments")]
    EnsureEnrollments(run_cmds::EnsureEnrollmentsArgs),
    /// Export the statistics views of experiments as JSON files (`statistics/<view>.json`).
    #[command(alias = "export_statistics_to_json")]
    ExportStatisticsToJson(export_cmds::ExportStatisticsArgs),
    /// Export the metadata of experiments as JSON files (`metadata/metadata_<slug>.json`).
    #[command(alias = "export_metadata_to_json")]
    ExportMetadataToJson(export_cmds::ExportMetadataArgs),
    /// Export the logged errors of experiments as JSON files (`errors/errors_<slug>.json`).
    #[command(alias = "export_experiment_logs_to_json")]
    ExportExperimentLogsToJson(export_cmds::ExportLogsArgs),
    /// Export the statistics, metadata and errors of experiments (what `run` exports after
    /// its analyses; the export step of the Argo workflow).
    #[command(alias = "export_to_json")]
    ExportToJson(export_cmds::ExportAllArgs),
    /// Write one ERROR row per step of a finished Argo workflow that failed for good (OOM
    /// kill, eviction, image pull, deadline, …) into the monitoring table, once, and export
    /// those experiments' errors again (the workflow's exit handler).
    #[command(alias = "log_workflow_failures")]
    LogWorkflowFailures(export_cmds::LogFailuresArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if cli.debug { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let log = &cli.log;
    let result = match cli.command {
        Command::Experiments(args) => experiments_cmd::experiments(args),
        Command::ValidateConfig(args) => config_cmds::validate(args),
        Command::ResolveConfig(args) => config_cmds::resolve(args),
        Command::Statistics(args) => stats_cmd::statistics(args),
        Command::Query(args) => export_cmds::query_cmd(args),
        Command::Errors(args) => export_cmds::errors_cmd(args, log),
        Command::Report(args) => report_cmd::report_cmd(args, log),
        Command::Preview(args) => report_cmd::preview_cmd(args, log),
        Command::Run(args) => run_cmds::run_cmd(args, log),
        Command::Rerun(args) => run_cmds::rerun_cmd(args, log),
        Command::RerunConfigChanged(args) => run_cmds::rerun_changed_cmd(args, log),
        Command::RerunSkip(args) => run_cmds::rerun_skip_cmd(args, log),
        Command::RunArgo(args) => run_cmds::run_argo_cmd(args, log),
        Command::Simulate(args) => run_cmds::simulate_cmd(args),
        Command::Demo(args) => run_cmds::demo_cmd(args, log),
        Command::EnsureEnrollments(args) => run_cmds::ensure_enrollments_cmd(args, log),
        Command::ExportStatisticsToJson(args) => export_cmds::export_statistics_cmd(args, log),
        Command::ExportMetadataToJson(args) => export_cmds::export_metadata_cmd(args, log),
        Command::ExportExperimentLogsToJson(args) => export_cmds::export_logs_cmd(args, log),
        Command::ExportToJson(args) => export_cmds::export_all_cmd(args, log),
        Command::LogWorkflowFailures(args) => export_cmds::log_failures_cmd(args, log),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            #[allow(clippy::print_stderr)] // the binary reports its own errors
            {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}
