//! [`RunReport`]: everything one engine run measured, serialisable to JSON. The metrics are
//! computed by the pure [`Metrics::compute`].

use serde::{Deserialize, Serialize};

use crate::allocate::{Allocation, Strategy, SystemSnapshot};
use crate::encode::Profile;
use crate::execute::{ClipOutcome, ClipStatus, Execution, FailureKind};
use crate::monitor::MonitorSummary;
use crate::plan::{Clip, PlanOptions};
use crate::probe::MediaInfo;
use crate::task::TaskKind;

/// Version of the [`RunReport`] JSON layout; bumped on any incompatible change.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// How long each start-up step took, seconds. They run concurrently, so `analysis_s` is about
/// the longest of them, not their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Startup {
    /// ffprobe of the input (with its keyframes for exact copies).
    pub probe_s: f64,
    /// The machine snapshot (a CPU-use sample only for strategies that read it).
    pub machine_s: f64,
    /// `ffmpeg -version`.
    pub tool_check_s: f64,
    /// The input's content hash (the resume key).
    pub content_hash_s: f64,
}

/// The numbers of a run (DESIGN.md, "Definitions").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Execution start to the last clip finished, seconds.
    pub wall_s: f64,
    /// Execution start to the first clip finished.
    pub time_to_first_clip_s: Option<f64>,
    /// Work W: CPU seconds (user + system) of every ffmpeg child, from `wait4`.
    pub work_cpu_s: f64,
    /// Sum of the clips' wall times (the design's simpler measure of work).
    pub clip_wall_sum_s: f64,
    /// Wall time of the longest single clip.
    pub longest_clip_s: f64,
    /// Ideal schedule of this run's own work: `max(W / cores, longest clip)`.
    pub floor_s: f64,
    /// `floor / wall`: how close the schedule came to the ideal (1.0 is perfect).
    pub efficiency: f64,
    /// `W / (cores × wall)`: the share of the machine the run kept busy.
    pub utilisation: f64,
    /// Seconds of source video per second of wall time.
    pub realtime_factor: f64,
    pub output_bytes: u64,
    pub clips_done: usize,
    pub clips_failed: usize,
    /// Clips re-encoded from the source because their fast path (copy, join) failed.
    #[serde(default)]
    pub clips_fallback: usize,
    /// Idle time of all workers after their last clip (see [`WorkerTimeline`]).
    pub tail_idle_s: f64,
    /// Largest resident memory of one ffmpeg child in this run (measured, `ru_maxrss`).
    pub encoder_peak_rss_bytes: u64,
    /// Worker-seconds spent holding a clip back because available memory was short.
    #[serde(default)]
    pub memory_hold_s: f64,
}

impl Metrics {
    /// Computes the metrics of an execution on a machine with `cores` logical CPUs. `chunks`
    /// (the `--reuse-overlaps` chunk encodes) count as work and in the schedule, not as clips.
    pub fn compute(
        outcomes: &[ClipOutcome],
        chunks: &[ClipOutcome],
        cores: usize,
        source_duration: f64,
    ) -> Metrics {
        let done: Vec<&ClipOutcome> = outcomes.iter().filter(|o| o.status.is_written()).collect();
        let tasks = || outcomes.iter().chain(chunks);
        let wall_s = tasks().filter_map(|o| o.finished_s).fold(0.0, f64::max);
        let work_cpu_s: f64 = tasks().map(|o| o.cpu_s).sum();
        let longest_clip_s = tasks()
            .filter(|o| o.status.is_written())
            .map(|o| o.wall_s)
            .fold(0.0, f64::max);
        let floor_s = (work_cpu_s / cores.max(1) as f64).max(longest_clip_s);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Metrics {
            wall_s,
            time_to_first_clip_s: done
                .iter()
                .filter_map(|o| o.finished_s)
                .min_by(f64::total_cmp),
            work_cpu_s,
            clip_wall_sum_s: tasks().map(|o| o.wall_s).sum(),
            longest_clip_s,
            floor_s,
            efficiency: ratio(floor_s, wall_s),
            utilisation: ratio(work_cpu_s, cores.max(1) as f64 * wall_s),
            realtime_factor: ratio(source_duration, wall_s),
            output_bytes: done.iter().map(|o| o.bytes).sum(),
            clips_done: done.len(),
            clips_failed: outcomes
                .iter()
                .filter(|o| o.status == ClipStatus::Failed)
                .count(),
            clips_fallback: outcomes.iter().filter(|o| o.fallback.is_some()).count(),
            tail_idle_s: worker_timelines(outcomes, chunks, wall_s)
                .iter()
                .map(|w| w.tail_idle_s)
                .sum(),
            encoder_peak_rss_bytes: tasks().map(|o| o.peak_rss_bytes).max().unwrap_or(0),
            memory_hold_s: 0.0,
        }
    }
}

