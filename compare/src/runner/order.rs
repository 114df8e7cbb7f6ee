//! The order runs are made in and how long the rest will take (pure).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// One run of the benchmark: `(round, target index, sample index)`.
pub type Slot = (usize, usize, usize);

/// The order of a benchmark: every (target, sample) pair once per round, each round shuffled.
pub fn schedule(targets: usize, samples: usize, rounds: usize, seed: u64) -> Vec<Slot> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order = Vec::with_capacity(targets * samples * rounds);
    for round in 0..rounds {
        let mut pairs: Vec<Slot> = (0..targets)
            .flat_map(|t| (0..samples).map(move |s| (round, t, s)))
            .collect();
        pairs.shuffle(&mut rng);
        order.extend(pairs);
    }
    order
}

/// Seconds the runs still to make should take: each run as long as the finished runs of its
/// (target, sample) took on average, else those of its sample, else all finished runs.
pub fn eta_s(remaining: &[Slot], took: &[((usize, usize), f64)]) -> f64 {
    let mean = |keep: &dyn Fn(&(usize, usize)) -> bool| {
        let chosen: Vec<f64> = took
            .iter()
            .filter(|(k, _)| keep(k))
            .map(|(_, v)| *v)
            .collect();
        (!chosen.is_empty()).then(|| chosen.iter().sum::<f64>() / chosen.len() as f64)
    };
    remaining
        .iter()
        .map(|&(_, t, s)| {
            mean(&|k| *k == (t, s))
                .or_else(|| mean(&|k| k.1 == s))
                .or_else(|| mean(&|_| true))
                .unwrap_or(0.0)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_from_the_runs_alike() {
        let took = [((0, 0), 4.0), ((0, 0), 6.0), ((1, 0), 10.0), ((0, 1), 60.0)];
        // (0,0) known: 5 s; (1,1) unknown cell, sample 1 known: 60 s; (2,2) nothing: mean 20 s.
        let remaining = [(0, 0, 0), (1, 1, 1), (1, 2, 2)];
        assert_eq!(eta_s(&remaining, &took), 5.0 + 60.0 + 20.0);
        assert_eq!(eta_s(&remaining, &[]), 0.0);
    }

    #[test]
    fn schedule_interleaves_every_pair_each_round() {
        let order = schedule(3, 2, 4, 9);
        assert_eq!(order.len(), 24);
        for round in 0..4 {
            let mut pairs: Vec<(usize, usize)> = order
                .iter()
                .filter(|o| o.0 == round)
                .map(|o| (o.1, o.2))
                .collect();
            pairs.sort();
            assert_eq!(pairs.len(), 6);
            pairs.dedup();
            assert_eq!(pairs.len(), 6, "each pair once per round");
        }
        assert_eq!(order, schedule(3, 2, 4, 9), "seeded");
        assert_ne!(order, schedule(3, 2, 4, 10));
    }
}
