//! `clipbench validate`: does the engine's best strategy cut the 10-minute sample in under the
//! target time on this machine? Pass/fail with the margin and its interval, plus a projection
//! to other core counts from the measured work W and the schedule's efficiency.

use std::fmt::Write;

use crate::record::{Results, RunStatus};
use crate::stats::Summary;

/// The verdict of a target validation.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetVerdict {
    pub target_s: f64,
    pub wall: Summary,
    /// Passes when the whole 95 % interval of the median is under the target.
    pub pass: bool,
    /// `target - median` and its interval.
    pub margin_s: f64,
    pub margin_ci: (f64, f64),
    /// The job's wall time projected to other core counts.
    pub projection: Vec<Projection>,
    /// The median run's work by task kind: (kind, CPU seconds, tasks).
    pub work: Vec<(String, f64, usize)>,
}

/// What bounds a projected wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Every core busy to the end: the work divided by the cores.
    Work,
    /// One task alone outlasts the rest: the longest clip (or chunk) bounds the wall.
    LongestTask,
    /// Fewer tasks than cores: the spare cores only speed up each ffmpeg by threads.
    TaskCount,
    /// The memory holds fewer encoders than there are cores.
    Memory,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Work => "work / cores",
            Limit::LongestTask => "longest task",
            Limit::TaskCount => "task count",
            Limit::Memory => "memory",
        })
    }
}

/// A projected wall time on `cores`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    pub cores: usize,
    pub seconds: f64,
    pub workers: usize,
    pub threads: usize,
    pub limit: Limit,
}

/// The job's structure, as measured: what a projection is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    /// Start-up before the first task (serial).
    pub analysis_s: f64,
    /// Each task's work.
    pub tasks: Vec<TaskWork>,
    /// How much faster one ffmpeg runs on 2 threads than on 1 (measured here).
    pub two_thread_speedup: f64,
    /// Peak memory of one encoder, and the machine's memory.
    pub encoder_bytes: u64,
    pub memory_bytes: u64,
}

/// One task's work: its CPU seconds (its duration alone on one thread), and its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskWork {
    /// The task's kind as the report names it (`encode`, `copy`, `cut` — a smart cut's heads
    /// and copied frames —, `assemble` — a join —, `chunk`, `audio`).
    pub kind: String,
    pub cpu_s: f64,
}

impl TaskWork {
    /// Whether more threads make it faster: encodes do (clips, chunks, a smart cut's heads);
    /// stream copies, joins and the audio do not.
    pub fn threaded(&self) -> bool {
        matches!(self.kind.as_str(), "encode" | "chunk" | "cut")
    }
}

/// What one ffmpeg gains from `threads` threads, extrapolated by Amdahl's law from its
/// measured 2-thread speed-up (pure).
pub fn thread_speedup(two_thread_speedup: f64, threads: usize) -> f64 {
    let parallel = (2.0 * (1.0 - 1.0 / two_thread_speedup.max(1e-9))).clamp(0.0, 1.0);
    1.0 / ((1.0 - parallel) + parallel / threads.max(1) as f64)
}

/// The makespan of `durations` on `workers` by longest-first list scheduling (pure).
pub fn longest_first_makespan(durations: &[f64], workers: usize) -> f64 {
    let mut sorted = durations.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut loads = vec![0.0f64; workers.max(1)];
    for d in sorted {
        let least = loads
            .iter_mut()
            .min_by(|a, b| a.total_cmp(b))
            .expect("at least one worker");
        *least += d;
    }
    loads.into_iter().fold(0.0, f64::max)
}

/// The job's wall time on `cores` (pure): the serial start-up, then its tasks spread longest
/// first over as many single-threaded workers as there are cores, tasks and encoders' memory
/// allow (one ffmpeg needs its measured peak + 25 %, as `auto` sizes it), with spare cores
/// given to each encoding task as threads at the measured speed-up (copies and joins gain
/// nothing from threads). Task dependencies (chunks or smart-cut pieces before their joins) are
/// ignored: the projection is a lower bound when a run has them.
pub fn project(job: &Structure, cores: usize) -> Projection {
    let tasks = job.tasks.len().max(1);
    let by_memory = if job.encoder_bytes > 0 && job.memory_bytes > 0 {
        ((job.memory_bytes as f64 * 0.9) / (job.encoder_bytes as f64 * 1.25)).floor() as usize
    } else {
        usize::MAX
    }
    .max(1);
    let workers = cores.min(tasks).min(by_memory).max(1);
    let threads = (cores / workers).max(1);
    let speed = thread_speedup(job.two_thread_speedup, threads);
    let durations: Vec<f64> = (job.tasks.iter())
        .map(|t| match t.threaded() {
            true => t.cpu_s / speed,
            false => t.cpu_s,
        })
        .collect();
    let makespan = longest_first_makespan(&durations, workers);
    let longest = durations.iter().copied().fold(0.0, f64::max);
    let limit = if workers < cores && workers == by_memory && by_memory < tasks {
        Limit::Memory
    } else if workers < cores && workers == tasks {
        Limit::TaskCount
    } else if makespan <= longest * (1.0 + 1e-9) {
        Limit::LongestTask
    } else {
        Limit::Work
    };
    Projection {
        cores,
        seconds: job.analysis_s + makespan,
        workers,
        threads,
        limit,
    }
}

