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

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::allocate::ThreadSetting;
use crate::chunks::{chunks_of, group_chunks, plan_chunks};
use crate::encode::{
    assemble_args, audio_args, chunk_group_args, concat_list_line, ffmpeg_args, AssembleJob,
    ClipAudio, EncodeJob, Profile,
};
use crate::error::{EngineError, Result};
use crate::plan::{Clip, Priority};
use crate::probe::{ffmpeg_version, MediaInfo};
use crate::schedule::{
    compare, memory_allows, tail_threads, CostModel, TaskKind, TaskSpec, AUDIO_CPU_PER_SECOND,
    PROCESS_START_CPU_S,
};
use crate::tools::Tools;
use crate::validate::{read_mp4, validate_file, Validation};

/// Lines of ffmpeg's stderr kept for a failure report.
const STDERR_TAIL_LINES: usize = 12;

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

/// Stops a run from another thread, in two steps: [`drain`](CancelToken::drain) starts no new
/// clip but lets running ones finish; [`cancel`](CancelToken::cancel) also kills running ffmpeg
/// children and removes their temporary files. Clips not started are reported as not started.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicU8>);

const DRAINING: u8 = 1;
const CANCELLED: u8 = 2;

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
    pub queued_s: f64,
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
}

impl ClipOutcome {
    /// A clip that has not run (yet).
    pub fn pending(clip: Clip) -> Self {
        ClipOutcome {
            clip,
            kind: TaskKind::Encode,
            threads: None,
            status: ClipStatus::NotStarted,
            path: None,
            worker: None,
            attempts: 0,
            queued_s: 0.0,
            started_s: None,
            finished_s: None,
            wall_s: 0.0,
            cpu_s: 0.0,
            peak_rss_bytes: 0,
            bytes: 0,
            validation: None,
            failure: None,
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

/// The profile one clip is encoded with: a stream copy that cannot start on a keyframe (known
/// keyframes, none at the clip's start) is re-encoded with `optimized` so that it is exact.
pub fn clip_profile(profile: Profile, media: &MediaInfo, clip: &Clip) -> Profile {
    if profile == Profile::Copy && media.keyframes.is_some() && !media.is_keyframe(clip.start) {
        Profile::Optimized
    } else {
        profile
    }
}

/// The temporary name a clip is written under before it is valid.
pub fn partial_path(final_path: &Path) -> PathBuf {
    let mut name = final_path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Folder (inside the output folder) that holds the chunks of a `reuse_overlaps` run; removed
/// when the run ends.
pub const CHUNK_DIR: &str = ".clipbench-chunks";

/// One unit of work.
#[derive(Debug, Clone)]
struct Task {
    spec: TaskSpec,
    /// Profile of its ffmpeg (a copy clip may fall back to a re-encode).
    profile: Profile,
    /// For a chunk group: the chunks it writes; for an assembly: the chunks it joins. In order.
    chunks: Vec<Clip>,
    /// What a chunk group or an audio task produces (chunk numbers, [`audio_part`]), or what
    /// an assembly waits for.
    parts: Vec<u32>,
}

/// The part id of a clip's separately encoded audio (chunk numbers count up from 1).
fn audio_part(clip: u32) -> u32 {
    u32::MAX - clip
}

/// Everything the workers share, behind one lock.
struct Board {
    ready: Vec<Task>,
    /// Assemblies whose chunks are not all encoded yet.
    waiting: Vec<Task>,
    /// Parts (chunks, separate audio) encoded and valid.
    done_parts: HashSet<u32>,
    running: usize,
    running_encodes: usize,
    model: CostModel,
    per_encoder_bytes: u64,
    memory_hold_s: f64,
    clips: Vec<ClipOutcome>,
    chunks: Vec<ClipOutcome>,
}

impl Board {
    /// Takes the next task in schedule order and the thread setting it runs with.
    fn take_next(&mut self, options: &ExecuteOptions) -> Option<(Task, ThreadSetting)> {
        let model = &self.model;
        let index = (0..self.ready.len())
            .min_by(|&a, &b| compare(&self.ready[a].spec, &self.ready[b].spec, model))?;
        let task = self.ready.swap_remove(index);
        let mut threads = options.threads;
        if task.spec.kind.encodes_video() {
            let queued = self
                .ready
                .iter()
                .filter(|t| t.spec.kind.encodes_video())
                .count();
            let active = self.running_encodes + 1 + queued;
            if let (true, ThreadSetting::Fixed(base)) = (options.tail_boost, options.threads) {
                threads = ThreadSetting::Fixed(tail_threads(
                    base,
                    options.cores,
                    options.workers,
                    active,
                ));
            }
            self.running_encodes += 1;
        }
        self.running += 1;
        Some((task, threads))
    }

    /// Records a finished task: calibrates the cost model, stores the outcome and releases (or
    /// fails) the assemblies waiting on a chunk.
    fn finish(&mut self, task: &Task, outcome: ClipOutcome) {
        self.running -= 1;
        if task.spec.kind.encodes_video() {
            self.running_encodes -= 1;
        }
        if outcome.status == ClipStatus::Done {
            self.model
                .observe(task.spec.kind, task.spec.pixel_frames, outcome.cpu_s);
        }
        self.per_encoder_bytes = self.per_encoder_bytes.max(outcome.peak_rss_bytes);
        if matches!(task.spec.kind, TaskKind::Chunk | TaskKind::Audio) {
            if outcome.status == ClipStatus::Done {
                self.done_parts.extend(&task.parts);
                let done = &self.done_parts;
                let (now_ready, still): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.waiting)
                    .into_iter()
                    .partition(|t| t.parts.iter().all(|p| done.contains(p)));
                self.waiting = still;
                self.ready.extend(now_ready);
            } else {
                self.fail_dependents(task, &outcome);
            }
            store(&mut self.chunks, outcome);
        } else {
            store(&mut self.clips, outcome);
        }
    }

    /// Fails (or cancels) every waiting assembly that needs a part that was not written.
    fn fail_dependents(&mut self, part: &Task, part_outcome: &ClipOutcome) {
        let lost: HashSet<u32> = part.parts.iter().copied().collect();
        let (failed, still): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|t| t.parts.iter().any(|p| lost.contains(p)));
        let (span, chunk_outcome) = (&part.spec.span, part_outcome);
        let what = match part.spec.kind {
            TaskKind::Audio => "audio of clip",
            _ => "chunk group",
        };
        self.waiting = still;
        let why = chunk_outcome
            .failure
            .as_ref()
            .map_or("not written", |f| f.reason.as_str());
        for task in failed {
            let mut outcome = ClipOutcome::pending(task.spec.span);
            outcome.kind = task.spec.kind;
            outcome.status = match chunk_outcome.status {
                ClipStatus::Cancelled => ClipStatus::Cancelled,
                _ => ClipStatus::Failed,
            };
            outcome.finished_s = chunk_outcome.finished_s;
            outcome.failure = Some(ClipFailure {
                reason: format!(
                    "{what} {} ({:.2}-{:.2} s) failed: {why}",
                    span.number, span.start, span.end
                ),
                stderr_tail: chunk_outcome
                    .failure
                    .as_ref()
                    .map(|f| f.stderr_tail.clone())
                    .unwrap_or_default(),
            });
            store(&mut self.clips, outcome);
        }
    }
}

/// Replaces the outcome of the same kind and number.
fn store(all: &mut [ClipOutcome], outcome: ClipOutcome) {
    if let Some(slot) = all
        .iter_mut()
        .find(|o| o.clip.number == outcome.clip.number && o.kind == outcome.kind)
    {
        *slot = outcome;
    }
}

/// The tasks of a run, as (ready, waiting): one per clip, or with `reuse_overlaps` one per chunk
/// group plus the first clip's audio (ready) and one assembly per clip (waiting for its parts).
fn plan_tasks(
    media: &MediaInfo,
    clips: &[Clip],
    options: &ExecuteOptions,
) -> (Vec<Task>, Vec<Task>) {
    let pixel_frames =
        |seconds: f64| CostModel::pixel_frames(seconds, media.width, media.height, media.fps);
    let task = |kind, span: Clip, profile, chunks: Vec<Clip>, parts| Task {
        spec: TaskSpec {
            kind,
            span,
            pixel_frames: pixel_frames(span.duration()),
        },
        profile,
        chunks,
        parts,
    };
    if !(options.reuse_overlaps && options.profile.reencodes()) {
        let tasks = clips
            .iter()
            .map(|clip| {
                let profile = clip_profile(options.profile, media, clip);
                let kind = match profile {
                    Profile::Copy => TaskKind::Copy,
                    _ => TaskKind::Encode,
                };
                task(kind, *clip, profile, Vec::new(), Vec::new())
            })
            .collect();
        return (tasks, Vec::new());
    }
    // The first clip's audio is encoded alone, in parallel with its video (time to first
    // clip); its video shares make room for that work and for the two extra process starts
    // (audio, last piece) of the worker that gets them.
    let first = clips
        .iter()
        .min_by(|a, b| a.start.total_cmp(&b.start))
        .filter(|_| media.has_audio);
    let video_cost_per_s = CostModel::default().estimate(TaskKind::Chunk, pixel_frames(1.0));
    let first_audio_s = first.map_or(0.0, |clip| {
        let audio_cpu_s = clip.duration() * AUDIO_CPU_PER_SECOND + 2.0 * PROCESS_START_CPU_S;
        audio_cpu_s / video_cost_per_s.max(1e-9)
    });
    let chunks = plan_chunks(clips, media.fps, options.workers, first_audio_s);
    let groups = group_chunks(&chunks, options.workers);
    let mut ready: Vec<Task> = groups
        .iter()
        .map(|group| {
            let members: Vec<Clip> = group
                .chunks
                .iter()
                .map(|n| chunks[*n as usize - 1])
                .collect();
            let kind = TaskKind::Chunk;
            task(
                kind,
                group.span,
                options.profile,
                members,
                group.chunks.clone(),
            )
        })
        .collect();
    if let Some(first) = first {
        let span = Clip {
            priority: Priority::High,
            ..*first
        };
        let parts = vec![audio_part(first.number)];
        ready.push(task(
            TaskKind::Audio,
            span,
            options.profile,
            Vec::new(),
            parts,
        ));
    }
    let assemblies = clips
        .iter()
        .map(|clip| {
            let numbers = chunks_of(clip, &chunks, media.fps);
            let mut parts = numbers.clone();
            if first.is_some_and(|f| f.number == clip.number) {
                parts.push(audio_part(clip.number));
            }
            let members = numbers.iter().map(|n| chunks[*n as usize - 1]).collect();
            task(TaskKind::Assemble, *clip, options.profile, members, parts)
        })
        .collect();
    (ready, assemblies)
}

/// A pending outcome for each task of `kinds`.
fn pending_outcomes(tasks: &[&Task], kinds: &[TaskKind]) -> Vec<ClipOutcome> {
    let mut outcomes: Vec<ClipOutcome> = tasks
        .iter()
        .filter(|t| kinds.contains(&t.spec.kind))
        .map(|t| ClipOutcome {
            kind: t.spec.kind,
            ..ClipOutcome::pending(t.spec.span)
        })
        .collect();
    outcomes.sort_by(|a, b| {
        a.clip
            .start
            .total_cmp(&b.clip.start)
            .then(a.clip.number.cmp(&b.clip.number))
    });
    outcomes
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
    std::fs::create_dir_all(&options.output_dir)
        .map_err(|e| EngineError::io("cannot create output folder", &options.output_dir, e))?;
    let (ready, waiting) = plan_tasks(media, clips, options);
    let all: Vec<&Task> = ready.iter().chain(&waiting).collect();
    let clip_outcomes = pending_outcomes(
        &all,
        &[TaskKind::Encode, TaskKind::Copy, TaskKind::Assemble],
    );
    let part_outcomes = pending_outcomes(&all, &[TaskKind::Chunk, TaskKind::Audio]);
    let chunk_dir = std::path::absolute(options.output_dir.join(CHUNK_DIR))
        .map_err(|e| EngineError::io("cannot resolve output folder", &options.output_dir, e))?;
    let reusing = !part_outcomes.is_empty();
    if reusing {
        std::fs::create_dir_all(&chunk_dir)
            .map_err(|e| EngineError::io("cannot create chunk folder", &chunk_dir, e))?;
    }
    let started = Instant::now();
    let emit = |event: Event| {
        on_event(&TimedEvent {
            at_s: started.elapsed().as_secs_f64(),
            event,
        })
    };
    for clip in clips {
        emit(Event::Queued { clip: clip.number });
    }
    let worker_count = options.workers.clamp(1, ready.len().max(1));
    let board = Mutex::new(Board {
        ready,
        waiting,
        done_parts: HashSet::new(),
        running: 0,
        running_encodes: 0,
        model: CostModel::default(),
        per_encoder_bytes: options.memory.map_or(0, |m| m.per_encoder_bytes),
        memory_hold_s: 0.0,
        clips: clip_outcomes,
        chunks: part_outcomes,
    });
    let wakeup = Condvar::new();
    let context = TaskContext {
        media,
        options,
        cancel,
        started,
        emit: &emit,
        chunk_dir: &chunk_dir,
    };
    std::thread::scope(|scope| {
        for worker in 0..worker_count {
            let (board, wakeup, context) = (&board, &wakeup, &context);
            scope.spawn(move || {
                while let Some((task, threads)) = next_task(board, wakeup, context) {
                    let outcome = run_task(context, &task, worker, threads);
                    lock(board).finish(&task, outcome);
                    wakeup.notify_all();
                }
                wakeup.notify_all();
            });
        }
    });
    if reusing {
        let _ = std::fs::remove_dir_all(&chunk_dir);
    }
    let board = board.into_inner().unwrap_or_else(|e| e.into_inner());
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

fn lock(board: &Mutex<Board>) -> MutexGuard<'_, Board> {
    board.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits for the next task a worker may start: `None` when nothing is left (or the run is
/// drained). Holds a task back while memory is short and other tasks are running.
fn next_task(
    board: &Mutex<Board>,
    wakeup: &Condvar,
    context: &TaskContext,
) -> Option<(Task, ThreadSetting)> {
    let mut guard = lock(board);
    let mut warned = false;
    loop {
        if context.cancel.is_draining() || (guard.ready.is_empty() && guard.waiting.is_empty()) {
            return None;
        }
        let held_since = Instant::now();
        if !guard.ready.is_empty() {
            let allowed = context.options.memory.is_none_or(|gate| {
                let available = (gate.available_bytes)();
                let allowed = memory_allows(available, guard.per_encoder_bytes, guard.running);
                if !allowed && !warned {
                    warned = true;
                    tracing::warn!(
                        "holding a clip back: {} MiB available, one encoder needs about {} MiB",
                        available / MIB,
                        guard.per_encoder_bytes / MIB
                    );
                }
                allowed
            });
            if allowed {
                return guard.take_next(context.options);
            }
        }
        let waiting_on_memory = !guard.ready.is_empty();
        guard = wakeup
            .wait_timeout(guard, Duration::from_millis(100))
            .unwrap_or_else(|e| e.into_inner())
            .0;
        if waiting_on_memory {
            guard.memory_hold_s += held_since.elapsed().as_secs_f64();
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// What every task of one execution shares.
struct TaskContext<'a> {
    media: &'a MediaInfo,
    options: &'a ExecuteOptions,
    cancel: &'a CancelToken,
    started: Instant,
    emit: &'a (dyn Fn(Event) + Sync),
    chunk_dir: &'a Path,
}

impl TaskContext<'_> {
    fn started(&self, task: &Task, worker: usize, attempt: u32) {
        let number = task.spec.span.number;
        (self.emit)(match task.spec.kind {
            // A clip's separate audio only reports failures (as the clip's).
            TaskKind::Audio => return,
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

    fn progress(&self, task: &Task, worker: usize, done_s: f64) {
        let (number, total_s) = (task.spec.span.number, task.spec.span.duration());
        (self.emit)(match task.spec.kind {
            TaskKind::Audio => return,
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

    fn finished(&self, task: &Task, worker: usize, outcome: &ClipOutcome) {
        let number = task.spec.span.number;
        (self.emit)(match task.spec.kind {
            TaskKind::Audio => return,
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

    fn failed(&self, task: &Task, worker: usize, attempt: u32, reason: String, retry: bool) {
        let number = task.spec.span.number;
        (self.emit)(match task.spec.kind {
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

    /// Where a clip (or a clip's separate audio) goes once valid.
    fn final_path(&self, task: &Task) -> PathBuf {
        match task.spec.kind {
            TaskKind::Audio => self.audio_path(task.spec.span.number),
            _ => self.options.output_dir.join(task.spec.span.file_name()),
        }
    }

    fn audio_path(&self, clip: u32) -> PathBuf {
        self.chunk_dir.join(format!("clip_{clip:03}.audio.mp4"))
    }

    fn chunk_path(&self, chunk: &Clip) -> PathBuf {
        self.chunk_dir
            .join(format!("chunk_{:04}.mp4", chunk.number))
    }

    /// What a chunk group's ffmpeg writes: a file pattern (`%03d` numbers the pieces) and the
    /// muxer's CSV list of the pieces.
    fn group_outputs(&self, task: &Task) -> (PathBuf, PathBuf) {
        let n = task.spec.span.number;
        (
            self.chunk_dir.join(format!("group_{n:03}_%03d.mp4")),
            self.chunk_dir.join(format!("group_{n:03}.csv")),
        )
    }

    /// The ffmpeg arguments of one attempt (writing the concat list of an assembly first).
    fn ffmpeg_args(
        &self,
        task: &Task,
        threads: ThreadSetting,
    ) -> std::io::Result<Vec<std::ffi::OsString>> {
        let span = &task.spec.span;
        let temp_path = partial_path(&self.final_path(task));
        let job = EncodeJob {
            input: &self.media.path,
            output: &temp_path,
            start: span.start,
            duration: span.duration(),
            has_audio: self.media.has_audio,
            threads,
        };
        Ok(match task.spec.kind {
            TaskKind::Encode | TaskKind::Copy => ffmpeg_args(task.profile, &job),
            TaskKind::Audio => audio_args(task.profile, &job),
            TaskKind::Chunk => {
                let (pattern, list) = self.group_outputs(task);
                // Cut at the output frame where every chunk but the first starts.
                let frame = self.media.frame_duration();
                let cuts: Vec<u64> = task.chunks[1..]
                    .iter()
                    .map(|c| ((c.start - span.start) / frame).round() as u64)
                    .collect();
                let job = EncodeJob {
                    output: &pattern,
                    ..job
                };
                chunk_group_args(task.profile, &job, &cuts, &list)
            }
            TaskKind::Assemble => {
                let list_path = self
                    .chunk_dir
                    .join(format!("clip_{:03}.concat.txt", span.number));
                let list: String = task
                    .chunks
                    .iter()
                    .map(|c| concat_list_line(&self.chunk_path(c)))
                    .collect();
                std::fs::write(&list_path, list)?;
                let audio_file = self.audio_path(span.number);
                let audio = if task.parts.contains(&audio_part(span.number)) {
                    ClipAudio::Encoded(&audio_file)
                } else if self.media.has_audio {
                    ClipAudio::FromSource(&self.media.path)
                } else {
                    ClipAudio::None
                };
                assemble_args(
                    task.profile,
                    &AssembleJob {
                        chunk_list: &list_path,
                        audio,
                        output: &temp_path,
                        start: span.start,
                        duration: span.duration(),
                    },
                )
            }
        })
    }

    /// Checks what an attempt wrote and gives it its final name: a clip is probed against its
    /// plan; a chunk group's pieces are checked against the muxer's list (count and
    /// durations; the joined clips are probed later). Returns the bytes written and the
    /// clip's validation, or what is wrong.
    fn commit(
        &self,
        task: &Task,
    ) -> std::result::Result<(u64, Option<PathBuf>, Option<Validation>), String> {
        if task.spec.kind == TaskKind::Chunk {
            return self.commit_group(task).map(|bytes| (bytes, None, None));
        }
        let final_path = self.final_path(task);
        let temp_path = partial_path(&final_path);
        if task.spec.kind == TaskKind::Audio {
            self.check_audio(task, &temp_path)?;
            std::fs::rename(&temp_path, &final_path)
                .map_err(|e| format!("cannot rename {}: {e}", temp_path.display()))?;
            let bytes = std::fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
            return Ok((bytes, None, None));
        }
        let validation = validate_file(
            &self.options.tools,
            &temp_path,
            &task.spec.span,
            self.media,
            task.profile,
        );
        if !validation.valid {
            return Err(format!(
                "invalid output: {}",
                validation.problems.join("; ")
            ));
        }
        std::fs::rename(&temp_path, &final_path)
            .map_err(|e| format!("cannot rename {}: {e}", temp_path.display()))?;
        let bytes = std::fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
        Ok((bytes, Some(final_path), Some(validation)))
    }

    /// A separate audio file: audio present, as long as the clip within two audio frames.
    fn check_audio(&self, task: &Task, path: &Path) -> std::result::Result<(), String> {
        let audio = read_mp4(path).ok_or_else(|| format!("unreadable audio {}", path.display()))?;
        let tolerance = 2.0 * audio.audio_frame_duration() + 0.001;
        let off = (audio.duration - task.spec.span.duration()).abs();
        if !audio.has_audio || off > tolerance {
            return Err(format!(
                "audio of clip {} is {:.3} s, planned {:.3} s",
                task.spec.span.number,
                audio.duration,
                task.spec.span.duration()
            ));
        }
        Ok(())
    }

    fn commit_group(&self, task: &Task) -> std::result::Result<u64, String> {
        let (_, list) = self.group_outputs(task);
        let listed = std::fs::read_to_string(&list)
            .map_err(|e| format!("no segment list {}: {e}", list.display()))?;
        let pieces = parse_segment_list(&listed);
        if pieces.len() != task.chunks.len() {
            return Err(format!(
                "ffmpeg wrote {} pieces, {} chunks were planned",
                pieces.len(),
                task.chunks.len()
            ));
        }
        let tolerance = self.media.frame_duration() + 0.001;
        let mut bytes = 0;
        for ((name, duration), chunk) in pieces.iter().zip(&task.chunks) {
            if (duration - chunk.duration()).abs() > tolerance {
                return Err(format!(
                    "chunk {} is {duration:.3} s, planned {:.3} s",
                    chunk.number,
                    chunk.duration()
                ));
            }
            let written = self.chunk_dir.join(name);
            let final_path = self.chunk_path(chunk);
            std::fs::rename(&written, &final_path)
                .map_err(|e| format!("cannot rename {}: {e}", written.display()))?;
            bytes += std::fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
        }
        Ok(bytes)
    }

    /// Removes what a failed attempt left behind.
    fn clean_up(&self, task: &Task) {
        if task.spec.kind != TaskKind::Chunk {
            let _ = std::fs::remove_file(partial_path(&self.final_path(task)));
            return;
        }
        let prefix = format!("group_{:03}_", task.spec.span.number);
        let _ = std::fs::remove_file(self.group_outputs(task).1);
        for entry in std::fs::read_dir(self.chunk_dir).into_iter().flatten() {
            let Ok(entry) = entry else { continue };
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Parses the segment muxer's CSV list (`name,start,end` per line) into (file name, seconds).
fn parse_segment_list(csv: &str) -> Vec<(String, f64)> {
    csv.lines()
        .filter_map(|line| {
            let mut fields = line.rsplitn(3, ',');
            let end: f64 = fields.next()?.trim().parse().ok()?;
            let start: f64 = fields.next()?.trim().parse().ok()?;
            let name = fields.next()?.trim().trim_matches('"').to_owned();
            Some((name, end - start))
        })
        .collect()
}

/// Runs one task, with retries, and returns its outcome.
fn run_task(
    context: &TaskContext,
    task: &Task,
    worker: usize,
    threads: ThreadSetting,
) -> ClipOutcome {
    let (options, cancel) = (context.options, context.cancel);
    let mut outcome = ClipOutcome::pending(task.spec.span);
    outcome.worker = Some(worker);
    outcome.kind = task.spec.kind;
    outcome.threads = Some(threads);
    let attempts = 1 + options.retries;
    for attempt in 1..=attempts {
        if cancel.is_draining() {
            // A drained run retries nothing; a task never tried stays not started.
            if attempt == 1 {
                outcome.worker = None;
            }
            break;
        }
        outcome.attempts = attempt;
        outcome
            .started_s
            .get_or_insert(context.started.elapsed().as_secs_f64());
        context.started(task, worker, attempt);
        let result = match context.ffmpeg_args(task, threads) {
            Ok(args) => {
                let limits = Limits {
                    timeout: options.timeout,
                    stall: options.stall_timeout,
                };
                let on_progress = |done_s: f64| context.progress(task, worker, done_s);
                run_ffmpeg(&options.tools.ffmpeg, &args, limits, cancel, &on_progress)
            }
            Err(e) => ChildResult::not_started(format!("cannot write the concat list: {e}")),
        };
        outcome.cpu_s += result.cpu_s;
        outcome.peak_rss_bytes = outcome.peak_rss_bytes.max(result.peak_rss_bytes);
        outcome.wall_s = result.wall_s;
        let failure = match &result.end {
            End::Exited(0) => match context.commit(task) {
                Ok((bytes, path, validation)) => {
                    outcome.bytes = bytes;
                    outcome.path = path;
                    outcome.validation = validation;
                    outcome.status = ClipStatus::Done;
                    outcome.finished_s = Some(context.started.elapsed().as_secs_f64());
                    outcome.failure = None;
                    context.finished(task, worker, &outcome);
                    return outcome;
                }
                Err(problem) => problem,
            },
            End::Exited(code) => format!("ffmpeg exited with code {code}"),
            End::Signaled(signal) => format!("ffmpeg killed by signal {signal}"),
            End::Stalled(after) => format!(
                "ffmpeg made no progress for {:.1} s and was killed",
                after.as_secs_f64()
            ),
            End::TimedOut => format!(
                "ffmpeg timed out after {:.1} s and was killed",
                options.timeout.as_secs_f64()
            ),
            End::Cancelled => "cancelled".to_owned(),
            End::SpawnFailed(e) => format!("cannot start ffmpeg: {e}"),
        };
        context.clean_up(task);
        outcome.finished_s = Some(context.started.elapsed().as_secs_f64());
        outcome.failure = Some(ClipFailure {
            reason: failure.clone(),
            stderr_tail: result.stderr_tail,
        });
        if matches!(result.end, End::Cancelled) || cancel.is_cancelled() {
            outcome.status = ClipStatus::Cancelled;
            break;
        }
        outcome.status = ClipStatus::Failed;
        context.failed(task, worker, attempt, failure, attempt < attempts);
    }
    context.clean_up(task);
    outcome
}

/// How an ffmpeg child ended.
#[derive(Debug)]
enum End {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Stalled(Duration),
    Cancelled,
    SpawnFailed(String),
}

/// When an attempt is given up.
#[derive(Debug, Clone, Copy)]
struct Limits {
    timeout: Duration,
    stall: Option<Duration>,
}

struct ChildResult {
    end: End,
    wall_s: f64,
    cpu_s: f64,
    peak_rss_bytes: u64,
    stderr_tail: String,
}

impl ChildResult {
    /// An attempt whose ffmpeg could not be started.
    fn not_started(reason: String) -> Self {
        ChildResult {
            end: End::SpawnFailed(reason),
            wall_s: 0.0,
            cpu_s: 0.0,
            peak_rss_bytes: 0,
            stderr_tail: String::new(),
        }
    }
}

/// Runs one ffmpeg in its own process group; kills the whole group on timeout or cancellation;
/// reaps it with `wait4` to read its CPU time.
fn run_ffmpeg(
    ffmpeg: &Path,
    args: &[std::ffi::OsString],
    limits: Limits,
    cancel: &CancelToken,
    on_progress: &(dyn Fn(f64) + Sync),
) -> ChildResult {
    let began = Instant::now();
    let spawned = Command::new(ffmpeg)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return ChildResult::not_started(e.to_string()),
    };
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let last_progress = Mutex::new(Instant::now());
    std::thread::scope(|scope| {
        if let Some(stdout) = stdout {
            let last_progress = &last_progress;
            scope.spawn(move || {
                read_progress(stdout, &|done_s| {
                    *last_progress.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                    on_progress(done_s)
                })
            });
        }
        let tail = scope.spawn(move || stderr.map(read_tail).unwrap_or_default());
        let (exited_tx, exited_rx) = mpsc::channel();
        // Waits for the exit without reaping, so the pid (and group) stay ours until we reap.
        scope.spawn(move || {
            wait_exit_no_reap(pid);
            let _ = exited_tx.send(());
        });
        let mut stopped_by: Option<End> = None;
        loop {
            match exited_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if stopped_by.is_none() {
                        let quiet = last_progress
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .elapsed();
                        if cancel.is_cancelled() {
                            stopped_by = Some(End::Cancelled);
                        } else if began.elapsed() > limits.timeout {
                            stopped_by = Some(End::TimedOut);
                        } else if let Some(stall) = limits.stall.filter(|s| quiet > *s) {
                            stopped_by = Some(End::Stalled(stall));
                        }
                        if stopped_by.is_some() {
                            kill_group(pid);
                        }
                    }
                }
            }
        }
        let (status, cpu_s, peak_rss_bytes) = reap(pid);
        let end = stopped_by.unwrap_or(status);
        ChildResult {
            end,
            wall_s: began.elapsed().as_secs_f64(),
            cpu_s,
            peak_rss_bytes,
            stderr_tail: tail.join().unwrap_or_default(),
        }
    })
}

/// Parses ffmpeg's `-progress` key=value stream and reports seconds written.
/// Parses ffmpeg's `-progress` key=value stream and reports seconds written, each time the
/// output time advances.
fn read_progress(stdout: impl Read, on_progress: &dyn Fn(f64)) {
    let mut last = -1i64;
    for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
        if let Some(us) = line.strip_prefix("out_time_us=") {
            if let Ok(us) = us.trim().parse::<i64>() {
                if us > last {
                    last = us;
                    on_progress(us.max(0) as f64 / 1e6);
                }
            }
        }
    }
}

/// Keeps the last lines of a stream.
fn read_tail(stream: impl Read) -> String {
    let mut tail: VecDeque<String> = VecDeque::with_capacity(STDERR_TAIL_LINES);
    for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    Vec::from(tail).join("\n")
}

fn wait_exit_no_reap(pid: libc::pid_t) {
    loop {
        // SAFETY: siginfo_t is plain data; waitid only writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waits on our own child without reaping it (WNOWAIT).
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

fn kill_group(pid: libc::pid_t) {
    // SAFETY: the child is not reaped yet, so its process group id is still ours.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// Reaps the child and returns how it ended, its CPU seconds (user + system) and its peak
/// resident memory in bytes.
fn reap(pid: libc::pid_t) -> (End, f64, u64) {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: reaps our own child.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        if rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return (
            End::SpawnFailed("lost track of the ffmpeg child".into()),
            0.0,
            0,
        );
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    let end = if libc::WIFEXITED(status) {
        End::Exited(libc::WEXITSTATUS(status))
    } else {
        End::Signaled(libc::WTERMSIG(status))
    };
    // Linux reports ru_maxrss in KiB.
    (end, cpu, u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(number: u32, start: f64, end: f64, priority: Priority) -> Clip {
        Clip {
            number,
            start,
            end,
            priority,
        }
    }

    #[test]
    fn copies_that_miss_a_keyframe_are_reencoded() {
        let with_keyframes = MediaInfo {
            keyframes: Some(vec![0.0, 2.0, 4.0]),
            ..Default::default()
        };
        let on = clip(1, 2.0, 20.0, Priority::High);
        let off = clip(2, 3.0, 20.0, Priority::High);
        assert_eq!(
            clip_profile(Profile::Copy, &with_keyframes, &on),
            Profile::Copy
        );
        assert_eq!(
            clip_profile(Profile::Copy, &with_keyframes, &off),
            Profile::Optimized
        );
        assert_eq!(
            clip_profile(Profile::Copy, &MediaInfo::default(), &off),
            Profile::Copy
        );
        assert_eq!(
            clip_profile(Profile::Original, &with_keyframes, &off),
            Profile::Original
        );
    }

    #[test]
    fn segment_lists() {
        let csv = "group_001_000.mp4.partial,0.000000,4.960000\ngroup_001_001.mp4.partial,4.960000,25.000000\n";
        assert_eq!(
            parse_segment_list(csv),
            vec![
                ("group_001_000.mp4.partial".to_owned(), 4.96),
                ("group_001_001.mp4.partial".to_owned(), 20.04)
            ]
        );
    }

    #[test]
    fn partial_names() {
        assert_eq!(
            partial_path(Path::new("/o/clip_001.mp4")),
            PathBuf::from("/o/clip_001.mp4.partial")
        );
    }
}
