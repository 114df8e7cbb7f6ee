//! The A/B verdict (pure): per-round log ratios of each pair on each sample, judged with
//! [`gate::paired`] for wall time and W, and when `ab --resolve` may stop.

use serde::Serialize;

use crate::config::TargetConfig;
use crate::gate::{self, Change};
use crate::record::{RunRecord, RunStatus};

/// The judgement of one pair on one sample: wall time, and the children's CPU time W where
/// both sides measured it.
#[derive(Debug, Clone, Serialize)]
pub struct PairVerdict {
    pub base: String,
    pub candidate: String,
    pub sample: String,
    /// Rounds where all four runs were valid (the others are left out).
    pub rounds: usize,
    pub change: Option<Change>,
    /// The same for W (CPU seconds of the ffmpeg children, or of the command and its children).
    #[serde(default)]
    pub cpu_change: Option<Change>,
}

impl PairVerdict {
    /// The measures judged.
    pub fn changes(&self) -> Vec<&Change> {
        self.change.iter().chain(&self.cpu_change).collect()
    }

    /// Regressed when wall time or W regressed (each judged at its share of the false-alarm
    /// rate), improved when one improved and none regressed, unchanged when both are.
    pub fn verdict(&self) -> gate::Verdict {
        gate::combined(&self.changes())
    }
}

/// The per-round log ratios `ln(B / A)` of one pair on one sample, from rounds whose four runs
/// were valid and have `value`.
fn round_ratios(
    runs: &[RunRecord],
    order: &[(usize, usize, usize)],
    (pair, sample): (usize, &str),
    value: fn(&RunRecord) -> Option<f64>,
) -> Vec<f64> {
    let rounds = order.iter().map(|o| o.0 + 1).max().unwrap_or(0);
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let logs = |side: usize| -> Option<Vec<f64>> {
            let logs: Vec<f64> = runs
                .iter()
                .filter(|r| {
                    let (rd, t, _) = order[r.order];
                    rd == round && t == side && r.sample == sample
                })
                .map(|r| value(r).filter(|_| r.status == RunStatus::Ok).map(f64::ln))
                .collect::<Option<_>>()?;
            (logs.len() == 2).then_some(logs)
        };
        if let (Some(a), Some(b)) = (logs(2 * pair), logs(2 * pair + 1)) {
            ratios.push((b[0] + b[1] - a[0] - a[1]) / 2.0);
        }
    }
    ratios
}

/// Per-round log ratios of every pair and sample, judged (pure) with intervals at the
/// two-sided level `1 − alpha` for each measure. `order` is the schedule the runs were made in;
/// a run's `order` field is its position in it.
pub fn judge(
    runs: &[RunRecord],
    samples: &[String],
    order: &[(usize, usize, usize)],
    targets: &[TargetConfig],
    (floor, alpha): (f64, f64),
) -> Vec<PairVerdict> {
    let mut verdicts = Vec::new();
    for pair in 0..targets.len() / 2 {
        for sample in samples {
            let at = (pair, sample.as_str());
            let wall = round_ratios(runs, order, at, |r| Some(r.wall_s));
            let cpu = round_ratios(runs, order, at, |r| r.work_cpu_s);
            verdicts.push(PairVerdict {
                base: targets[2 * pair].name().to_owned(),
                candidate: targets[2 * pair + 1].name().to_owned(),
                sample: sample.clone(),
                rounds: wall.len(),
                change: gate::paired_at(&wall, 2, floor, alpha),
                cpu_change: gate::paired_at(&cpu, 2, floor, alpha),
            });
        }
    }
    verdicts
}

/// Whether `ab --resolve` stops after `runs`: the last one ends a round that is a look, and
/// `told(alpha)` (every pair judged at that look's rate can tell) says so (pure).
pub fn can_stop(
    runs: &[RunRecord],
    order: &[(usize, usize, usize)],
    looks: &[(usize, f64)],
    told: impl Fn(f64) -> bool,
) -> bool {
    let Some(last) = runs.last() else {
        return false;
    };
    let round = order[last.order].0;
    let ends_round = order.get(last.order + 1).is_none_or(|next| next.0 != round);
    match looks.iter().find(|l| l.0 == round + 1) {
        Some(&(_, alpha)) if ends_round => told(alpha),
        _ => false,
    }
}
