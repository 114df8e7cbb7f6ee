//! How well the gate works on this machine, from real recorded runs (pure): resample one
//! target's wall times, in the order they were measured, into many would-be comparisons and
//! count the verdicts — with nothing changed (A/A) and with a slowdown injected into one side.
//!
//! - `check` compares runs made at different times: side A is drawn from the first half of the
//!   recording and side B from the second half, so the machine's drift between them shows up
//!   as it would between a saved baseline and today's runs; it is judged with the drift
//!   `calibrate` would measure (or none, to show what ignoring it costs).
//! - `ab` compares runs made side by side: each round is four consecutive runs read as
//!   A B B A, and rounds are drawn from anywhere in the recording.
//!
//! Trials run on every core, each drawn with its own generator ([`task_rng`]): the same seed
//! gives the same table whatever the number of threads.

use rand::seq::IndexedRandom;
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
    pub trials: usize,
    pub regressed: usize,
    pub unchanged: usize,
    pub inconclusive: usize,
    pub improved: usize,
}

impl PowerRow {
    fn count(design: String, injected: f64, runs_per_side: usize, verdicts: &[Verdict]) -> Self {
        let n = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
        PowerRow {
            design,
            injected,
            runs_per_side,
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

/// `ab`: rounds of four consecutive runs read as A B B A, `n / 2` rounds drawn per trial (`n`
/// runs per side), B slowed by `injected`. `None` when the recording holds too few rounds.
pub fn ab_power(
    walls: &[f64],
    n: usize,
    injected: f64,
    trials: usize,
    seed: u64,
    floor: f64,
) -> Option<PowerRow> {
    let rounds: Vec<f64> = walls
        .chunks_exact(4)
        .map(|q| {
            let (a, b) = (q[0].ln() + q[3].ln(), q[1].ln() + q[2].ln());
            (b - a) / 2.0 + injected.ln_1p()
        })
        .collect();
    let per_trial = n / 2;
    if rounds.len() < per_trial || per_trial < 2 {
        return None;
    }
    let verdicts: Vec<Verdict> = (0..trials)
        .into_par_iter()
        .filter_map(|trial| {
            let mut rng = task_rng(seed, trial as u64);
            let drawn: Vec<f64> = rounds
                .choose_multiple(&mut rng, per_trial)
                .copied()
                .collect();
            Some(gate::paired(&drawn, 2, floor)?.verdict)
        })
        .collect();
    Some(PowerRow::count("ab".into(), injected, n, &verdicts))
}

/// The table of a power study, one line per row.
pub fn table(rows: &[PowerRow]) -> String {
    let mut out = String::from(
        "design            injected  runs/side  trials  regressed  unchanged  inconclusive  improved\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{:<17} {:>7.0}%  {:>9}  {:>6}  {:>8.1}%  {:>8.1}%  {:>11.1}%  {:>7.1}%\n",
            r.design,
            100.0 * r.injected,
            r.runs_per_side,
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
                ab_power(&walls, 10, 0.05, 200, 3, 0.01),
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
        let ab = ab_power(&walls, 10, 0.20, 300, 1, 0.01).unwrap();
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
        let ab = ab_power(&walls, 10, 0.0, 300, 2, 0.01).unwrap();
        assert!(ab.share(ab.regressed) < 0.2, "{ab:?}");
        assert!(check_power(&walls[..10], 10, 0.0, 10, 1, (0.01, 0.0)).is_none());
    }
}