/// Judges the runs of one target on one sample against `target_s`, and projects the job to
/// 1–32 cores from its structure when `two_thread_speedup` was measured.
pub fn judge(
    results: &Results,
    target: &str,
    sample: &str,
    target_s: f64,
    two_thread_speedup: Option<f64>,
) -> Option<TargetVerdict> {
    let runs: Vec<_> = results
        .runs
        .iter()
        .filter(|r| r.target == target && r.sample == sample && r.status == RunStatus::Ok)
        .collect();
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
    let wall = Summary::of(&walls, results.seed)?;
    let structure = structure_of(results, target, sample);
    let work = structure
        .as_ref()
        .map_or(Vec::new(), |s| work_by_kind(&s.tasks));
    let projection = match (structure, two_thread_speedup) {
        (Some(mut job), Some(speedup)) => {
            job.two_thread_speedup = speedup;
            [1, 2, 4, 8, 16, 32].map(|n| project(&job, n)).to_vec()
        }
        _ => Vec::new(),
    };
    Some(TargetVerdict {
        target_s,
        pass: wall.median_ci.1 < target_s,
        margin_s: target_s - wall.median,
        margin_ci: (target_s - wall.median_ci.1, target_s - wall.median_ci.0),
        wall,
        projection,
        work,
    })
}

/// The structure of the valid run whose wall time is the median one (pure).
pub fn structure_of(results: &Results, target: &str, sample: &str) -> Option<Structure> {
    let mut valid: Vec<_> = results
        .runs
        .iter()
        .filter(|r| r.target == target && r.sample == sample && r.status == RunStatus::Ok)
        .collect();
    valid.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let middle = valid.get(valid.len() / 2)?;
    let shape = results
        .shapes
        .iter()
        .find(|s| s.target == target && s.sample == sample && s.run == middle.run)?;
    Some(Structure {
        analysis_s: shape.analysis_s,
        tasks: (shape.tasks.iter())
            .map(|t| TaskWork {
                kind: t.kind.clone(),
                cpu_s: t.cpu_s,
            })
            .collect(),
        two_thread_speedup: 1.0,
        encoder_bytes: shape.encoder_peak_rss_bytes,
        memory_bytes: results.machine.memory_bytes,
    })
}

/// CPU seconds and task count per kind, by kind name (pure).
pub fn work_by_kind(tasks: &[TaskWork]) -> Vec<(String, f64, usize)> {
    let mut kinds: std::collections::BTreeMap<&str, (f64, usize)> = Default::default();
    for task in tasks {
        let entry = kinds.entry(task.kind.as_str()).or_default();
        entry.0 += task.cpu_s;
        entry.1 += 1;
    }
    (kinds.into_iter())
        .map(|(kind, (cpu_s, n))| (kind.to_owned(), cpu_s, n))
        .collect()
}

