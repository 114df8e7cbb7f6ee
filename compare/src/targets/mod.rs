//! Targets: how to run one job. Each kind has a `check` (is it there?) and a `run` (one job,
//! measured); a checked target is a [`Target`], which the runner measures under the sampler
//! and turns into a record (and tests replace with a fake).

mod command;
mod download;
mod engine;
mod http;

use std::path::Path;
use std::time::Duration;

use clipbench_engine::{CancelToken, MediaInfo, Tools};

use crate::config::TargetConfig;
use crate::dialect::ResolvedDialect;
use crate::record::JobShape;
pub use clipbench_engine::run::Setup as EngineSetup;
pub use engine::two_thread_speedup;
pub use http::describe;

/// One job for a target.
pub struct Job<'a> {
    pub sample: &'a str,
    pub input: &'a Path,
    /// The sample's URL on the harness's file server (for HTTP targets).
    pub url: Option<&'a str>,
    /// Over a shaped link: engine targets get `url` (cutting while it downloads), command
    /// targets download it first, and that counts.
    pub over_link: bool,
    pub media: &'a MediaInfo,
    /// An empty folder for this run's outputs; removed after the run.
    pub scratch: &'a Path,
    pub poll_interval: Duration,
    pub cancel: &'a CancelToken,
    pub runtime: &'a tokio::runtime::Runtime,
    pub tools: &'a Tools,
}

/// What a target reported about one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub wall_s: f64,
    pub download_s: Option<f64>,
    pub analysis_s: Option<f64>,
    pub encode_s: Option<f64>,
    pub time_to_first_clip_s: Option<f64>,
    pub clips: usize,
    pub clips_valid: usize,
    pub output_bytes: u64,
    pub work_cpu_s: Option<f64>,
    pub workers: Option<usize>,
    /// Where the figures not measured directly came from.
    pub sources: Sources,
    /// An engine run's start-up, tasks and encoder memory (`run` is filled in by the runner).
    pub shape: Option<JobShape>,
    /// Invalid clips and other problems; non-empty makes the run invalid.
    pub problems: Vec<String>,
    /// The target failed as a whole (error answer, crash, timeout, interrupted).
    pub failed: bool,
}

/// Where a run's derived figures came from (`None`: measured directly, or not reported).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    pub phases: Option<String>,
    pub time_to_first_clip: Option<String>,
    pub workers: Option<String>,
}

impl Measured {
    /// A failed run.
    pub fn failure(wall_s: f64, reason: impl Into<String>) -> Self {
        Measured {
            wall_s,
            problems: vec![reason.into()],
            failed: true,
            ..Default::default()
        }
    }
}

/// A target that passed its check, with what the check found out (an HTTP target's dialect).
#[derive(Debug, Clone)]
pub struct Ready {
    pub target: TargetConfig,
    pub dialect: Option<ResolvedDialect>,
}

/// Checks that a target can run; the error is the reason it is skipped.
pub fn check(
    target: &TargetConfig,
    runtime: &tokio::runtime::Runtime,
    tools: &Tools,
) -> Result<Ready, String> {
    let dialect = match target {
        TargetConfig::Engine { .. } => engine::check(tools).map(|()| None),
        TargetConfig::Http { dialect, .. } => runtime.block_on(http::check(dialect)).map(Some),
        TargetConfig::Command { command, shell, .. } => {
            command::check(command, *shell).map(|()| None)
        }
    }?;
    Ok(Ready {
        target: target.clone(),
        dialect,
    })
}

/// What the runner measures: a target that passed its check.
pub trait Target: Sync {
    /// The target as configured (its name, kind and sweep).
    fn config(&self) -> &TargetConfig;
    /// Runs one job, measured.
    fn run(&self, job: &Job) -> Measured;
}

impl Target for Ready {
    fn config(&self) -> &TargetConfig {
        &self.target
    }

    fn run(&self, job: &Job) -> Measured {
        run(self, job)
    }
}

/// Runs one job; over a shaped link an engine target gets the sample by URL as the engine's
/// `run URL` does (cutting while it downloads), and a command target's sample (or an engine
/// target's with `download_first`) is first downloaded into its scratch folder, timed as its
/// download phase and counted in its wall time.
fn run(ready: &Ready, job: &Job) -> Measured {
    let over_link = job.url.filter(|_| job.over_link && ready.dialect.is_none());
    let Some(url) = over_link else {
        return run_here(ready, job);
    };
    if let TargetConfig::Engine {
        setup,
        download_first: false,
        ..
    } = &ready.target
    {
        return engine::run_from_url(*setup, job, url);
    }
    let began = std::time::Instant::now();
    let local = job.scratch.join(format!("download-{}", job.sample));
    if let Err(e) = job
        .runtime
        .block_on(download::fetch(url, &local, job.cancel))
    {
        return Measured::failure(began.elapsed().as_secs_f64(), e);
    }
    let download_s = began.elapsed().as_secs_f64();
    let mut measured = run_here(
        ready,
        &Job {
            input: &local,
            ..*job
        },
    );
    let _ = std::fs::remove_file(&local);
    measured.wall_s += download_s;
    measured.download_s = Some(download_s);
    measured.time_to_first_clip_s = measured.time_to_first_clip_s.map(|t| t + download_s);
    measured
}

/// Runs one job on the input as given.
fn run_here(ready: &Ready, job: &Job) -> Measured {
    let target = &ready.target;
    match target {
        TargetConfig::Engine { setup, .. } => engine::run(*setup, job),
        TargetConfig::Http { .. } => match &ready.dialect {
            Some(dialect) => job.runtime.block_on(http::run(dialect, job)),
            None => Measured::failure(0.0, "the HTTP target was not checked"),
        },
        TargetConfig::Command {
            command,
            shell,
            timeout_s,
            ..
        } => command::run(command, *shell, Duration::from_secs_f64(*timeout_s), job),
    }
}
