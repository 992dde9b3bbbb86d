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

/// Print one line to stdout, its control characters escaped (a slug or message from a recipe,
/// a config or a log row can hold escape sequences and newlines: they must not drive the
/// terminal or forge lines); a closed pipe (`jetstream ... | head`) ends the process quietly
/// instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(&$crate::escape_controls(&format!($($arg)*)))
    };
}

/// Print a document to stdout (JSON, YAML or tab-separated text whose serializer escaped its
/// values): its line structure stays, and the control characters a serializer may leave raw
/// (DEL, the C1 range such as U+009B, a terminal's escape introducer) are escaped.
#[macro_export]
macro_rules! out_doc {
    ($($arg:tt)*) => {
        $crate::write_stdout(&$crate::escape_controls_in_document(&format!($($arg)*)))
    };
}

/// [`escape_controls`] but for line breaks and tabs, the structure of a document.
pub(crate) fn escape_controls_in_document(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Print one line to stderr, its control characters escaped (see [`out!`]).
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::write_stderr(&$crate::escape_controls(&format!($($arg)*)))
    };
}

/// `text` with every control character written as an escape (`\n`, `\u{1b}`, …): one
/// printable line.
pub(crate) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

pub(crate) fn write_stdout(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        write_stderr(&format!("error: cannot write to stdout: {e}"));
        std::process::exit(2);
    }
}

pub(crate) fn write_stderr(line: &str) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// The log's writer (stderr): each event is one line — control characters inside it (a
/// newline in a slug) are escaped, the event's own final newline kept. With colours (a
/// terminal), the escape sequences the formatter writes pass (tracing-subscriber escapes
/// those in values); without, every escape is a value's and is escaped too.
#[derive(Clone, Copy)]
struct LogLines {
    colours: bool,
}

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (text.as_ref(), ""),
        };
        let mut line = String::with_capacity(body.len() + 1);
        for c in body.chars() {
            match c {
                '\x1b' if self.colours => line.push(c),
                '\n' => line.push_str("\\n"),
                '\r' => line.push_str("\\r"),
                c if c.is_control() && c != '\t' => line.push_str(&c.escape_unicode().to_string()),
                c => line.push(c),
            }
        }
        line.push_str(end);
        std::io::stderr().lock().write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Colours only for a person at a terminal: never in redirected output or a log file, never
/// with `NO_COLOR` set (<https://no-color.org>).
fn colours() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
    let colours = colours();
    let lines = LogLines { colours };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(move || lines)
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
            err!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