/// The verdict for the terminal.
pub fn describe(v: &TargetVerdict, sample: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {sample} in {:.2} s median (95% CI {:.2}–{:.2}, n = {}) against a target of {:.0} s",
        if v.pass { "PASS" } else { "FAIL" },
        v.wall.median,
        v.wall.median_ci.0,
        v.wall.median_ci.1,
        v.wall.n,
        v.target_s
    );
    let _ = writeln!(
        out,
        "margin {:+.2} s (95% CI {:+.2} to {:+.2} s)",
        v.margin_s, v.margin_ci.0, v.margin_ci.1
    );
    if !v.work.is_empty() {
        let kinds: Vec<String> = (v.work.iter())
            .map(|(kind, cpu_s, n)| format!("{kind} {cpu_s:.1} CPU-s in {n}"))
            .collect();
        let _ = writeln!(out, "work of the median run by task: {}", kinds.join(", "));
    }
    if !v.projection.is_empty() {
        let _ = writeln!(
            out,
            "projection from this job's structure (start-up, then its tasks longest first):"
        );
        for p in &v.projection {
            let _ = writeln!(
                out,
                "  {:>2} cores: {:>6.1} s  ({} workers x {} threads; bound: {})",
                p.cores, p.seconds, p.workers, p.threads, p.limit
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(tasks: &[f64]) -> Structure {
        Structure {
            analysis_s: 0.5,
            tasks: (tasks.iter())
                .map(|&cpu_s| TaskWork {
                    kind: "encode".into(),
                    cpu_s,
                })
                .collect(),
            two_thread_speedup: 1.6,
            encoder_bytes: 100 << 20,
            memory_bytes: 24 << 30,
        }
    }

    #[test]
    fn longest_first_by_hand() {
        // Longest first: 3+2+2 and 3+2 (the optimum, 6, needs 3+3 and 2+2+2).
        assert_eq!(longest_first_makespan(&[3.0, 3.0, 2.0, 2.0, 2.0], 2), 7.0);
        assert_eq!(longest_first_makespan(&[5.0, 1.0, 1.0], 2), 5.0);
        assert_eq!(longest_first_makespan(&[], 4), 0.0);
    }

    #[test]
    fn amdahl_from_two_threads() {
        // 1.6x on 2 threads: parallel share 0.75; 4 threads: 1 / (0.25 + 0.1875).
        assert!((thread_speedup(1.6, 2) - 1.6).abs() < 1e-9);
        assert!((thread_speedup(1.6, 4) - 1.0 / 0.4375).abs() < 1e-9);
        assert_eq!(thread_speedup(1.0, 8), 1.0);
    }

    #[test]
    fn each_core_count_names_its_bound() {
        // 24 clips of 3.3 CPU-s: the DESIGN reference job.
        let reference = job(&[3.3; 24]);
        let two = project(&reference, 2);
        assert_eq!((two.workers, two.limit), (2, Limit::Work));
        assert!((two.seconds - (0.5 + 12.0 * 3.3)).abs() < 1e-9);
        // 32 cores, 24 clips: 24 workers of one thread, the clip count bounds it.
        let many = project(&reference, 32);
        assert_eq!(
            (many.workers, many.threads, many.limit),
            (24, 1, Limit::TaskCount)
        );
        assert!((many.seconds - 3.8).abs() < 1e-9);
        // 48 cores: 2 threads each at the measured 1.6x.
        assert!((project(&reference, 48).seconds - (0.5 + 3.3 / 1.6)).abs() < 1e-9);
        // One long task among short ones bounds the wall.
        assert_eq!(
            project(&job(&[20.0, 1.0, 1.0, 1.0]), 8).limit,
            Limit::TaskCount
        );
        assert_eq!(
            project(&job(&[20.0, 1.0, 1.0, 1.0, 1.0, 1.0]), 4).limit,
            Limit::LongestTask
        );
        // 1 GiB holds 7 encoders of 100 MiB (+25 %, 90 % of memory).
        let small = Structure {
            memory_bytes: 1 << 30,
            ..reference
        };
        let p = project(&small, 16);
        assert_eq!((p.workers, p.limit), (7, Limit::Memory));
    }

    #[test]
    fn copies_and_joins_gain_nothing_from_threads() {
        // A smart cut: 2 heads (threaded), a copy and a join (not), at 1.6x on 2 threads.
        let work = |kind: &str, cpu_s| TaskWork {
            kind: kind.into(),
            cpu_s,
        };
        let smart = Structure {
            tasks: vec![
                work("cut", 1.6),
                work("cut", 1.6),
                work("copy", 2.0),
                work("assemble", 0.2),
            ],
            ..job(&[])
        };
        // 8 cores, 4 tasks: 4 workers of 2 threads; the heads take 1.0 s, the copy its 2.0 s.
        let p = project(&smart, 8);
        assert_eq!((p.workers, p.threads), (4, 2));
        assert!((p.seconds - (0.5 + 2.0)).abs() < 1e-9, "{p:?}");
        // One core: everything in a row, nothing sped up.
        assert!((project(&smart, 1).seconds - (0.5 + 5.4)).abs() < 1e-9);
        assert_eq!(
            work_by_kind(&smart.tasks),
            vec![
                ("assemble".into(), 0.2, 1),
                ("copy".into(), 2.0, 1),
                ("cut".into(), 3.2, 2)
            ]
        );
    }
}
