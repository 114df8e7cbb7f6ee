//! The worker pool: `workers` threads take tasks off the board in schedule order (holding one
//! back while memory is short), run each through a [`TaskRunner`] attempt by attempt (retries,
//! drain, cancel) and put the outcome back on the board. No process is started here: the runner
//! does the work (`attempt.rs` with real ffmpeg), so the pool's rules are unit-tested with a
//! fake one.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::board::Board;
use super::events::Emitter;
use super::graph::Task;
use super::outcome::AttemptError;
use super::outcome::{ClipOutcome, ClipStatus};
use super::ExecuteOptions;
use crate::allocate::ThreadSetting;
use crate::arrival::Availability;
use crate::cancel::CancelToken;
use crate::schedule::memory_allows;
use crate::task::TaskKind;
use crate::validate::Validation;

/// Runs one attempt of one task.
pub(super) trait TaskRunner: Sync {
    /// Runs `task` once with `threads` on `worker`: what it measured, and what it wrote or why
    /// it failed.
    fn attempt(&self, task: &Task, worker: usize, threads: ThreadSetting) -> Attempt;
    /// Runs smart cuts' joins together on `worker`, each once ([`Board::take_joins`]): one
    /// attempt per task, in order. Each alone unless the runner can share work among them.
    fn attempt_joins(&self, tasks: &[Task], worker: usize) -> Vec<Attempt> {
        (tasks.iter())
            .map(|task| self.attempt(task, worker, ThreadSetting::Auto))
            .collect()
    }
    /// Removes what a failed (or abandoned) attempt left behind.
    fn clean_up(&self, task: &Task);
}

/// One attempt's figures and result.
pub(super) struct Attempt {
    pub wall_s: f64,
    /// CPU time of its child (or of the in-process join).
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
    /// The last lines ffmpeg wrote to stderr.
    pub stderr_tail: String,
    pub result: Result<Written, AttemptError>,
}

impl Attempt {
    /// An attempt that started nothing: it failed with `error`.
    fn not_run(error: AttemptError) -> Attempt {
        Attempt {
            wall_s: 0.0,
            cpu_s: 0.0,
            peak_rss_bytes: 0,
            stderr_tail: String::new(),
            result: Err(error),
        }
    }
}

/// What an attempt that passed its checks wrote.
pub(super) struct Written {
    pub bytes: u64,
    pub path: Option<PathBuf>,
    pub validation: Option<Validation>,
}

/// What every worker of one execution shares besides the board.
pub(super) struct Pool<'a> {
    pub options: &'a ExecuteOptions,
    pub cancel: &'a CancelToken,
    pub events: &'a Emitter<'a>,
    pub runner: &'a dyn TaskRunner,
}

/// Runs `workers` threads, each taking tasks off the board until none is left; returns the
/// board with every outcome.
pub(super) fn run_pool(board: Board, workers: usize, pool: &Pool) -> Board {
    let board = Mutex::new(board);
    let wakeup = Condvar::new();
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (board, wakeup) = (&board, &wakeup);
            scope.spawn(move || {
                while let Some((tasks, threads)) = next_tasks(board, wakeup, pool) {
                    let outcomes = match tasks.as_slice() {
                        [task] => vec![run_task(pool, task, worker, threads)],
                        joins => run_joins(pool, joins, worker),
                    };
                    let mut board = lock(board);
                    for (task, outcome) in tasks.iter().zip(outcomes) {
                        board.finish(task, outcome);
                    }
                    drop(board);
                    wakeup.notify_all();
                }
                wakeup.notify_all();
            });
        }
    });
    board.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn lock(board: &Mutex<Board>) -> MutexGuard<'_, Board> {
    board.lock().unwrap_or_else(|e| e.into_inner())
}

const MIB: u64 = 1024 * 1024;

