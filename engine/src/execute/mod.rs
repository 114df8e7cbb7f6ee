//! The executor: a board of tasks feeding a fixed pool of workers, each running one ffmpeg
//! child at a time, with a per-task timeout and stall watchdog, one retry, cancellation and
//! atomic output files.
//!
//! A task is a clip (encode or stream copy), or with `reuse_overlaps` a run of chunks, the first
//! clip's audio, or a join that waits until its parts are written. Which ready task starts next,
//! with how many threads, and whether memory allows it now are decided by [`crate::schedule`].
//! Every clip is written as `clip_NNN.mp4.partial`, read back, and renamed to `clip_NNN.mp4`
//! only when valid. A failed clip never stops the others. The CPU time of each child is read
//! from the kernel when it is reaped (`wait4`), so the work W of a run is measured, not
//! estimated.
//!
//! The rooms: [`events`] (what the run tells the world, how the world stops it), [`outcome`]
//! (what became of each clip, and why an attempt failed), `graph` (the tasks, pure), `board`
//! (the shared state machine), `pool` (the workers, retries, drain; runs tasks through a
//! `TaskRunner`), `layout` (file names), `attempt` (the runner: one try of one task with
//! ffmpeg — argv, child, checks, commit), `smart` (a smart cut's argv and piece checks) and
//! `child` (one supervised ffmpeg process). This file holds the options and puts them together.

mod attempt;
mod board;
mod child;
pub mod events;
mod graph;
mod layout;
pub mod outcome;
mod pool;
mod smart_attempt;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use events::{Event, Subject, TimedEvent};
pub use graph::clip_profile;
pub use layout::CHUNK_DIR;
pub use outcome::{ClipFailure, ClipOutcome, ClipStatus, Execution, FailureKind};

use crate::allocate::ThreadSetting;
use crate::arrival::Arriving;
use crate::cancel::CancelToken;
use crate::encode::Profile;
use crate::error::{EngineError, Result};
use crate::mp4join::CopySource;
use crate::plan::Clip;
use crate::probe::{ffmpeg_version, MediaInfo};
use crate::task::TaskKind;
use crate::tools::Tools;
use attempt::TaskContext;
use board::Board;
use events::Emitter;
use graph::{pending_outcomes, plan_tasks, Task};
use layout::Layout;
use pool::{run_pool, Pool};

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    pub profile: Profile,
    pub threads: ThreadSetting,
    pub workers: usize,
    /// Longest one attempt of one clip may take before its ffmpeg is killed.
    pub timeout: Duration,
    /// Watchdog: an attempt whose ffmpeg reports no progress for this long is killed (and
    /// retried like any failure).
    pub stall_timeout: Option<Duration>,
    /// Attempts after the first one when a clip fails.
    pub retries: u32,
    pub output_dir: PathBuf,
    pub tools: Tools,
    /// Logical CPUs of the machine, shared out by the tail boost.
    pub cores: usize,
    /// When fewer encodes remain than workers, start them with the spare cores as extra
    /// threads (only with a fixed thread count).
    pub tail_boost: bool,
    /// Encode each moment once: disjoint chunks, then clips joined by stream copy.
    pub reuse_overlaps: bool,
    /// Hold tasks back while available memory cannot hold one more encoder.
    pub memory: Option<MemoryGate>,
    /// A source still downloading: each task starts once the bytes it reads are on disk.
    pub source: Option<Arriving>,
}

impl ExecuteOptions {
    /// `optimized` profile, one worker, profile threads, a 10-minute timeout, one retry, no
    /// watchdog, no tail boost, overlaps encoded twice, no memory gate.
    pub fn new(output_dir: impl Into<PathBuf>, tools: Tools) -> Self {
        ExecuteOptions {
            profile: Profile::Optimized,
            threads: ThreadSetting::Profile,
            workers: 1,
            timeout: Duration::from_secs(600),
            stall_timeout: None,
            retries: 1,
            output_dir: output_dir.into(),
            tools,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tail_boost: false,
            reuse_overlaps: false,
            memory: None,
            source: None,
        }
    }
}

