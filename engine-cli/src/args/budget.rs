//! What one job may cost: `serve`'s (and `worker`'s) limits on a source and the job deadline.

use std::time::Duration;

use clap::Args;
use clipbench_engine::budget::{Deadline, WorkBudget};

/// The limits a source is checked against before any work ([`WorkBudget`]).
#[derive(Args, Clone)]
pub struct BudgetArgs {
    /// Largest source frame, WIDTHxHEIGHT: a frame of any aspect with more pixels is refused.
    #[arg(long, default_value = "3840x2160", value_parser = parse_frame_size, value_name = "WxH")]
    pub max_frame_size: u64,
    /// Highest source frame rate.
    #[arg(long, default_value_t = 120.0, value_name = "FPS")]
    pub max_fps: f64,
    /// Longest source (the backends' 100 clips of 30 s).
    #[arg(long, default_value = "50m", value_parser = humantime::parse_duration)]
    pub max_duration: Duration,
}

impl BudgetArgs {
    /// The budget, with `deadline`.
    pub fn budget(&self, deadline: Deadline) -> WorkBudget {
        WorkBudget {
            max_pixels: self.max_frame_size,
            max_fps: self.max_fps,
            max_duration_s: self.max_duration.as_secs_f64(),
            deadline,
        }
    }
}

/// `3840x2160` → its pixels.
fn parse_frame_size(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not WIDTHxHEIGHT (e.g. 3840x2160)");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u64, u64) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    match w * h {
        0 => Err(bad()),
        pixels => Ok(pixels),
    }
}

/// `auto` (2 s per second of source, at least 5 minutes) or a duration (`20m`).
pub fn parse_deadline(text: &str) -> Result<Deadline, String> {
    match text {
        "auto" => Ok(WorkBudget::default().deadline),
        _ => humantime::parse_duration(text)
            .map(Deadline::Fixed)
            .map_err(|e| format!("{text:?}: {e}: give `auto` or a duration such as 20m")),
    }
}
