//! `clipbench check`: the regression gate. Per (target, sample), the relative change of the
//! median wall time with a bootstrap interval and a bootstrap t-test p-value; a change counts
//! only when it is significant at `alpha` AND its whole interval lies beyond the noise band
//! (criterion's rule).

use std::fmt::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::record::Results;
use crate::stats::{bootstrap_p_value, median, RESAMPLES};
use crate::summary::valid_walls;

/// The verdict on one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Improved,
    Regressed,
    Unchanged,
    Inconclusive,
}

/// Decides a verdict from the change interval and the p-value (pure).
pub fn verdict(ci: (f64, f64), p_value: f64, noise: f64, alpha: f64) -> Verdict {
    let significant = p_value < alpha;
    if significant && ci.0 > noise {
        Verdict::Regressed
    } else if significant && ci.1 < -noise {
        Verdict::Improved
    } else if (ci.0 >= -noise && ci.1 <= noise)
        || (!significant && ci.0 <= 0.0 && ci.1 >= 0.0 && ci.1 - ci.0 <= 2.0 * noise)
    {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
    }
}

/// One compared cell.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub target: String,
    pub sample: String,
    pub old_median_s: f64,
    pub new_median_s: f64,
    /// `new / old - 1`: positive is slower.
    pub change: f64,
    pub change_ci: (f64, f64),
    pub p_value: f64,
    pub verdict: Verdict,
}

/// Bootstrap interval of `median(new) / median(old) - 1`, both sides resampled independently.
fn change_ci(old: &[f64], new: &[f64], seed: u64) -> (f64, f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let pick = |rng: &mut StdRng, v: &[f64]| -> Vec<f64> {
        (0..v.len())
            .map(|_| v[rng.random_range(0..v.len())])
            .collect()
    };
    let mut changes: Vec<f64> = (0..RESAMPLES)
        .map(|_| median(&pick(&mut rng, new)) / median(&pick(&mut rng, old)) - 1.0)
        .collect();
    changes.sort_by(f64::total_cmp);
    let at = |p: f64| changes[((changes.len() - 1) as f64 * p).round() as usize];
    (at(0.025), at(0.975))
}

/// Compares every cell present in both results with valid runs on both sides.
pub fn compare(old: &Results, new: &Results, noise: f64, alpha: f64) -> Vec<Comparison> {
    new.summaries
        .iter()
        .filter_map(|cell| {
            let new_walls: Vec<f64> = valid_walls(&new.runs, &cell.target, &cell.sample)
                .map(|r| r.wall_s)
                .collect();
            let old_walls: Vec<f64> = valid_walls(&old.runs, &cell.target, &cell.sample)
                .map(|r| r.wall_s)
                .collect();
            if new_walls.is_empty() || old_walls.is_empty() {
                return None;
            }
            let seed = new.seed ^ old.seed;
            let (old_median, new_median) = (median(&old_walls), median(&new_walls));
            let ci = change_ci(&old_walls, &new_walls, seed);
            let p_value = bootstrap_p_value(&old_walls, &new_walls, seed);
            Some(Comparison {
                target: cell.target.clone(),
                sample: cell.sample.clone(),
                old_median_s: old_median,
                new_median_s: new_median,
                change: new_median / old_median - 1.0,
                change_ci: ci,
                p_value,
                verdict: verdict(ci, p_value, noise, alpha),
            })
        })
        .collect()
}

/// The verdict table for the terminal.
pub fn table(comparisons: &[Comparison]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<22} {:>9} {:>9} {:>8} {:>20} {:>7}  verdict",
        "target", "sample", "old s", "new s", "change", "95% CI", "p"
    );
    for c in comparisons {
        let _ = writeln!(
            out,
            "{:<22} {:<22} {:>9.2} {:>9.2} {:>+7.1}% {:>20} {:>7.3}  {:?}",
            c.target,
            c.sample,
            c.old_median_s,
            c.new_median_s,
            100.0 * c.change,
            format!(
                "[{:+.1}%, {:+.1}%]",
                100.0 * c.change_ci.0,
                100.0 * c.change_ci.1
            ),
            c.p_value,
            c.verdict
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_rule() {
        assert_eq!(verdict((0.10, 0.30), 0.001, 0.03, 0.05), Verdict::Regressed);
        assert_eq!(
            verdict((-0.30, -0.10), 0.001, 0.03, 0.05),
            Verdict::Improved
        );
        // Significant but the interval reaches into the noise band.
        assert_eq!(
            verdict((0.01, 0.20), 0.001, 0.03, 0.05),
            Verdict::Inconclusive
        );
        // Not significant, whole interval beyond the band: still not a regression.
        assert_eq!(
            verdict((0.10, 0.30), 0.20, 0.03, 0.05),
            Verdict::Inconclusive
        );
        assert_eq!(verdict((-0.02, 0.02), 0.40, 0.03, 0.05), Verdict::Unchanged);
        assert_eq!(verdict((-0.01, 0.02), 0.01, 0.03, 0.05), Verdict::Unchanged);
    }

    #[test]
    fn change_interval_of_a_clear_shift() {
        let old = [10.0, 10.1, 9.9, 10.0, 10.2];
        let new: Vec<f64> = old.iter().map(|v| v * 1.5).collect();
        let (low, high) = change_ci(&old, &new, 4);
        assert!(low > 0.4 && high < 0.6, "{low} {high}");
    }
}
