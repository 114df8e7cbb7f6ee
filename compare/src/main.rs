//! `clipbench`: the comparison harness's command line.
//!
//! Exit codes: 0 success; 2 bad input or set-up.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clipbench::samples::{Builder, Manifest};
use clipbench_engine::Tools;

#[derive(Parser)]
#[command(
    name = "clipbench",
    version,
    about = "Benchmark clip-making backends and engine strategies on sample videos",
    after_help = "Exit codes: 0 success, 2 bad input or set-up."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the missing sample videos of the manifest and check them with ffprobe.
    BenchData {
        /// Only these samples (comma-separated); default all.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// The manifest; samples are written beside it.
        #[arg(long, default_value = "bench-data/manifest.toml")]
        manifest: PathBuf,
        /// List the samples and whether they are present, build nothing.
        #[arg(long)]
        list: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let result = match Cli::parse().command {
        Command::BenchData {
            only,
            manifest,
            list,
        } => bench_data(&manifest, &only, list),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

fn bench_data(
    manifest_path: &std::path::Path,
    only: &[String],
    list: bool,
) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(manifest_path)?;
    let dir = manifest_path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .to_owned();
    let on_status = |name: &str, message: &str| eprintln!("{name}: {message}");
    let builder = Builder {
        manifest: &manifest,
        dir,
        tools: Tools::from_env(),
        on_status: &on_status,
    };
    if list {
        for sample in &manifest.samples {
            let path = builder.path_of(&sample.name).unwrap_or_default();
            let present = if path.exists() { "present" } else { "missing" };
            println!("{:<22} {present:<8} {}", sample.name, sample.description);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = if only.is_empty() {
        manifest.samples.iter().map(|s| s.name.clone()).collect()
    } else {
        only.to_vec()
    };
    for (name, path, outcome) in builder.ensure(&names)? {
        println!(
            "{name:<22} {:<6} {}",
            format!("{outcome:?}").to_lowercase(),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