/// What one worker did: its clips (and chunks) in order and the time it sat idle at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerTimeline {
    pub worker: usize,
    /// (clip number, started, finished) in seconds since execution started.
    pub clips: Vec<(u32, f64, f64)>,
    /// `--reuse-overlaps`: (chunk number, started, finished).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<(u32, f64, f64)>,
    /// Time spent running clips and chunks.
    pub busy_s: f64,
    /// From the worker's last task to the end of the run: capacity lost at the tail.
    pub tail_idle_s: f64,
}

/// The work W of `outcomes` (clips and parts) by task kind: (kind, CPU seconds, tasks), kinds
/// without a task left out, in the kinds' order (pure). Where a smart cut's work goes: `cut`
/// (heads, feet and copied frames), `assemble` (joins and their decode check), `copy`.
pub fn work_by_kind<'a>(
    outcomes: impl IntoIterator<Item = &'a ClipOutcome>,
) -> Vec<(TaskKind, f64, usize)> {
    let mut work: Vec<(TaskKind, f64, usize)> =
        TaskKind::ALL.iter().map(|&kind| (kind, 0.0, 0)).collect();
    for outcome in outcomes {
        if let Some(slot) = work.iter_mut().find(|(kind, _, _)| *kind == outcome.kind) {
            slot.1 += outcome.cpu_s;
            slot.2 += usize::from(outcome.worker.is_some());
        }
    }
    work.retain(|(_, _, tasks)| *tasks > 0);
    work
}

/// Per-worker timelines of an execution that lasted `wall_s` (pure).
pub fn worker_timelines(
    outcomes: &[ClipOutcome],
    chunks: &[ClipOutcome],
    wall_s: f64,
) -> Vec<WorkerTimeline> {
    let mut workers: Vec<WorkerTimeline> = Vec::new();
    let tagged = outcomes
        .iter()
        .map(|o| (o, false))
        .chain(chunks.iter().map(|o| (o, true)));
    for (o, is_chunk) in tagged {
        let (Some(worker), Some(start), Some(end)) = (o.worker, o.started_s, o.finished_s) else {
            continue;
        };
        let index = match workers.iter().position(|w| w.worker == worker) {
            Some(i) => i,
            None => {
                workers.push(WorkerTimeline {
                    worker,
                    clips: Vec::new(),
                    chunks: Vec::new(),
                    busy_s: 0.0,
                    tail_idle_s: 0.0,
                });
                workers.len() - 1
            }
        };
        let timeline = &mut workers[index];
        let entries = if is_chunk {
            &mut timeline.chunks
        } else {
            &mut timeline.clips
        };
        entries.push((o.clip.number, start, end));
    }
    for w in &mut workers {
        w.clips.sort_by(|a, b| a.1.total_cmp(&b.1));
        w.chunks.sort_by(|a, b| a.1.total_cmp(&b.1));
        // Busy while any task of it runs: smart-cut joins run together share one stretch.
        let mut spans: Vec<(f64, f64)> = (w.clips.iter().chain(&w.chunks))
            .map(|&(_, start, end)| (start, end))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut covered_to = f64::NEG_INFINITY;
        for (start, end) in spans {
            w.busy_s += (end - start.max(covered_to)).max(0.0);
            covered_to = covered_to.max(end);
        }
        let last = w
            .clips
            .iter()
            .chain(&w.chunks)
            .map(|c| c.2)
            .fold(0.0, f64::max);
        w.tail_idle_s = (wall_s - last).max(0.0);
    }
    workers.sort_by_key(|w| w.worker);
    workers
}

