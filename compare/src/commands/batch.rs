//! `batch`: many jobs against one HTTP backend, K in flight, for each K asked; jobs per hour.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clipbench::throughput::{markdown, run_level, summarise, BatchPlan, BatchSummary, JobRecord};
use clipbench_engine::files::{write_atomic, write_json_atomic};
use serde::Serialize;

#[derive(clap::Args)]
pub struct BatchArgs {
    /// The backend, e.g. http://127.0.0.1:5001 (a local or a queue-backed `serve`).
    #[arg(long)]
    base: String,
    /// A local video, served to the backend by the harness on a loopback port.
    #[arg(long, conflicts_with = "url", required_unless_present = "url")]
    input: Option<PathBuf>,
    /// Or a video URL the backend can fetch itself.
    #[arg(long)]
    url: Option<String>,
    /// Jobs in flight (comma-separated levels, each run in turn).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    concurrency: Vec<usize>,
    /// Jobs per level.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Longest one job may take.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Serve --input over a shaped link: a preset (datacenter, fibre, dsl) or RATE[,LATENCY].
    #[arg(long, value_parser = clipbench::link::Link::parse, requires = "input")]
    link: Option<clipbench::link::Link>,
    /// POST /cleanup on the backend after each level (removes its clips).
    #[arg(long)]
    cleanup: bool,
    /// Reports root: the batch report goes to OUT/batch-<timestamp>/.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[command(flatten)]
    history: super::history::HistoryArgs,
}

#[derive(Serialize)]
struct BatchReport<'a> {
    base_url: &'a str,
    video_url: &'a str,
    levels: &'a [BatchSummary],
    jobs: &'a [JobRecord],
}

/// `batch`: exit 1 when a job failed.
pub fn batch(args: BatchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.jobs >= 1, "--jobs must be at least 1");
    anyhow::ensure!(
        args.concurrency.iter().all(|k| *k >= 1),
        "--concurrency levels must be at least 1"
    );
    let (runtime, cancel) = super::interruptible()?;
    let video_url = match (&args.input, &args.url) {
        (Some(input), _) => {
            let name = input
                .file_name()
                .and_then(|n| n.to_str())
                .context("--input names no file")?;
            anyhow::ensure!(
                input.is_file(),
                "{} does not exist: check the path",
                input.display()
            );
            let folder = input.parent().filter(|p| !p.as_os_str().is_empty());
            let folder = folder.unwrap_or(".".as_ref());
            let address = clipbench::fileserver::start(&runtime, folder, args.link.as_ref())?;
            format!("http://{address}/{name}")
        }
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!("clap requires one of them"),
    };
    let base_url = args.base.trim_end_matches('/').to_owned();
    runtime
        .block_on(reqwest::get(format!("{base_url}/health")))
        .with_context(|| format!("{base_url} does not answer: start the backend or fix --base"))?;
    let plan = BatchPlan {
        base_url: base_url.clone(),
        video_url: video_url.clone(),
        jobs: args.jobs,
        timeout: args.timeout,
    };
    let started = std::time::SystemTime::now();
    let (mut summaries, mut records) = (Vec::new(), Vec::new());
    for &concurrency in &args.concurrency {
        eprintln!("batch: {} jobs, {concurrency} in flight", args.jobs);
        let (level, wall_s) = runtime.block_on(run_level(&plan, concurrency, &cancel));
        summaries.push(summarise(concurrency, &level, wall_s));
        records.extend(level);
        if args.cleanup {
            let cleanup = reqwest::Client::new()
                .post(format!("{base_url}/cleanup"))
                .send();
            let _ = runtime.block_on(cleanup);
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let dir = args.out.join(format!("batch-{stamp}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let report = BatchReport {
        base_url: &base_url,
        video_url: &video_url,
        levels: &summaries,
        jobs: &records,
    };
    write_json_atomic(&dir.join("batch.json"), &report)?;
    let table = markdown(&summaries);
    write_atomic(&dir.join("batch.md"), table.as_bytes())?;
    print!("{table}");
    println!("report: {}", dir.join("batch.md").display());
    let machine = clipbench::machine::Machine::detect(&clipbench_engine::Tools::from_env());
    let source = dir.display().to_string();
    let session = clipbench::throughput::session(&plan, &records, started, &machine, &source);
    args.history.append(&args.out, &session)?;
    let failed = records.iter().any(|r| !r.ok());
    for r in records.iter().filter(|r| !r.ok()).take(3) {
        eprintln!(
            "job {} (in flight {}): {} {}",
            r.index,
            r.concurrency,
            r.status,
            r.error.as_deref().unwrap_or("no clips")
        );
    }
    Ok(super::exit_code(cancel.is_cancelled(), failed))
}
