//! `clipbench`: the comparison harness's command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use clipbench::config::{Config, TargetConfig};
use clipbench::record::{Results, RunStatus};
use clipbench::runner::{self, Plan};
use clipbench::samples::{Builder, Manifest};
use clipbench::{ab, check, export, gate, power, target_validation};
use clipbench_engine::{CancelToken, Tools};

const EXIT_CODES: &str = "Exit codes:\n  0    success (run: every run valid; check, ab: nothing regressed; validate: pass)\n  \
    1    run: some run failed or was invalid; check, ab: a regression; validate: fail\n  \
    2    bad input or set-up (missing file, bad configuration, different machines)\n  \
    130  interrupted (finished runs are kept in runs.csv and the report)";

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
    Run(RunArgs),
    /// Re-render every report file of DIR from its results.json.
    Report {
        /// A report folder (holding results.json).
        dir: PathBuf,
    },
    /// Compare a run with a baseline: improved / regressed / unchanged / inconclusive.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// The baseline's results.json.
        #[arg(long)]
        baseline: PathBuf,
        /// The results to judge (default reports/latest/results.json).
        #[arg(long, default_value = "reports/latest/results.json")]
        current: PathBuf,
        /// The smallest relative change of interest: the noise band (measured from the runs'
        /// spread) never goes below it.
        #[arg(long, default_value_t = 0.01)]
        noise_floor: f64,
        /// Compare results from different machines anyway.
        #[arg(long)]
        force: bool,
        /// The machine's calibration (`clipbench calibrate`): its drift between sessions
        /// widens the verdicts' intervals. Without one, drift is ignored (with a warning).
        #[arg(long, default_value = "reports/calibration.json")]
        calibration: PathBuf,
    },
    /// Measure this machine's noise for a target and sample: the run-to-run spread, the drift
    /// between sessions (for `check`), and how many runs detect a 5 % change.
    Calibrate {
        #[arg(long, default_value = "auto")]
        target: String,
        #[arg(long, default_value = "bbb-720p-60s")]
        sample: String,
        #[arg(long, default_value_t = 40)]
        runs: usize,
        /// Runs per block when measuring the drift between blocks.
        #[arg(long, default_value_t = 10)]
        block: usize,
        /// Reports root: the runs' report goes to OUT/<timestamp>/, the calibration to
        /// OUT/calibration.json.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        #[arg(long, default_value = "bench-data/manifest.toml")]
        manifest: PathBuf,
    },
    /// Paired A/B of two builds (git revisions; the candidate defaults to the working tree) or
    /// two servers (http:URL): runs them side by side in ABBA order and judges per-round ratios.
    #[command(after_help = EXIT_CODES)]
    Ab {
        /// The baseline: a git revision (e.g. HEAD~1, main, a sha) or http:URL.
        base: String,
        /// The candidate: a git revision, `worktree` (the default) or http:URL.
        #[arg(default_value = "worktree")]
        candidate: String,
        /// Engine targets (names from the configuration or engine:STRATEGY[@PROFILE]) each build
        /// runs; ignored for two servers.
        #[arg(long, value_delimiter = ',', default_value = "auto")]
        targets: Vec<String>,
        /// Samples from the manifest (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "bbb-720p-60s")]
        samples: Vec<String>,
        /// Rounds; each runs every pair twice per side (ABBA), so runs per side = 2 × rounds.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long)]
        seed: Option<u64>,
        /// The smallest relative change of interest (the band never goes below it).
        #[arg(long, default_value_t = 0.01)]
        noise_floor: f64,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        #[arg(long, default_value = "bench-data/manifest.toml")]
        manifest: PathBuf,
    },
    /// How well `check` and `ab` work here: resamples recorded runs of one target (e.g. 40 runs
    /// of auto) into A/A comparisons and ones with a 5 % and a 10 % slowdown injected.
    GatePower {
        /// A results.json holding many valid runs of the target on the sample.
        results: PathBuf,
        #[arg(long, default_value = "auto")]
        target: String,
        #[arg(long, default_value = "bbb-720p-60s")]
        sample: String,
        /// Runs per side of each simulated comparison.
        #[arg(long, default_value_t = 10)]
        n: usize,
        #[arg(long, default_value_t = 2000)]
        trials: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 0.01)]
        noise_floor: f64,
    },
    /// Check the sub-one-minute target for the engine's best strategy on this machine.
    #[command(after_help = EXIT_CODES)]
    Validate {
        #[arg(long, default_value_t = 60.0)]
        target_seconds: f64,
        #[arg(long, default_value = "bbb-720p-10m")]
        sample: String,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// The engine strategy to validate.
        #[arg(long, default_value = "auto")]
        strategy: String,
        /// Validate the engine with `--reuse-overlaps` (each moment encoded once).
        #[arg(long)]
        reuse_overlaps: bool,
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        #[arg(long, default_value = "bench-data/manifest.toml")]
        manifest: PathBuf,
    },
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

