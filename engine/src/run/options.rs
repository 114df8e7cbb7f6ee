//! What a run is asked to do: [`Setup`] (the choices the CLI, the server and the harness all
//! make) inside [`RunOptions`] (everything else, with the engine's defaults).

use std::path::PathBuf;
use std::time::Duration;

use crate::allocate::{Strategy, ThreadSetting};
use crate::encode::Profile;
use crate::memory::default_cache_dir;
use crate::plan::{PlanOptions, Policy};
use crate::tools::Tools;

/// How the engine encodes: the choices every front end makes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    pub strategy: Strategy,
    pub profile: Profile,
    pub policy: Policy,
    /// Overrides the strategy's ffmpeg thread setting (e.g. `Fixed(1)` for a W_ref run).
    pub threads: Option<ThreadSetting>,
    /// Encode each moment once (disjoint chunks joined by stream copy).
    pub reuse_overlaps: bool,
}

impl Default for Setup {
    /// `auto` strategy, `optimized` profile and policy, the strategy's threads, overlaps
    /// encoded twice (as the backends).
    fn default() -> Self {
        Setup {
            strategy: Strategy::Auto,
            profile: Profile::Optimized,
            policy: Policy::OPTIMIZED,
            threads: None,
            reuse_overlaps: false,
        }
    }
}

/// Everything a run needs besides its input.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output_dir: PathBuf,
    pub strategy: Strategy,
    pub profile: Profile,
    pub plan: PlanOptions,
    /// Overrides the strategy's ffmpeg thread setting (e.g. `Fixed(1)` for a W_ref run).
    pub threads: Option<ThreadSetting>,
    /// Per-clip timeout; `None` picks [`default_timeout`].
    pub timeout: Option<Duration>,
    /// Kill (and retry) a clip whose ffmpeg reports no progress for this long.
    pub stall_timeout: Option<Duration>,
    pub retries: u32,
    /// Reuse the clips a previous run of the same input and settings validated (the ledger in
    /// the output folder); only missing or broken clips are encoded.
    pub resume: bool,
    /// Encode each moment of the video once (disjoint chunks joined by stream copy) instead of
    /// encoding every overlap twice. Re-encoding profiles only.
    pub reuse_overlaps: bool,
    /// Where measured encoder memory is remembered between runs (`None`: not remembered).
    pub memory_cache: Option<PathBuf>,
    /// How often the monitor samples CPU and memory.
    pub monitor_interval: Duration,
    pub tools: Tools,
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
            strategy: setup.strategy,
            profile: setup.profile,
            plan: PlanOptions {
                policy: setup.policy,
                ..Default::default()
            },
            threads: setup.threads,
            timeout: None,
            stall_timeout: Some(Duration::from_secs(60)),
            retries: 1,
            resume: false,
            reuse_overlaps: setup.reuse_overlaps,
            memory_cache: default_cache_dir(),
            monitor_interval: Duration::from_millis(100),
            tools: Tools::from_env(),
        }
    }
}

/// A generous per-clip timeout: 60 s plus 10 s per second of clip.
pub fn default_timeout(clip_seconds: f64) -> Duration {
    Duration::from_secs_f64(60.0 + 10.0 * clip_seconds.max(0.0))
}
