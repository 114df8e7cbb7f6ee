//! `clipbench check`: the regression gate between two results made at different times. Per
//! (target, sample), the valid runs' wall times are compared with [`gate::unpaired`] (Welch's t
//! on log wall times), whose noise band comes from their measured spread; each verdict says
//! what these runs could have detected.

use std::fmt::Write;

use serde::Serialize;

use crate::gate::{self, Change};
use crate::record::Results;
use crate::stats::median;
use crate::summary::valid_walls;

pub use crate::gate::Verdict;

/// One compared cell.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub target: String,
    pub sample: String,
    pub old_median_s: f64,
    pub new_median_s: f64,
    pub old_runs: usize,
    pub new_runs: usize,
    pub change: Change,
}

impl Comparison {
    pub fn verdict(&self) -> Verdict {
        self.change.verdict
    }
}

/// What `clipbench calibrate` measured on a machine: the run-to-run spread and the drift
/// between sessions of one target on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Calibration {
    pub schema_version: u32,
    pub created_at: String,
    pub machine: crate::machine::Machine,
    pub target: String,
    pub sample: String,
    pub runs: usize,
    /// Runs per block when measuring the drift.
    pub block: usize,
    /// Standard deviation of log wall time within a session.
    pub spread: f64,
    /// Standard deviation of a session's mean log wall time beyond the spread's share.
    pub drift: f64,
}

impl Calibration {
    /// From `walls` in measured order (pure).
    pub fn of(results: &Results, target: &str, sample: &str, block: usize) -> Option<Calibration> {
        let mut runs: Vec<_> = valid_walls(&results.runs, target, sample).collect();
        runs.sort_by_key(|r| r.order);
        let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
        (walls.len() >= 2 * block).then(|| Calibration {
            schema_version: 1,
            created_at: results.created_at.clone(),
            machine: results.machine.clone(),
            target: target.to_owned(),
            sample: sample.to_owned(),
            runs: walls.len(),
            block,
            spread: crate::stats::std_dev(&walls.iter().map(|w| w.ln()).collect::<Vec<_>>()),
            drift: gate::drift(&walls, block),
        })
    }
}

/// Compares every cell present in both results with at least two valid runs on both sides.
/// `floor` is the smallest relative change of interest (the band never goes below it);
/// `drift` the machine's drift between sessions (from a calibration; 0 ignores it).
pub fn compare(old: &Results, new: &Results, floor: f64, drift: f64) -> Vec<Comparison> {
    new.summaries
        .iter()
        .filter_map(|cell| {
            let walls = |results: &Results| -> Vec<f64> {
                valid_walls(&results.runs, &cell.target, &cell.sample)
                    .map(|r| r.wall_s)
                    .collect()
            };
            let (old_walls, new_walls) = (walls(old), walls(new));
            let change = gate::unpaired(&old_walls, &new_walls, floor, drift)?;
            Some(Comparison {
                target: cell.target.clone(),
                sample: cell.sample.clone(),
                old_median_s: median(&old_walls),
                new_median_s: median(&new_walls),
                old_runs: old_walls.len(),
                new_runs: new_walls.len(),
                change,
            })
        })
        .collect()
}

/// The verdict table for the terminal.
pub fn table(comparisons: &[Comparison]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<16} {:>7} {:>7} {:>8} {:>18} {:>7} {:>9} {:>8}  verdict",
        "target", "sample", "old s", "new s", "change", "95% CI", "band", "detects", "5% needs"
    );
    for c in comparisons {
        let g = &c.change;
        let _ = writeln!(
            out,
            "{:<22} {:<16} {:>7.2} {:>7.2} {:>+7.1}% {:>18} {:>6.1}% {:>8.1}% {:>4} runs  {:?}",
            c.target,
            c.sample,
            c.old_median_s,
            c.new_median_s,
            100.0 * g.change,
            format!("[{:+.1}%, {:+.1}%]", 100.0 * g.ci.0, 100.0 * g.ci.1),
            100.0 * g.band,
            100.0 * g.detectable,
            g.runs_for_5_percent,
            g.verdict
        );
    }
    let _ = writeln!(
        out,
        "(change: geometric mean of new / old wall time; band: within it a change is unchanged, from the runs' own spread; detects: the smallest change these runs flag 80 % of the time)"
    );
    out
}
