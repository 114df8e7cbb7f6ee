//! The board every worker shares (pure state machine, behind one lock in the pool): tasks
//! ready to start, assemblies waiting for their parts, what is running, and the outcomes so
//! far. Finishing a part releases the assemblies that waited only on it. A clip is never lost
//! to a fast path: a failed copy or join, or a lost part, puts a re-encode of the clip from the
//! source on the board instead (only a cancelled part cancels its clips).

use std::collections::HashSet;

use super::graph::Task;
use super::outcome::{ClipOutcome, ClipStatus};
use super::ExecuteOptions;
use crate::adapt::FALLBACK_PROFILE;
use crate::allocate::ThreadSetting;
use crate::encode::Profile;
use crate::schedule::{compare, tail_threads, CostModel, TaskKind};

/// Everything the workers share.
pub(super) struct Board {
    pub ready: Vec<Task>,
    /// Assemblies whose parts are not all written yet.
    pub waiting: Vec<Task>,
    /// Parts (chunks, separate audio) encoded and valid.
    done_parts: HashSet<u32>,
    pub running: usize,
    running_encodes: usize,
    model: CostModel,
    /// Memory one encoder needs: the largest peak measured so far (or the gate's estimate).
    pub per_encoder_bytes: u64,
    /// Worker-seconds spent holding a ready task back because memory was short.
    pub memory_hold_s: f64,
    pub clips: Vec<ClipOutcome>,
    pub chunks: Vec<ClipOutcome>,
}

impl Board {
    /// A board with `ready` and `waiting` tasks and a pending outcome for each clip and part.
    pub fn new(
        ready: Vec<Task>,
        waiting: Vec<Task>,
        clips: Vec<ClipOutcome>,
        chunks: Vec<ClipOutcome>,
        per_encoder_bytes: u64,
    ) -> Self {
        Board {
            ready,
            waiting,
            done_parts: HashSet::new(),
            running: 0,
            running_encodes: 0,
            model: CostModel::default(),
            per_encoder_bytes,
            memory_hold_s: 0.0,
            clips,
            chunks,
        }
    }

    /// Whether no task is left to start (some may still be running).
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.waiting.is_empty()
    }

    /// Takes the next task in schedule order and the thread setting it runs with.
    pub fn take_next(&mut self, options: &ExecuteOptions) -> Option<(Task, ThreadSetting)> {
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
    /// fails) the assemblies waiting on its parts.
    pub fn finish(&mut self, task: &Task, outcome: ClipOutcome) {
        self.running -= 1;
        if task.spec.kind.encodes_video() {
            self.running_encodes -= 1;
        }
        if outcome.status == ClipStatus::Done {
            self.model
                .observe(task.spec.kind, task.spec.pixel_frames, outcome.cpu_s);
        }
        self.per_encoder_bytes = self.per_encoder_bytes.max(outcome.peak_rss_bytes);
        if !task.spec.kind.makes_part() {
            if task.falls_back() && outcome.status == ClipStatus::Failed {
                let why = outcome.failure.as_ref().map_or("", |f| f.reason.as_str());
                let what = match (task.spec.kind, task.cut) {
                    (TaskKind::Copy, _) => "stream copy",
                    (_, Some(_)) => "smart-cut join",
                    _ => "join of chunks",
                };
                self.fall_back(task, format!("{what} failed: {why}"));
            }
            self.store_clip(outcome);
            return;
        }
        if outcome.status == ClipStatus::Done {
            self.done_parts.extend(&task.parts);
            let done = &self.done_parts;
            let (now_ready, still): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.waiting)
                .into_iter()
                .partition(|t| t.parts.iter().all(|p| done.contains(p)));
            self.waiting = still;
            self.ready.extend(now_ready);
        } else {
            self.redo_dependents(task, &outcome);
        }
        if let Some(slot) = self
            .chunks
            .iter_mut()
            .find(|o| o.clip.number == outcome.clip.number && o.kind == outcome.kind)
        {
            *slot = outcome;
        }
    }

    /// Puts a re-encode of `failed`'s clip on the board (the run's profile, or the copy
    /// profile's fallback).
    fn fall_back(&mut self, failed: &Task, reason: String) {
        let profile = match failed.profile {
            Profile::Copy | Profile::Smart => FALLBACK_PROFILE,
            reencoding => reencoding,
        };
        let spec = &failed.spec;
        let task = Task::fallback(spec.span, spec.pixel_frames, profile, reason);
        self.ready.push(task);
    }

    /// Stores a clip's outcome; a re-encode after a failed fast path keeps the attempts, CPU
    /// time and start of what it replaces.
    fn store_clip(&mut self, mut outcome: ClipOutcome) {
        let Some(slot) = self
            .clips
            .iter_mut()
            .find(|o| o.clip.number == outcome.clip.number)
        else {
            return;
        };
        if outcome.fallback.is_some() {
            outcome.attempts += slot.attempts;
            outcome.cpu_s += slot.cpu_s;
            outcome.peak_rss_bytes = outcome.peak_rss_bytes.max(slot.peak_rss_bytes);
            outcome.started_s = slot.started_s.or(outcome.started_s);
        }
        *slot = outcome;
    }

    /// Every waiting assembly that needs a part that was not written is re-encoded from the
    /// source instead (or cancelled, when the part was).
    fn redo_dependents(&mut self, part: &Task, part_outcome: &ClipOutcome) {
        let lost: HashSet<u32> = part.parts.iter().copied().collect();
        let (orphans, still): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|t| t.parts.iter().any(|p| lost.contains(p)));
        self.waiting = still;
        let span = &part.spec.span;
        let what = match part.spec.kind {
            TaskKind::Audio => "audio of clip",
            TaskKind::Cut => "smart-cut pieces of clip",
            _ => "chunk group",
        };
        let why = part_outcome
            .failure
            .as_ref()
            .map_or("not written", |f| f.reason.as_str());
        for task in orphans {
            if part_outcome.status == ClipStatus::Cancelled {
                let mut outcome = ClipOutcome::pending_task(task.spec.span, task.spec.kind);
                outcome.status = ClipStatus::Cancelled;
                outcome.finished_s = part_outcome.finished_s;
                self.store_clip(outcome);
                continue;
            }
            let reason = format!(
                "{what} {} ({:.2}-{:.2} s) failed: {why}",
                span.number, span.start, span.end
            );
            self.fall_back(&task, reason);
        }
    }
}

#[cfg(test)]
mod tests {
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
        while let Some((task, _)) = board.take_next(&options()) {
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
            let (task, _) = board.take_next(&options()).unwrap();
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
        let (copy, _) = board.take_next(&options()).unwrap();
        assert_eq!(copy.spec.kind, TaskKind::Copy);
        let mut failed = ended(&copy, ClipStatus::Failed);
        failed.attempts = 1;
        failed.cpu_s = 0.25;
        board.finish(&copy, failed);
        let (redo, _) = board.take_next(&options()).unwrap();
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
        assert!(board.is_empty() && board.take_next(&options()).is_none());
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
        while let Some((task, setting)) = board.take_next(&options) {
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
}
