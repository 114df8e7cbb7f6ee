//! Statistics as pure functions: summaries with a bootstrap confidence interval of the median,
//! MAD-based outlier flags, speed ratios with bootstrap intervals, and the bootstrap t-test the
//! regression gate uses. Resampling is seeded, so the same data gives the same intervals; it
//! runs on every core (rayon), each task with its own seed ([`task_rng`]), so the figures do not
//! depend on how many threads there are.
//!
//! References: Efron & Tibshirani, *An Introduction to the Bootstrap* (percentile intervals);
//! Iglewicz & Hoaglin (modified z-score 0.6745·(x − median)/MAD > 3.5 flags an outlier);
//! criterion.rs `stats::univariate::mixed` (t-test by resampling the pooled sample).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 10_000;

/// Bootstrap resamples per parallel task (each with its own generator).
const RESAMPLES_PER_TASK: usize = 250;

/// The random generator of task `task` of a computation seeded with `seed`: independent of the
/// other tasks' and of which thread runs it (SplitMix64 of both, as the seed).
pub fn task_rng(seed: u64, task: u64) -> StdRng {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    StdRng::seed_from_u64(mix(seed ^ mix(task)))
}

/// Median of a sample (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// Arithmetic mean; NaN when empty.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (n − 1); 0 for fewer than two values.
pub fn std_dev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// Percentile `p` in [0, 1] of sorted values, by linear interpolation.
fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// The bootstrap distribution of `statistic`, sorted: [`RESAMPLES`] times, each sample is
/// resampled with replacement (independently) and the statistic computed on the resamples;
/// in parallel tasks of [`RESAMPLES_PER_TASK`].
fn bootstrap(
    samples: &[&[f64]],
    seed: u64,
    statistic: impl Fn(&[Vec<f64>]) -> f64 + Sync,
) -> Vec<f64> {
    let tasks = RESAMPLES.div_ceil(RESAMPLES_PER_TASK);
    let mut estimates: Vec<f64> = (0..tasks)
        .into_par_iter()
        .flat_map_iter(|task| {
            let mut rng = task_rng(seed, task as u64);
            let mut buffers: Vec<Vec<f64>> = samples
                .iter()
                .map(|s| Vec::with_capacity(s.len()))
                .collect();
            let count = RESAMPLES_PER_TASK.min(RESAMPLES - task * RESAMPLES_PER_TASK);
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                for (sample, buffer) in samples.iter().zip(&mut buffers) {
                    buffer.clear();
                    let drawn =
                        (0..sample.len()).map(|_| sample[rng.random_range(0..sample.len())]);
                    buffer.extend(drawn);
                }
                out.push(statistic(&buffers));
            }
            out
        })
        .collect();
    estimates.sort_by(f64::total_cmp);
    estimates
}

/// The central `level` interval of a sorted bootstrap distribution.
fn percentile_interval(sorted: &[f64], level: f64) -> (f64, f64) {
    let tail = (1.0 - level) / 2.0;
    (
        percentile_sorted(sorted, tail),
        percentile_sorted(sorted, 1.0 - tail),
    )
}

/// Percentile bootstrap interval at `level` of a statistic over resamples of `values`.
pub fn bootstrap_ci(
    values: &[f64],
    level: f64,
    seed: u64,
    statistic: impl Fn(&[f64]) -> f64 + Sync,
) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let estimates = bootstrap(&[values], seed, |resampled| statistic(&resampled[0]));
    percentile_interval(&estimates, level)
}

/// Median absolute deviation (unscaled).
pub fn mad(values: &[f64]) -> f64 {
    let m = median(values);
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    median(&deviations)
}

/// Indexes of outliers by the modified z-score `0.6745 (x − median) / MAD` beyond 3.5.
/// With MAD = 0 nothing is flagged.
pub fn outliers(values: &[f64]) -> Vec<usize> {
    let (m, d) = (median(values), mad(values));
    if d.is_nan() || d <= 0.0 {
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| (0.6745 * (*v - m) / d).abs() > 3.5)
        .map(|(i, _)| i)
        .collect()
}

