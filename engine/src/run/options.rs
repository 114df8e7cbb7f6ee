//! What a run is asked to do: [`Setup`] (the choices the CLI, the server, the harness and a
//! queued task all make, each declared once here with its default) inside [`RunOptions`]
//! (everything else, with the engine's defaults). The executor's own options start from
//! [`Setup::execute_options`], the one way from a setup to an executor, which `run` and a
//! queue worker both take.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::allocate::{Strategy, ThreadSetting};
use crate::budget::WorkBudget;
use crate::encode::Profile;
use crate::execute::ExecuteOptions;
use crate::memory::default_cache_dir;
use crate::plan::PlanOptions;
use crate::tools::Tools;

/// How the engine encodes: the choices every front end makes. Serialized flat (`strategy`,
/// `profile`, `policy`, `max_clips`, `high_priority_clips`, `threads`, `reuse_overlaps`), each
/// key optional with the default below.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Setup {
    pub strategy: Strategy,
    pub profile: Profile,
    /// How the video is cut into clips.
    #[serde(flatten)]
    pub plan: PlanOptions,
    /// Overrides the strategy's ffmpeg thread setting (e.g. `Fixed(1)` for a W_ref run).
    pub threads: Option<ThreadSetting>,
    /// Encode each moment once (disjoint chunks joined by stream copy). Re-encoding profiles
    /// only.
    pub reuse_overlaps: bool,
}

impl Default for Setup {
    /// `auto` strategy, `optimized` profile, the default plan (the optimized backend's), the
    /// strategy's threads, overlaps encoded twice (as the backends).
    fn default() -> Self {
        Setup {
            strategy: Strategy::Auto,
            profile: Profile::Optimized,
            plan: PlanOptions::default(),
            threads: None,
            reuse_overlaps: false,
        }
    }
}

impl Setup {
    /// The executor's options for this setup writing into `output_dir`: its profile, its
    /// overlaps, the tail boost when `auto` chooses the threads, the stall watchdog at
    /// [`DEFAULT_STALL_TIMEOUT`]; the caller then sets what it allocated (workers, threads)
    /// and its limits (timeout, retries, memory).
    pub fn execute_options(&self, output_dir: impl Into<PathBuf>, tools: Tools) -> ExecuteOptions {
        ExecuteOptions {
            profile: self.profile,
            reuse_overlaps: self.reuse_overlaps,
            tail_boost: self.strategy == Strategy::Auto && self.threads.is_none(),
            stall_timeout: Some(DEFAULT_STALL_TIMEOUT),
            ..ExecuteOptions::new(output_dir, tools)
        }
    }
}

/// The stall watchdog's default: an ffmpeg that reports no progress for this long is killed
/// (and retried).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything a run needs besides its input.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output_dir: PathBuf,
    /// The choices every front end makes.
    pub setup: Setup,
    /// Per-clip timeout; `None` picks [`default_timeout`].
    pub timeout: Option<Duration>,
    /// Kill (and retry) a clip whose ffmpeg reports no progress for this long.
    pub stall_timeout: Option<Duration>,
    pub retries: u32,
    /// Reuse the clips a previous run of the same input and settings validated (the ledger in
    /// the output folder); only missing or broken clips are encoded.
    pub resume: bool,
    /// Where measured encoder memory is remembered between runs (`None`: not remembered).
    pub memory_cache: Option<PathBuf>,
    /// How often the monitor samples CPU and memory.
    pub monitor_interval: Duration,
    pub tools: Tools,
    /// What the job may cost: the source's limits, checked as soon as its shape is known, and
    /// its deadline (`None`: unbounded, as on the command line).
    pub budget: Option<WorkBudget>,
    /// When the job began (a server's request, before its download), from which its deadline
    /// counts; `None`: when the run began.
    pub began: Option<std::time::Instant>,
}

impl RunOptions {
    /// The engine's defaults: the default [`Setup`], fixed 30/25 plan (last clip at least
    /// 15 s, as the optimized backend), one retry, a 60 s stall watchdog, the default memory
    /// cache, 10 Hz monitor, tools from the environment.
    pub fn new(output_dir: impl Into<PathBuf>) -> Self {
        Self::with_setup(output_dir, Setup::default())
    }

    /// The defaults of [`RunOptions::new`] with `setup`'s choices.
    pub fn with_setup(output_dir: impl Into<PathBuf>, setup: Setup) -> Self {
        RunOptions {
            output_dir: output_dir.into(),
            setup,
            timeout: None,
            stall_timeout: Some(DEFAULT_STALL_TIMEOUT),
            retries: 1,
            resume: false,
            memory_cache: default_cache_dir(),
            monitor_interval: Duration::from_millis(100),
            tools: Tools::from_env(),
            budget: None,
            began: None,
        }
    }
}

/// A generous per-clip timeout: 60 s plus 10 s per second of clip.
pub fn default_timeout(clip_seconds: f64) -> Duration {
    Duration::from_secs_f64(60.0 + 10.0 * clip_seconds.max(0.0))
}
