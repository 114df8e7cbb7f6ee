//! Series read back from the history (pure): one per (target, sample, machine, configuration),
//! a point per commit, in git's order when every commit is known to the repository (else in
//! the order they were first measured), and the change points of its wall time and of its
//! children's CPU time W, each with its commit range, size and confidence.
//!
//! A commit's point is the geometric mean of its valid runs (their mean log time; `ab` judges
//! the same scale), and its median and range for the eye. Runs on a dirty tree, runs that
//! failed or were invalid, and runs of an unknown build are left out, and counted.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::store::Stored;
use crate::changepoint::{self, Settings};
use crate::stats::median;

/// What a change point is found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Wall time.
    Wall,
    /// CPU seconds of the target's ffmpeg children (W).
    Cpu,
}

impl Metric {
    /// How it is named in tables.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Wall => "wall",
            Metric::Cpu => "W",
        }
    }
}

/// One commit's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub commit: String,
    pub first_measured_at: String,
    pub runs: usize,
    pub wall_median_s: f64,
    /// Fastest and slowest of its runs.
    pub wall_range_s: (f64, f64),
    /// Geometric mean of the runs (what changes are found in).
    pub wall_s: f64,
    /// Geometric mean of W, when every run measured it.
    pub cpu_s: Option<f64>,
}

/// A change in a series' level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub metric: Metric,
    /// The index of the first point at the new level.
    pub index: usize,
    /// The last commit at the old level and the first at the new one.
    pub last_before: String,
    pub first_after: String,
    /// Geometric means of the segments either side.
    pub before_s: f64,
    pub after_s: f64,
    /// `after / before − 1`: positive is slower.
    pub change: f64,
    pub p_value: f64,
}

impl Change {
    /// `1 − p`.
    pub fn confidence(&self) -> f64 {
        1.0 - self.p_value
    }
}

/// How the points are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// By git's commit order.
    Git,
    /// By when each commit was first measured (some commit is not in this repository).
    Time,
}

/// Runs not in any point, by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LeftOut {
    pub dirty: usize,
    pub not_valid: usize,
    pub unknown_build: usize,
}

/// One series and its changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub target: String,
    pub sample: String,
    pub machine_id: String,
    pub machine: String,
    pub config_hash: String,
    pub order: Order,
    pub points: Vec<Point>,
    /// Wall time's changes then W's, each in commit order.
    pub changes: Vec<Change>,
    pub left_out: LeftOut,
}

impl Series {
    /// The newest change of each metric, when it is a slowdown of more than `threshold`
    /// (0.05: 5 %).
    pub fn newest_regressions(&self, threshold: f64) -> Vec<&Change> {
        [Metric::Wall, Metric::Cpu]
            .into_iter()
            .filter_map(|metric| {
                self.changes
                    .iter()
                    .filter(|c| c.metric == metric)
                    .max_by_key(|c| c.index)
                    .filter(|c| c.change > threshold)
            })
            .collect()
    }
}

type Key = (String, String, String, String);

/// The series of `rows`; `git_order` maps a commit's first 10 hex digits to its place in the
/// repository's history (0: oldest).
pub fn build(
    rows: &[Stored],
    git_order: &HashMap<String, usize>,
    settings: &Settings,
) -> Vec<Series> {
    let mut groups: BTreeMap<Key, Vec<&Stored>> = BTreeMap::new();
    for row in rows {
        let m = &row.measurement;
        let key = (
            m.target.clone(),
            m.sample.clone(),
            row.machine_id.clone(),
            m.config_hash.clone(),
        );
        groups.entry(key).or_default().push(row);
    }
    groups
        .into_iter()
        .map(|(key, rows)| one_series(key, &rows, git_order, settings))
        .collect()
}

fn one_series(
    (target, sample, machine_id, config_hash): Key,
    rows: &[&Stored],
    git_order: &HashMap<String, usize>,
    settings: &Settings,
) -> Series {
    let mut left_out = LeftOut::default();
    let mut by_commit: BTreeMap<String, Vec<&Stored>> = BTreeMap::new();
    for row in rows {
        let m = &row.measurement;
        match &m.commit {
            _ if m.status != "ok" => left_out.not_valid += 1,
            _ if m.dirty => left_out.dirty += 1,
            None => left_out.unknown_build += 1,
            Some(commit) => by_commit.entry(commit.clone()).or_default().push(row),
        }
    }
    let mut points: Vec<Point> = by_commit
        .into_iter()
        .map(|(commit, runs)| point(commit, &runs))
        .collect();
    let place = |p: &Point| git_order.get(&p.commit[..p.commit.len().min(10)]).copied();
    let order = if points.iter().all(|p| place(p).is_some()) {
        points.sort_by_key(|p| place(p));
        Order::Git
    } else {
        points.sort_by(|a, b| a.first_measured_at.cmp(&b.first_measured_at));
        Order::Time
    };
    let wall: Vec<f64> = points.iter().map(|p| p.wall_s.ln()).collect();
    let mut changes = changes_in(Metric::Wall, &wall, &points, settings);
    let cpu: Option<Vec<f64>> = points.iter().map(|p| p.cpu_s.map(f64::ln)).collect();
    if let Some(cpu) = cpu {
        changes.extend(changes_in(Metric::Cpu, &cpu, &points, settings));
    }
    Series {
        target,
        sample,
        machine_id,
        machine: rows.first().map(|r| r.machine.clone()).unwrap_or_default(),
        config_hash,
        order,
        points,
        changes,
        left_out,
    }
}

fn point(commit: String, runs: &[&Stored]) -> Point {
    let walls: Vec<f64> = runs.iter().map(|r| r.measurement.wall_s).collect();
    let geometric =
        |values: &[f64]| (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp();
    let cpus: Option<Vec<f64>> = runs.iter().map(|r| r.measurement.work_cpu_s).collect();
    Point {
        commit,
        first_measured_at: runs
            .iter()
            .map(|r| r.measurement.measured_at.clone())
            .min()
            .unwrap_or_default(),
        runs: runs.len(),
        wall_median_s: median(&walls),
        wall_range_s: (
            walls.iter().copied().fold(f64::INFINITY, f64::min),
            walls.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
        wall_s: geometric(&walls),
        cpu_s: cpus.map(|c| geometric(&c)),
    }
}

/// The change points of one metric's log values, sized by the segments either side.
fn changes_in(metric: Metric, logs: &[f64], points: &[Point], settings: &Settings) -> Vec<Change> {
    let found = changepoint::e_divisive(logs, settings);
    let mut bounds: Vec<usize> = found.iter().map(|c| c.index).collect();
    bounds.insert(0, 0);
    bounds.push(logs.len());
    let level =
        |from: usize, to: usize| (logs[from..to].iter().sum::<f64>() / (to - from) as f64).exp();
    found
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (before_s, after_s) = (level(bounds[i], c.index), level(c.index, bounds[i + 2]));
            Change {
                metric,
                index: c.index,
                last_before: points[c.index - 1].commit.clone(),
                first_after: points[c.index].commit.clone(),
                before_s,
                after_s,
                change: after_s / before_s - 1.0,
                p_value: c.p_value,
            }
        })
        .collect()
}
