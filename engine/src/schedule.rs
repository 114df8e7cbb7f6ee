//! Scheduling decisions of the executor, all pure: which ready task starts next (a calibrated
//! cost model), how many ffmpeg threads it gets (the tail boost) and whether memory allows
//! starting it now (the hold-back gate).

use std::cmp::Ordering;

use crate::plan::Priority;
use crate::task::{TaskKind, TaskSpec};

/// Estimated CPU cost of tasks: `duration × pixels × fps × complexity`, where the complexity of
/// each kind (CPU seconds per pixel-frame) starts from a prior and is then the measured ratio
/// of the tasks of that kind finished so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostModel {
    /// Per kind: (CPU seconds, pixel-frames) of the finished tasks.
    observed: [(f64, f64); 6],
}

impl CostModel {
    /// Pixel-frames of `seconds` of video at `width`×`height` and `fps`.
    pub fn pixel_frames(seconds: f64, width: u32, height: u32, fps: f64) -> f64 {
        let fps = if fps > 0.0 { fps } else { 25.0 };
        seconds.max(0.0) * f64::from(width.max(1)) * f64::from(height.max(1)) * fps
    }

    /// CPU seconds per pixel-frame for `kind`: measured when a task of that kind has finished.
    pub fn complexity(&self, kind: TaskKind) -> f64 {
        let (cpu, units) = self.observed[kind.index()];
        if units > 0.0 && cpu > 0.0 {
            cpu / units
        } else {
            kind.prior_cpu_per_pixel_frame()
        }
    }

    /// Estimated CPU seconds of a task of `pixel_frames`.
    pub fn estimate(&self, kind: TaskKind, pixel_frames: f64) -> f64 {
        pixel_frames * self.complexity(kind)
    }

    /// Records a finished task.
    pub fn observe(&mut self, kind: TaskKind, pixel_frames: f64, cpu_s: f64) {
        let slot = &mut self.observed[kind.index()];
        slot.0 += cpu_s.max(0.0);
        slot.1 += pixel_frames.max(0.0);
    }
}

/// CPU seconds to encode one second of audio with the `optimized` profile's AAC, process start
/// included (0.57 CPU-s per 30 s clip on the development VM).
pub const AUDIO_CPU_PER_SECOND: f64 = 0.019;

/// CPU seconds one more ffmpeg process costs before its first frame (start, reading the
/// source's index, seeking): about 0.1 s for the 10-minute samples on the development VM.
pub const PROCESS_START_CPU_S: f64 = 0.1;

/// The order tasks start in: assemblies first (they finish clips and cost little), then
/// high-priority tasks by start time (the more expensive first at the same start), then the
/// rest by estimated cost, most expensive first (ties by number).
pub fn compare(a: &TaskSpec, b: &TaskSpec, model: &CostModel) -> Ordering {
    let class = |t: &TaskSpec| match (t.kind, t.span.priority) {
        (TaskKind::Assemble, _) => 0,
        (_, Priority::High) => 1,
        (_, Priority::Normal) => 2,
    };
    class(a).cmp(&class(b)).then_with(|| {
        let by_number = a.span.number.cmp(&b.span.number);
        match class(a) {
            2 => model
                .estimate(b.kind, b.pixel_frames)
                .total_cmp(&model.estimate(a.kind, a.pixel_frames))
                .then(by_number),
            _ => a
                .span
                .start
                .total_cmp(&b.span.start)
                .then_with(|| {
                    model
                        .estimate(b.kind, b.pixel_frames)
                        .total_cmp(&model.estimate(a.kind, a.pixel_frames))
                })
                .then(by_number),
        }
    })
}

/// `tasks` sorted into start order (see [`compare`]).
pub fn schedule_order(tasks: &[TaskSpec], model: &CostModel) -> Vec<TaskSpec> {
    let mut order = tasks.to_vec();
    order.sort_by(|a, b| compare(a, b, model));
    order
}

/// How many smart-cut joins one check decodes when they can wait for each other: the check
/// is one ffmpeg, whose start (0.045 CPU-s for Debian's, which loads 215 libraries) is half
/// of what checking one join costs. Four: on the 10-minute sample with two workers the joins'
/// work −33 %, W −11 % (two: −21 %, −8 %), a clip committed at most three cuts later.
pub const JOINS_PER_CHECK: usize = 4;

/// Whether a ready smart-cut join of a clip of `priority` waits for others to be checked with,
/// `joins_ready` being ready (itself included): a normal-priority clip's join waits while
/// fewer than [`JOINS_PER_CHECK`] are ready and `others_startable` (another task can start
/// meanwhile: no worker idles for it). A high-priority clip's join never waits (time to first
/// clip), nor a join cutting while the source arrives with nothing else to do.
pub fn holds_join(priority: Priority, joins_ready: usize, others_startable: bool) -> bool {
    priority == Priority::Normal && joins_ready < JOINS_PER_CHECK && others_startable
}

/// Threads for an encoder started now. While at least as many encodes are active (running
/// plus waiting) as there are workers, every encoder keeps `base`; at the tail, when fewer
/// remain, the cores are shared among the remaining ones so no core idles.
pub fn tail_threads(base: usize, cores: usize, workers: usize, active_encodes: usize) -> usize {
    let base = base.max(1);
    if active_encodes == 0 || active_encodes >= workers {
        base
    } else {
        base.max(cores / active_encodes)
    }
}

