//! The regression gate's statistics (pure): is B slower than A, and could these runs have told?
//!
//! Wall times are compared on a log scale: run-to-run noise on a shared machine is
//! multiplicative and skewed, and a difference of mean logs is a ratio (`exp(d) − 1` is the
//! relative change). The mean of logs with a Student t interval uses every run; the median of
//! ten runs, which the old gate used, throws most of them away (its efficiency is about 64 % of
//! the mean's for normal noise) and moves in jumps of whole runs.
//!
//! Two designs: [`unpaired`] (`check`: runs of two results made at different times, Welch's
//! t) and [`paired`] (`ab`: per-round ratios of runs made side by side in ABBA order, so the
//! machine's drift cancels within each round).
//!
//! A change is regressed (improved) when its 95 % interval excludes zero, unless the whole
//! interval is within the user's smallest change of interest (the floor). When the interval
//! holds zero, it is unchanged if it lies within the noise band, which is not a constant: it is
//! the margin these runs can resolve, `(t₀.₉₇₅ + z₀.₉₇₅) × SE`, from the measured spread (never
//! below the floor); otherwise inconclusive. With it, two samples of the same thing are called
//! regressed about 2.5 % of the time and unchanged about 95 %; a real change of the
//! [`Change::detectable`] size is flagged 80 % of the time.
//!
//! Runs made at different times (`check`) also differ by the machine's drift between sessions,
//! which more runs do not average away: [`drift`] measures it from one long recording
//! (`clipbench calibrate`) and [`unpaired`] adds it to the standard error.

pub mod power;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::stats::{mean, std_dev};

/// The verdict on one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Improved,
    Regressed,
    Unchanged,
    Inconclusive,
}

/// B against A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Relative change of B against A (`0.05`: B takes 5 % longer).
    pub change: f64,
    /// Its interval, at `confidence`.
    pub ci: (f64, f64),
    /// The interval's two-sided level (0.95 for a fixed design; higher at a sequential
    /// comparison's looks, where the false-alarm rate is spent a little at a time).
    #[serde(default = "ninety_five")]
    pub confidence: f64,
    /// Two-sided p-value of "no change".
    pub p_value: f64,
    /// Run-to-run spread (standard deviation of log wall time; of the per-round log ratio
    /// for a paired design).
    pub spread: f64,
    /// The equivalence margin used: within it the change is called unchanged.
    pub band: f64,
    /// The smallest true change these runs flag with 80 % power.
    pub detectable: f64,
    /// Runs per side that would flag a 5 % change with 80 % power at this spread.
    pub runs_for_5_percent: usize,
    pub verdict: Verdict,
}

fn ninety_five() -> f64 {
    0.95
}

/// The widest band within which a change is called unchanged: a comparison that cannot resolve
/// a 10 % change calls nothing unchanged (it is inconclusive, and says what it could resolve).
pub const EQUIVALENCE_LIMIT: f64 = 0.10;

/// Decides the verdict (pure). A change whose interval excludes zero is regressed (improved)
/// unless the whole interval is within `floor`, the smallest change of interest; a change
/// whose interval holds zero is unchanged when the interval lies within `band` (these runs
/// would have seen anything bigger) and the band is at most [`EQUIVALENCE_LIMIT`];
/// inconclusive otherwise.
pub fn verdict(ci: (f64, f64), band: f64, floor: f64) -> Verdict {
    let within = |limit: f64| ci.0 > -limit && ci.1 < limit;
    if ci.0 > 0.0 || ci.1 < 0.0 {
        if within(floor) {
            Verdict::Unchanged
        } else if ci.0 > 0.0 {
            Verdict::Regressed
        } else {
            Verdict::Improved
        }
    } else if within(band) && band <= EQUIVALENCE_LIMIT {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
    }
}

pub(crate) fn t_quantile(df: f64, p: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df.max(1.0)).map_or(1.96, |t| t.inverse_cdf(p))
}

fn z_quantile(p: f64) -> f64 {
    Normal::new(0.0, 1.0).map_or(1.28, |n| n.inverse_cdf(p))
}

