//! What the executor tells the outside world while it runs ([`Event`]s, one stream for every
//! consumer: CLI progress bars, the server's `/progress`, the harness); the outside world
//! stops it with a [`crate::cancel::CancelToken`].

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::graph::Task;
use super::outcome::{AttemptError, ClipOutcome, FailureKind};
use crate::task::TaskKind;

/// What an event is about: a clip, or with `--reuse-overlaps` a chunk the clips are joined
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Clip(u32),
    Chunk(u32),
}

impl Subject {
    /// The clip's number, when the subject is a clip.
    pub fn clip(self) -> Option<u32> {
        match self {
            Subject::Clip(n) => Some(n),
            Subject::Chunk(_) => None,
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Clip(n) => write!(f, "clip {n}"),
            Subject::Chunk(n) => write!(f, "chunk {n}"),
        }
    }
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The plan is made and the workers chosen; encoding starts next.
    Planned { clips: usize, workers: usize },
    /// A clip is on the board.
    Queued { clip: u32 },
    /// An attempt began.
    Started {
        subject: Subject,
        worker: usize,
        attempt: u32,
    },
    /// ffmpeg reported having written `done_s` of the subject's `total_s` seconds.
    Progress {
        subject: Subject,
        worker: usize,
        done_s: f64,
        total_s: f64,
    },
    /// Written and valid.
    Finished {
        subject: Subject,
        worker: usize,
        wall_s: f64,
        cpu_s: f64,
        bytes: u64,
    },
    /// An attempt failed (a chunk's clips fail when it is not retried).
    Failed {
        subject: Subject,
        worker: usize,
        attempt: u32,
        kind: FailureKind,
        reason: String,
        will_retry: bool,
    },
}

/// An event and when it happened, in seconds since the execution started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedEvent {
    pub at_s: f64,
    #[serde(flatten)]
    pub event: Event,
}

/// Turns what happens to tasks into [`Event`]s stamped with the time since `started`.
pub(super) struct Emitter<'a> {
    pub started: Instant,
    pub on_event: &'a (dyn Fn(&TimedEvent) + Sync),
}

impl Emitter<'_> {
    /// Seconds since the execution started.
    pub fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn emit(&self, event: Event) {
        (self.on_event)(&TimedEvent {
            at_s: self.now_s(),
            event,
        })
    }

    pub fn started(&self, task: &Task, worker: usize, attempt: u32) {
        if let Some(subject) = subject_of(task) {
            self.emit(Event::Started {
                subject,
                worker,
                attempt,
            });
        }
    }

    pub fn progress(&self, task: &Task, worker: usize, done_s: f64) {
        if let Some(subject) = subject_of(task) {
            self.emit(Event::Progress {
                subject,
                worker,
                done_s,
                total_s: task.spec.span.duration(),
            });
        }
    }

    pub fn finished(&self, task: &Task, worker: usize, outcome: &ClipOutcome) {
        if let Some(subject) = subject_of(task) {
            self.emit(Event::Finished {
                subject,
                worker,
                wall_s: outcome.wall_s,
                cpu_s: outcome.cpu_s,
                bytes: outcome.bytes,
            });
        }
    }

    /// A failed attempt; a clip's separate audio or smart-cut pieces fail as the clip.
    pub fn failed(
        &self,
        task: &Task,
        worker: usize,
        attempt: u32,
        error: &AttemptError,
        retry: bool,
    ) {
        let number = task.spec.span.number;
        let subject = match task.spec.kind {
            TaskKind::Chunk => Subject::Chunk(number),
            _ => Subject::Clip(number),
        };
        self.emit(Event::Failed {
            subject,
            worker,
            attempt,
            kind: error.kind(),
            reason: error.to_string(),
            will_retry: retry,
        });
    }
}

/// What a task's start, progress and end are reported as: a clip's separate audio and
/// smart-cut pieces report only their failures (as the clip's).
fn subject_of(task: &Task) -> Option<Subject> {
    let number = task.spec.span.number;
    match task.spec.kind {
        TaskKind::Audio | TaskKind::Cut => None,
        TaskKind::Chunk => Some(Subject::Chunk(number)),
        _ => Some(Subject::Clip(number)),
    }
}