/// One failed clip, for the report's failure list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureSummary {
    pub clip: u32,
    /// What kind of failure (reports written before kinds existed read as `exited`).
    #[serde(default)]
    pub kind: FailureKind,
    pub reason: String,
    pub stderr_tail: String,
}

/// Everything about one engine run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub engine_version: String,
    pub ffmpeg_version: String,
    pub input: MediaInfo,
    pub plan_options: PlanOptions,
    pub plan: Vec<Clip>,
    pub strategy: Strategy,
    pub profile: Profile,
    pub system: SystemSnapshot,
    pub allocation: Allocation,
    /// Probe, plan and allocation time before encoding started, seconds.
    /// How the requested mode was changed for this file, one line each (e.g. a copy of VP9
    /// video re-encoded), empty when it ran as asked.
    #[serde(default)]
    pub notes: Vec<String>,
    pub analysis_s: f64,
    /// The start-up steps inside `analysis_s`, each timed on its own (they run at once).
    #[serde(default)]
    pub startup: Startup,
    pub metrics: Metrics,
    pub cancelled: bool,
    /// Whether each moment was encoded once (`--reuse-overlaps`).
    #[serde(default)]
    pub reuse_overlaps: bool,
    pub clips: Vec<ClipOutcome>,
    /// `--reuse-overlaps`: the chunk encodes the clips were joined from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<ClipOutcome>,
    pub workers: Vec<WorkerTimeline>,
    pub failures: Vec<FailureSummary>,
    pub monitor: MonitorSummary,
}

impl RunReport {
    /// Whether every planned clip was written and is valid.
    pub fn all_valid(&self) -> bool {
        !self.cancelled && self.clips.iter().all(|c| c.status.is_written())
    }

