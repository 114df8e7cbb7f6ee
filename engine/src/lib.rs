//! # clipbench-engine
//!
//! Turns one long video into overlapping short clips as fast as the machine allows:
//! [`probe`](probe::probe) → [`plan`](plan::plan) → [`allocate`](allocate::allocate) →
//! [`execute`](execute::execute) (parallel ffmpeg children) → [`validate`] → [`report`].
//!
//! The plan, the allocation, the ffmpeg argument vector and the metrics are pure functions.
//! The library never prints and never exits on its own: it returns typed results
//! ([`EngineError`]) and emits [`Event`]s; the binaries own the terminal (and install the shared
//! Ctrl-C escalation, [`cancel::escalate_ctrl_c`], with their own words and exit). No HTTP,
//! queue or store: URLs are `clipbench-fetch`'s, the server `clipbench-server`'s. What one job
//! may cost is a [`budget`] a server sets.
//!
//! ```no_run
//! use clipbench_engine::{run, CancelToken, RunOptions};
//! let options = RunOptions::new("out");
//! let report = run(std::path::Path::new("video.mp4"), &options, &CancelToken::new(), &|_| {})?;
//! println!("{} clips in {:.1} s", report.metrics.clips_done, report.metrics.wall_s);
//! # Ok::<(), clipbench_engine::EngineError>(())
//! ```

pub mod adapt;
pub mod allocate;
pub mod arrival;
pub mod budget;
pub mod cancel;
pub mod chunks;
pub mod encode;
pub mod error;
pub mod execute;
pub mod extras;
pub mod files;
pub mod index;
pub mod ledger;
pub mod memory;
pub mod monitor;
pub mod mp4box;
pub mod mp4join;
pub mod plan;
pub mod probe;
pub mod quality;
pub mod report;
pub mod run;
pub mod schedule;
pub mod smart;
pub mod task;
pub mod tools;
pub mod validate;

pub use allocate::{allocate, Allocation, Strategy, SystemSnapshot, ThreadSetting};
pub use cancel::CancelToken;
pub use encode::Profile;
pub use error::{EngineError, Result};
pub use execute::{ClipOutcome, ClipStatus, Event, TimedEvent};
pub use plan::{plan, Clip, PlanOptions, Policy, Priority};
pub use probe::{probe, MediaInfo};
pub use report::{Metrics, RunReport, Startup};
pub use run::{run, run_arriving, RunOptions, Setup};
pub use tools::Tools;

/// The commit this engine was built from (`-dirty` when tracked files differed), embedded at
/// build time.
pub const BUILD_COMMIT: &str = env!("CLIPBENCH_BUILD_COMMIT");

/// The engine's version and build commit, e.g. `0.1.0 (93d1dd0292)`.
pub const BUILD: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CLIPBENCH_BUILD_COMMIT"),
    ")"
);
