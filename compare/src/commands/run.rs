//! `run` (measure targets over samples, write a report) and `report` (re-render one).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clipbench::config::Config;
use clipbench::export;
use clipbench::history;
use clipbench::record::{Results, RunStatus};
use clipbench::runner::{self, Plan};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Configuration file (default: ./clipbench.toml if present, else the embedded default).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Targets to run: names from the configuration, or engine:STRATEGY[@PROFILE],
    /// http:BASE_URL (dialect detected), http:PRESET[@BASE_URL] (comma-separated).
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Samples from the manifest (comma-separated).
    #[arg(long, value_delimiter = ',')]
    samples: Vec<String>,
    /// Measured runs per (target, sample), a fixed count (without it, the configuration's:
    /// the default stops each cell once its answer is decided, 2 to 5 runs).
    #[arg(long)]
    runs: Option<usize>,
    /// Unrecorded warm-up runs per (target, sample).
    #[arg(long)]
    warmup: Option<usize>,
    /// Seed of the run order and bootstrap (random and recorded when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// The target others are compared to.
    #[arg(long)]
    baseline: Option<String>,
    /// Parameter sweep: workers=A..B adds engine targets workers-N (fixed:N, one thread each).
    #[arg(long)]
    sweep: Option<String>,
    /// Reports root: the report goes to OUT/<timestamp>/, OUT/latest points there.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[arg(long, default_value = "bench-data/manifest.toml")]
    manifest: PathBuf,
    /// No progress or summary on stderr/stdout.
    #[arg(long, short)]
    quiet: bool,
    /// Print results.json to stdout instead of the summary.
    #[arg(long)]
    json: bool,
    /// Every target gets the samples over a shaped link: a preset (datacenter 1gbit,5ms;
    /// fibre 100mbit,20ms; dsl 20mbit,40ms) or RATE[,LATENCY].
    #[arg(long, value_parser = clipbench::link::Link::parse)]
    link: Option<clipbench::link::Link>,
    #[command(flatten)]
    history: super::history::HistoryArgs,
}

/// The benchmark plan: the configuration with the command line's choices applied.
fn plan_from(args: &RunArgs) -> anyhow::Result<Plan<'static>> {
    let config = Config::load_chosen(args.config.as_deref())?;
    let mut plan = Plan::from_config(&config, args.out.clone(), args.manifest.clone());
    if !args.targets.is_empty() {
        plan.targets = args
            .targets
            .iter()
            .map(|spec| config.target(spec))
            .collect::<anyhow::Result<_>>()?;
        // Targets named on the command line run on every sample named.
        plan.targets_on.clear();
    }
    if let Some(sweep) = &args.sweep {
        let like = plan.targets.iter().find(|t| t.kind() == "engine").cloned();
        plan.targets
            .extend(Config::sweep(sweep, like.as_ref()).map_err(anyhow::Error::msg)?);
    }
    if !args.samples.is_empty() {
        plan.samples = args.samples.clone();
    }
    if let Some(runs) = args.runs {
        anyhow::ensure!(runs >= 1, "--runs must be at least 1");
        plan.runs = runs;
        plan.stop = None;
    }
    plan.warmup = args.warmup.unwrap_or(plan.warmup);
    if args.link.is_some() {
        plan.link = args.link.clone();
    }
    plan.seed = args.seed.unwrap_or(plan.seed);
    if args.baseline.is_some() {
        plan.baseline = args.baseline.clone();
    }
    if plan
        .baseline
        .as_ref()
        .is_some_and(|b| !plan.targets.iter().any(|t| t.name() == b))
    {
        plan.baseline = plan.targets.first().map(|t| t.name().to_owned());
    }
    anyhow::ensure!(!plan.targets.is_empty(), "no target to run");
    Ok(plan)
}

/// `run`: exit 1 when a run failed or was invalid.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = plan_from(&args)?;
    let (_runtime, cancel) = super::interruptible()?;
    let terminal = super::bars::Terminal::new(args.quiet || args.json);
    let finished = runner::run(&plan, &cancel, &|p| terminal.observe(p))?;
    let results = &finished.results;
    if args.json {
        println!("{}", serde_json::to_string_pretty(results)?);
    } else if !args.quiet {
        let baseline = results.baseline.as_deref().unwrap_or("baseline");
        println!("{}", export::markdown::table(&results.summaries, baseline));
        print!("{}", export::markdown::relative_lines(results));
        for line in export::markdown::answer(results) {
            println!("{line}");
        }
        println!("report: {}", finished.dir.join("index.html").display());
    }
    let source = finished.dir.display().to_string();
    let identify = history::identify_by_build(results);
    let session = history::session("run", results, &source, identify);
    let news = args
        .history
        .record(&args.out, &session, results, &finished.dir)?;
    if !args.quiet && !args.json {
        for line in news {
            println!("history: {line}");
        }
    }
    let failed = results.runs.iter().any(|r| r.status != RunStatus::Ok);
    Ok(super::exit_code(results.interrupted, failed))
}

/// `report DIR [--history LOCATION]`
pub fn report(dir: &Path, history: Option<&str>) -> anyhow::Result<ExitCode> {
    match history {
        Some(location) => {
            for line in super::history::report_with_history(dir, location)? {
                println!("history: {line}");
            }
        }
        None => export::write_all(&Results::read(&dir.join("results.json"))?, dir, &[])?,
    }
    println!("report: {}", dir.join("index.html").display());
    Ok(ExitCode::SUCCESS)
}