/// The memory check made before each task starts.
#[derive(Debug, Clone, Copy)]
pub struct MemoryGate {
    /// Memory one encoder needs; raised during the run to the largest peak RSS measured.
    pub per_encoder_bytes: u64,
    /// Reads the memory available now (0: unknown, never blocks).
    pub available_bytes: fn() -> u64,
}

/// The source's video index, when a smart cut joins copies (each read from the source then)
/// and the source is an MP4 whose copies can be read so ([`CopySource`]); else `None`, and
/// ffmpeg writes each copy as a piece.
fn copy_source(media: &MediaInfo, tasks: &[&Task]) -> Option<CopySource> {
    let joins_copies = (tasks.iter())
        .any(|t| t.spec.kind == TaskKind::Cut && t.cut.is_some_and(|c| c.copy.is_some()));
    if !joins_copies {
        return None;
    }
    CopySource::read(&media.path)
        .inspect_err(|why| tracing::debug!("copies written by ffmpeg: the source has {why}"))
        .ok()
}

/// Encodes every clip of `clips` from `media` into `options.output_dir`.
///
/// Blocks until every clip is done, failed or cancelled; events are passed to `on_event` from
/// the worker threads as they happen. Errors are only returned for problems that stop the whole
/// run before it starts (ffmpeg missing, output folder not writable).
pub fn execute(
    media: &MediaInfo,
    clips: &[Clip],
    options: &ExecuteOptions,
    cancel: &CancelToken,
    on_event: &(dyn Fn(&TimedEvent) + Sync),
) -> Result<Execution> {
    ffmpeg_version(&options.tools)?;
    let (ready, waiting) = plan_tasks(
        media,
        clips,
        options.profile,
        options.workers,
        options.reuse_overlaps,
    );
    let with_parts = !waiting.is_empty();
    let layout = prepare_folders(options, with_parts)?;
    let all: Vec<&Task> = ready.iter().chain(&waiting).collect();
    let copy_source = copy_source(media, &all);
    let clip_kinds = [TaskKind::Encode, TaskKind::Copy, TaskKind::Assemble];
    let clip_outcomes = pending_outcomes(&all, &clip_kinds);
    let part_outcomes = pending_outcomes(&all, &[TaskKind::Chunk, TaskKind::Audio, TaskKind::Cut]);
    let events = Emitter {
        started: Instant::now(),
        on_event,
    };
    for clip in clips {
        events.emit(Event::Queued { clip: clip.number });
    }
    let workers = options.workers.clamp(1, ready.len().max(1));
    let per_encoder_bytes = options.memory.map_or(0, |m| m.per_encoder_bytes);
    let board = Board::new(
        ready,
        waiting,
        clip_outcomes,
        part_outcomes,
        per_encoder_bytes,
    );
    let context = TaskContext {
        media,
        options,
        cancel,
        events: &events,
        layout: &layout,
        copy_source: copy_source.as_ref(),
    };
    let pool = Pool {
        options,
        cancel,
        events: &events,
        runner: &context,
    };
    let board = run_pool(board, workers, &pool);
    if with_parts {
        let _ = std::fs::remove_dir_all(&layout.chunk_dir);
    }
    let wall_s = board
        .clips
        .iter()
        .chain(&board.chunks)
        .filter_map(|o| o.finished_s)
        .fold(0.0, f64::max);
    Ok(Execution {
        outcomes: board.clips,
        chunks: board.chunks,
        cancelled: cancel.is_draining(),
        wall_s,
        memory_hold_s: board.memory_hold_s,
    })
}

/// Creates the output folder (and the chunk folder when chunks are made).
fn prepare_folders(options: &ExecuteOptions, with_chunks: bool) -> Result<Layout> {
    let output_dir = &options.output_dir;
    std::fs::create_dir_all(output_dir)
        .map_err(|e| EngineError::io("cannot create output folder", output_dir, e))?;
    let chunk_dir = std::path::absolute(output_dir.join(CHUNK_DIR))
        .map_err(|e| EngineError::io("cannot resolve output folder", output_dir, e))?;
    if with_chunks {
        std::fs::create_dir_all(&chunk_dir)
            .map_err(|e| EngineError::io("cannot create chunk folder", &chunk_dir, e))?;
    }
    Ok(Layout {
        output_dir: output_dir.clone(),
        chunk_dir,
    })
}
