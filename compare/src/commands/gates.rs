//! The regression gates: `check` (a run against a saved baseline), `calibrate` (this machine's
//! noise, for `check`), `ab` (two builds or servers side by side) and `gate-power` (how well
//! the first and the third detect a change here).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clipbench::baseline::{self, Calibration, Verdict};
use clipbench::config::Config;
use clipbench::gate::power;
use clipbench::record::{Results, RunRecord};
use clipbench::runner::{self, Plan};
use clipbench::{ab, gate};

#[derive(clap::Args)]
pub struct CheckArgs {
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
}

#[derive(clap::Args)]
pub struct CalibrateArgs {
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
}

#[derive(clap::Args)]
pub struct AbArgs {
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
    /// With --resolve: the rounds of the first look.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Keep adding rounds (5 at a time) until every pair can tell a change of this size
    /// (5%): regressed, improved, or ruled out; a sequential test, its false-alarm rate
    /// spent over the looks (O'Brien–Fleming).
    #[arg(long, value_parser = super::history::parse_share)]
    resolve: Option<f64>,
    /// With --resolve: the most runs per side to spend.
    #[arg(long, default_value_t = 40, requires = "resolve")]
    budget: usize,
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
    /// For a CI job: write the verdict as Markdown (`ab-verdict.md` in the report folder) and
    /// append it to `$GITHUB_STEP_SUMMARY` when that is set; the exit code is as always (1 on
    /// a regression).
    #[arg(long)]
    ci: bool,
    #[command(flatten)]
    history: super::history::HistoryArgs,
}

#[derive(clap::Args)]
pub struct GatePowerArgs {
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
    /// The most runs per side `ab --resolve 5%` may spend in the simulated comparisons.
    #[arg(long, default_value_t = 40)]
    budget: usize,
}

/// `check`: exit 1 on a regression.
pub fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let old = Results::read(&args.baseline)?;
    let new = Results::read(&args.current)?;
    if !old.machine.same_hardware(&new.machine) {
        let message = format!(
            "the results come from different machines:\n  baseline: {}\n  current:  {}",
            old.machine.describe(),
            new.machine.describe()
        );
        if !args.force {
            anyhow::bail!("{message} (use --force to compare anyway)");
        }
        eprintln!("warning: {message}");
    }
    for sample in new.samples.iter().filter(|s| old.samples.contains(s)) {
        let (was, is) = (old.sample_version(sample), new.sample_version(sample));
        if was != is {
            let message = format!(
                "{sample} is version {is} of the sample in the current results and version {was} \
                 in the baseline: its bytes differ, so its times do not compare; measure a new \
                 baseline"
            );
            if !args.force {
                anyhow::bail!("{message} (use --force to compare anyway)");
            }
            eprintln!("warning: {message}");
        }
    }
    let drift = calibrated_drift(&args.calibration, &new);
    let comparisons = baseline::compare(&old, &new, args.noise_floor, drift);
    anyhow::ensure!(
        !comparisons.is_empty(),
        "no (target, sample) has two or more valid runs in both results"
    );
    print!("{}", baseline::table(&comparisons));
    let regressed = comparisons
        .iter()
        .filter(|c| c.verdict() == Verdict::Regressed)
        .count();
    if regressed > 0 {
        println!("{regressed} regression(s): slower beyond doubt and not within the noise band");
    }
    Ok(super::exit_code(false, regressed > 0))
}

/// The drift between sessions from this machine's calibration, or 0 with a warning.
fn calibrated_drift(path: &Path, results: &Results) -> f64 {
    let calibration = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Calibration>(&text).ok());
    match calibration {
        Some(c) if c.machine.same_hardware(&results.machine) => {
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
                path.display()
            );
            0.0
        }
    }
}

