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

/// Compares every cell present in both results with at least two valid runs on both sides.
/// `floor` is the smallest relative change of interest (the band never goes below it).
pub fn compare(old: &Results, new: &Results, floor: f64) -> Vec<Comparison> {
    new.summaries
        .iter()
        .filter_map(|cell| {
            let walls = |results: &Results| -> Vec<f64> {
                valid_walls(&results.runs, &cell.target, &cell.sample)
                    .map(|r| r.wall_s)
                    .collect()
            };
            let (old_walls, new_walls) = (walls(old), walls(new));
            let change = gate::unpaired(&old_walls, &new_walls, floor)?;
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
