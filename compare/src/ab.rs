//! `clipbench ab BASE [CANDIDATE]`: a paired A/B of two builds of the engine (or of two HTTP
//! servers) run side by side, so the machine's drift cancels.
//!
//! Each side is a git revision (its engine built once, in its own worktree, the binary cached
//! per commit under `target/clipbench-ab/`), the working tree (the default candidate), or
//! `http:URL`. The chosen engine targets of both builds run as commands
//! (`clipbench-engine run … --strategy …`, wall time from spawn to exit) on the chosen samples;
//! every round runs each pair in ABBA or BAAB order (seeded), and the per-round ratio
//! `mean log B − mean log A` is judged with [`gate::paired`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::{HttpDialect, TargetConfig};
use crate::gate::{self, Change};
use crate::history;
use crate::record::{Results, RunRecord, RunStatus};

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Side {
    /// An engine binary built from a commit (`sha`) or from the working tree (`sha: None`).
    Build {
        label: String,
        sha: Option<String>,
        binary: PathBuf,
    },
    /// A server over HTTP.
    Http { url: String },
}

impl Side {
    /// The name its targets carry in the report.
    pub fn label(&self) -> &str {
        match self {
            Side::Build { label, .. } => label,
            Side::Http { url } => url,
        }
    }

    /// The commit it was built from (10 digits) and whether the tree was dirty.
    fn commit(&self) -> (Option<String>, bool) {
        match self {
            Side::Build { sha: Some(sha), .. } => history::parse_commit(sha),
            Side::Build { label, .. } => {
                history::parse_commit(label.strip_prefix("worktree-").unwrap_or(label))
            }
            Side::Http { .. } => (None, false),
        }
    }
}

/// Where `ab`'s runs go in the history: each under its engine target's name (the side's label
/// taken off), at its side's commit, configured as its command without the binary's path (so
/// one target's series spans every commit).
pub fn identify<'a>(
    results: &'a Results,
    sides: &'a [Side; 2],
) -> impl Fn(&RunRecord) -> history::Identity + 'a {
    move |record| {
        let side = sides
            .iter()
            .find(|s| record.target.starts_with(&format!("{} ", s.label())));
        let (target, (commit, dirty)) = match side {
            Some(side @ Side::Build { label, .. }) => {
                (record.target[label.len() + 1..].to_owned(), side.commit())
            }
            _ => (record.target.clone(), (None, false)),
        };
        let configured = results
            .targets
            .iter()
            .find(|t| t["name"] == record.target.as_str());
        let config = match configured.map(|t| &t["command"]) {
            Some(serde_json::Value::Array(command)) => {
                serde_json::Value::Array(command.iter().skip(1).cloned().collect())
            }
            _ => configured.cloned().unwrap_or(serde_json::Value::Null),
        };
        history::Identity {
            target,
            commit,
            dirty,
            config_hash: history::config_hash(&config),
        }
    }
}

fn git(workspace: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(workspace)
        .stderr(Stdio::piped())
        .output()
        .context("cannot run git: install git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn cargo_build(dir: &Path, target_dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            // The binary's name, not its package: it moved from `clipbench-engine` to
            // `clipbench-server` and then to `clipbench-engine-cli`, and older revisions are built too.
            "--bin",
            "clipbench-engine",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .context("cannot run cargo")?;
    anyhow::ensure!(
        status.success(),
        "building the engine in {} failed",
        dir.display()
    );
    Ok(())
}

/// Resolves one side: `http:URL`, `worktree`, or a git revision (built once and cached).
pub fn resolve(spec: &str, workspace: &Path, say: &dyn Fn(String)) -> anyhow::Result<Side> {
    if let Some(url) = spec.strip_prefix("http:") {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "{spec:?}: write http:http://HOST:PORT"
        );
        return Ok(Side::Http {
            url: url.to_owned(),
        });
    }
    let cache = workspace.join("target/clipbench-ab");
    if spec == "worktree" {
        let head = git(workspace, &["rev-parse", "--short=10", "HEAD"])?;
        let dirty = !git(
            workspace,
            &["status", "--porcelain", "--untracked-files=no"],
        )?
        .is_empty();
        let label = format!("worktree-{head}{}", if dirty { "-dirty" } else { "" });
        say(format!("building {label} (the working tree)"));
        cargo_build(workspace, &cache.join("target"))?;
        let built = cache.join("target/release/clipbench-engine");
        let binary = cache.join(&label).join("clipbench-engine");
        std::fs::create_dir_all(binary.parent().unwrap_or(&cache))?;
        std::fs::copy(&built, &binary).context("cannot keep the built engine")?;
        return Ok(Side::Build {
            label,
            sha: None,
            binary,
        });
    }
    let sha = git(
        workspace,
        &["rev-parse", "--verify", &format!("{spec}^{{commit}}")],
    )
    .with_context(|| format!("{spec:?} is not a git revision of {}", workspace.display()))?;
    let label = sha[..10].to_owned();
    let binary = cache.join(&sha).join("clipbench-engine");
    if binary.is_file() {
        say(format!("using the cached build of {label} ({spec})"));
    } else {
        say(format!(
            "building {label} ({spec}) in its own worktree; cached for next time"
        ));
        let source = cache.join(format!("src-{sha}"));
        let _ = git(
            workspace,
            &["worktree", "remove", "--force", &source.to_string_lossy()],
        );
        git(
            workspace,
            &[
                "worktree",
                "add",
                "--detach",
                &source.to_string_lossy(),
                &sha,
            ],
        )?;
        let built = cargo_build(&source, &cache.join("target"));
        let _ = git(
            workspace,
            &["worktree", "remove", "--force", &source.to_string_lossy()],
        );
        built?;
        std::fs::create_dir_all(binary.parent().unwrap_or(&cache))?;
        let partial = clipbench_engine::files::partial_path(&binary);
        std::fs::copy(cache.join("target/release/clipbench-engine"), &partial)
            .context("cannot keep the built engine")?;
        clipbench_engine::files::commit_partial(&binary)?;
    }
    Ok(Side::Build {
        label,
        sha: Some(sha),
        binary,
    })
}

/// The targets one side runs: each chosen engine target as a command on that side's binary,
/// or the HTTP server once.
pub fn targets_for(side: &Side, engine_targets: &[TargetConfig]) -> Vec<TargetConfig> {
    match side {
        Side::Http { url } => vec![TargetConfig::Http {
            name: format!("{url} http"),
            dialect: HttpDialect {
                base_url: Some(url.clone()),
                ..Default::default()
            },
        }],
        Side::Build { label, binary, .. } => engine_targets
            .iter()
            .filter_map(|t| match t {
                TargetConfig::Engine { name, setup, .. } => {
                    let mut command: Vec<String> = vec![
                        binary.display().to_string(),
                        "run".into(),
                        "{input}".into(),
                        "-o".into(),
                        "{outdir}".into(),
                        format!("--strategy={}", setup.strategy),
                        format!("--profile={}", setup.profile),
                        format!("--policy={}", setup.plan.policy),
                        format!("--max-clips={}", setup.plan.max_clips),
                        format!("--priority-clips={}", setup.plan.high_priority_clips),
                    ];
                    command.extend(setup.threads.map(|t| format!("--threads={t}")));
                    let reuse = setup.reuse_overlaps.then(|| "--reuse-overlaps".to_owned());
                    command.extend(reuse);
                    Some(TargetConfig::Command {
                        name: format!("{label} {name}"),
                        command,
                        shell: false,
                        timeout_s: 1800.0,
                    })
                }
                _ => None,
            })
            .collect(),
    }
}

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
