//! What the command line says: every command's arguments (clap), and the options they make.
//! A leaf: the commands read these, nothing here runs anything.

mod bench;
mod budget;
mod serve;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use clipbench_engine::{
    EngineError, PlanOptions, Policy, Profile, RunOptions, Setup, Strategy, ThreadSetting,
};

pub use bench::{BenchArgs, ExtraRow};
pub use budget::BudgetArgs;
pub use serve::ServeArgs;

#[derive(Parser)]
#[command(
    name = "clipbench-engine",
    version,
    about = "Cut a long video into overlapping short clips with parallel ffmpeg workers",
    after_help = "Exit codes: 0 all clips valid, 1 some clips failed, 2 bad input or set-up, 130 interrupted.\n\
                  Environment: CLIPBENCH_FFMPEG / CLIPBENCH_FFPROBE override the tool paths; RUST_LOG sets log detail."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as text (colours only on a terminal) or as JSON objects, one per line.
    #[arg(long, global = true, default_value = "text")]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show what the engine knows about a media file.
    Probe {
        file: PathBuf,
        /// Also list keyframe times (read from packet flags, no decoding).
        #[arg(long)]
        keyframes: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the clips a policy plans for a file.
    Plan {
        file: PathBuf,
        #[command(flatten)]
        plan: PlanArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Cut INPUT (a path or an http(s) URL) into clips in DIR.
    Run {
        input: String,
        /// Output folder (created if missing).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        #[command(flatten)]
        encode: EncodeArgs,
        #[command(flatten)]
        plan: PlanArgs,
        /// Write the run report as JSON to PATH.
        #[arg(long, value_name = "PATH")]
        json: Option<PathBuf>,
        /// Continue an interrupted run in DIR: clips the ledger lists as valid (and still valid)
        /// are kept, the rest are encoded.
        #[arg(long)]
        resume: bool,
    },
    /// Run several strategies on one file, plus a W_ref run, and print a comparison.
    Bench(bench::BenchArgs),
    /// Serve the existing backends' HTTP API (drop-in for the Python backend), safe to expose:
    /// see the README's "Deploying".
    Serve(Box<serve::ServeArgs>),
    /// Take clip tasks from a queue-backed server's queue and make them (any number of workers
    /// on any number of machines).
    Worker {
        /// The Redis queue, `redis://HOST:PORT`.
        #[arg(long, value_name = "URL")]
        queue: String,
        /// The store the server uses (`file:///abs/folder` or `s3://bucket/prefix`).
        #[arg(long, value_name = "URL")]
        store: String,
        /// Tasks run at once (default: one per logical CPU).
        #[arg(long)]
        slots: Option<usize>,
        /// ffmpeg threads per task.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Folder for the sources read from the store and the tasks' work (default: the
        /// system's temporary folder).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// The worker's name, unique in the queue (default: HOST-PID).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        heartbeat: HeartbeatArgs,
        /// A task whose source is over these is refused (each job's deadline comes with its
        /// tasks, from the server).
        #[command(flatten)]
        budget: BudgetArgs,
    },
}

/// How dead workers are noticed.
#[derive(Args, Clone)]
pub struct HeartbeatArgs {
    /// A worker's heartbeat; a worker that misses --missed-heartbeats of them is dead and its
    /// tasks are delivered again (the visibility timeout). An idle worker also looks for new
    /// tasks at each beat. Same values on server and workers.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub heartbeat: std::time::Duration,
    #[arg(long, default_value_t = 5)]
    pub missed_heartbeats: usize,
}

impl HeartbeatArgs {
    pub fn queue(&self, url: &str) -> clipbench_server::queue::QueueConfig {
        let mut config = clipbench_server::queue::QueueConfig::new(url);
        config.heartbeat = self.heartbeat;
        config.missed_heartbeats = self.missed_heartbeats;
        config
    }
}

/// Options shared by commands that plan.
#[derive(Args, Clone)]
pub struct PlanArgs {
    /// Clip policy: fixed (30 s every 25 s, last clip >= 25 s), fixed:MIN_LAST (e.g. fixed:15),
    /// fixed:MIN_LAST:LEN:STEP, or adaptive. Default: fixed:15 (the optimized backend's plan;
    /// `serve --compat original`: fixed, the original backend's).
    #[arg(long)]
    pub policy: Option<Policy>,
    /// Most clips to plan.
    #[arg(long, default_value_t = 100)]
    pub max_clips: usize,
    /// How many first clips are high priority.
    #[arg(long, default_value_t = 3)]
    pub priority_clips: usize,
}

impl PlanArgs {
    /// The plan options, with `default` as the policy when none was given.
    pub fn options(&self, default: Policy) -> PlanOptions {
        PlanOptions {
            policy: self.policy.unwrap_or(default),
            max_clips: self.max_clips,
            high_priority_clips: self.priority_clips,
        }
    }
}

/// Options shared by commands that encode.
#[derive(Args, Clone)]
pub struct EncodeArgs {
    /// Worker strategy: serial, fixed:N, cores, cores-minus-one, python-optimized, adaptive,
    /// ffmpeg-threads or auto.
    #[arg(long, default_value = "auto")]
    pub strategy: Strategy,
    /// Encoding profile: original, optimized, seed, copy or smart (exact cuts: only the frames
    /// before each clip's first keyframe and after its last are re-encoded).
    #[arg(long, default_value = "optimized")]
    pub profile: Profile,
    /// Override ffmpeg threads per worker: profile, auto or N.
    #[arg(long)]
    pub threads: Option<ThreadSetting>,
    /// Per-clip timeout in seconds (default: 60 + 10 × clip length).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Attempts after the first when a clip fails.
    #[arg(long, default_value_t = 1)]
    pub retries: u32,
    /// Kill and retry a clip whose ffmpeg reports no progress for this many seconds (0: off).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub stall_timeout: f64,
    /// Encode each moment once: disjoint chunks encoded in parallel, each clip joined from its
    /// chunks by stream copy with its audio encoded per clip (re-encoding profiles only).
    #[arg(long)]
    pub reuse_overlaps: bool,
}

impl EncodeArgs {
    /// Run options writing into `output` with these choices and the plan's.
    pub fn options(&self, output: PathBuf, plan: PlanOptions) -> Result<RunOptions, EngineError> {
        let setup = Setup {
            strategy: self.strategy,
            profile: self.profile,
            plan,
            threads: self.threads,
            reuse_overlaps: self.reuse_overlaps,
        };
        let mut options = RunOptions::with_setup(output, setup);
        options.retries = self.retries;
        options.stall_timeout =
            (self.stall_timeout > 0.0).then(|| Duration::from_secs_f64(self.stall_timeout));
        options.timeout = match self.timeout {
            Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => {
                return Err(EngineError::InvalidOption(format!(
                    "--timeout {t}: give a positive number of seconds"
                )))
            }
            None => None,
        };
        Ok(options)
    }
}
