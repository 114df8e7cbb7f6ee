//! Change points in a noisy series (pure): E-Divisive means (Matteson & James, 2014), the
//! detector Hunter and Apache Otava run on performance histories, with the significance of each
//! split from a permutation test.
//!
//! Why this one: benchmark times are not normal (contention adds a long right tail, a busy
//! machine shifts whole stretches), and E-Divisive makes no assumption about the distribution —
//! it compares the energy distance between the two sides of a split with the distances within
//! them. Each candidate split is kept only when fewer than `max_p` of random reorderings of its
//! segment split as well, so the false-alarm rate is set by one number whatever the noise, and
//! a series with no change yields none. Splits are found one at a time (the strongest first) and
//! each segment is searched again, so several changes in one history are found too.
//!
//! The permutations run on every core, each drawn from its own generator ([`task_rng`]): the
//! same seed gives the same change points whatever the number of threads.

use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::Serialize;

use crate::stats::task_rng;

/// How hard to look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// A split is kept when its permutation p-value is at most this.
    pub max_p: f64,
    /// Random reorderings per test.
    pub permutations: usize,
    /// Fewest points on each side of a split.
    pub min_size: usize,
    pub seed: u64,
}

impl Default for Settings {
    /// p ≤ 0.05 from 199 permutations, at least 3 points a side: on 40-commit histories
    /// resampled from this machine's runs, 0.1–0.3 false change points per 100 commits (`just
    /// history-power`), well under 1.
    fn default() -> Self {
        Settings {
            max_p: 0.05,
            permutations: 199,
            min_size: 3,
            seed: 0xc11b,
        }
    }
}

/// One change: the series' level differs from `index` on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChangePoint {
    /// The first point of the new level.
    pub index: usize,
    /// Share of permutations that split at least as well (smaller: surer).
    pub p_value: f64,
    /// The split's statistic (energy distance between the sides, scaled by their sizes).
    pub q: f64,
}

/// 2-D prefix sums of the pairwise distances `|x_i − x_j|`, so any block's sum is O(1).
struct Distances {
    n: usize,
    prefix: Vec<f64>,
}

impl Distances {
    fn new(x: &[f64]) -> Self {
        let n = x.len();
        let mut prefix = vec![0.0; (n + 1) * (n + 1)];
        for i in 0..n {
            let mut row = 0.0;
            for j in 0..n {
                row += (x[i] - x[j]).abs();
                prefix[(i + 1) * (n + 1) + j + 1] = prefix[i * (n + 1) + j + 1] + row;
            }
        }
        Distances { n, prefix }
    }

    /// Sum of distances between rows `r0..r1` and columns `c0..c1`.
    fn block(&self, (r0, r1): (usize, usize), (c0, c1): (usize, usize)) -> f64 {
        let at = |r: usize, c: usize| self.prefix[r * (self.n + 1) + c];
        at(r1, c1) - at(r0, c1) - at(r1, c0) + at(r0, c0)
    }
}

/// The best split of `x` (the first index of its right side) and its statistic, or `None`
/// when `x` is too short to have `min_size` points on each side.
pub fn best_split(x: &[f64], min_size: usize) -> Option<(usize, f64)> {
    let n = x.len();
    let min_size = min_size.max(2);
    if n < 2 * min_size {
        return None;
    }
    let d = Distances::new(x);
    (min_size..=n - min_size)
        .map(|t| {
            let (m, k) = (t as f64, (n - t) as f64);
            let within_left = d.block((0, t), (0, t)) / (m * (m - 1.0));
            let within_right = d.block((t, n), (t, n)) / (k * (k - 1.0));
            let between = d.block((0, t), (t, n)) / (m * k);
            let q = m * k / (m + k) * (2.0 * between - within_left - within_right);
            (t, q)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The permutation p-value of a split with statistic `q` of `segment`.
fn permutation_p(segment: &[f64], q: f64, settings: &Settings, test: u64) -> f64 {
    let as_strong = (0..settings.permutations)
        .into_par_iter()
        .filter(|&i| {
            let mut rng = task_rng(settings.seed ^ test.wrapping_mul(0x9e37_79b9), i as u64);
            let mut shuffled = segment.to_vec();
            shuffled.shuffle(&mut rng);
            best_split(&shuffled, settings.min_size).is_some_and(|(_, p)| p >= q)
        })
        .count();
    (as_strong + 1) as f64 / (settings.permutations + 1) as f64
}

/// Every significant change point of `x`, in index order.
pub fn e_divisive(x: &[f64], settings: &Settings) -> Vec<ChangePoint> {
    let mut found: Vec<ChangePoint> = Vec::new();
    loop {
        let mut bounds: Vec<usize> = found.iter().map(|c| c.index).collect();
        bounds.extend([0, x.len()]);
        bounds.sort_unstable();
        let candidate = bounds
            .windows(2)
            .filter_map(|w| {
                let (t, q) = best_split(&x[w[0]..w[1]], settings.min_size)?;
                Some((w[0], w[1], w[0] + t, q))
            })
            .max_by(|a, b| a.3.total_cmp(&b.3));
        let Some((start, end, index, q)) = candidate else {
            break;
        };
        let p_value = permutation_p(&x[start..end], q, settings, found.len() as u64);
        if p_value > settings.max_p {
            break;
        }
        found.push(ChangePoint { index, p_value, q });
    }
    found.sort_by_key(|c| c.index);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize, level: f64, seed: u64) -> Vec<f64> {
        use rand::Rng;
        let mut rng = task_rng(seed, 0);
        (0..n)
            .map(|_| level + rng.random_range(-0.02..0.02))
            .collect()
    }

    #[test]
    fn a_clear_step_is_found_where_it_is() {
        let mut x = noisy(20, 1.0, 1);
        x.extend(noisy(20, 1.1, 2));
        let found = e_divisive(&x, &Settings::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, 20);
        assert!(found[0].p_value <= 0.01);
    }

    #[test]
    fn two_steps_are_both_found() {
        let mut x = noisy(15, 1.0, 3);
        x.extend(noisy(15, 1.1, 4));
        x.extend(noisy(15, 0.95, 5));
        let found: Vec<usize> = e_divisive(&x, &Settings::default())
            .iter()
            .map(|c| c.index)
            .collect();
        assert_eq!(found, vec![15, 30]);
    }

    #[test]
    fn noise_alone_has_no_change_point() {
        for seed in 0..5 {
            let x = noisy(40, 1.0, 10 + seed);
            assert!(
                e_divisive(&x, &Settings::default()).is_empty(),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn the_split_statistic_by_hand() {
        // [0, 0 | 1, 1]: between-distance 1, within 0 → q = 2·2/4 · 2 = 2.
        assert_eq!(best_split(&[0.0, 0.0, 1.0, 1.0], 2), Some((2, 2.0)));
        assert_eq!(best_split(&[0.0, 1.0, 2.0], 2), None);
    }

    #[test]
    fn the_same_seed_gives_the_same_answer_on_any_number_of_threads() {
        let mut x = noisy(12, 1.0, 6);
        x.extend(noisy(12, 1.03, 7));
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| e_divisive(&x, &Settings::default()))
        };
        assert_eq!(on(1), on(3));
    }
}
