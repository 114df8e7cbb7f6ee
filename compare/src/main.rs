//! `clipbench`: the comparison harness's command line. Each subcommand lives in
//! [`commands`]; this file only parses and dispatches.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::{batch, data, gates, run, validate};

const EXIT_CODES: &str = "Exit codes:\n  0    success (run: every run valid; check, ab: nothing regressed; validate: pass)\n  \
    1    run: some run failed or was invalid; check, ab: a regression; validate: fail\n  \
    2    bad input or set-up (missing file, bad configuration, different machines)\n  \
    130  interrupted (finished runs are kept in runs.csv and the report)";

/// Exit code for bad input or set-up.
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "clipbench",
    version,
    about = "Benchmark clip-making backends and engine strategies on sample videos",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run targets over samples and write a report to reports/<timestamp>/.
    #[command(after_help = EXIT_CODES)]
    Run(run::RunArgs),
    /// Re-render every report file of DIR from its results.json.
    Report {
        /// A report folder (holding results.json).
        dir: PathBuf,
    },
    /// Compare a run with a baseline: improved / regressed / unchanged / inconclusive.
    #[command(after_help = EXIT_CODES)]
    Check(gates::CheckArgs),
    /// Measure this machine's noise for a target and sample: the run-to-run spread, the drift
    /// between sessions (for `check`), and how many runs detect a 5 % change.
    Calibrate(gates::CalibrateArgs),
    /// Paired A/B of two builds (git revisions; the candidate defaults to the working tree) or
    /// two servers (http:URL): runs them side by side in ABBA order and judges per-round ratios.
    #[command(after_help = EXIT_CODES)]
    Ab(gates::AbArgs),
    /// How well `check` and `ab` work here: resamples recorded runs of one target (e.g. 40 runs
    /// of auto) into A/A comparisons and ones with a 5 % and a 10 % slowdown injected.
    GatePower(gates::GatePowerArgs),
    /// Check the sub-one-minute target for the engine's best strategy on this machine.
    #[command(after_help = EXIT_CODES)]
    Validate(validate::ValidateArgs),
    /// Build the missing sample videos of the manifest and check them with ffprobe.
    BenchData(data::BenchDataArgs),
    /// Throughput of one HTTP backend: N jobs with K in flight (`--concurrency 1,4`), jobs per
    /// hour and latency per level, to reports/batch-<timestamp>/.
    #[command(after_help = EXIT_CODES)]
    Batch(batch::BatchArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ))
        .init();
    let result = match Cli::parse().command {
        Command::Run(args) => run::run(args),
        Command::Report { dir } => run::report(&dir),
        Command::Check(args) => gates::check(&args),
        Command::Calibrate(args) => gates::calibrate(args),
        Command::Ab(args) => gates::ab(args),
        Command::GatePower(args) => gates::gate_power(&args),
        Command::Validate(args) => validate::validate(args),
        Command::BenchData(args) => data::bench_data(&args),
        Command::Batch(args) => batch::batch(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        ExitCode::from(EXIT_BAD_INPUT)
    })
}