fn two_sided_p(t: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df.max(1.0)).map_or(1.0, |d| 2.0 * (1.0 - d.cdf(t.abs())))
}

/// The smallest log change a design with standard error `se` and `df` degrees of freedom
/// flags with 80 % power (two-sided 5 %).
fn detectable_log(se: f64, df: f64) -> f64 {
    (t_quantile(df, 0.975) + z_quantile(0.80)) * se
}

/// The smallest relative change a design with standard error `se` (of log wall time) and `df`
/// degrees of freedom flags with 80 % power.
pub fn detectable(se: f64, df: f64) -> f64 {
    detectable_log(se, df).exp_m1()
}

/// Builds the result from a log difference, its standard error and degrees of freedom, its
/// interval at the two-sided level `1 − alpha`.
fn judge(
    (d, se, df): (f64, f64, f64),
    spread: f64,
    floor: f64,
    runs_for_5: usize,
    alpha: f64,
) -> Change {
    let t = t_quantile(df, 1.0 - alpha / 2.0);
    let half = t * se;
    let band_log = ((t + z_quantile(0.975)) * se).max(floor.ln_1p());
    let ci = ((d - half).exp_m1(), (d + half).exp_m1());
    let band = band_log.exp_m1();
    Change {
        change: d.exp_m1(),
        ci,
        confidence: 1.0 - alpha,
        p_value: if se > 0.0 {
            two_sided_p(d / se, df)
        } else {
            f64::from(u8::from(d == 0.0))
        },
        spread,
        band,
        detectable: detectable_log(se, df).exp_m1(),
        runs_for_5_percent: runs_for_5,
        verdict: verdict(ci, band, floor),
    }
}

/// Runs per side for which `se_of(n)` makes a 5 % change detectable with 80 % power.
fn runs_needed(se_of: impl Fn(usize) -> (f64, f64)) -> usize {
    (2..=10_000)
        .find(|&n| {
            let (se, df) = se_of(n);
            detectable_log(se, df) <= 0.05f64.ln_1p()
        })
        .unwrap_or(10_000)
}

/// The machine's drift between sessions (pure): the standard deviation of the mean log wall
/// time of consecutive blocks of `block` runs, beyond what the run-to-run spread explains.
/// `walls` in the order they were measured; 0 with fewer than two blocks.
pub fn drift(walls: &[f64], block: usize) -> f64 {
    let logs: Vec<f64> = walls.iter().map(|w| w.ln()).collect();
    let blocks: Vec<&[f64]> = logs.chunks_exact(block.max(2)).collect();
    if blocks.len() < 2 {
        return 0.0;
    }
    let means: Vec<f64> = blocks.iter().map(|b| mean(b)).collect();
    let within = mean(
        &blocks
            .iter()
            .map(|b| std_dev(b).powi(2))
            .collect::<Vec<_>>(),
    );
    (std_dev(&means).powi(2) - within / block.max(2) as f64)
        .max(0.0)
        .sqrt()
}

/// B's wall times against A's, from independent runs made at different times (Welch's t on
/// log wall times, the sessions' `drift` added to each side's variance); `None` with fewer than
/// two valid runs on a side. `floor` is the smallest change of interest.
pub fn unpaired(a: &[f64], b: &[f64], floor: f64, drift: f64) -> Option<Change> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (la, lb): (Vec<f64>, Vec<f64>) = (
        a.iter().map(|v| v.ln()).collect(),
        b.iter().map(|v| v.ln()).collect(),
    );
    let (na, nb) = (la.len() as f64, lb.len() as f64);
    let drift_var = drift * drift;
    let (va, vb) = (
        std_dev(&la).powi(2) / na + drift_var,
        std_dev(&lb).powi(2) / nb + drift_var,
    );
    let se = (va + vb).sqrt();
    let df = if va + vb > 0.0 {
        (va + vb).powi(2) / (va.powi(2) / (na - 1.0) + vb.powi(2) / (nb - 1.0))
    } else {
        na + nb - 2.0
    };
    let pooled = (((na - 1.0) * std_dev(&la).powi(2) + (nb - 1.0) * std_dev(&lb).powi(2))
        / (na + nb - 2.0))
        .sqrt();
    let runs = runs_needed(|n| {
        let se = (pooled * pooled * 2.0 / n as f64 + 2.0 * drift_var).sqrt();
        (se, 2.0 * n as f64 - 2.0)
    });
    Some(judge(
        (mean(&lb) - mean(&la), se, df),
        pooled,
        floor,
        runs,
        0.05,
    ))
}