/// `calibrate`: many runs of one target on one sample; the spread, the drift and what the
/// gate can detect, written to OUT/calibration.json for `check`.
pub fn calibrate(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let (target, sample, block) = (&args.target, &args.sample, args.block);
    let config = Config::load_chosen(None)?;
    let mut plan = Plan::from_config(&config, args.out.clone(), args.manifest);
    plan.targets = vec![config.target(target)?];
    plan.targets_on.clear();
    plan.samples = vec![sample.to_owned()];
    plan.runs = args.runs;
    plan.warmup = 1;
    // A fixed count: these measure spread and intervals, not a comparison's answer.
    plan.stop = None;
    plan.baseline = None;
    let (_runtime, cancel) = super::interruptible()?;
    let terminal = super::bars::Terminal::new(false);
    let finished = runner::run(&plan, &cancel, &|p| terminal.observe(p))?;
    let calibration =
        Calibration::of(&finished.results, target, sample, block).with_context(|| {
            format!(
                "fewer than {} valid runs: see the report's problems column",
                2 * block
            )
        })?;
    let path = args.out.join("calibration.json");
    clipbench_engine::files::write_json_atomic(&path, &calibration)?;
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
    println!("calibration: {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// `ab`: both sides built and run side by side; exit 1 on a regression.
pub fn ab(args: AbArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load_chosen(args.config.as_deref())?;
    let engine_targets = args
        .targets
        .iter()
        .map(|spec| config.target(spec))
        .collect::<anyhow::Result<_>>()?;
    let request = ab::Request {
        base: args.base,
        candidate: args.candidate,
        engine_targets,
        samples: args.samples,
        rounds: args.rounds,
        resolve: args.resolve.map(|r| (r, args.budget)),
        seed: args.seed.unwrap_or_else(rand::random),
        floor: args.noise_floor,
        reports_root: args.out.clone(),
        manifest: args.manifest,
    };
    let (_runtime, cancel) = super::interruptible()?;
    let terminal = super::bars::Terminal::new(false);
    let outcome = ab::run(&request, &cancel, &|p| terminal.observe(p))?;
    let mut regressed = 0;
    for v in &outcome.verdicts {
        regressed += usize::from(v.verdict() == Verdict::Regressed);
        println!(
            "{} vs {} on {} ({} rounds): {:?}",
            v.candidate,
            v.base,
            v.sample,
            v.rounds,
            v.verdict()
        );
        match &v.change {
            Some(change) => println!("  wall {:?}: {}", change.verdict, gate::describe(change)),
            None => println!("  wall: not judged, fewer than two rounds with every run valid"),
        }
        if let Some(change) = &v.cpu_change {
            println!("  W    {:?}: {}", change.verdict, gate::describe(change));
        }
    }
    let page = outcome.dir.join("index.html");
    println!("report: {}", page.display());
    if args.ci {
        write_ci_verdict(&outcome.verdicts, &outcome.dir, &page)?;
    }
    let identify = ab::identify(&outcome.results, &outcome.sides);
    let source = outcome.dir.display().to_string();
    let session = clipbench::history::session("ab", &outcome.results, &source, identify);
    let news = args
        .history
        .record(&args.out, &session, &outcome.results, &outcome.dir)?;
    for line in news {
        println!("history: {line}");
    }
    Ok(super::exit_code(outcome.results.interrupted, regressed > 0))
}

/// `ab --ci`: the Markdown verdict beside the report, and on GitHub in the job's summary.
fn write_ci_verdict(verdicts: &[ab::PairVerdict], dir: &Path, page: &Path) -> anyhow::Result<()> {
    let markdown = ab::ci_markdown(verdicts, &page.display().to_string());
    let file = dir.join("ab-verdict.md");
    clipbench_engine::files::write_atomic(&file, markdown.as_bytes())?;
    println!("verdict: {}", file.display());
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        use std::io::Write;
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| format!("cannot append to $GITHUB_STEP_SUMMARY ({summary:?})"))?;
        out.write_all(markdown.as_bytes())?;
    }
    Ok(())
}

/// `gate-power`: the verdict rates of `check` and `ab` on resampled real runs.
pub fn gate_power(args: &GatePowerArgs) -> anyhow::Result<ExitCode> {
    let (target, sample, n) = (&args.target, &args.sample, args.n);
    let results = Results::read(&args.results)?;
    let mut runs: Vec<&RunRecord> =
        clipbench::summary::valid_walls(&results.runs, target, sample).collect();
    runs.sort_by_key(|r| r.order);
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
    let with_cpu: Vec<(f64, Option<f64>)> = runs.iter().map(|r| (r.wall_s, r.work_cpu_s)).collect();
    anyhow::ensure!(
        walls.len() >= 4 * n,
        "{} holds {} valid runs of {target} on {sample}: record at least {} (clipbench run --targets {target} --samples {sample} --runs {})",
        args.results.display(),
        walls.len(),
        4 * n,
        4 * n
    );
    let drift = gate::drift(&walls, n);
    let (trials, seed, floor) = (args.trials, args.seed, args.noise_floor);
    let mut rows = Vec::new();
    for injected in [0.0, 0.05, 0.10] {
        for check_drift in [0.0, drift] {
            let band = (floor, check_drift);
            rows.extend(power::check_power(&walls, n, injected, trials, seed, band));
        }
        rows.extend(power::ab_power(
            &with_cpu, n, injected, trials, seed, floor, None,
        ));
        let resolve = Some((0.05, args.budget));
        rows.extend(power::ab_power(
            &with_cpu, n, injected, trials, seed, floor, resolve,
        ));
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
