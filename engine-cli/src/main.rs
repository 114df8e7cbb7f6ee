//! `clipbench-engine`: probe, plan and cut a video into clips from the command line, `bench`,
//! and the server's `serve` and `worker`. A thin binary over the libraries (`clipbench-engine`,
//! `clipbench-fetch`, `clipbench-server`): the arguments (`args`, a leaf), the terminal
//! (`bars`, `summary`), Ctrl-C's wording and the exit codes (`exit`) live here.
//!
//! Exit codes: 0 every clip valid; 1 some clips failed; 2 bad input or set-up; 130 interrupted.

mod args;
mod bars;
mod bench;
mod commands;
mod exit;
mod serve;
mod summary;

use std::process::ExitCode;

use args::{Cli, Command, LogFormat};
use clap::Parser;
use clipbench_engine::{Policy, RunOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs one line per request and per job phase; the other commands only warnings.
    let default_level = if matches!(cli.command, Command::Serve(_) | Command::Worker { .. }) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::new(
        std::env::var("RUST_LOG").unwrap_or_else(|_| default_level.to_owned()),
    );
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let result = match cli.command {
        Command::Probe {
            file,
            keyframes,
            json,
        } => commands::probe(&file, keyframes, json),
        Command::Plan { file, plan, json } => {
            commands::plan(&file, &plan.options(Policy::OPTIMIZED), json)
        }
        Command::Run {
            input,
            output,
            encode,
            plan,
            json,
            resume,
        } => match encode.options(output, plan.options(Policy::OPTIMIZED)) {
            Ok(options) => {
                let options = RunOptions { resume, ..options };
                commands::run(&input, &options, json.as_deref())
            }
            Err(e) => Err(e.into()),
        },
        Command::Bench(args) => bench::bench(&args),
        Command::Serve(args) => serve::serve(*args),
        Command::Worker {
            queue,
            store,
            slots,
            threads,
            cache,
            name,
            heartbeat,
            budget,
        } => commands::worker(heartbeat.queue(&queue), &store, |options| {
            options.budget = budget.budget(options.budget.deadline);
            if let Some(slots) = slots {
                options.slots = slots.max(1);
            }
            options.threads = threads.max(1);
            if let Some(cache) = cache {
                options.cache = cache;
            }
            if let Some(name) = name {
                options.name = name;
            }
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", exit::one_line(&e));
            ExitCode::from(exit::exit_code_for(&e))
        }
    }
}
