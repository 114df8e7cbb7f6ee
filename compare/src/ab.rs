//! `clipbench ab BASE [CANDIDATE]`: a paired A/B of two builds of the engine (or of two HTTP
//! servers) run side by side, so the machine's drift cancels.
//!
//! Each side is a git revision (its engine built once, in its own worktree, the binary cached
//! per commit under `target/clipbench-ab/`), the working tree (the default candidate), or
//! `http:URL`. The chosen engine targets of both builds run as commands
//! (`clipbench-engine run … --strategy …`, wall time from spawn to exit) on the chosen samples;
//! every round runs each pair in ABBA or BAAB order (seeded), and the per-round ratio
//! `mean log B − mean log A` is judged with [`gate::paired`].

mod sides;
mod verdict;

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::TargetConfig;
use crate::gate;
use crate::record::{Results, RunRecord};
use sides::git;
pub use sides::{identify, resolve, targets_for, Side};
pub use verdict::{can_stop, judge, PairVerdict};

/// The balanced order: `rounds` rounds; in each, every (pair, sample) block runs A B B A or
/// B A A B (seeded), blocks shuffled. Target `2i` is pair i's A side, `2i + 1` its B side.
pub fn schedule(
    pairs: usize,
    samples: usize,
    rounds: usize,
    seed: u64,
) -> Vec<(usize, usize, usize)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order = Vec::new();
    for round in 0..rounds {
        let mut blocks: Vec<(usize, usize)> = (0..pairs)
            .flat_map(|p| (0..samples).map(move |s| (p, s)))
            .collect();
        blocks.shuffle(&mut rng);
        for (pair, sample) in blocks {
            let (a, b) = (2 * pair, 2 * pair + 1);
            let sides = if rng.random_bool(0.5) {
                [a, b, b, a]
            } else {
                [b, a, a, b]
            };
            order.extend(sides.map(|t| (round, t, sample)));
        }
    }
    order
}

/// What `ab` was asked.
pub struct Request {
    pub base: String,
    pub candidate: String,
    /// The engine targets each build runs (ignored for two servers).
    pub engine_targets: Vec<TargetConfig>,
    pub samples: Vec<String>,
    pub rounds: usize,
    /// `--resolve`: the change to tell (0.05) and the most runs per side to spend on it; more
    /// rounds are added, 5 at a time from `rounds`, until every pair can tell (a sequential
    /// test, [`gate::looks`]).
    pub resolve: Option<(f64, usize)>,
    pub seed: u64,
    pub floor: f64,
    pub reports_root: PathBuf,
    pub manifest: PathBuf,
}

impl Request {
    /// The rounds after which the runs are judged, each with its two-sided false-alarm rate
    /// per measure (the whole 5 % for a fixed number of rounds).
    pub fn looks(&self) -> Vec<(usize, f64)> {
        match self.resolve {
            Some((_, budget)) => gate::looks(self.rounds, 5, (budget / 2).max(self.rounds), 0.05),
            None => vec![(self.rounds, 0.05)],
        }
    }
}

/// What `ab` found: the report folder, the results and a verdict per pair and sample.
pub struct AbReport {
    pub dir: PathBuf,
    /// Base and candidate.
    pub sides: [Side; 2],
    pub results: Results,
    pub verdicts: Vec<PairVerdict>,
}

/// The file `ab` adds to the report folder.
#[derive(Serialize)]
struct AbFile<'a> {
    schema_version: u32,
    base: &'a Side,
    candidate: &'a Side,
    /// Rounds made (all of them unless `--resolve` stopped early or the run was interrupted).
    rounds: usize,
    /// `--resolve`'s change to tell, and the looks: (rounds, two-sided rate spent there).
    resolve: Option<f64>,
    looks: &'a [(usize, f64)],
    seed: u64,
    verdicts: &'a [PairVerdict],
}

/// The sides named in an `ab.json` (what `history import` needs of it).
#[derive(Deserialize)]
pub struct AbSides {
    pub base: Side,
    pub candidate: Side,
}

