//! `clipbench validate`: does the engine's best strategy cut the 10-minute sample in under the
//! target time on this machine? Pass/fail with the margin and its interval, plus a projection
//! to other core counts from the measured work W and the schedule's efficiency.

use std::fmt::Write;

use crate::record::{Results, RunStatus};
use crate::stats::{median, Summary};

/// The verdict of a target validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub target_s: f64,
    pub wall: Summary,
    /// Passes when the whole 95 % interval of the median is under the target.
    pub pass: bool,
    /// `target - median` and its interval.
    pub margin_s: f64,
    pub margin_ci: (f64, f64),
    /// (cores, projected seconds).
    pub projection: Vec<(usize, f64)>,
}

/// Projected wall time on `cores`: analysis + `W / (cores × efficiency)`, where the efficiency
/// is this machine's `W / (cores_here × encode time)`. Assumes the same work per clip.
pub fn project(
    analysis_s: f64,
    work_cpu_s: f64,
    encode_s: f64,
    cores_here: usize,
    cores: usize,
) -> f64 {
    let efficiency = (work_cpu_s / (cores_here as f64 * encode_s)).clamp(1e-3, 1.0);
    analysis_s + work_cpu_s / (cores as f64 * efficiency)
}

/// Judges the runs of one target on one sample against `target_s`.
pub fn judge(results: &Results, target: &str, sample: &str, target_s: f64) -> Option<Validation> {
    let runs: Vec<_> = results
        .runs
        .iter()
        .filter(|r| r.target == target && r.sample == sample && r.status == RunStatus::Ok)
        .collect();
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
    let wall = Summary::of(&walls, results.seed)?;
    let of = |f: fn(&crate::record::RunRecord) -> Option<f64>| {
        median(&runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
    };
    let (analysis, work, encode) = (
        of(|r| r.analysis_s),
        of(|r| r.work_cpu_s),
        of(|r| r.encode_s),
    );
    let cores_here = results.machine.logical_cpus;
    let projection = if work.is_finite() && encode.is_finite() && encode > 0.0 {
        [1, 2, 4, 8, 16, 32]
            .into_iter()
            .map(|n| (n, project(analysis.max(0.0), work, encode, cores_here, n)))
            .collect()
    } else {
        Vec::new()
    };
    Some(Validation {
        target_s,
        pass: wall.median_ci.1 < target_s,
        margin_s: target_s - wall.median,
        margin_ci: (target_s - wall.median_ci.1, target_s - wall.median_ci.0),
        wall,
        projection,
    })
}

/// The verdict for the terminal.
pub fn describe(v: &Validation, sample: &str) -> String {
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
    if !v.projection.is_empty() {
        let cells: Vec<String> = v
            .projection
            .iter()
            .map(|(n, t)| format!("{n} cores {t:.1} s"))
            .collect();
        let _ = writeln!(
            out,
            "projection (same work W, same scheduler efficiency): {}",
            cells.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_by_hand() {
        // W = 160 CPU-s encoded in 88.9 s on 2 cores: efficiency 0.9; on 8 cores 1 + 160/7.2.
        let t = project(1.0, 160.0, 160.0 / 1.8, 2, 8);
        assert!((t - (1.0 + 160.0 / 7.2)).abs() < 1e-9);
        assert!((project(0.0, 100.0, 50.0, 2, 2) - 50.0).abs() < 1e-9);
    }
}