#[derive(clap::Args)]
struct RunArgs {
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
    /// Measured runs per (target, sample).
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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ))
        .init();
    let result = match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Report { dir } => report(&dir),
        Command::Check {
            baseline,
            current,
            noise_floor,
            force,
            calibration,
        } => check_cmd(&baseline, &current, noise_floor, force, &calibration),
        Command::Calibrate {
            target,
            sample,
            runs,
            block,
            out,
            manifest,
        } => calibrate(&target, &sample, runs, block, out, manifest),
        Command::Ab {
            base,
            candidate,
            targets,
            samples,
            rounds,
            seed,
            noise_floor,
            config,
            out,
            manifest,
        } => (|| {
            let config = load_config(config.as_deref())?;
            let engine_targets = targets
                .iter()
                .map(|spec| resolve_target(spec, &config))
                .collect::<anyhow::Result<_>>()?;
            let request = ab::Request {
                base,
                candidate,
                engine_targets,
                samples,
                rounds,
                seed: seed.unwrap_or_else(rand::random),
                floor: noise_floor,
                reports_root: out,
                manifest,
            };
            ab_cmd(&request)
        })(),
        Command::GatePower {
            results,
            target,
            sample,
            n,
            trials,
            seed,
            noise_floor,
        } => gate_power(&results, &target, &sample, n, (trials, seed, noise_floor)),
        Command::Validate {
            target_seconds,
            sample,
            runs,
            strategy,
            reuse_overlaps,
            out,
            manifest,
        } => validate(
            target_seconds,
            &sample,
            runs,
            (&strategy, reuse_overlaps),
            out,
            manifest,
        ),
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

/// Ctrl-C: the first cancels (the running run is dropped, finished ones reported), the second
/// exits at once (runs.csv already holds every finished run).
fn cancel_on_ctrl_c() -> anyhow::Result<(tokio::runtime::Runtime, CancelToken)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let cancel = CancelToken::new();
    let token = cancel.clone();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: stopping the current run, writing the report of finished runs (Ctrl-C again to exit at once)");
            token.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    Ok((runtime, cancel))
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(Some(p)),
        None if Path::new("clipbench.toml").exists() => {
            Config::load(Some(Path::new("clipbench.toml")))
        }
        None => Config::load(None),
    }
}

/// A target named on the command line: a spec, or a name from the configuration.
fn resolve_target(spec: &str, config: &Config) -> anyhow::Result<TargetConfig> {
    match TargetConfig::from_spec(spec).map_err(anyhow::Error::msg)? {
        Some(target) => Ok(target),
        None => config
            .targets
            .iter()
            .find(|t| t.name() == spec)
            .cloned()
            .with_context(|| format!("unknown target {spec:?}: name one from the configuration or write engine:STRATEGY, http:URL or http:PRESET")),
    }
}

/// `calibrate`: many runs of one target on one sample; the spread, the drift and what the
/// gate can detect, written to OUT/calibration.json for `check`.
fn calibrate(
    target: &str,
    sample: &str,
    runs: usize,
    block: usize,
    out: PathBuf,
    manifest: PathBuf,
) -> anyhow::Result<ExitCode> {
    let config = load_config(None)?;
    let mut plan = Plan::from_config(&config, out.clone(), manifest);
    plan.targets = vec![resolve_target(target, &config)?];
    plan.targets_on.clear();
    plan.samples = vec![sample.to_owned()];
    plan.runs = runs;
    plan.warmup = 1;
    plan.baseline = None;
    let (_runtime, cancel) = cancel_on_ctrl_c()?;
    let finished = runner::run(&plan, &cancel)?;
    let calibration = check::Calibration::of(&finished.results, target, sample, block)
        .with_context(|| {
            format!(
                "fewer than {} valid runs: see the report's problems column",
                2 * block
            )
        })?;
    export::write_atomic(
        &out.join("calibration.json"),
        serde_json::to_string_pretty(&calibration)?.as_bytes(),
    )?;
    let n = 10usize;
    let spread = calibration.spread;
    let unpaired_se =
        |n: usize| (2.0 * spread * spread / n as f64 + 2.0 * calibration.drift.powi(2)).sqrt();
    println!(
        "{target} on {sample}: {} runs, run-to-run spread {:.1}%, drift between sessions {:.1}%",
        calibration.runs,
        100.0 * spread,
        100.0 * calibration.drift
    );
    println!(
        "check at {n} runs per side detects {:.1}% (drift included); ab at {n} runs per side about {:.1}% (drift cancels)",
        100.0 * gate::detectable(unpaired_se(n), 2.0 * n as f64 - 2.0),
        100.0 * gate::detectable(spread / (n as f64 / 2.0).sqrt(), n as f64 / 2.0 - 1.0),
    );
    println!("calibration: {}", out.join("calibration.json").display());
    Ok(ExitCode::SUCCESS)
}

