//! The pool's rules with a fake runner: no ffmpeg, no files, no clock in any assertion.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;
use crate::encode::Profile;
use crate::execute::events::TimedEvent;
use crate::execute::graph::{pending_outcomes, plan_tasks};
use crate::execute::outcome::FailureKind;
use crate::execute::{Event, MemoryGate, Subject};
use crate::plan::{Clip, Priority};
use crate::probe::MediaInfo;
use crate::tools::Tools;

/// An error an attempt ends with, made fresh for each attempt.
type MakeError = fn() -> AttemptError;

/// What the fake does and saw.
#[derive(Default)]
struct Fake {
    /// Clip number → the error its first attempts end with, and how many attempts fail.
    failing: HashMap<u32, (MakeError, u32)>,
    /// Drained during this clip's attempt.
    drain_during: Option<(u32, CancelToken)>,
    /// Each attempt waits until this many attempts have run at once, at most this long.
    rendezvous: (usize, Duration),
    /// Every attempt: (clip, worker, threads).
    calls: Mutex<Vec<(u32, usize, ThreadSetting)>>,
    cleaned: Mutex<Vec<u32>>,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl TaskRunner for Fake {
    fn attempt(&self, task: &Task, worker: usize, threads: ThreadSetting) -> Attempt {
        let clip = task.spec.span.number;
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let earlier = {
            let mut calls = self.calls.lock().unwrap();
            let earlier = calls.iter().filter(|c| c.0 == clip).count() as u32;
            calls.push((clip, worker, threads));
            earlier
        };
        if let Some((_, token)) = self.drain_during.as_ref().filter(|(n, _)| *n == clip) {
            token.drain();
        }
        let (count, patience) = self.rendezvous;
        let deadline = Instant::now() + patience;
        // Once met, nobody waits again (the last task may have nobody to meet).
        while self.peak.load(Ordering::SeqCst) < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        let result = match self.failing.get(&clip) {
            Some((error, failures)) if earlier < *failures => Err(error()),
            _ => Ok(Written {
                bytes: 100,
                path: None,
                validation: None,
            }),
        };
        Attempt {
            wall_s: 1.0,
            cpu_s: 2.0,
            peak_rss_bytes: 0,
            stderr_tail: String::new(),
            result,
        }
    }

    fn clean_up(&self, task: &Task) {
        self.cleaned.lock().unwrap().push(task.spec.span.number);
    }
}

fn clip(number: u32, start: f64, end: f64, priority: Priority) -> Clip {
    Clip {
        number,
        start,
        end,
        priority,
    }
}

/// `count` clips of 10 s, one after the other, from 10 s on.
fn ten_second_clips(count: u32) -> Vec<Clip> {
    (1..=count)
        .map(|n| {
            clip(
                n,
                f64::from(n) * 10.0,
                f64::from(n) * 10.0 + 10.0,
                Priority::Normal,
            )
        })
        .collect()
}

fn options(workers: usize) -> ExecuteOptions {
    ExecuteOptions {
        workers,
        ..ExecuteOptions::new("out", Tools::default())
    }
}

/// Runs `clips` (re-encoded, one task each) through the pool with `fake`; the board and the
/// events.
fn run(
    clips: &[Clip],
    options: &ExecuteOptions,
    workers: usize,
    cancel: &CancelToken,
    fake: &Fake,
) -> (Board, Vec<Event>) {
    let media = MediaInfo {
        duration: 100.0,
        width: 160,
        height: 90,
        fps: 25.0,
        ..Default::default()
    };
    let (ready, waiting) = plan_tasks(&media, clips, Profile::Optimized, workers, false);
    let all: Vec<&Task> = ready.iter().chain(&waiting).collect();
    let outcomes = pending_outcomes(&all, &[TaskKind::Encode]);
    let per_encoder = options.memory.map_or(0, |m| m.per_encoder_bytes);
    let board = Board::new(ready, waiting, outcomes, Vec::new(), per_encoder);
    let seen = Mutex::new(Vec::new());
    let on_event = |e: &TimedEvent| seen.lock().unwrap().push(e.event.clone());
    let events = Emitter {
        started: Instant::now(),
        on_event: &on_event,
    };
    let pool = Pool {
        options,
        cancel,
        events: &events,
        runner: fake,
    };
    let board = run_pool(board, workers, &pool);
    (board, seen.into_inner().unwrap())
}

fn outcome(board: &Board, number: u32) -> &ClipOutcome {
    board
        .clips
        .iter()
        .find(|o| o.clip.number == number)
        .unwrap()
}

#[test]
fn one_worker_takes_high_priority_first_then_the_longest() {
    let clips = [
        clip(1, 0.0, 10.0, Priority::Normal),
        clip(2, 10.0, 40.0, Priority::Normal),
        clip(3, 40.0, 60.0, Priority::High),
        clip(4, 60.0, 80.0, Priority::Normal),
    ];
    let fake = Fake::default();
    let (board, _) = run(&clips, &options(1), 1, &CancelToken::new(), &fake);
    let order: Vec<u32> = fake.calls.lock().unwrap().iter().map(|c| c.0).collect();
    // The high-priority clip first; then the longest (30 s), then the 20 s one, the 10 s last.
    assert_eq!(order, [3, 2, 4, 1]);
    assert!(board.clips.iter().all(|o| o.status == ClipStatus::Done));
}

#[test]
fn workers_run_side_by_side() {
    let clips = ten_second_clips(4);
    let fake = Fake {
        rendezvous: (2, Duration::from_secs(5)),
        ..Fake::default()
    };
    let (board, _) = run(&clips, &options(2), 2, &CancelToken::new(), &fake);
    assert_eq!(fake.peak.load(Ordering::SeqCst), 2);
    let workers: std::collections::HashSet<usize> =
        fake.calls.lock().unwrap().iter().map(|c| c.1).collect();
    assert_eq!(workers.len(), 2);
    assert!(board.clips.iter().all(|o| o.status == ClipStatus::Done));
}

#[test]
fn a_failed_attempt_is_retried_and_every_attempt_counted() {
    let clips = [
        clip(1, 0.0, 10.0, Priority::Normal),
        clip(2, 10.0, 20.0, Priority::Normal),
    ];
    let mut fake = Fake::default();
    fake.failing.insert(2, (|| AttemptError::Exited(1), 1));
    let (board, events) = run(&clips, &options(1), 1, &CancelToken::new(), &fake);
    let second = outcome(&board, 2);
    assert_eq!(second.status, ClipStatus::Done);
    assert_eq!(second.attempts, 2);
    assert_eq!(second.cpu_s, 4.0, "both attempts' CPU time");
    assert!(second.failure.is_none());
    assert_eq!(*fake.cleaned.lock().unwrap(), [2]);
    let failed: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Failed { .. }))
        .collect();
    assert!(
        matches!(
            failed[..],
            [Event::Failed {
                subject: Subject::Clip(2),
                kind: FailureKind::Exited,
                attempt: 1,
                will_retry: true,
                ..
            }]
        ),
        "{failed:?}"
    );
}

