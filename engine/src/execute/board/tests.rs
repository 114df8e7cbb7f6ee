//! Tests of the board: assemblies, lost parts, fallbacks, cancellation and the tail boost.

use super::super::graph::{pending_outcomes, plan_tasks};
use super::super::outcome::{ClipFailure, FailureKind};
use super::*;
use crate::encode::Profile;
use crate::plan::{Clip, Priority};
use crate::probe::MediaInfo;
use crate::tools::Tools;

/// Three overlapping clips of a video with audio, split into chunks for two workers.
fn board() -> Board {
    let media = MediaInfo {
        width: 160,
        height: 90,
        fps: 25.0,
        has_audio: true,
        ..Default::default()
    };
    let clips: Vec<Clip> = (0..3)
        .map(|i| Clip {
            number: i + 1,
            start: f64::from(i) * 25.0,
            end: f64::from(i) * 25.0 + 30.0,
            priority: Priority::High,
        })
        .collect();
    let (ready, waiting) = plan_tasks(&media, &clips, Profile::Optimized, 2, true);
    let all: Vec<&Task> = ready.iter().chain(&waiting).collect();
    let clip_outcomes = pending_outcomes(&all, &[TaskKind::Assemble]);
    let parts = pending_outcomes(&all, &[TaskKind::Chunk, TaskKind::Audio]);
    Board::new(ready, waiting, clip_outcomes, parts, 0)
}

fn options() -> ExecuteOptions {
    ExecuteOptions {
        workers: 2,
        ..ExecuteOptions::new("out", Tools::default())
    }
}

fn ended(task: &Task, status: ClipStatus) -> ClipOutcome {
    let mut outcome = ClipOutcome::pending_task(task.spec.span, task.spec.kind);
    outcome.status = status;
    outcome.finished_s = Some(1.0);
    if status != ClipStatus::Done {
        outcome.failure = Some(ClipFailure {
            kind: FailureKind::Exited,
            reason: "ffmpeg exited with code 1".into(),
            stderr_tail: "boom".into(),
        });
    }
    outcome
}

/// Runs every part to the end (chunk groups to `chunk_status`, the audio to Done) and
/// returns the assemblies that became ready meanwhile (taken off the board).
fn finish_parts(board: &mut Board, chunk_status: ClipStatus) -> Vec<Task> {
    let mut released = Vec::new();
    while let Some((task, _)) = board.take_next(&options(), &|_| true) {
        let status = match task.spec.kind {
            TaskKind::Assemble => {
                released.push(task);
                continue;
            }
            TaskKind::Chunk => chunk_status,
            _ => ClipStatus::Done,
        };
        board.finish(&task, ended(&task, status));
    }
    released
}

#[test]
fn assemblies_wait_until_all_their_parts_are_written() {
    let mut board = board();
    assert_eq!(board.waiting.len(), 3);
    assert!(board
        .ready
        .iter()
        .all(|t| t.spec.kind != TaskKind::Assemble));
    let released = finish_parts(&mut board, ClipStatus::Done);
    assert!(
        board.is_empty(),
        "every part written, every assembly released"
    );
    assert_eq!(released.len(), 3);
    assert!(released.iter().all(|t| t.spec.kind == TaskKind::Assemble));
    assert_eq!(board.running, 3, "the three assemblies taken");
    assert!(board.chunks.iter().all(|o| o.status == ClipStatus::Done));
}

