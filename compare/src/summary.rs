//! Records → per-(target, sample) statistics. Pure.

use crate::record::{CellSummary, RunRecord, RunStatus};
use crate::stats::{mean, ratio_of_medians, Summary};

/// Wall times of the valid runs of one cell.
pub fn valid_walls<'a>(
    runs: &'a [RunRecord],
    target: &str,
    sample: &str,
) -> impl Iterator<Item = &'a RunRecord> {
    let (target, sample) = (target.to_owned(), sample.to_owned());
    runs.iter()
        .filter(move |r| r.target == target && r.sample == sample && r.status == RunStatus::Ok)
}

/// Summaries of every (target, sample) cell present in `runs`, in report order
/// ([`in_report_order`], samples as first seen).
pub fn summarize(runs: &[RunRecord], baseline: Option<&str>, seed: u64) -> Vec<CellSummary> {
    let mut samples: Vec<String> = Vec::new();
    for r in runs {
        if !samples.contains(&r.sample) {
            samples.push(r.sample.clone());
        }
    }
    let mut cells = cells_of(runs, baseline, seed);
    in_report_order(&mut cells, &samples);
    cells
}

/// Puts `cells` in the order every report shows them: grouped by sample in the order of
/// `samples` (samples not listed after, as they come), each sample's cells fastest first (by
/// median wall time; cells without one last). Reports apply it when they are drawn, so a
/// results file written in any order renders the same.
pub fn in_report_order(cells: &mut [CellSummary], samples: &[String]) {
    let seen: Vec<String> = cells.iter().map(|c| c.sample.clone()).collect();
    let place = |c: &CellSummary| {
        let listed = samples.iter().position(|s| *s == c.sample);
        let first_seen = seen.iter().position(|s| *s == c.sample);
        (listed.is_none(), listed.or(first_seen))
    };
    let median = |c: &CellSummary| c.wall.as_ref().map_or(f64::INFINITY, |w| w.median);
    cells.sort_by(|a, b| {
        place(a)
            .cmp(&place(b))
            .then(median(a).total_cmp(&median(b)))
    });
}

/// Summaries of every cell, in first-seen order.
fn cells_of(runs: &[RunRecord], baseline: Option<&str>, seed: u64) -> Vec<CellSummary> {
    let mut cells: Vec<(String, String)> = Vec::new();
    for r in runs {
        let cell = (r.target.clone(), r.sample.clone());
        if !cells.contains(&cell) {
            cells.push(cell);
        }
    }
    cells
        .iter()
        .map(|(target, sample)| {
            let valid: Vec<&RunRecord> = valid_walls(runs, target, sample).collect();
            let walls: Vec<f64> = valid.iter().map(|r| r.wall_s).collect();
            let ttfc: Vec<f64> = valid
                .iter()
                .filter_map(|r| r.time_to_first_clip_s)
                .collect();
            let count = |status: RunStatus| {
                runs.iter()
                    .filter(|r| &r.target == target && &r.sample == sample && r.status == status)
                    .count()
            };
            let baseline_walls: Option<Vec<f64>> =
                baseline.map(|b| valid_walls(runs, b, sample).map(|r| r.wall_s).collect());
            let works: Vec<f64> = valid.iter().filter_map(|r| r.work_cpu_s).collect();
            let avg = |values: Vec<f64>| (!values.is_empty()).then(|| mean(&values));
            CellSummary {
                target: target.clone(),
                sample: sample.clone(),
                runs_valid: valid.len(),
                runs_invalid: count(RunStatus::Invalid),
                runs_failed: count(RunStatus::Failed),
                wall: Summary::of(&walls, seed),
                time_to_first_clip: Summary::of(&ttfc, seed),
                speedup_vs_baseline: baseline_walls
                    .and_then(|b| ratio_of_medians(&b, &walls, seed)),
                cpu_mean_percent: avg(valid
                    .iter()
                    .map(|r| f64::from(r.cpu_mean_percent))
                    .collect()),
                realtime_factor: avg(valid.iter().filter_map(|r| r.realtime_factor).collect()),
                work_cpu_s: avg(works),
                sweep_workers: valid.first().and_then(|r| r.sweep_workers),
            }
        })
        .collect()
}
