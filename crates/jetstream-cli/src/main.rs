//! The `jetstream` binary: argument parsing and glue over the library crates.
//!
//! Every command lives in its own module; the work itself is done by the libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod config_cmds;

/// Automated analysis of online experiments.
#[derive(Debug, Parser)]
#[command(name = "jetstream", version, about, long_about = None, propagate_version = true)]
struct Cli {
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ValidateConfig(args) => config_cmds::validate(args),
        Command::ResolveConfig(args) => config_cmds::resolve(args),
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