/// B against A from per-round log ratios `ln(B / A)` of runs made side by side (paired t);
/// `runs_per_round` is how many runs of each side one round holds (2 for ABBA). `None` with
/// fewer than two rounds.
pub fn paired(log_ratios: &[f64], runs_per_round: usize, floor: f64) -> Option<Change> {
    paired_at(log_ratios, runs_per_round, floor, 0.05)
}

/// [`paired`] with the interval at the two-sided level `1 − alpha` (a sequential look's).
pub fn paired_at(
    log_ratios: &[f64],
    runs_per_round: usize,
    floor: f64,
    alpha: f64,
) -> Option<Change> {
    if log_ratios.len() < 2 {
        return None;
    }
    let n = log_ratios.len() as f64;
    let spread = std_dev(log_ratios);
    let rounds = runs_needed(|r| (spread / (r as f64).sqrt(), r as f64 - 1.0));
    Some(judge(
        (mean(log_ratios), spread / n.sqrt(), n - 1.0),
        spread,
        floor,
        rounds * runs_per_round.max(1),
        alpha,
    ))
}

/// The verdict on several measures of one comparison (wall time and W): regressed when any
/// regressed, improved when any improved and none regressed, unchanged when all are;
/// inconclusive otherwise (or with none).
pub fn combined(changes: &[&Change]) -> Verdict {
    let any = |v: Verdict| changes.iter().any(|c| c.verdict == v);
    if any(Verdict::Regressed) {
        Verdict::Regressed
    } else if any(Verdict::Improved) {
        Verdict::Improved
    } else if !changes.is_empty() && changes.iter().all(|c| c.verdict == Verdict::Unchanged) {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
    }
}

/// The share of `alpha` an O'Brien–Fleming-type spending function (Lan & DeMets 1983) has
/// spent by `fraction` of the largest sample: `2 − 2Φ(z₁₋α/₂ / √fraction)`.
pub fn obrien_fleming_spent(fraction: f64, alpha: f64) -> f64 {
    let z = z_quantile(1.0 - alpha / 2.0);
    2.0 - 2.0 * Normal::new(0.0, 1.0).map_or(1.0, |n| n.cdf(z / fraction.clamp(1e-9, 1.0).sqrt()))
}

/// A sequential comparison's looks: after `first` rounds, then every `every` more, the last at
/// `max`; each with the two-sided level it is judged at, its increment of `alpha` under
/// O'Brien–Fleming spending. The increments sum to `alpha`, so by the union bound stopping at
/// any look keeps the false-alarm rate under `alpha`. Early looks get almost nothing (they stop
/// only on a glaring change), the last nearly all, so little power is lost against a fixed
/// design of `max` rounds.
pub fn looks(first: usize, every: usize, max: usize, alpha: f64) -> Vec<(usize, f64)> {
    let mut rounds: Vec<usize> = (first.max(2)..max).step_by(every.max(1)).collect();
    rounds.push(max.max(first.max(2)));
    rounds.dedup();
    let last = *rounds.last().unwrap_or(&1) as f64;
    let mut spent = 0.0;
    rounds
        .into_iter()
        .map(|r| {
            let now = obrien_fleming_spent(r as f64 / last, alpha);
            let share = (now - spent).max(f64::MIN_POSITIVE);
            spent = now;
            (r, share)
        })
        .collect()
}

/// Whether a sequential comparison can stop: every measure regressed or improved, or its
/// interval lies within ±`resolve` (a change of that size is ruled out).
pub fn resolved(changes: &[&Change], resolve: f64) -> bool {
    !changes.is_empty()
        && changes.iter().all(|c| {
            matches!(c.verdict, Verdict::Regressed | Verdict::Improved)
                || (c.ci.0 > -resolve && c.ci.1 < resolve)
        })
}

