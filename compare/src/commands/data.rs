//! `bench-data`: build (or list) the sample videos of the manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clipbench::samples::{Builder, Manifest};
use clipbench_engine::Tools;

#[derive(clap::Args)]
pub struct BenchDataArgs {
    /// Only these samples (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The manifest; samples are written beside it.
    #[arg(long, default_value = "bench-data/manifest.toml")]
    manifest: PathBuf,
    /// List the samples and whether they are present, build nothing.
    #[arg(long)]
    list: bool,
}

/// `bench-data`
pub fn bench_data(args: &BenchDataArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.manifest)?;
    let dir = args.manifest.parent().unwrap_or(Path::new(".")).to_owned();
    let on_status = |name: &str, message: &str| eprintln!("{name}: {message}");
    let builder = Builder {
        manifest: &manifest,
        dir,
        tools: Tools::from_env(),
        on_status: &on_status,
    };
    if args.list {
        for sample in &manifest.samples {
            let path = builder.path_of(&sample.name).unwrap_or_default();
            let present = if path.exists() { "present" } else { "missing" };
            println!("{:<22} {present:<8} {}", sample.name, sample.description);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = if args.only.is_empty() {
        manifest.samples.iter().map(|s| s.name.clone()).collect()
    } else {
        args.only.clone()
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
