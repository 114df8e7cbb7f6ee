//! How well the gate works on this machine, from real recorded runs (pure): resample one
//! target's wall times, in the order they were measured, into many would-be comparisons and
//! count the verdicts — with nothing changed (A/A) and with a slowdown injected into one side.
//!
//! - `check` compares runs made at different times: side A is drawn from the first half of the
//!   recording and side B from the second half, so the machine's drift between them shows up
//!   as it would between a saved baseline and today's runs; it is judged with the drift
//!   `calibrate` would measure (or none, to show what ignoring it costs).
//! - `ab` compares runs made side by side: each round is four consecutive runs of the
//!   recording, read as A B B A or B A A B by a coin as `ab`'s schedule does, drawn (with
//!   replacement) from anywhere in it; wall time and W are judged as `ab` judges them, and with
//!   `--resolve` rounds are added look by look as `ab --resolve` adds them.
//!
//! Trials run on every core, each drawn with its own generator ([`task_rng`]): the same seed
//! gives the same table whatever the number of threads.

use rand::seq::IndexedRandom;
use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::gate::{self, Verdict};
use crate::stats::task_rng;

/// The verdict counts of one design at one injected change.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PowerRow {
    pub design: String,
    /// The slowdown multiplied into side B (0.05: 5 % slower).
    pub injected: f64,
    pub runs_per_side: usize,
    /// Runs per side a trial used on average (fewer than `runs_per_side` when a sequential
    /// comparison stopped early).
    pub mean_runs_per_side: f64,
    pub trials: usize,
    pub regressed: usize,
    pub unchanged: usize,
    pub inconclusive: usize,
    pub improved: usize,
}

impl PowerRow {
    fn count(design: String, injected: f64, runs_per_side: usize, verdicts: &[Verdict]) -> Self {
        let used = vec![runs_per_side; verdicts.len()];
        Self::count_used(design, injected, runs_per_side, verdicts, &used)
    }

    fn count_used(
        design: String,
        injected: f64,
        runs_per_side: usize,
        verdicts: &[Verdict],
        used: &[usize],
    ) -> Self {
        let n = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
        PowerRow {
            design,
            injected,
            runs_per_side,
            mean_runs_per_side: used.iter().sum::<usize>() as f64 / used.len().max(1) as f64,
            trials: verdicts.len(),
            regressed: n(Verdict::Regressed),
            unchanged: n(Verdict::Unchanged),
            inconclusive: n(Verdict::Inconclusive),
            improved: n(Verdict::Improved),
        }
    }

    /// Share of trials with `count`.
    pub fn share(&self, count: usize) -> f64 {
        count as f64 / self.trials.max(1) as f64
    }
}

/// `check`: A from the first half of `walls` (in measured order), B from the second half, `n`
/// each, B slowed by `injected`. `None` when a half holds fewer than `n` runs.
pub fn check_power(
    walls: &[f64],
    n: usize,
    injected: f64,
    trials: usize,
    seed: u64,
    (floor, drift): (f64, f64),
) -> Option<PowerRow> {
    let (first, second) = walls.split_at(walls.len() / 2);
    if first.len() < n || second.len() < n || n < 2 {
        return None;
    }
    let verdicts: Vec<Verdict> = (0..trials)
        .into_par_iter()
        .filter_map(|trial| {
            let mut rng = task_rng(seed, trial as u64);
            let a: Vec<f64> = first.choose_multiple(&mut rng, n).copied().collect();
            let b: Vec<f64> = second
                .choose_multiple(&mut rng, n)
                .map(|w| w * (1.0 + injected))
                .collect();
            Some(gate::unpaired(&a, &b, floor, drift)?.verdict)
        })
        .collect();
    let design = if drift > 0.0 {
        "check"
    } else {
        "check, no drift"
    };
    Some(PowerRow::count(design.into(), injected, n, &verdicts))
}

/// `ab`: `n / 2` rounds per trial (`n` runs per side), each four consecutive recorded runs
/// (wall time, W) read A B B A or B A A B by a coin, B slowed by `injected` in both; judged as
/// `ab` judges (wall time and W, regressed when either is). With `resolve` (the change to tell,
/// the most runs per side), rounds are added at `ab --resolve`'s looks until every measure can
/// tell. `None` when the recording holds too few runs.
pub fn ab_power(
    runs: &[(f64, Option<f64>)],
    n: usize,
    injected: f64,
    trials: usize,
    seed: u64,
    floor: f64,
    resolve: Option<(f64, usize)>,
) -> Option<PowerRow> {
    let ratio = |q: [f64; 4]| (q[1].ln() + q[2].ln() - q[0].ln() - q[3].ln()) / 2.0;
    let rounds: Vec<(f64, Option<f64>)> = runs
        .windows(4)
        .map(|w| {
            let cpu = [w[0].1, w[1].1, w[2].1, w[3].1];
            let cpu: Option<Vec<f64>> = cpu.into_iter().collect();
            (
                ratio([w[0].0, w[1].0, w[2].0, w[3].0]),
                cpu.map(|c| ratio([c[0], c[1], c[2], c[3]])),
            )
        })
        .collect();
    let first = n / 2;
    if rounds.is_empty() || first < 2 {
        return None;
    }
    let looks = match resolve {
        Some((_, budget)) => gate::looks(first, 5, (budget / 2).max(first), 0.05),
        None => vec![(first, 0.05)],
    };
    let most = looks.last().map_or(first, |l| l.0);
    let shift = injected.ln_1p();
    let outcomes: Vec<(Verdict, usize)> = (0..trials)
        .into_par_iter()
        .map(|trial| {
            let mut rng = task_rng(seed, trial as u64);
            let drawn: Vec<(f64, Option<f64>)> = (0..most)
                .map(|_| {
                    let (wall, cpu) = rounds[rng.random_range(0..rounds.len())];
                    let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                    (sign * wall + shift, cpu.map(|c| sign * c + shift))
                })
                .collect();
            let mut last = (Verdict::Inconclusive, first);
            for &(r, alpha) in &looks {
                let wall: Vec<f64> = drawn[..r].iter().map(|d| d.0).collect();
                let cpu: Option<Vec<f64>> = drawn[..r].iter().map(|d| d.1).collect();
                let changes: Vec<gate::Change> = [Some(wall), cpu]
                    .into_iter()
                    .flatten()
                    .filter_map(|ratios| gate::paired_at(&ratios, 2, floor, alpha))
                    .collect();
                let changes: Vec<&gate::Change> = changes.iter().collect();
                last = (gate::combined(&changes), 2 * r);
                if resolve.is_some_and(|(size, _)| gate::resolved(&changes, size)) {
                    break;
                }
            }
            last
        })
        .collect();
    let verdicts: Vec<Verdict> = outcomes.iter().map(|o| o.0).collect();
    let used: Vec<usize> = outcomes.iter().map(|o| o.1).collect();
    let design = match resolve {
        Some((size, budget)) => format!("ab --resolve {:.0}% (≤{budget})", 100.0 * size),
        None => "ab".to_owned(),
    };
    Some(PowerRow::count_used(
        design,
        injected,
        2 * most,
        &verdicts,
        &used,
    ))
}

