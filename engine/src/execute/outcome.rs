//! What became of each clip (and each chunk) of an execution.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::allocate::ThreadSetting;
use crate::plan::Clip;
use crate::task::TaskKind;
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

/// What kind of failure ended an attempt (or a queued task).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// ffmpeg could not be started (or its arguments not made).
    SpawnFailed,
    /// ffmpeg exited with an error code.
    #[default]
    Exited,
    /// ffmpeg was killed by a signal it was not sent by us.
    Signaled,
    /// The watchdog killed ffmpeg: no progress for too long.
    Stalled,
    /// The attempt ran past its timeout and was killed.
    TimedOut,
    /// Cleanup, shutdown or Ctrl-C stopped it.
    Cancelled,
    /// What was written failed its checks (validation, lengths, piece count).
    InvalidOutput,
    /// A smart cut's pieces could not be joined.
    Join,
    /// A file could not be read, written or renamed.
    Io,
    /// A queued task could not run at all (source, store, or the task itself).
    Task,
    /// The source's download stopped before the bytes the task reads arrived.
    Download,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipFailure {
    /// What kind of failure (reports written before kinds existed read as `exited`).
    #[serde(default)]
    pub kind: FailureKind,
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

/// Why one attempt failed (its `Display` is the one-line reason reported, [`FailureKind`] its
/// kind).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttemptError {
    #[error("cannot start ffmpeg: {0}")]
    SpawnFailed(String),
    #[error("{} has a control character or is not UTF-8: ffmpeg's concat list cannot name it (choose another output folder)", .0.display())]
    ConcatListName(PathBuf),
    #[error("cannot write the concat list: {0}")]
    ConcatList(std::io::Error),
    #[error("the source cannot be smart-cut: {0}")]
    NoHeadEncoder(#[from] crate::smart::NoHeadEncoder),
    #[error("clip {0} has no smart-cut process")]
    NoSmartProcess(u32),
    #[error("ffmpeg exited with code {0}")]
    Exited(i32),
    #[error("ffmpeg killed by signal {0}")]
    Signaled(i32),
    #[error("ffmpeg made no progress for {:.1} s and was killed", .0.as_secs_f64())]
    Stalled(Duration),
    #[error("ffmpeg timed out after {:.1} s and was killed", .0.as_secs_f64())]
    TimedOut(Duration),
    #[error("cancelled")]
    Cancelled,
    #[error("the joined clip does not decode across its joins {0}")]
    JoinDecode(String),
    #[error("the source's download stopped before this clip's bytes arrived: {0}")]
    SourceMissing(String),
    #[error("invalid output: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidOutput(Vec<crate::validate::Problem>),
    #[error("unreadable audio {}", .0.display())]
    UnreadableAudio(PathBuf),
    #[error("audio of clip {clip} is {written:.3} s, planned {planned:.3} s")]
    AudioLength {
        clip: u32,
        written: f64,
        planned: f64,
    },
    #[error("no segment list {}: {cause}", .path.display())]
    NoSegmentList {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("ffmpeg wrote {written} pieces, {planned} chunks were planned")]
    PieceCount { written: usize, planned: usize },
    #[error("chunk {chunk} is {written:.3} s, planned {planned:.3} s")]
    ChunkLength {
        chunk: u32,
        written: f64,
        planned: f64,
    },
    #[error("smart-cut {piece} of clip {clip} is {written:.3} s, planned {planned:.3} s")]
    PieceLength {
        clip: u32,
        piece: &'static str,
        written: f64,
        planned: f64,
    },
    #[error("cannot join the smart-cut pieces: {0}")]
    Join(crate::mp4join::JoinError),
    #[error("cannot rename {}: {cause}", .path.display())]
    Rename {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl AttemptError {
    /// The failure's kind.
    pub fn kind(&self) -> FailureKind {
        use AttemptError as E;
        match self {
            E::SpawnFailed(_)
            | E::ConcatListName(_)
            | E::NoHeadEncoder(_)
            | E::NoSmartProcess(_) => FailureKind::SpawnFailed,
            E::Exited(_) => FailureKind::Exited,
            E::Signaled(_) => FailureKind::Signaled,
            E::Stalled(_) => FailureKind::Stalled,
            E::TimedOut(_) => FailureKind::TimedOut,
            E::Cancelled => FailureKind::Cancelled,
            E::SourceMissing(_) => FailureKind::Download,
            E::InvalidOutput(_)
            | E::UnreadableAudio(_)
            | E::AudioLength { .. }
            | E::PieceCount { .. }
            | E::ChunkLength { .. }
            | E::PieceLength { .. } => FailureKind::InvalidOutput,
            E::Join(_) | E::JoinDecode(_) => FailureKind::Join,
            E::ConcatList(_) | E::NoSegmentList { .. } | E::Rename { .. } => FailureKind::Io,
        }
    }

    /// The failure as an outcome records it.
    pub fn failure(&self, stderr_tail: String) -> ClipFailure {
        ClipFailure {
            kind: self.kind(),
            reason: self.to_string(),
            stderr_tail,
        }
    }
}
