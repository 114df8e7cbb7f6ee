//! What became of each clip (and each chunk) of an execution.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::allocate::ThreadSetting;
use crate::plan::Clip;
use crate::schedule::TaskKind;
use crate::validate::Validation;

/// Final state of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipStatus {
    Done,
    /// Written and validated by an earlier run (`--resume`), not encoded again.
    Resumed,
    Failed,
    Cancelled,
    NotStarted,
}

impl ClipStatus {
    /// Whether the clip is in the output folder and valid.
    pub fn is_written(self) -> bool {
        matches!(self, ClipStatus::Done | ClipStatus::Resumed)
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipFailure {
    /// One line: exit code, signal, timeout, or validation problem.
    pub reason: String,
    /// The last lines ffmpeg wrote to stderr.
    pub stderr_tail: String,
}

/// What happened to one planned clip (or, with `--reuse-overlaps`, one chunk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipOutcome {
    pub clip: Clip,
    /// What its ffmpeg did.
    #[serde(default)]
    pub kind: TaskKind,
    /// ffmpeg threads of its last attempt.
    #[serde(default)]
    pub threads: Option<ThreadSetting>,
    pub status: ClipStatus,
    /// Final path, when the clip was written.
    pub path: Option<PathBuf>,
    pub worker: Option<usize>,
    pub attempts: u32,
    /// Start of the first attempt.
    pub started_s: Option<f64>,
    pub finished_s: Option<f64>,
    /// Wall time of the last attempt.
    pub wall_s: f64,
    /// CPU time (user + system) of every attempt's ffmpeg, from `wait4`.
    pub cpu_s: f64,
    /// Largest resident memory of this clip's ffmpeg, from `wait4` (`ru_maxrss`).
    pub peak_rss_bytes: u64,
    pub bytes: u64,
    pub validation: Option<Validation>,
    pub failure: Option<ClipFailure>,
    /// Why this clip was re-encoded from the source: its fast path (stream copy, join of
    /// chunks) failed. Its attempts and CPU time include the failed ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl ClipOutcome {
    /// A clip that has not run (yet).
    pub fn pending(clip: Clip) -> Self {
        Self::pending_task(clip, TaskKind::Encode)
    }

    /// A task of `kind` over `clip` that has not run (yet).
    pub fn pending_task(clip: Clip, kind: TaskKind) -> Self {
        ClipOutcome {
            clip,
            kind,
            threads: None,
            status: ClipStatus::NotStarted,
            path: None,
            worker: None,
            attempts: 0,
            started_s: None,
            finished_s: None,
            wall_s: 0.0,
            cpu_s: 0.0,
            peak_rss_bytes: 0,
            bytes: 0,
            validation: None,
            failure: None,
            fallback: None,
        }
    }
}

/// The result of executing a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// One outcome per planned clip, in clip order.
    pub outcomes: Vec<ClipOutcome>,
    /// With `reuse_overlaps`: one outcome per encoded chunk, in time order (files removed once
    /// the clips are joined).
    pub chunks: Vec<ClipOutcome>,
    pub cancelled: bool,
    /// Seconds from the start of execution to the last task finished.
    pub wall_s: f64,
    /// Worker-seconds spent holding a task back because memory was short.
    pub memory_hold_s: f64,
}