/// One line: the change, its interval, the band and what these runs could detect.
pub fn describe(c: &Change) -> String {
    let level = if (c.confidence - 0.95).abs() > 1e-9 {
        format!(" ({:.2}% interval)", 100.0 * c.confidence)
    } else {
        String::new()
    };
    format!(
        "{:+.1}% [{:+.1}%, {:+.1}%]{level}, p = {:.3}; band ±{:.1}%, detectable {:.1}% at these runs, 5% needs {} runs per side",
        100.0 * c.change,
        100.0 * c.ci.0,
        100.0 * c.ci.1,
        c.p_value,
        100.0 * c.band,
        100.0 * c.detectable,
        c.runs_for_5_percent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_what_blocks_differ_by_beyond_the_spread() {
        // Two blocks of identical runs, the second 10 % slower: all of it is drift.
        let walls: Vec<f64> = (0..20).map(|i| if i < 10 { 4.0 } else { 4.4 }).collect();
        let d = drift(&walls, 10);
        assert!((d - 1.1f64.ln() / 2f64.sqrt()).abs() < 1e-9, "{d}");
        assert_eq!(drift(&[4.0; 20], 10), 0.0);
        assert_eq!(drift(&walls[..10], 10), 0.0, "one block: no drift to see");
        // With drift known, check no longer calls the slower session a regression.
        let (a, b) = (&walls[..10], &walls[10..]);
        let noisy_a: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, w)| w * (1.0 + 0.01 * (i % 3) as f64))
            .collect();
        let noisy_b: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, w)| w * (1.0 + 0.01 * (i % 3) as f64))
            .collect();
        assert_eq!(
            unpaired(&noisy_a, &noisy_b, 0.01, 0.0).unwrap().verdict,
            Verdict::Regressed
        );
        assert_ne!(
            unpaired(&noisy_a, &noisy_b, 0.01, 0.2).unwrap().verdict,
            Verdict::Regressed
        );
    }

    #[test]
    fn the_verdict_rule() {
        assert_eq!(verdict((0.02, 0.09), 0.04, 0.01), Verdict::Regressed);
        assert_eq!(verdict((-0.09, -0.02), 0.04, 0.01), Verdict::Improved);
        assert_eq!(verdict((-0.02, 0.03), 0.04, 0.01), Verdict::Unchanged);
        // Significant but proven smaller than the smallest change of interest: unchanged.
        assert_eq!(verdict((0.001, 0.008), 0.04, 0.01), Verdict::Unchanged);
        // Significant and possibly large: a regression even when the band is wide.
        assert_eq!(verdict((0.005, 0.03), 0.04, 0.01), Verdict::Regressed);
        assert_eq!(verdict((-0.49, -0.06), 0.53, 0.01), Verdict::Improved);
        assert_eq!(verdict((-0.03, 0.06), 0.04, 0.01), Verdict::Inconclusive);
        // Runs that resolve only ±17 % do not call a change unchanged.
        assert_eq!(verdict((-0.10, 0.12), 0.17, 0.01), Verdict::Inconclusive);
    }

    #[test]
    fn welch_by_hand() {
        // ln values: a = ln(10) ± small, b = a + ln(1.1): a clear 10 % slowdown.
        let a = [10.0, 10.2, 9.8, 10.1, 9.9];
        let b: Vec<f64> = a.iter().map(|v| v * 1.1).collect();
        let c = unpaired(&a, &b, 0.01, 0.0).unwrap();
        assert!((c.change - 0.1).abs() < 1e-9, "{c:?}");
        assert!(c.ci.0 > 0.05 && c.ci.1 < 0.15, "{c:?}");
        assert_eq!(c.verdict, Verdict::Regressed);
        // Same spread on both sides: the pooled spread is that of either side.
        let la: Vec<f64> = a.iter().map(|v| v.ln()).collect();
        assert!((c.spread - std_dev(&la)).abs() < 1e-12);
        // t(8) 0.975 = 2.306: the interval is d ± 2.306 × se.
        let se = std_dev(&la) * (2.0f64 / 5.0).sqrt();
        assert!(((c.ci.1.ln_1p() - c.ci.0.ln_1p()) / 2.0 - 2.306 * se).abs() < 1e-3);
    }

    #[test]
    fn identical_samples_are_unchanged_and_tiny_samples_are_refused() {
        let a = [4.0, 4.1, 3.9, 4.05, 3.95, 4.0, 4.1, 3.9, 4.0, 4.02];
        let c = unpaired(&a, &a, 0.01, 0.0).unwrap();
        assert_eq!(c.verdict, Verdict::Unchanged, "{c:?}");
        assert!(c.p_value > 0.99);
        assert!(unpaired(&a[..1], &a, 0.01, 0.0).is_none());
        assert!(paired(&[0.01], 2, 0.01).is_none());
    }

    #[test]
    fn power_and_runs_needed_follow_the_spread() {
        // Spread 2.9 % per run (the A/A figure), 10 runs per side.
        let q: Vec<f64> = (0..10)
            .map(|i| z_quantile((i as f64 + 0.5) / 10.0))
            .collect();
        let unit = std_dev(&q);
        let noisy: Vec<f64> = q.iter().map(|z| 4.0 * (0.029 * z / unit).exp()).collect();
        let c = unpaired(&noisy, &noisy, 0.0, 0.0).unwrap();
        assert!((c.spread - 0.029).abs() < 1e-9, "{c:?}");
        // (t18 + z.8) × 0.029 × √(2/10) ≈ 3.8 %.
        assert!((c.detectable - 0.038).abs() < 0.004, "{c:?}");
        assert!((7..=10).contains(&c.runs_for_5_percent), "{c:?}");
        // A paired design whose rounds agree to 1 % needs far fewer runs.
        let ratios = [0.01, -0.01, 0.0, 0.012, -0.008];
        let p = paired(&ratios, 2, 0.0).unwrap();
        assert!(p.runs_for_5_percent < c.runs_for_5_percent, "{p:?}");
    }

    #[test]
    fn the_looks_spend_alpha_little_at_first_and_all_by_the_last() {
        let looks = looks(5, 5, 20, 0.05);
        let rounds: Vec<usize> = looks.iter().map(|l| l.0).collect();
        assert_eq!(rounds, vec![5, 10, 15, 20]);
        let total: f64 = looks.iter().map(|l| l.1).sum();
        assert!((total - 0.05).abs() < 1e-9, "{total}");
        assert!(looks[0].1 < 0.001 && looks[3].1 > 0.02, "{looks:?}");
        assert!((obrien_fleming_spent(1.0, 0.05) - 0.05).abs() < 1e-9);
        assert_eq!(super::looks(5, 5, 5, 0.05).len(), 1);
    }

    #[test]
    fn several_measures_make_one_verdict_and_a_sequential_look_stops_when_all_are_told() {
        let ratios_up = [0.10, 0.11, 0.09, 0.10, 0.12, 0.08];
        let ratios_flat = [0.001, -0.002, 0.0, 0.002, -0.001, 0.001];
        let up = paired(&ratios_up, 2, 0.01).unwrap();
        let flat = paired(&ratios_flat, 2, 0.01).unwrap();
        assert_eq!(combined(&[&up, &flat]), Verdict::Regressed);
        assert_eq!(combined(&[&flat, &flat]), Verdict::Unchanged);
        assert_eq!(combined(&[]), Verdict::Inconclusive);
        assert!(resolved(&[&up, &flat], 0.05));
        let wide = paired(&[0.2, -0.2, 0.1, -0.15], 2, 0.01).unwrap();
        assert!(!resolved(&[&up, &wide], 0.05));
        // A stricter look widens the interval.
        let strict = paired_at(&ratios_up, 2, 0.01, 0.001).unwrap();
        assert!(strict.ci.0 < up.ci.0 && strict.confidence > 0.99);
    }
}
