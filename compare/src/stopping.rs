//! When a cell of the comparison has enough runs (pure): the main job answers as soon as its
//! answer is known instead of after a fixed count.
//!
//! Each (target, sample) cell gets at least [`StopRule::min_runs`] and at most
//! [`StopRule::max_runs`] valid runs, one per round, the rounds interleaved and shuffled as
//! before; a cell stops once its part of the answer is decided:
//!
//! - its speed-up against the baseline on that sample: the interval of the ratio of geometric
//!   means (Welch's t on log wall times) lies clear of 1.0, or within ±10 % of its estimate;
//! - on a 10-minute sample, the one-minute verdict: the interval of its geometric-mean wall
//!   time lies wholly under or over the target;
//! - the baseline itself stops when every other cell of its sample has.
//!
//! **Honest when it stops early.** A cell is looked at after each of its runs from the
//! minimum to the maximum (four looks for 2 to 5); every look judges its intervals at
//! `alpha / looks` (Bonferroni), so by the union bound the chance that any look decides
//! wrongly (an interval that misses the truth) stays under `alpha` (5 %), however the looks
//! fall. The report's own figures (medians with bootstrap intervals) are computed from all
//! the runs made, as with a fixed count; the report states the rule and where each cell
//! stopped.

use serde::{Deserialize, Serialize};

use crate::record::{RunRecord, RunStatus, Stopped};
use crate::stats::{mean, std_dev};

/// The rule the main job stops its cells by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRule {
    pub min_runs: usize,
    pub max_runs: usize,
    /// Chance of any wrong decision over all the looks at one cell.
    pub alpha: f64,
    /// A speed-up interval narrower than this share either side is decided.
    pub precision: f64,
    /// The one-minute target, seconds, for samples at least [`LONG_SAMPLE_S`] long.
    pub target_seconds: f64,
}

/// Samples this long (seconds) get the one-minute verdict.
pub const LONG_SAMPLE_S: f64 = 599.0;

impl Default for StopRule {
    /// 2 to 5 runs, 5 % over all looks, ±10 %, one minute.
    fn default() -> Self {
        StopRule {
            min_runs: 2,
            max_runs: 5,
            alpha: 0.05,
            precision: 0.10,
            target_seconds: 60.0,
        }
    }
}

impl StopRule {
    /// The two-sided level each look judges at.
    fn look_alpha(&self) -> f64 {
        self.alpha / (self.max_runs + 1 - self.min_runs.min(self.max_runs)).max(1) as f64
    }

    /// How the rule reads in a report.
    pub fn describe(&self) -> String {
        format!(
            "each cell ran {} to {} times, stopping once its speed-up against the baseline was \
             clear of 1.0 (or within ±{:.0} %) and, on a 10-minute sample, its {:.0}-second \
             verdict was decided; each look at {:.2} % (Bonferroni over the looks: {:.0} % in all)",
            self.min_runs,
            self.max_runs,
            self.precision * 100.0,
            self.target_seconds,
            self.look_alpha() * 100.0,
            self.alpha * 100.0
        )
    }

    /// Whether `target` on `sample` needs no more runs, given every run so far and the
    /// baseline's name; `None` while it does.
    pub fn stopped(
        &self,
        runs: &[RunRecord],
        target: &str,
        sample: &str,
        baseline: Option<&str>,
    ) -> Option<Stopped> {
        let made = runs
            .iter()
            .filter(|r| r.target == target && r.sample == sample)
            .count();
        let stop = |reason: String| {
            Some(Stopped {
                target: target.to_owned(),
                sample: sample.to_owned(),
                runs: made,
                reason,
            })
        };
        if made >= self.max_runs {
            return match self.decided(runs, target, sample, baseline) {
                true => stop(format!("decided after {made} runs")),
                false => stop(format!("at the most runs, {made}, undecided")),
            };
        }
        if made < self.min_runs || !self.decided(runs, target, sample, baseline) {
            return None;
        }
        stop(format!("decided after {made} runs"))
    }

    fn decided(
        &self,
        runs: &[RunRecord],
        target: &str,
        sample: &str,
        baseline: Option<&str>,
    ) -> bool {
        let logs = |t: &str| -> Vec<f64> {
            (runs.iter())
                .filter(|r| r.target == t && r.sample == sample && r.status == RunStatus::Ok)
                .map(|r| r.wall_s.max(1e-9).ln())
                .collect()
        };
        let own = logs(target);
        if own.len() < self.min_runs {
            return false;
        }
        let level = self.look_alpha();
        if baseline == Some(target) {
            // The denominator of the others: done when they are.
            let others: Vec<&str> = (runs.iter())
                .filter(|r| r.sample == sample && r.target != target)
                .map(|r| r.target.as_str())
                .collect();
            return others.iter().all(|o| {
                let n = runs
                    .iter()
                    .filter(|r| r.target == *o && r.sample == sample)
                    .count();
                n >= self.max_runs || self.decided(runs, o, sample, baseline)
            });
        }
        let long = (runs.iter())
            .find(|r| r.target == target && r.sample == sample)
            .is_some_and(|r| r.source_duration_s >= LONG_SAMPLE_S);
        if long {
            let (centre, half) = interval(&own, None, level);
            let limit = self.target_seconds.ln();
            if centre + half >= limit && centre - half <= limit {
                return false;
            }
        }
        match baseline.map(logs) {
            Some(base) if base.len() >= 2 => {
                let (centre, half) = interval(&own, Some(&base), level);
                let clear = centre - half > 0.0 || centre + half < 0.0;
                clear || half < (1.0 + self.precision).ln()
            }
            // No baseline on this sample: its speed-up is not part of the answer.
            _ => true,
        }
    }
}

/// The centre and half-width of the `1 − alpha` interval of the mean of `a` (or of the
/// difference of means `a − b`, Welch): Student's t.
fn interval(a: &[f64], b: Option<&[f64]>, alpha: f64) -> (f64, f64) {
    let var = |v: &[f64]| std_dev(v).powi(2) / v.len() as f64;
    let (centre, se, df) = match b {
        None => (mean(a), var(a).sqrt(), a.len() as f64 - 1.0),
        Some(b) => {
            let (va, vb) = (var(a), var(b));
            let df = match va + vb > 0.0 {
                true => {
                    (va + vb).powi(2)
                        / (va.powi(2) / (a.len() as f64 - 1.0)
                            + vb.powi(2) / (b.len() as f64 - 1.0))
                }
                false => (a.len() + b.len()) as f64 - 2.0,
            };
            (mean(a) - mean(b), (va + vb).sqrt(), df)
        }
    };
    (centre, crate::gate::t_quantile(df, 1.0 - alpha / 2.0) * se)
}

#[cfg(test)]
mod tests;