/// The table of a power study, one line per row.
pub fn table(rows: &[PowerRow]) -> String {
    let mut out = String::from(
        "design                   injected  runs/side  trials  regressed  unchanged  inconclusive  improved\n",
    );
    for r in rows {
        let runs = if r.mean_runs_per_side < r.runs_per_side as f64 {
            format!("{:.1}", r.mean_runs_per_side)
        } else {
            r.runs_per_side.to_string()
        };
        out.push_str(&format!(
            "{:<24} {:>7.0}%  {:>9}  {:>6}  {:>8.1}%  {:>8.1}%  {:>11.1}%  {:>7.1}%\n",
            r.design,
            100.0 * r.injected,
            runs,
            r.trials,
            100.0 * r.share(r.regressed),
            100.0 * r.share(r.unchanged),
            100.0 * r.share(r.inconclusive),
            100.0 * r.share(r.improved),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// 40 runs of 4 s with a seeded 2.9 % spread and no drift.
    fn steady() -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(9);
        (0..40)
            .map(|_| {
                let z: f64 = rand_distr_normal(&mut rng);
                4.0 * (0.029 * z).exp()
            })
            .collect()
    }

    /// Runs without W.
    fn paired(walls: &[f64]) -> Vec<(f64, Option<f64>)> {
        walls.iter().map(|w| (*w, None)).collect()
    }

    /// A standard normal draw (Box–Muller) without another dependency.
    fn rand_distr_normal(rng: &mut StdRng) -> f64 {
        use rand::Rng;
        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// `f` on a pool of `threads` threads.
    fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn the_same_seed_gives_the_same_table_on_any_number_of_threads() {
        let walls = steady();
        let rows = || {
            [
                check_power(&walls, 10, 0.05, 200, 3, (0.01, 0.0)),
                ab_power(&paired(&walls), 10, 0.05, 200, 3, 0.01, None),
            ]
        };
        let one = on_threads(1, rows);
        assert_eq!(one, on_threads(2, rows));
        assert_eq!(one, on_threads(3, rows));
        let ratio = |threads, seed| {
            on_threads(threads, || {
                crate::stats::ratio_of_medians(&walls[..20], &walls[20..], seed)
            })
        };
        assert_eq!(ratio(1, 5), ratio(2, 5));
        assert_ne!(ratio(2, 5), ratio(2, 6), "a seed changes the draws");
    }

    #[test]
    fn a_clear_slowdown_is_found_and_nothing_is_found_in_nothing() {
        let walls = steady();
        let aa = check_power(&walls, 10, 0.0, 300, 1, (0.01, 0.0)).unwrap();
        assert!(aa.share(aa.regressed) < 0.1, "{aa:?}");
        let slow = check_power(&walls, 10, 0.20, 300, 1, (0.01, 0.0)).unwrap();
        assert!(slow.share(slow.regressed) > 0.95, "{slow:?}");
        let ab = ab_power(&paired(&walls), 10, 0.20, 300, 1, 0.01, None).unwrap();
        assert!(ab.share(ab.regressed) > 0.9, "{ab:?}");
    }

    #[test]
    fn drift_between_halves_is_what_check_sees_and_ab_does_not() {
        // The machine gets 10 % slower halfway: check calls it a regression, ab does not.
        let walls: Vec<f64> = steady()
            .iter()
            .enumerate()
            .map(|(i, w)| if i >= 20 { w * 1.1 } else { *w })
            .collect();
        let check = check_power(&walls, 10, 0.0, 300, 2, (0.01, 0.0)).unwrap();
        assert!(check.share(check.regressed) > 0.9, "{check:?}");
        let ab = ab_power(&paired(&walls), 10, 0.0, 300, 2, 0.01, None).unwrap();
        assert!(ab.share(ab.regressed) < 0.2, "{ab:?}");
        assert!(check_power(&walls[..10], 10, 0.0, 10, 1, (0.01, 0.0)).is_none());
    }
}