/// `gate-power`: the verdict rates of `check` and `ab` on resampled real runs.
fn gate_power(
    path: &Path,
    target: &str,
    sample: &str,
    n: usize,
    (trials, seed, floor): (usize, u64, f64),
) -> anyhow::Result<ExitCode> {
    let results = read_results(path)?;
    let mut runs: Vec<&clipbench::record::RunRecord> =
        clipbench::summary::valid_walls(&results.runs, target, sample).collect();
    runs.sort_by_key(|r| r.order);
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
    anyhow::ensure!(
        walls.len() >= 4 * n,
        "{} holds {} valid runs of {target} on {sample}: record at least {} (clipbench run --targets {target} --samples {sample} --runs {})",
        path.display(),
        walls.len(),
        4 * n,
        4 * n
    );
    let drift = gate::drift(&walls, n);
    let mut rows = Vec::new();
    for injected in [0.0, 0.05, 0.10] {
        rows.extend(power::check_power(
            &walls,
            n,
            injected,
            trials,
            seed,
            (floor, 0.0),
        ));
        rows.extend(power::check_power(
            &walls,
            n,
            injected,
            trials,
            seed,
            (floor, drift),
        ));
        rows.extend(power::ab_power(&walls, n, injected, trials, seed, floor));
    }
    let spread = clipbench::stats::std_dev(&walls.iter().map(|w| w.ln()).collect::<Vec<_>>());
    println!(
        "{} valid runs of {target} on {sample}, run-to-run spread {:.1}%, drift between blocks of {n} runs {:.1}%, {n} runs per side:",
        walls.len(),
        100.0 * spread,
        100.0 * drift
    );
    print!("{}", power::table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// `ab`: both sides built and run side by side; exit 1 on a regression.
fn ab_cmd(request: &ab::Request) -> anyhow::Result<ExitCode> {
    let (_runtime, cancel) = cancel_on_ctrl_c()?;
    let outcome = ab::run(request, &cancel, &|line| eprintln!("{line}"))?;
    let mut regressed = 0;
    for v in &outcome.verdicts {
        let line = match &v.change {
            Some(change) => {
                regressed += usize::from(change.verdict == check::Verdict::Regressed);
                format!("{:?}: {}", change.verdict, gate::describe(change))
            }
            None => "not judged: fewer than two rounds with every run valid".into(),
        };
        println!(
            "{} vs {} on {} ({} rounds): {line}",
            v.candidate, v.base, v.sample, v.rounds
        );
    }
    println!("report: {}", outcome.dir.join("index.html").display());
    Ok(if outcome.results.interrupted {
        ExitCode::from(130)
    } else if regressed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn plan_from(args: &RunArgs) -> anyhow::Result<Plan> {
    let config = load_config(args.config.as_deref())?;
    let mut plan = Plan::from_config(&config, args.out.clone(), args.manifest.clone());
    if !args.targets.is_empty() {
        plan.targets = args
            .targets
            .iter()
            .map(|spec| resolve_target(spec, &config))
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
    }
    plan.warmup = args.warmup.unwrap_or(plan.warmup);
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
    plan.quiet = args.quiet || args.json;
    anyhow::ensure!(!plan.targets.is_empty(), "no target to run");
    Ok(plan)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = plan_from(&args)?;
    let (_runtime, cancel) = cancel_on_ctrl_c()?;
    let finished = runner::run(&plan, &cancel)?;
    let results = &finished.results;
    if args.json {
        println!("{}", serde_json::to_string_pretty(results)?);
    } else if !args.quiet {
        println!("{}", export::markdown::table(&results.summaries));
        print!("{}", export::markdown::relative_lines(results));
        print!("{}", export::markdown::headline(results));
        println!("report: {}", finished.dir.join("index.html").display());
    }
    Ok(if results.interrupted {
        ExitCode::from(130)
    } else if results.runs.iter().any(|r| r.status != RunStatus::Ok) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_results(path: &Path) -> anyhow::Result<Results> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let version = value["schema_version"].as_u64();
    anyhow::ensure!(
        version == Some(u64::from(clipbench::record::RESULTS_SCHEMA_VERSION)),
        "{} has schema_version {version:?}; this clipbench reads {}",
        path.display(),
        clipbench::record::RESULTS_SCHEMA_VERSION
    );
    serde_json::from_value(value)
        .with_context(|| format!("{} does not match the results layout", path.display()))
}

fn report(dir: &Path) -> anyhow::Result<ExitCode> {
    let results = read_results(&dir.join("results.json"))?;
    export::write_all(&results, dir)?;
    println!("report: {}", dir.join("index.html").display());
    Ok(ExitCode::SUCCESS)
}

fn check_cmd(
    baseline: &Path,
    current: &Path,
    noise_floor: f64,
    force: bool,
    calibration: &Path,
) -> anyhow::Result<ExitCode> {
    let old = read_results(baseline)?;
    let new = read_results(current)?;
    if !old.machine.same_hardware(&new.machine) {
        let message = format!(
            "the results come from different machines:\n  baseline: {}\n  current:  {}",
            old.machine.describe(),
            new.machine.describe()
        );
        if !force {
            anyhow::bail!("{message} (use --force to compare anyway)");
        }
        eprintln!("warning: {message}");
    }
    let drift = match std::fs::read_to_string(calibration)
        .ok()
        .and_then(|text| serde_json::from_str::<check::Calibration>(&text).ok())
    {
        Some(c) if c.machine.same_hardware(&new.machine) => {
            println!(
                "drift between sessions {:.1}% (calibrated {} on {}, {})",
                100.0 * c.drift,
                c.target,
                c.sample,
                c.created_at
            );
            c.drift
        }
        _ => {
            eprintln!(
                "warning: no calibration of this machine at {}: verdicts ignore the drift between sessions (run clipbench calibrate, or compare side by side with clipbench ab)",
                calibration.display()
            );
            0.0
        }
    };
    let comparisons = check::compare(&old, &new, noise_floor, drift);
    anyhow::ensure!(
        !comparisons.is_empty(),
        "no (target, sample) has two or more valid runs in both results"
    );
    print!("{}", check::table(&comparisons));
    let regressed = comparisons
        .iter()
        .filter(|c| c.verdict() == check::Verdict::Regressed)
        .count();
    if regressed > 0 {
        println!("{regressed} regression(s): slower beyond doubt and not within the noise band");
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn validate(
    target_s: f64,
    sample: &str,
    runs: usize,
    (strategy, reuse): (&str, bool),
    out: PathBuf,
    manifest: PathBuf,
) -> anyhow::Result<ExitCode> {
    let mut target = TargetConfig::from_spec(&format!("engine:{strategy}"))
        .map_err(anyhow::Error::msg)?
        .context("bad strategy")?;
    if let TargetConfig::Engine {
        name,
        reuse_overlaps,
        ..
    } = &mut target
    {
        *reuse_overlaps = reuse;
        if reuse {
            name.push_str("+reuse-overlaps");
        }
    }
    let name = target.name().to_owned();
    let mut plan = Plan::from_config(&Config::load(None)?, out, manifest);
    plan.targets = vec![target.clone()];
    plan.targets_on.clear();
    plan.samples = vec![sample.to_owned()];
    plan.runs = runs.max(1);
    plan.warmup = 0;
    plan.baseline = None;
    let (_runtime, cancel) = cancel_on_ctrl_c()?;
    let finished = runner::run(&plan, &cancel)?;
    if finished.results.interrupted {
        return Ok(ExitCode::from(130));
    }
    // How one ffmpeg speeds up with a second thread, for the projection past the clip count.
    let speedup = match (&target, finished.results.machine.logical_cpus) {
        (_, 0 | 1) => Some(1.0),
        (
            TargetConfig::Engine {
                profile, policy, ..
            },
            _,
        ) => {
            let input = Path::new(&plan.manifest)
                .parent()
                .unwrap_or(Path::new("."))
                .join(format!("{sample}.mp4"));
            let setup = clipbench::targets::EngineSetup {
                strategy: clipbench_engine::Strategy::Fixed(1),
                profile: *profile,
                policy: *policy,
                threads: None,
                reuse_overlaps: false,
            };
            match clipbench::targets::two_thread_speedup(setup, &input, &Tools::from_env()) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("warning: cannot measure the 2-thread speed-up ({e}): no projection");
                    None
                }
            }
        }
        _ => None,
    };
    let verdict = target_validation::judge(&finished.results, &name, sample, target_s, speedup)
        .context("no valid run to judge: see the report's problems column")?;
    if let Some(s) = speedup {
        println!(
            "one ffmpeg on 2 threads: {s:.2}x its 1-thread speed (measured on the first clip)"
        );
    }
    print!("{}", target_validation::describe(&verdict, sample));
    println!("report: {}", finished.dir.join("index.html").display());
    Ok(if verdict.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn bench_data(manifest_path: &Path, only: &[String], list: bool) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(manifest_path)?;
    let dir = manifest_path.parent().unwrap_or(Path::new(".")).to_owned();
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
