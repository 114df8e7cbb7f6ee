//! The executor: a priority queue feeding a fixed pool of workers, each running one ffmpeg
//! child at a time, with a per-clip timeout, one retry, cancellation and atomic output files.
//!
//! Every clip is written as `clip_NNN.mp4.partial`, probed, and renamed to `clip_NNN.mp4` only
//! when valid. A failed clip never stops the others. The CPU time of each child is read from the
//! kernel when it is reaped (`wait4`), so the work W of a run is measured, not estimated.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::allocate::ThreadSetting;
use crate::encode::{ffmpeg_args, EncodeJob, Profile};
use crate::error::{EngineError, Result};
use crate::plan::{Clip, Priority};
use crate::probe::{ffmpeg_version, MediaInfo};
use crate::tools::Tools;
use crate::validate::{validate_file, Validation};

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

/// What happened to one planned clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipOutcome {
    pub clip: Clip,
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
    pub cancelled: bool,
    /// Seconds from the start of execution to the last clip finished.
    pub wall_s: f64,
}

/// The order clips are started in: high-priority clips by start time, then the longest first
/// (ties by clip number). Pure.
pub fn schedule_order(clips: &[Clip]) -> Vec<Clip> {
    let mut order = clips.to_vec();
    order.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| match a.priority {
                Priority::High => a.start.total_cmp(&b.start),
                Priority::Normal => b.duration().total_cmp(&a.duration()),
            })
            .then(a.number.cmp(&b.number))
    });
    order
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
    let started = Instant::now();
    let emit = |event: Event| {
        on_event(&TimedEvent {
            at_s: started.elapsed().as_secs_f64(),
            event,
        })
    };
    let order: VecDeque<Clip> = schedule_order(clips).into();
    for clip in clips {
        emit(Event::Queued { clip: clip.number });
    }
    let outcomes: Vec<ClipOutcome> = clips.iter().copied().map(ClipOutcome::pending).collect();
    let store = |all: &mut Vec<ClipOutcome>, outcome: ClipOutcome| {
        if let Some(slot) = all
            .iter_mut()
            .find(|o| o.clip.number == outcome.clip.number)
        {
            *slot = outcome;
        }
    };
    let worker_count = options.workers.clamp(1, clips.len().max(1));
    let queue = Mutex::new(order);
    let outcomes = Mutex::new(outcomes);
    std::thread::scope(|scope| {
        for worker in 0..worker_count {
            let (queue, outcomes, emit, store) = (&queue, &outcomes, &emit, &store);
            scope.spawn(move || loop {
                if cancel.is_draining() {
                    return;
                }
                let Some(clip) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
                    return;
                };
                let outcome = run_clip(
                    media,
                    &clip,
                    worker,
                    options.threads,
                    options,
                    cancel,
                    started,
                    emit,
                );
                store(
                    &mut outcomes.lock().unwrap_or_else(|e| e.into_inner()),
                    outcome,
                );
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    let wall_s = outcomes
        .iter()
        .filter_map(|o| o.finished_s)
        .fold(0.0, f64::max);
    Ok(Execution {
        outcomes,
        cancelled: cancel.is_draining(),
        wall_s,
    })
}

/// Runs one clip, with retries, and returns its outcome.
#[allow(clippy::too_many_arguments)]
fn run_clip(
    media: &MediaInfo,
    clip: &Clip,
    worker: usize,
    threads: ThreadSetting,
    options: &ExecuteOptions,
    cancel: &CancelToken,
    started: Instant,
    emit: &(dyn Fn(Event) + Sync),
) -> ClipOutcome {
    let final_path = options.output_dir.join(clip.file_name());
    let temp_path = partial_path(&final_path);
    let mut outcome = ClipOutcome::pending(*clip);
    outcome.worker = Some(worker);
    let attempts = 1 + options.retries;
    for attempt in 1..=attempts {
        if cancel.is_draining() {
            // A drained run retries nothing; a clip never tried stays not started.
            if attempt == 1 {
                outcome.worker = None;
            }
            break;
        }
        outcome.attempts = attempt;
        let attempt_start = started.elapsed().as_secs_f64();
        outcome.started_s.get_or_insert(attempt_start);
        emit(Event::Started {
            clip: clip.number,
            worker,
            attempt,
        });
        let job = EncodeJob {
            input: &media.path,
            output: &temp_path,
            start: clip.start,
            duration: clip.duration(),
            has_audio: media.has_audio,
            threads,
        };
        let profile = clip_profile(options.profile, media, clip);
        let args = ffmpeg_args(profile, &job);
        let on_progress = |done_s: f64| {
            emit(Event::Progress {
                clip: clip.number,
                worker,
                done_s,
                total_s: clip.duration(),
            })
        };
        let limits = Limits {
            timeout: options.timeout,
            stall: options.stall_timeout,
        };
        let result = run_ffmpeg(&options.tools.ffmpeg, &args, limits, cancel, &on_progress);
        outcome.cpu_s += result.cpu_s;
        outcome.peak_rss_bytes = outcome.peak_rss_bytes.max(result.peak_rss_bytes);
        outcome.wall_s = result.wall_s;
        let failure = match &result.end {
            End::Exited(0) => {
                let validation = validate_file(&options.tools, &temp_path, clip, media, profile);
                let valid = validation.valid;
                let problems = validation.problems.join("; ");
                outcome.validation = Some(validation);
                if valid {
                    match std::fs::rename(&temp_path, &final_path) {
                        Ok(()) => {
                            let finished = started.elapsed().as_secs_f64();
                            outcome.bytes =
                                std::fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
                            outcome.status = ClipStatus::Done;
                            outcome.finished_s = Some(finished);
                            outcome.path = Some(final_path.clone());
                            outcome.failure = None;
                            emit(Event::Finished {
                                clip: clip.number,
                                worker,
                                wall_s: result.wall_s,
                                cpu_s: outcome.cpu_s,
                                bytes: outcome.bytes,
                            });
                            return outcome;
                        }
                        Err(e) => format!("cannot rename {}: {e}", temp_path.display()),
                    }
                } else {
                    format!("invalid output: {problems}")
                }
            }
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
        let _ = std::fs::remove_file(&temp_path);
        outcome.finished_s = Some(started.elapsed().as_secs_f64());
        outcome.failure = Some(ClipFailure {
            reason: failure.clone(),
            stderr_tail: result.stderr_tail,
        });
        if matches!(result.end, End::Cancelled) || cancel.is_cancelled() {
            outcome.status = ClipStatus::Cancelled;
            break;
        }
        outcome.status = ClipStatus::Failed;
        emit(Event::Failed {
            clip: clip.number,
            worker,
            attempt,
            reason: failure,
            will_retry: attempt < attempts,
        });
    }
    let _ = std::fs::remove_file(&temp_path);
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
        Err(e) => {
            return ChildResult {
                end: End::SpawnFailed(e.to_string()),
                wall_s: 0.0,
                cpu_s: 0.0,
                peak_rss_bytes: 0,
                stderr_tail: String::new(),
            }
        }
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
    fn priority_first_then_longest() {
        let clips = [
            clip(1, 0.0, 30.0, Priority::High),
            clip(2, 25.0, 55.0, Priority::High),
            clip(3, 50.0, 80.0, Priority::Normal),
            clip(4, 75.0, 90.0, Priority::Normal),
            clip(5, 85.0, 120.0, Priority::Normal),
        ];
        let order: Vec<u32> = schedule_order(&clips).iter().map(|c| c.number).collect();
        assert_eq!(order, vec![1, 2, 5, 3, 4]);
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
    fn partial_names() {
        assert_eq!(
            partial_path(Path::new("/o/clip_001.mp4")),
            PathBuf::from("/o/clip_001.mp4.partial")
        );
    }
}