/// Builds (or finds) both sides, runs them side by side and judges every pair.
pub fn run(
    request: &Request,
    cancel: &clipbench_engine::CancelToken,
    observe: &dyn Fn(&crate::runner::Progress),
) -> anyhow::Result<AbReport> {
    let say = &|line: String| observe(&crate::runner::Progress::Note(line));
    anyhow::ensure!(request.rounds >= 2, "--rounds must be at least 2");
    let servers = [&request.base, &request.candidate]
        .iter()
        .all(|spec| spec.starts_with("http:"));
    let workspace = if servers {
        PathBuf::from(".")
    } else {
        PathBuf::from(
            git(Path::new("."), &["rev-parse", "--show-toplevel"])
                .context("ab builds git revisions: run it inside the clipbench checkout")?,
        )
    };
    let base = resolve(&request.base, &workspace, say)?;
    let candidate = resolve(&request.candidate, &workspace, say)?;
    let (a, b) = (
        targets_for(&base, &request.engine_targets),
        targets_for(&candidate, &request.engine_targets),
    );
    anyhow::ensure!(
        matches!(
            (&base, &candidate),
            (Side::Build { .. }, Side::Build { .. }) | (Side::Http { .. }, Side::Http { .. })
        ),
        "compare two builds or two servers, not one of each"
    );
    anyhow::ensure!(
        !a.is_empty(),
        "no engine target to run: pass --targets auto (or another engine target)"
    );
    let targets: Vec<TargetConfig> = a.into_iter().zip(b).flat_map(|(a, b)| [a, b]).collect();
    let looks = request.looks();
    let most = looks.last().map_or(request.rounds, |l| l.0);
    let order = schedule(targets.len() / 2, request.samples.len(), most, request.seed);
    let judged = |runs: &[RunRecord], alpha: f64| {
        judge(
            runs,
            &request.samples,
            &order,
            &targets,
            (request.floor, alpha),
        )
    };
    let enough = |runs: &[RunRecord]| match request.resolve {
        Some((resolve, _)) => can_stop(runs, &order, &looks, |alpha| {
            judged(runs, alpha)
                .iter()
                .all(|v| gate::resolved(&v.changes(), resolve))
        }),
        None => false,
    };
    let plan = crate::runner::Plan {
        baseline: targets.first().map(|t| t.name().to_owned()),
        targets: targets.clone(),
        samples: request.samples.clone(),
        runs: 2 * most,
        warmup: 0,
        seed: request.seed,
        poll_interval: std::time::Duration::from_millis(100),
        monitor_interval: std::time::Duration::from_millis(100),
        reports_root: request.reports_root.clone(),
        manifest: request.manifest.clone(),
        targets_on: Default::default(),
        order: Some(order.clone()),
        enough: Some(&enough),
        link: None,
        stop: None,
    };
    let finished = crate::runner::run(&plan, cancel, observe)?;
    let made = finished
        .results
        .runs
        .iter()
        .map(|r| order[r.order].0 + 1)
        .max()
        .unwrap_or(0);
    // Judged at the last look reached: its share of the false-alarm rate.
    let alpha = looks
        .iter()
        .rev()
        .find(|l| l.0 <= made)
        .or(looks.first())
        .map_or(0.05, |l| l.1);
    let verdicts = judged(&finished.results.runs, alpha);
    let file = AbFile {
        schema_version: 2,
        base: &base,
        candidate: &candidate,
        rounds: made,
        resolve: request.resolve.map(|r| r.0),
        looks: &looks,
        seed: request.seed,
        verdicts: &verdicts,
    };
    clipbench_engine::files::write_json_atomic(&finished.dir.join("ab.json"), &file)?;
    Ok(AbReport {
        dir: finished.dir,
        sides: [base, candidate],
        results: finished.results,
        verdicts,
    })
}

mod ci;

pub use ci::ci_markdown;

#[cfg(test)]
mod tests;