    /// Lists the failed clips of an execution.
    pub fn failures_of(execution: &Execution) -> Vec<FailureSummary> {
        execution
            .outcomes
            .iter()
            .filter(|o| o.status == ClipStatus::Failed)
            .map(|o| FailureSummary {
                clip: o.clip.number,
                kind: o.failure.as_ref().map(|f| f.kind).unwrap_or_default(),
                reason: o
                    .failure
                    .as_ref()
                    .map(|f| f.reason.clone())
                    .unwrap_or_default(),
                stderr_tail: o
                    .failure
                    .as_ref()
                    .map(|f| f.stderr_tail.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Priority;

    fn outcome(number: u32, finished: f64, wall: f64, cpu: f64, status: ClipStatus) -> ClipOutcome {
        ClipOutcome {
            clip: Clip {
                number,
                start: 0.0,
                end: 30.0,
                priority: Priority::Normal,
            },
            kind: TaskKind::Encode,
            threads: None,
            status,
            path: None,
            worker: Some(0),
            attempts: 1,
            started_s: Some(finished - wall),
            finished_s: Some(finished),
            wall_s: wall,
            cpu_s: cpu,
            peak_rss_bytes: 1000,
            bytes: 100,
            validation: None,
            failure: None,
            fallback: None,
        }
    }

    #[test]
    fn metrics_by_hand() {
        // Two workers on 2 cores: clips of 4 s and 6 s wall, 3 + 5 + 4 CPU-s, last at 10 s.
        let outcomes = [
            outcome(1, 4.0, 4.0, 3.0, ClipStatus::Done),
            outcome(2, 6.0, 6.0, 5.0, ClipStatus::Done),
            outcome(3, 10.0, 4.0, 4.0, ClipStatus::Failed),
        ];
        let m = Metrics::compute(&outcomes, &[], 2, 60.0);
        assert_eq!(m.wall_s, 10.0);
        assert_eq!(m.time_to_first_clip_s, Some(4.0));
        assert_eq!(m.work_cpu_s, 12.0);
        assert_eq!(m.clip_wall_sum_s, 14.0);
        assert_eq!(m.longest_clip_s, 6.0);
        assert_eq!(m.floor_s, 6.0); // max(12 / 2, 6)
        assert_eq!(m.efficiency, 0.6);
        assert_eq!(m.utilisation, 0.6); // 12 / (2 × 10)
        assert_eq!(m.realtime_factor, 6.0);
        assert_eq!((m.clips_done, m.clips_failed, m.output_bytes), (2, 1, 200));
        // All three ran on worker 0 in the helper: last finish at 10 s, no tail.
        assert_eq!(m.tail_idle_s, 0.0);
        assert_eq!(m.encoder_peak_rss_bytes, 1000);
    }

    #[test]
    fn timelines_and_tail_idle_by_hand() {
        let mut a = outcome(1, 4.0, 4.0, 3.0, ClipStatus::Done);
        let mut b = outcome(2, 10.0, 6.0, 5.0, ClipStatus::Done);
        let mut c = outcome(3, 7.0, 3.0, 4.0, ClipStatus::Done);
        (a.worker, b.worker, c.worker) = (Some(0), Some(1), Some(0));
        let timelines = worker_timelines(&[a, b, c], &[], 10.0);
        assert_eq!(timelines.len(), 2);
        assert_eq!(timelines[0].clips, vec![(1, 0.0, 4.0), (3, 4.0, 7.0)]);
        assert_eq!((timelines[0].busy_s, timelines[0].tail_idle_s), (7.0, 3.0));
        assert_eq!((timelines[1].busy_s, timelines[1].tail_idle_s), (6.0, 0.0));
    }

    #[test]
    fn joins_run_together_count_once_in_their_workers_busy_time() {
        // Three joins from 4 s to 6 s together (finishing one after another), then a clip.
        let mut together: Vec<ClipOutcome> = (1..=3)
            .map(|n| outcome(n, 5.9 + 0.05 * f64::from(n), 0.7, 0.1, ClipStatus::Done))
            .collect();
        for joined in &mut together {
            joined.started_s = Some(4.0);
        }
        together.push(outcome(4, 9.0, 3.0, 3.0, ClipStatus::Done));
        let timelines = worker_timelines(&together, &[], 10.0);
        // Busy from 4 s to 9 s (the clip starts before the last join finishes), not 9 s.
        assert!(
            (timelines[0].busy_s - 5.0).abs() < 1e-9,
            "{}",
            timelines[0].busy_s
        );
    }

    #[test]
    fn empty_run_has_zero_metrics() {
        let m = Metrics::compute(&[], &[], 2, 60.0);
        assert_eq!((m.wall_s, m.efficiency, m.utilisation), (0.0, 0.0, 0.0));
        assert_eq!(m.time_to_first_clip_s, None);
    }

    #[test]
    fn work_is_summed_by_kind_and_tasks_never_run_are_not_counted() {
        let of = |kind, cpu, ran: bool| ClipOutcome {
            kind,
            worker: ran.then_some(0),
            ..outcome(1, 1.0, 1.0, cpu, ClipStatus::Done)
        };
        let outcomes = [
            of(TaskKind::Cut, 0.5, true),
            of(TaskKind::Assemble, 0.25, true),
            of(TaskKind::Cut, 0.75, true),
            of(TaskKind::Copy, 0.0, false),
        ];
        assert_eq!(
            work_by_kind(&outcomes),
            vec![(TaskKind::Assemble, 0.25, 1), (TaskKind::Cut, 1.25, 2)]
        );
    }
}