#[test]
fn without_retries_a_failure_is_final_and_keeps_its_kind() {
    let clips = [clip(1, 0.0, 10.0, Priority::Normal)];
    let mut fake = Fake::default();
    fake.failing.insert(
        1,
        (|| AttemptError::TimedOut(Duration::from_secs(3)), u32::MAX),
    );
    let options = ExecuteOptions {
        retries: 0,
        ..options(1)
    };
    let (board, _) = run(&clips, &options, 1, &CancelToken::new(), &fake);
    let first = outcome(&board, 1);
    assert_eq!((first.status, first.attempts), (ClipStatus::Failed, 1));
    assert_eq!(first.failure.as_ref().unwrap().kind, FailureKind::TimedOut);
}

#[test]
fn a_cancelled_attempt_is_not_retried() {
    let clips = [clip(1, 0.0, 10.0, Priority::Normal)];
    let mut fake = Fake::default();
    fake.failing
        .insert(1, (|| AttemptError::Cancelled, u32::MAX));
    let (board, _) = run(&clips, &options(1), 1, &CancelToken::new(), &fake);
    let first = outcome(&board, 1);
    assert_eq!((first.status, first.attempts), (ClipStatus::Cancelled, 1));
    assert_eq!(first.failure.as_ref().unwrap().kind, FailureKind::Cancelled);
}

#[test]
fn a_drain_lets_the_running_task_finish_and_starts_nothing_new() {
    let clips = ten_second_clips(3);
    let cancel = CancelToken::new();
    let fake = Fake {
        drain_during: Some((1, cancel.clone())),
        ..Fake::default()
    };
    // Equal lengths: clip 1 goes first (by number).
    let (board, _) = run(&clips, &options(1), 1, &cancel, &fake);
    assert_eq!(outcome(&board, 1).status, ClipStatus::Done);
    for n in [2, 3] {
        let later = outcome(&board, n);
        assert_eq!(later.status, ClipStatus::NotStarted);
        assert_eq!((later.worker, later.attempts), (None, 0));
    }
    assert_eq!(fake.calls.lock().unwrap().len(), 1);
}

#[test]
fn short_memory_holds_tasks_back_until_the_running_one_ends() {
    let clips = ten_second_clips(3);
    let gate = |available_bytes: fn() -> u64| MemoryGate {
        per_encoder_bytes: 1 << 30,
        available_bytes,
    };
    // 1 byte available: one encoder at a time, though two workers wait for tasks.
    let short = ExecuteOptions {
        memory: Some(gate(|| 1)),
        ..options(2)
    };
    // Each attempt waits a moment for another to join it: none may.
    let fake = Fake {
        rendezvous: (2, Duration::from_millis(100)),
        ..Fake::default()
    };
    let (board, _) = run(&clips, &short, 2, &CancelToken::new(), &fake);
    assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
    assert!(board.clips.iter().all(|o| o.status == ClipStatus::Done));
    // Unknown memory (0) never holds anything back.
    let unknown = ExecuteOptions {
        memory: Some(gate(|| 0)),
        ..options(2)
    };
    let fake = Fake {
        rendezvous: (2, Duration::from_secs(5)),
        ..Fake::default()
    };
    run(&clips, &unknown, 2, &CancelToken::new(), &fake);
    assert_eq!(fake.peak.load(Ordering::SeqCst), 2);
}

#[test]
fn the_tail_boost_reaches_the_runner() {
    let clips = ten_second_clips(3);
    let options = ExecuteOptions {
        threads: ThreadSetting::Fixed(1),
        tail_boost: true,
        cores: 4,
        ..options(2)
    };
    // One pool worker, so the order is known; two planned workers, so the last encode is alone.
    let fake = Fake::default();
    run(&clips, &options, 1, &CancelToken::new(), &fake);
    let threads: Vec<ThreadSetting> = fake.calls.lock().unwrap().iter().map(|c| c.2).collect();
    assert_eq!(
        threads,
        [
            ThreadSetting::Fixed(1),
            ThreadSetting::Fixed(1),
            ThreadSetting::Fixed(4)
        ]
    );
}