#[test]
fn a_lost_part_redoes_exactly_the_clips_that_need_it() {
    let mut board = board();
    let first_group = loop {
        let (task, _) = board.take_next(&options(), &|_| true).unwrap();
        if task.spec.kind == TaskKind::Chunk {
            break task;
        }
        board.finish(&task, ended(&task, ClipStatus::Done));
    };
    let needing: Vec<u32> = board
        .waiting
        .iter()
        .filter(|t| t.parts.iter().any(|p| first_group.parts.contains(p)))
        .map(|t| t.spec.span.number)
        .collect();
    assert!(!needing.is_empty());
    board.finish(&first_group, ended(&first_group, ClipStatus::Failed));
    // No clip failed: each one that needed the lost chunks is re-encoded from the source.
    assert!(board
        .clips
        .iter()
        .all(|o| o.status == ClipStatus::NotStarted));
    let redone: Vec<&Task> = board
        .ready
        .iter()
        .filter(|t| t.fallback.is_some())
        .collect();
    let mut numbers: Vec<u32> = redone.iter().map(|t| t.spec.span.number).collect();
    numbers.sort();
    assert_eq!(numbers, needing);
    for task in redone {
        assert_eq!(
            (task.spec.kind, task.profile),
            (TaskKind::Encode, Profile::Optimized)
        );
        let reason = task.fallback.as_deref().unwrap();
        assert!(reason.starts_with("chunk group"), "{reason}");
        assert!(reason.ends_with("ffmpeg exited with code 1"), "{reason}");
    }
    assert!(board
        .waiting
        .iter()
        .all(|t| !needing.contains(&t.spec.span.number)));
}

#[test]
fn a_failed_copy_is_reencoded_and_counts_both_attempts() {
    let media = MediaInfo {
        width: 160,
        height: 90,
        fps: 25.0,
        ..Default::default()
    };
    let clip = Clip {
        number: 1,
        start: 0.0,
        end: 30.0,
        priority: Priority::High,
    };
    let (ready, waiting) = plan_tasks(&media, &[clip], Profile::Copy, 1, false);
    let all: Vec<&Task> = ready.iter().collect();
    let clips = pending_outcomes(&all, &[TaskKind::Copy]);
    let mut board = Board::new(ready, waiting, clips, Vec::new(), 0);
    let (copy, _) = board.take_next(&options(), &|_| true).unwrap();
    assert_eq!(copy.spec.kind, TaskKind::Copy);
    let mut failed = ended(&copy, ClipStatus::Failed);
    failed.attempts = 1;
    failed.cpu_s = 0.25;
    board.finish(&copy, failed);
    let (redo, _) = board.take_next(&options(), &|_| true).unwrap();
    assert_eq!(
        (redo.spec.kind, redo.profile),
        (TaskKind::Encode, Profile::Optimized)
    );
    let reason = redo.fallback.clone().unwrap();
    assert!(
        reason.starts_with("stream copy failed: ffmpeg exited"),
        "{reason}"
    );
    let mut done = ended(&redo, ClipStatus::Done);
    (done.attempts, done.cpu_s, done.fallback) = (1, 1.0, redo.fallback.clone());
    board.finish(&redo, done);
    let outcome = &board.clips[0];
    assert_eq!(outcome.status, ClipStatus::Done);
    assert_eq!((outcome.attempts, outcome.cpu_s), (2, 1.25));
    assert_eq!(outcome.fallback.as_deref(), Some(reason.as_str()));
    assert!(board.is_empty() && board.take_next(&options(), &|_| true).is_none());
}

#[test]
fn a_cancelled_part_cancels_its_clips() {
    let mut board = board();
    let released = finish_parts(&mut board, ClipStatus::Cancelled);
    assert!(released.is_empty() && board.is_empty());
    assert!(board
        .clips
        .iter()
        .all(|o| o.status == ClipStatus::Cancelled));
}

#[test]
fn the_tail_boost_gives_the_last_encodes_the_spare_cores() {
    let mut board = board();
    let options = ExecuteOptions {
        threads: ThreadSetting::Fixed(1),
        tail_boost: true,
        cores: 4,
        ..options()
    };
    let chunk_groups = board
        .ready
        .iter()
        .filter(|t| t.spec.kind == TaskKind::Chunk)
        .count();
    let mut threads = Vec::new();
    while let Some((task, setting)) = board.take_next(&options, &|_| true) {
        if task.spec.kind == TaskKind::Chunk {
            threads.push(setting);
        }
        board.finish(&task, ended(&task, ClipStatus::Done));
    }
    assert_eq!(threads.len(), chunk_groups);
    assert!(chunk_groups >= 2, "{chunk_groups}");
    // One encoder started alone at the tail takes all four cores; the first kept its one.
    assert_eq!(
        threads.first(),
        Some(&ThreadSetting::Fixed(1)),
        "{threads:?}"
    );
    assert_eq!(
        threads.last(),
        Some(&ThreadSetting::Fixed(4)),
        "{threads:?}"
    );
}