/// Whether a task may start now: always when nothing runs (so a run always progresses) or
/// when the available memory is unknown (0), otherwise only when the available memory holds
/// one more encoder with 10 % to spare.
pub fn memory_allows(available_bytes: u64, per_encoder_bytes: u64, running: usize) -> bool {
    running == 0 || available_bytes == 0 || available_bytes as f64 >= per_encoder_bytes as f64 * 1.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_waits_for_others_only_when_something_else_can_run_meanwhile() {
        use Priority::{High, Normal};
        assert!(holds_join(Normal, 1, true));
        assert!(holds_join(Normal, JOINS_PER_CHECK - 1, true));
        assert!(!holds_join(Normal, JOINS_PER_CHECK, true));
        assert!(!holds_join(Normal, 1, false), "no worker idles for a join");
        assert!(!holds_join(High, 1, true), "the first clips are never held");
    }
    use crate::plan::Clip;

    fn task(kind: TaskKind, number: u32, start: f64, end: f64, priority: Priority) -> TaskSpec {
        TaskSpec {
            kind,
            span: Clip {
                number,
                start,
                end,
                priority,
            },
            pixel_frames: CostModel::pixel_frames(end - start, 1280, 720, 25.0),
        }
    }

    fn numbers(order: &[TaskSpec]) -> Vec<u32> {
        order.iter().map(|t| t.span.number).collect()
    }

    #[test]
    fn priority_by_start_then_longest_cost_first() {
        let tasks = [
            task(TaskKind::Encode, 4, 75.0, 90.0, Priority::Normal),
            task(TaskKind::Encode, 2, 25.0, 55.0, Priority::High),
            task(TaskKind::Encode, 3, 50.0, 80.0, Priority::Normal),
            task(TaskKind::Encode, 1, 0.0, 30.0, Priority::High),
            task(TaskKind::Encode, 5, 85.0, 120.0, Priority::Normal),
        ];
        let order = schedule_order(&tasks, &CostModel::default());
        assert_eq!(numbers(&order), vec![1, 2, 5, 3, 4]);
    }

    #[test]
    fn cost_not_length_decides_among_normal_tasks() {
        // A long stream copy costs less than a short re-encode.
        let tasks = [
            task(TaskKind::Copy, 1, 0.0, 30.0, Priority::Normal),
            task(TaskKind::Encode, 2, 30.0, 45.0, Priority::Normal),
            task(TaskKind::Encode, 3, 45.0, 50.0, Priority::Normal),
        ];
        let order = schedule_order(&tasks, &CostModel::default());
        assert_eq!(numbers(&order), vec![2, 3, 1]);
    }

    #[test]
    fn calibration_reorders_kinds() {
        let chunk = task(TaskKind::Chunk, 1, 0.0, 10.0, Priority::Normal);
        let encode = task(TaskKind::Encode, 2, 10.0, 20.0, Priority::Normal);
        let mut model = CostModel::default();
        assert_eq!(
            numbers(&schedule_order(&[chunk, encode], &model)),
            vec![2, 1]
        );
        // Measured: chunks turn out three times as expensive per pixel-frame as the prior.
        model.observe(TaskKind::Chunk, 1e9, 3.0 * 4.1);
        assert!((model.complexity(TaskKind::Chunk) - 12.3e-9).abs() < 1e-15);
        assert_eq!(
            numbers(&schedule_order(&[chunk, encode], &model)),
            vec![1, 2]
        );
        assert_eq!(model.complexity(TaskKind::Encode), 4.6e-9);
    }

    #[test]
    fn assemblies_go_first() {
        let tasks = [
            task(TaskKind::Chunk, 1, 0.0, 25.0, Priority::High),
            task(TaskKind::Assemble, 9, 100.0, 130.0, Priority::Normal),
        ];
        assert_eq!(
            numbers(&schedule_order(&tasks, &CostModel::default())),
            vec![9, 1]
        );
    }

    #[test]
    fn tail_boost_shares_spare_cores() {
        // Plenty of work: everyone keeps the base.
        assert_eq!(tail_threads(1, 2, 2, 24), 1);
        assert_eq!(tail_threads(1, 2, 2, 2), 1);
        // One clip left on two cores: it gets both.
        assert_eq!(tail_threads(1, 2, 2, 1), 2);
        // Three clips on eight cores: two threads each (never more than the cores).
        assert_eq!(tail_threads(1, 8, 8, 3), 2);
        assert_eq!(tail_threads(1, 8, 8, 1), 8);
        // A larger base is never lowered.
        assert_eq!(tail_threads(4, 8, 2, 1), 8);
        assert_eq!(tail_threads(3, 4, 4, 2), 3);
    }

    #[test]
    fn memory_gate_holds_back_but_never_deadlocks() {
        let mib = 1024 * 1024;
        assert!(memory_allows(1000 * mib, 180 * mib, 3));
        assert!(!memory_allows(190 * mib, 180 * mib, 1));
        assert!(memory_allows(10 * mib, 180 * mib, 0));
        assert!(
            memory_allows(0, 180 * mib, 2),
            "unknown memory never blocks"
        );
    }
}
