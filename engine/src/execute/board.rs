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
use crate::plan::Priority;
use crate::schedule::{compare, holds_join, tail_threads, CostModel};
use crate::task::TaskKind;

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

    /// Takes the next task that is `startable` in schedule order and the thread setting it
    /// runs with.
    pub fn take_next(
        &mut self,
        options: &ExecuteOptions,
        startable: &dyn Fn(&Task) -> bool,
    ) -> Option<(Task, ThreadSetting)> {
        let model = &self.model;
        let can_start: Vec<usize> = (0..self.ready.len())
            .filter(|&i| startable(&self.ready[i]))
            .collect();
        let joins = (can_start.iter())
            .filter(|&&i| self.ready[i].joins_smart_cut())
            .count();
        let others = joins < can_start.len();
        let held = |task: &Task| {
            task.joins_smart_cut() && holds_join(task.spec.span.priority, joins, others)
        };
        let index = (can_start.into_iter())
            .filter(|&i| !held(&self.ready[i]))
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

    /// Takes every other `startable` smart-cut join, in time order, to run with `first`, a
    /// normal-priority one just taken ([`Board::take_next`]): their joins are then decoded by
    /// one check. A high-priority clip's join runs alone (time to first clip).
    pub fn take_joins(&mut self, first: &Task, startable: &dyn Fn(&Task) -> bool) -> Vec<Task> {
        if !first.joins_smart_cut() || first.spec.span.priority == Priority::High {
            return Vec::new();
        }
        let (mut joins, rest): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.ready)
            .into_iter()
            .partition(|task| task.joins_smart_cut() && startable(task));
        joins.sort_by(|a, b| a.spec.span.start.total_cmp(&b.spec.span.start));
        self.ready = rest;
        self.running += joins.len();
        joins
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
mod tests;
