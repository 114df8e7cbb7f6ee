//! `validate`: does the engine's best strategy (with the profile a user deploys) meet the
//! sub-one-minute target here, and if not, what limits it (projected from measured runs)?

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clipbench::config::{Config, TargetConfig};
use clipbench::runner::{self, Plan};
use clipbench::target_validation;
use clipbench::targets::{two_thread_speedup, EngineSetup};
use clipbench_engine::{Strategy, Tools};

#[derive(clap::Args)]
pub struct ValidateArgs {
    #[arg(long, default_value_t = 60.0)]
    target_seconds: f64,
    #[arg(long, default_value = "bbb-720p-10m")]
    sample: String,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The engine strategy to validate.
    #[arg(long, default_value = "auto")]
    strategy: String,
    /// The profile to validate, the one you deploy (`optimized`, `fast`, `copy`, `smart`…;
    /// default: the engine's).
    #[arg(long)]
    profile: Option<String>,
    /// Validate the engine with `--reuse-overlaps` (each moment encoded once).
    #[arg(long)]
    reuse_overlaps: bool,
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[arg(long, default_value = "bench-data/manifest.toml")]
    manifest: PathBuf,
    #[command(flatten)]
    history: super::history::HistoryArgs,
}

/// The engine target `validate` measures: `strategy` with `profile` (named `STRATEGY@PROFILE`).
fn engine_target(
    strategy: &str,
    profile: Option<&str>,
    reuse: bool,
) -> anyhow::Result<TargetConfig> {
    let spec = match profile {
        Some(profile) => format!("engine:{strategy}@{profile}"),
        None => format!("engine:{strategy}"),
    };
    let mut target = TargetConfig::from_spec(&spec)
        .map_err(anyhow::Error::msg)?
        .context("bad strategy")?;
    if let TargetConfig::Engine { name, setup, .. } = &mut target {
        setup.reuse_overlaps = reuse;
        if reuse {
            name.push_str("+reuse-overlaps");
        }
    }
    Ok(target)
}

/// `validate`: exit 1 when the target is missed.
pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let target = engine_target(&args.strategy, args.profile.as_deref(), args.reuse_overlaps)?;
    let (name, sample) = (target.name().to_owned(), args.sample.as_str());
    let mut plan = Plan::from_config(&Config::load(None)?, args.out.clone(), args.manifest);
    plan.targets = vec![target.clone()];
    plan.targets_on.clear();
    plan.samples = vec![sample.to_owned()];
    plan.runs = args.runs.max(1);
    plan.warmup = 0;
    // A fixed count: these measure spread and intervals, not a comparison's answer.
    plan.stop = None;
    plan.baseline = None;
    let (_runtime, cancel) = super::interruptible()?;
    let terminal = super::bars::Terminal::new(false);
    let finished = runner::run(&plan, &cancel, &|p| terminal.observe(p))?;
    let results = &finished.results;
    let source = finished.dir.display().to_string();
    let identify = clipbench::history::identify_by_build(results);
    let session = clipbench::history::session("validate", results, &source, identify);
    for line in args
        .history
        .record(&args.out, &session, results, &finished.dir)?
    {
        println!("history: {line}");
    }
    if finished.results.interrupted {
        return Ok(super::exit_code(true, false));
    }
    let input = plan
        .manifest
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{sample}.mp4"));
    let speedup = match finished.results.machine.logical_cpus {
        0 | 1 => Some(1.0),
        _ => measured_speedup(&target, &input),
    };
    let verdict = target_validation::judge(
        &finished.results,
        &name,
        sample,
        args.target_seconds,
        speedup,
    )
    .context("no valid run to judge: see the report's problems column")?;
    if let Some(s) = speedup {
        println!(
            "one ffmpeg on 2 threads: {s:.2}x its 1-thread speed (measured on the first clip)"
        );
    }
    print!("{}", target_validation::describe(&verdict, sample));
    println!("report: {}", finished.dir.join("index.html").display());
    Ok(super::exit_code(false, !verdict.pass))
}

/// How one ffmpeg of `target`'s profile speeds up with a second thread, for the projection past
/// the clip count (`None`, with a warning, when it cannot be measured).
fn measured_speedup(target: &TargetConfig, input: &Path) -> Option<f64> {
    let TargetConfig::Engine { setup, .. } = target else {
        return None;
    };
    let setup = EngineSetup {
        strategy: Strategy::Fixed(1),
        threads: None,
        reuse_overlaps: false,
        ..*setup
    };
    two_thread_speedup(setup, input, &Tools::from_env())
        .inspect_err(|e| {
            eprintln!("warning: cannot measure the 2-thread speed-up ({e}): no projection")
        })
        .ok()
}
