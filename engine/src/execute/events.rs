//! What the executor tells the outside world while it runs ([`Event`]s, one stream for every
//! consumer: CLI progress bars, the server's `/progress`, the harness) and how the outside
//! world stops it ([`CancelToken`]).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::graph::Task;
use super::outcome::ClipOutcome;
use crate::schedule::TaskKind;

/// Stops a run from another thread, in two steps: [`drain`](CancelToken::drain) starts no new
/// clip but lets running ones finish; [`cancel`](CancelToken::cancel) also kills running ffmpeg
/// children and removes their temporary files. Clips not started are reported as not started.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicU8>);

const DRAINING: u8 = 1;
const CANCELLED: u8 = 2;

/// How often the async waiters look at the token.
const POLL: Duration = Duration::from_millis(50);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts no new clip; running clips finish.
    pub fn drain(&self) {
        self.0.fetch_max(DRAINING, Ordering::SeqCst);
    }

    /// Stops everything as soon as possible.
    pub fn cancel(&self) {
        self.0.store(CANCELLED, Ordering::SeqCst);
    }

    /// Whether no new clip may start (drained or cancelled).
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst) >= DRAINING
    }

    /// Whether running clips must be killed.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst) == CANCELLED
    }

    /// Resolves once the token is drained or cancelled (for `tokio::select!`).
    pub async fn drained(&self) {
        while !self.is_draining() {
            tokio::time::sleep(POLL).await;
        }
    }

    /// Resolves once the token is cancelled (for `tokio::select!`).
    pub async fn cancelled(&self) {
        while !self.is_cancelled() {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// One step of a long command's Ctrl-C escalation ([`escalate_ctrl_c`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtrlCStep {
    /// No new clip starts; running ones finish.
    Drain,
    /// Running ffmpeg children are killed and their partial files removed.
    Cancel,
    /// The user insists: the binary exits at once ([`EXIT_INTERRUPTED`]).
    Exit,
}

/// Exit code of a process stopped by a last Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Escalates repeated Ctrl-C on `runtime`: the first drains `token` (when `drain_first`), the
/// next cancels it, the next is [`CtrlCStep::Exit`]. `on_step` hears each step as it happens:
/// the binary prints and, at `Exit`, exits — the library itself never prints or exits.
pub fn escalate_ctrl_c(
    runtime: &tokio::runtime::Handle,
    token: &CancelToken,
    drain_first: bool,
    on_step: impl Fn(CtrlCStep) + Send + 'static,
) {
    let token = token.clone();
    runtime.spawn(async move {
        if drain_first {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            on_step(CtrlCStep::Drain);
            token.drain();
        }
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        on_step(CtrlCStep::Cancel);
        token.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            on_step(CtrlCStep::Exit);
        }
    });
}

/// Something that happened to a clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The plan is made and the workers chosen; encoding starts next.
    Planned {
        clips: usize,
        workers: usize,
    },
    Queued {
        clip: u32,
    },
    Started {
        clip: u32,
        worker: usize,
        attempt: u32,
    },
    /// ffmpeg reported having written `done_s` of the clip's `total_s` seconds.
    Progress {
        clip: u32,
        worker: usize,
        done_s: f64,
        total_s: f64,
    },
    Finished {
        clip: u32,
        worker: usize,
        wall_s: f64,
        cpu_s: f64,
        bytes: u64,
    },
    Failed {
        clip: u32,
        worker: usize,
        attempt: u32,
        reason: String,
        will_retry: bool,
    },
    /// `--reuse-overlaps`: a chunk started (`done_s` 0) or ffmpeg reported progress on it.
    ChunkProgress {
        chunk: u32,
        worker: usize,
        done_s: f64,
        total_s: f64,
    },
    /// `--reuse-overlaps`: a chunk is encoded and valid.
    ChunkFinished {
        chunk: u32,
        worker: usize,
        wall_s: f64,
        cpu_s: f64,
    },
    /// `--reuse-overlaps`: a chunk attempt failed (its clips fail when it is not retried).
    ChunkFailed {
        chunk: u32,
        worker: usize,
        attempt: u32,
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

/// Turns what happens to tasks into [`Event`]s stamped with the time since `started`. A clip's
/// separate audio reports only its failures (as the clip's); chunks report as chunks.
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
        let number = task.spec.span.number;
        self.emit(match task.spec.kind {
            TaskKind::Audio | TaskKind::Cut => return,
            TaskKind::Chunk => Event::ChunkProgress {
                chunk: number,
                worker,
                done_s: 0.0,
                total_s: task.spec.span.duration(),
            },
            _ => Event::Started {
                clip: number,
                worker,
                attempt,
            },
        })
    }

    pub fn progress(&self, task: &Task, worker: usize, done_s: f64) {
        let (number, total_s) = (task.spec.span.number, task.spec.span.duration());
        self.emit(match task.spec.kind {
            TaskKind::Audio | TaskKind::Cut => return,
            TaskKind::Chunk => Event::ChunkProgress {
                chunk: number,
                worker,
                done_s,
                total_s,
            },
            _ => Event::Progress {
                clip: number,
                worker,
                done_s,
                total_s,
            },
        })
    }

    pub fn finished(&self, task: &Task, worker: usize, outcome: &ClipOutcome) {
        let number = task.spec.span.number;
        self.emit(match task.spec.kind {
            TaskKind::Audio | TaskKind::Cut => return,
            TaskKind::Chunk => Event::ChunkFinished {
                chunk: number,
                worker,
                wall_s: outcome.wall_s,
                cpu_s: outcome.cpu_s,
            },
            _ => Event::Finished {
                clip: number,
                worker,
                wall_s: outcome.wall_s,
                cpu_s: outcome.cpu_s,
                bytes: outcome.bytes,
            },
        })
    }

    pub fn failed(&self, task: &Task, worker: usize, attempt: u32, reason: String, retry: bool) {
        let number = task.spec.span.number;
        self.emit(match task.spec.kind {
            TaskKind::Chunk => Event::ChunkFailed {
                chunk: number,
                worker,
                attempt,
                reason,
                will_retry: retry,
            },
            _ => Event::Failed {
                clip: number,
                worker,
                attempt,
                reason,
                will_retry: retry,
            },
        })
    }
}