/// Waits for the next tasks a worker may start — one task, or smart cuts' joins to run
/// together ([`Board::take_joins`]): `None` when nothing is left (or the run is drained).
/// Holds a task back while memory is short and other tasks are running.
fn next_tasks(
    board: &Mutex<Board>,
    wakeup: &Condvar,
    pool: &Pool,
) -> Option<(Vec<Task>, ThreadSetting)> {
    let mut guard = lock(board);
    let mut warned = false;
    loop {
        if pool.cancel.is_draining() || guard.is_empty() {
            return None;
        }
        let held_since = Instant::now();
        let mut waiting_on_memory = false;
        if !guard.ready.is_empty() {
            let allowed = pool.options.memory.is_none_or(|gate| {
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
                let startable = |task: &Task| source_ready(pool.options, task);
                if let Some((task, threads)) = guard.take_next(pool.options, &startable) {
                    let others = guard.take_joins(&task, &startable);
                    let tasks = std::iter::once(task).chain(others).collect();
                    return Some((tasks, threads));
                }
            }
            waiting_on_memory = !allowed;
        }
        // Bytes of an arriving source are looked for often: a clip starts soon after its last
        // byte lands.
        let wait = match pool.options.source {
            Some(_) => Duration::from_millis(20),
            None => Duration::from_millis(100),
        };
        guard = wakeup
            .wait_timeout(guard, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        if waiting_on_memory {
            guard.memory_hold_s += held_since.elapsed().as_secs_f64();
        }
    }
}

/// Whether the source bytes `task` reads are on disk, or never will be (then it fails at once
/// with the download's reason): always, for a source that is not arriving.
fn source_ready(options: &ExecuteOptions, task: &Task) -> bool {
    (options.source.as_ref())
        .is_none_or(|source| source.has_for(task.spec.span.end) != Availability::NotYet)
}

/// Why `task` can never run: the download stopped before the bytes it reads.
fn source_missing(options: &ExecuteOptions, task: &Task) -> Option<String> {
    match options.source.as_ref()?.has_for(task.spec.span.end) {
        Availability::Never(reason) => Some(reason),
        _ => None,
    }
}

/// Runs one task, with retries, and returns its outcome.
fn run_task(pool: &Pool, task: &Task, worker: usize, threads: ThreadSetting) -> ClipOutcome {
    let mut outcome = begun(task, worker, threads);
    // A fast path is not tried twice: the board re-encodes the clip when it fails.
    let attempts = match task.falls_back() {
        true => 1,
        false => 1 + pool.options.retries,
    };
    for attempt in 1..=attempts {
        if pool.cancel.is_draining() {
            // A drained run retries nothing; a task never tried stays not started.
            if attempt == 1 {
                outcome.worker = None;
            }
            break;
        }
        let now_s = pool.events.now_s();
        started(pool, task, (worker, attempt), now_s, &mut outcome);
        let tried = match source_missing(pool.options, task) {
            Some(reason) => Attempt::not_run(AttemptError::SourceMissing(reason)),
            None => pool.runner.attempt(task, worker, threads),
        };
        match settle(pool, task, worker, (attempt, attempts), tried, &mut outcome) {
            Settled::Done => return outcome,
            Settled::Ended => break,
            Settled::Retry => {}
        }
    }
    pool.runner.clean_up(task);
    outcome
}

/// Runs smart cuts' joins together, each once (a failed join is redone by re-encoding its
/// clip), and returns their outcomes in order.
fn run_joins(pool: &Pool, tasks: &[Task], worker: usize) -> Vec<ClipOutcome> {
    let mut outcomes: Vec<ClipOutcome> = (tasks.iter())
        .map(|task| begun(task, worker, ThreadSetting::Auto))
        .collect();
    if pool.cancel.is_draining() {
        for outcome in &mut outcomes {
            outcome.worker = None;
        }
        return outcomes;
    }
    // Joins run together start together.
    let now_s = pool.events.now_s();
    for (task, outcome) in tasks.iter().zip(&mut outcomes) {
        started(pool, task, (worker, 1), now_s, outcome);
    }
    let attempts = pool.runner.attempt_joins(tasks, worker);
    for ((task, tried), outcome) in tasks.iter().zip(attempts).zip(&mut outcomes) {
        settle(pool, task, worker, (1, 1), tried, outcome);
    }
    outcomes
}

/// A task's outcome before its first attempt, on `worker` with `threads`.
fn begun(task: &Task, worker: usize, threads: ThreadSetting) -> ClipOutcome {
    let mut outcome = ClipOutcome::pending_task(task.spec.span, task.spec.kind);
    outcome.worker = Some(worker);
    outcome.threads = Some(threads);
    outcome.fallback = task.fallback.clone();
    outcome
}

/// Records that `attempt` of `task` starts at `now_s`.
fn started(
    pool: &Pool,
    task: &Task,
    (worker, attempt): (usize, u32),
    now_s: f64,
    outcome: &mut ClipOutcome,
) {
    outcome.attempts = attempt;
    outcome.started_s.get_or_insert(now_s);
    pool.events.started(task, worker, attempt);
}

/// What an attempt left a task with.
enum Settled {
    Done,
    /// Failed or cancelled for good.
    Ended,
    /// Failed; the next attempt may succeed.
    Retry,
}

/// Records attempt `attempt` of `attempts` of `task` in its outcome: its figures, and what it
/// wrote or why it failed (cleaning up after a failure).
fn settle(
    pool: &Pool,
    task: &Task,
    worker: usize,
    (attempt, attempts): (u32, u32),
    tried: Attempt,
    outcome: &mut ClipOutcome,
) -> Settled {
    let (cancel, events) = (pool.cancel, pool.events);
    outcome.cpu_s += tried.cpu_s;
    outcome.peak_rss_bytes = outcome.peak_rss_bytes.max(tried.peak_rss_bytes);
    outcome.wall_s = tried.wall_s;
    outcome.finished_s = Some(events.now_s());
    let error = match tried.result {
        Ok(written) => {
            outcome.bytes = written.bytes;
            outcome.path = written.path;
            outcome.validation = written.validation;
            outcome.status = ClipStatus::Done;
            outcome.failure = None;
            events.finished(task, worker, outcome);
            return Settled::Done;
        }
        Err(error) => error,
    };
    pool.runner.clean_up(task);
    outcome.failure = Some(error.failure(tried.stderr_tail));
    if matches!(error, AttemptError::Cancelled) || cancel.is_cancelled() {
        outcome.status = ClipStatus::Cancelled;
        return Settled::Ended;
    }
    outcome.status = ClipStatus::Failed;
    // A clip whose fast path or smart-cut pieces fail is re-encoded from the source; a
    // source that never arrived is tried no more.
    let missing = matches!(error, AttemptError::SourceMissing(_));
    let retried =
        !missing && (attempt < attempts || task.falls_back() || task.spec.kind == TaskKind::Cut);
    events.failed(task, worker, attempt, &error, retried);
    match missing || attempt == attempts {
        true => Settled::Ended,
        false => Settled::Retry,
    }
}

#[cfg(test)]
mod tests;