/// A smart cut of `clips` clips 25 s apart (the first of high priority): each clip's pieces
/// ready, its join waiting for them.
fn smart_board(clips: u32) -> Board {
    use crate::smart::{Copied, Encoded, SmartCut};
    use crate::task::TaskSpec;
    let cut = SmartCut {
        head: Some(Encoded {
            start: 0.0,
            end: 1.0,
            frames: 25,
        }),
        copy: Some(Copied {
            start: 1.0,
            end: 30.0,
            decode_end: None,
        }),
        foot: None,
    };
    let (mut ready, mut waiting) = (Vec::new(), Vec::new());
    for number in 1..=clips {
        let start = f64::from(number - 1) * 25.0;
        let priority = match number {
            1 => Priority::High,
            _ => Priority::Normal,
        };
        let span = Clip {
            number,
            start,
            end: start + 30.0,
            priority,
        };
        let task = |kind| Task {
            spec: TaskSpec {
                kind,
                span,
                pixel_frames: 1.0,
            },
            profile: Profile::Smart,
            chunks: Vec::new(),
            parts: vec![super::super::graph::cut_part(number)],
            fallback: None,
            cut: Some(cut),
        };
        ready.push(task(TaskKind::Cut));
        waiting.push(task(TaskKind::Assemble));
    }
    let all: Vec<&Task> = ready.iter().chain(&waiting).collect();
    let clip_outcomes = pending_outcomes(&all, &[TaskKind::Assemble]);
    let parts = pending_outcomes(&all, &[TaskKind::Cut]);
    Board::new(ready, waiting, clip_outcomes, parts, 0)
}

/// Takes the next task, which must be clip `number`'s of `kind`.
fn take(board: &mut Board, startable: &dyn Fn(&Task) -> bool, kind: TaskKind, number: u32) -> Task {
    let (task, _) = board.take_next(&options(), startable).unwrap();
    assert_eq!((task.spec.kind, task.spec.span.number), (kind, number));
    task
}

#[test]
fn smart_joins_wait_to_be_checked_together_while_other_work_can_run() {
    let mut board = smart_board(6);
    let any = |_: &Task| true;
    let cut = take(&mut board, &any, TaskKind::Cut, 1);
    board.finish(&cut, ended(&cut, ClipStatus::Done));
    // The first clip's join runs at once (time to first clip), alone.
    let first = take(&mut board, &any, TaskKind::Assemble, 1);
    assert!(board.take_joins(&first, &any).is_empty());
    // The next joins wait while pieces can be cut, until four are ready.
    for number in 2..=5 {
        let cut = take(&mut board, &any, TaskKind::Cut, number);
        board.finish(&cut, ended(&cut, ClipStatus::Done));
    }
    let first = take(&mut board, &any, TaskKind::Assemble, 2);
    let together: Vec<u32> = (board.take_joins(&first, &any).iter())
        .map(|t| t.spec.span.number)
        .collect();
    assert_eq!(together, vec![3, 4, 5]);
    assert_eq!(board.running, 5, "cuts finished, five joins taken");
    // The last join has nothing to wait with: it runs alone.
    let cut = take(&mut board, &any, TaskKind::Cut, 6);
    board.finish(&cut, ended(&cut, ClipStatus::Done));
    take(&mut board, &any, TaskKind::Assemble, 6);
    assert!(board.is_empty());
}

#[test]
fn a_smart_join_does_not_wait_when_nothing_else_can_start() {
    let mut board = smart_board(3);
    let any = |_: &Task| true;
    for number in 1..=2 {
        let cut = take(&mut board, &any, TaskKind::Cut, number);
        board.finish(&cut, ended(&cut, ClipStatus::Done));
        if number == 1 {
            take(&mut board, &any, TaskKind::Assemble, 1);
        }
    }
    // Clip 3's bytes have not arrived: clip 2's join runs now rather than idle a worker.
    let arrived = |t: &Task| t.spec.span.number < 3;
    take(&mut board, &arrived, TaskKind::Assemble, 2);
}
