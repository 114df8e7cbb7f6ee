//! How well `history` finds a change on this machine (pure): histories of `commits` commits
//! are built from real recorded runs, `runs_per_commit` consecutive recorded runs per commit
//! (runs of one commit are made together, so they share the moment's load, as they would in
//! CI), with a step injected from a random commit in the middle half on, and without; the
//! change-point detector is run on each and its answers are counted.
//!
//! Histories run on every core, each drawn with its own generator ([`task_rng`]): the same seed
//! gives the same table whatever the number of threads.

use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::changepoint::{self, Settings};
use crate::stats::task_rng;

/// How the histories are built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Design {
    pub commits: usize,
    pub runs_per_commit: usize,
    /// The slowdown injected (0.05: 5 %); 0 for none.
    pub step: f64,
    /// A change point this close to the step's commit (in commits) counts as finding it.
    pub within: usize,
    pub histories: usize,
    pub seed: u64,
}

/// What the detector did over the histories of one design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerRow {
    pub step: f64,
    pub histories: usize,
    pub commits: usize,
    pub runs_per_commit: usize,
    /// Histories where a change point fell within `within` commits of the step.
    pub found: usize,
    /// For each found step, the change point's index minus the step's (positive: late).
    pub lateness: Vec<i64>,
    /// Change points that are not the step.
    pub false_points: usize,
    /// Histories where an oracle that knows the step's commit calls the two sides different
    /// (Welch's t, two-sided 5 %): a bound on what any detector could find in these histories.
    pub oracle_found: usize,
}

impl PowerRow {
    /// False change points per 100 commits.
    pub fn false_per_100_commits(&self) -> f64 {
        100.0 * self.false_points as f64 / (self.histories * self.commits).max(1) as f64
    }
}

/// One history of `design` from `logs` (recorded log times in the order measured): its points
/// and the commit the step starts at.
fn history(logs: &[f64], design: &Design, rng: &mut impl Rng) -> (Vec<f64>, usize) {
    let quarter = design.commits / 4;
    let step_at = rng.random_range(quarter..=design.commits - quarter);
    let shift = (1.0 + design.step).ln();
    let per = design.runs_per_commit;
    let points = (0..design.commits)
        .map(|c| {
            let start = rng.random_range(0..=logs.len() - per);
            let mean = logs[start..start + per].iter().sum::<f64>() / per as f64;
            mean + if c >= step_at { shift } else { 0.0 }
        })
        .collect();
    (points, step_at)
}

/// Whether Welch's t test calls the points before `step_at` and from it on different (two-sided
/// 5 %), the later ones higher.
fn oracle_sees(points: &[f64], step_at: usize) -> bool {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let (before, after) = points.split_at(step_at);
    let moments = |x: &[f64]| {
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0);
        (mean, var / x.len() as f64, x.len() as f64 - 1.0)
    };
    let ((ma, va, da), (mb, vb, db)) = (moments(before), moments(after));
    let se = (va + vb).sqrt();
    if se <= 0.0 || da < 1.0 || db < 1.0 {
        return mb > ma;
    }
    let df = (va + vb).powi(2) / (va * va / da + vb * vb / db);
    let t = (mb - ma) / se;
    StudentsT::new(0.0, 1.0, df).is_ok_and(|d| t > 0.0 && 2.0 * (1.0 - d.cdf(t)) < 0.05)
}

/// Runs `design` over `logs`; `None` when the recording holds fewer runs than a commit needs.
pub fn history_power(logs: &[f64], design: &Design, settings: &Settings) -> Option<PowerRow> {
    if logs.len() < design.runs_per_commit || design.runs_per_commit == 0 || design.commits < 8 {
        return None;
    }
    let outcomes: Vec<(Option<i64>, usize, bool)> = (0..design.histories)
        .into_par_iter()
        .map(|h| {
            let mut rng = task_rng(design.seed, h as u64);
            let (points, step_at) = history(logs, design, &mut rng);
            let settings = Settings {
                seed: settings.seed ^ (h as u64).wrapping_mul(0x2545_f491),
                ..*settings
            };
            let found = changepoint::e_divisive(&points, &settings);
            let hit = (design.step != 0.0)
                .then(|| {
                    found
                        .iter()
                        .map(|c| c.index as i64 - step_at as i64)
                        .filter(|d| d.unsigned_abs() as usize <= design.within)
                        .min_by_key(|d| d.abs())
                })
                .flatten();
            let oracle = design.step != 0.0 && oracle_sees(&points, step_at);
            (hit, found.len() - usize::from(hit.is_some()), oracle)
        })
        .collect();
    Some(PowerRow {
        step: design.step,
        histories: design.histories,
        commits: design.commits,
        runs_per_commit: design.runs_per_commit,
        found: outcomes.iter().filter(|o| o.0.is_some()).count(),
        lateness: outcomes.iter().filter_map(|o| o.0).collect(),
        false_points: outcomes.iter().map(|o| o.1).sum(),
        oracle_found: outcomes.iter().filter(|o| o.2).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet_recording() -> Vec<f64> {
        // 40 runs within ±1 %: a 10 % step stands well out of it.
        (0..40)
            .map(|i| (5.0 * (1.0 + 0.02 * ((i * 7 % 11) as f64 / 10.0 - 0.5))).ln())
            .collect()
    }

    fn design(step: f64) -> Design {
        Design {
            commits: 40,
            runs_per_commit: 3,
            step,
            within: 3,
            histories: 40,
            seed: 1,
        }
    }

    #[test]
    fn a_large_step_in_quiet_runs_is_found_and_nothing_is_invented() {
        let settings = Settings::default();
        let stepped = history_power(&quiet_recording(), &design(0.10), &settings).unwrap();
        assert_eq!(stepped.found, 40, "{stepped:?}");
        assert_eq!(stepped.oracle_found, 40, "{stepped:?}");
        assert!(stepped.lateness.iter().all(|d| d.abs() <= 1), "{stepped:?}");
        let flat = history_power(&quiet_recording(), &design(0.0), &settings).unwrap();
        assert_eq!(flat.found, 0);
        assert!(flat.false_per_100_commits() <= 1.0, "{flat:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_row_on_any_number_of_threads() {
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| history_power(&quiet_recording(), &design(0.02), &Settings::default()))
        };
        assert_eq!(on(1), on(2));
    }

    #[test]
    fn too_few_recorded_runs_is_refused() {
        assert!(history_power(&[1.0, 1.0], &design(0.05), &Settings::default()).is_none());
    }
}
