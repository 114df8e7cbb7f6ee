//! Child supervision: one ffmpeg in its own process group, its progress read from `-progress`
//! on stdout, the tail of its stderr kept, killed (the whole group) on timeout, stall or
//! cancellation, and reaped with `wait4` so its CPU time and peak memory are measured.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;

/// Lines of ffmpeg's stderr kept for a failure report.
const STDERR_TAIL_LINES: usize = 12;

/// How an ffmpeg child ended.
#[derive(Debug)]
pub(super) enum End {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Stalled(Duration),
    Cancelled,
    SpawnFailed(String),
}

/// When an attempt is given up.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub timeout: Duration,
    pub stall: Option<Duration>,
}

/// How one ffmpeg child went.
pub(super) struct ChildResult {
    pub end: End,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
    pub stderr_tail: String,
}

impl ChildResult {
    /// An attempt whose ffmpeg could not be started.
    pub fn not_started(reason: String) -> Self {
        ChildResult {
            end: End::SpawnFailed(reason),
            wall_s: 0.0,
            cpu_s: 0.0,
            peak_rss_bytes: 0,
            stderr_tail: String::new(),
        }
    }

    /// An attempt done in this process (`cpu_s` of this thread's time), no ffmpeg run.
    pub fn in_process(wall_s: f64, cpu_s: f64) -> Self {
        ChildResult {
            end: End::Exited(0),
            wall_s,
            cpu_s,
            peak_rss_bytes: 0,
            stderr_tail: String::new(),
        }
    }
}

/// Runs one ffmpeg in its own process group; kills the whole group on timeout or cancellation;
/// reaps it with `wait4` to read its CPU time.
pub(super) fn run_ffmpeg(
    ffmpeg: &Path,
    args: &[std::ffi::OsString],
    limits: Limits,
    cancel: &CancelToken,
    on_progress: &(dyn Fn(f64) + Sync),
) -> ChildResult {
    let began = Instant::now();
    let mut command = Command::new(ffmpeg);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    crate::tools::die_with_parent(&mut command);
    let spawned = command.spawn();
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