/// The summary of one (target, sample) cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub mean: f64,
    pub max: f64,
    pub std_dev: f64,
    /// 95 % bootstrap interval of the median.
    pub median_ci: (f64, f64),
    /// Indexes (within the values given) flagged as outliers; they stay in every statistic.
    pub outliers: Vec<usize>,
}

impl Summary {
    /// Summarises values; `None` when there are none.
    pub fn of(values: &[f64], seed: u64) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        Some(Summary {
            n: values.len(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            median: median(values),
            mean: mean(values),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            std_dev: std_dev(values),
            median_ci: bootstrap_ci(values, 0.95, seed, median),
            outliers: outliers(values),
        })
    }
}

/// A ratio of medians with its 95 % bootstrap interval (both samples resampled independently).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub value: f64,
    pub ci: (f64, f64),
}

/// `median(numerator) / median(denominator)` with a bootstrap interval.
pub fn ratio_of_medians(numerator: &[f64], denominator: &[f64], seed: u64) -> Option<Ratio> {
    if numerator.is_empty() || denominator.is_empty() {
        return None;
    }
    let estimates = bootstrap(&[numerator, denominator], seed, |r| {
        median(&r[0]) / median(&r[1])
    });
    Some(Ratio {
        value: median(numerator) / median(denominator),
        ci: percentile_interval(&estimates, 0.95),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptive_statistics_by_hand() {
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(median(&v), 4.5);
        assert_eq!(mean(&v), 5.0);
        // Sum of squared deviations = 32, n - 1 = 7.
        assert!((std_dev(&v) - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        // |x - 4.5| = 2.5 .5 .5 .5 .5 .5 2.5 4.5 → median 0.5.
        assert_eq!(mad(&v), 0.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn outliers_by_modified_z_score() {
        // median 10, MAD 1: 0.6745 × 10 / 1 = 6.7 > 3.5 flags 20; 12 gives 1.35.
        let v = [9.0, 10.0, 11.0, 10.0, 12.0, 20.0, 9.0];
        assert_eq!(outliers(&v), vec![5]);
        assert!(
            outliers(&[5.0, 5.0, 5.0, 9.0]).is_empty(),
            "MAD 0 flags nothing"
        );
    }

    #[test]
    fn summary_and_intervals() {
        let v = [10.0, 11.0, 12.0, 13.0, 14.0];
        let s = Summary::of(&v, 7).unwrap();
        assert_eq!(
            (s.n, s.min, s.median, s.mean, s.max),
            (5, 10.0, 12.0, 12.0, 14.0)
        );
        assert!(
            s.median_ci.0 >= 10.0
                && s.median_ci.1 <= 14.0
                && s.median_ci.0 <= 12.0
                && s.median_ci.1 >= 12.0
        );
        assert_eq!(Summary::of(&v, 7), Summary::of(&v, 7), "seeded");
        let constant = Summary::of(&[3.0, 3.0, 3.0], 1).unwrap();
        assert_eq!(constant.median_ci, (3.0, 3.0));
        assert_eq!(constant.std_dev, 0.0);
        assert!(Summary::of(&[], 1).is_none());
    }

    #[test]
    fn ratio_of_medians_with_interval() {
        let slow = [20.0, 20.0, 20.0];
        let fast = [10.0, 10.0, 10.0];
        let r = ratio_of_medians(&slow, &fast, 3).unwrap();
        assert_eq!(r.value, 2.0);
        assert_eq!(r.ci, (2.0, 2.0));
        let r = ratio_of_medians(&[19.0, 20.0, 21.0], &[9.0, 10.0, 11.0], 3).unwrap();
        assert_eq!(r.value, 2.0);
        assert!(r.ci.0 < 2.0 && r.ci.1 > 2.0 && r.ci.0 >= 19.0 / 11.0 && r.ci.1 <= 21.0 / 9.0);
    }
}
