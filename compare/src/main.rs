//! `clipbench`: the comparison harness's command line. Each subcommand lives in
//! [`commands`]; this file only parses and dispatches.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::{batch, data, gates, history, history_power, run, validate};

const EXIT_CODES: &str = "Exit codes:\n  0    success (run: every run valid; check, ab: nothing regressed; validate: pass)\n  \
    1    run: some run failed or was invalid; check, ab: a regression; validate: fail;\n       history: the newest change point of a series is a regression over --threshold\n  \
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
    /// Re-render every report file of DIR from its results.json (with --history: and the
    /// trends of its targets).
    Report {
        /// A report folder (holding results.json).
        dir: PathBuf,
        /// A results database to draw the targets' trends from.
        #[arg(long)]
        history: Option<String>,
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
    /// Every measurement so far, per target, sample and machine in commit order, with its
    /// change points (E-Divisive means); `history import DIR…` loads report folders.
    #[command(after_help = EXIT_CODES)]
    History(history::HistoryCommand),
    /// How well `history` finds a change here: histories of 40 commits resampled from recorded
    /// runs, with a 5 % step injected and without.
    HistoryPower(history_power::HistoryPowerArgs),
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
        Command::Report { dir, history } => run::report(&dir, history.as_deref()),
        Command::Check(args) => gates::check(&args),
        Command::Calibrate(args) => gates::calibrate(args),
        Command::Ab(args) => gates::ab(args),
        Command::GatePower(args) => gates::gate_power(&args),
        Command::Validate(args) => validate::validate(args),
        Command::BenchData(args) => data::bench_data(&args),
        Command::Batch(args) => batch::batch(args),
        Command::History(command) => history::history(command),
        Command::HistoryPower(args) => history_power::history_power(&args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        ExitCode::from(EXIT_BAD_INPUT)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    /// Every `clipbench` command of the example CI workflow, its lines joined and its shell
    /// variables given example values.
    fn workflow_commands() -> Vec<Vec<String>> {
        let text = include_str!("../../configs/ci/github-workflow.yml").replace("\\\n", " ");
        text.lines()
            .filter_map(|line| line.split_once("-p clipbench -- ").map(|(_, args)| args))
            .map(|args| {
                let args = args.replace("\"$base\"", "HEAD~1");
                std::iter::once("clipbench".to_owned())
                    .chain(args.split_whitespace().map(str::to_owned))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_example_workflow_runs_commands_that_exist() {
        let commands = workflow_commands();
        let names: Vec<&str> = commands.iter().map(|c| c[1].as_str()).collect();
        assert_eq!(names, ["bench-data", "ab", "run", "history"]);
        for command in &commands {
            if let Err(e) = Cli::try_parse_from(command) {
                panic!("{}: {e}", command.join(" "));
            }
        }
    }
}
