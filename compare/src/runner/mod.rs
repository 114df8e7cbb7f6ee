//! `clipbench run` as its pipeline: prepare the samples → check the targets → measure every
//! (target, sample) pair `warmup + runs` times in a seeded shuffled order → assemble the
//! results → write the report. Progress goes to an observer ([`Progress`]); nothing is printed
//! here.

mod measure;
mod observer;
mod order;

use crate::record::Stopping;
use crate::stopping::StopRule;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clipbench_engine::{probe, CancelToken, Tools};

pub use observer::{Progress, RunLabel};
pub use order::Slot;

use crate::config::{Config, TargetConfig};
use crate::export;
use crate::link::Link;
use crate::machine::Machine;
use crate::record::{Results, RunRecord, Skipped, TargetDialect, RESULTS_SCHEMA_VERSION};
use crate::samples::{Builder, Manifest};
use crate::summary::summarize;
use crate::targets::{self, Ready, Target};
use measure::{Bench, ReadySample, Recorded};
use order::schedule;

/// After each recorded run: whether the runs so far are enough (`ab --resolve` stops there).
pub type Enough<'a> = &'a dyn Fn(&[RunRecord]) -> bool;

/// What to run.
pub struct Plan<'a> {
    pub targets: Vec<TargetConfig>,
    pub samples: Vec<String>,
    pub runs: usize,
    pub warmup: usize,
    pub seed: u64,
    pub baseline: Option<String>,
    pub poll_interval: Duration,
    pub monitor_interval: Duration,
    /// Reports go to `reports_root/<timestamp>/`, with `reports_root/latest` pointing there.
    pub reports_root: PathBuf,
    pub manifest: PathBuf,
    /// Samples only some targets run on (`[run.targets_on]`).
    pub targets_on: BTreeMap<String, Vec<String>>,
    /// A fixed order `(round, target, sample)` instead of the shuffled one (`ab`'s balanced
    /// schedule); every target must then pass its check.
    pub order: Option<Vec<Slot>>,
    /// Stop early when this says the runs so far are enough (not an interruption).
    pub enough: Option<Enough<'a>>,
    /// A shaped link every target gets the samples over (engine and command targets too:
    /// the harness downloads the sample before starting them, and the download counts).
    pub link: Option<crate::link::Link>,
    /// Each cell stops once its part of the answer is decided (`runs` is then the most).
    pub stop: Option<StopRule>,
}

impl Plan<'_> {
    /// A plan from a configuration, before command-line overrides.
    pub fn from_config(config: &Config, reports_root: PathBuf, manifest: PathBuf) -> Plan<'static> {
        Plan {
            targets: config.targets.clone(),
            samples: config.run.samples.clone(),
            runs: config.run.runs,
            warmup: config.run.warmup,
            seed: config.run.seed.unwrap_or_else(rand::random),
            baseline: config.run.baseline.clone(),
            poll_interval: Duration::from_millis(config.run.poll_interval_ms.max(10)),
            monitor_interval: Duration::from_millis(config.run.monitor_interval_ms.clamp(10, 100)),
            reports_root,
            manifest,
            targets_on: config.run.targets_on.clone(),
            order: None,
            enough: None,
            link: config.run.link.clone(),
            stop: config.run.stop_when_decided.then(|| StopRule {
                max_runs: config.run.runs,
                ..StopRule::default()
            }),
        }
    }
}

/// A benchmark's result and where it was written.
pub struct Finished {
    pub dir: PathBuf,
    pub results: Results,
}

/// Runs a benchmark and writes its report.
pub fn run(
    plan: &Plan,
    cancel: &CancelToken,
    observe: &dyn Fn(&Progress),
) -> anyhow::Result<Finished> {
    let tools = Tools::from_env();
    let (mut samples, links) = prepare_samples(plan, &tools, observe)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (available, skipped) = check_targets(plan, &runtime, &tools, observe)?;
    let order = run_order(plan, &available, &samples)?;
    let http_targets = available.iter().any(|t| t.dialect.is_some());
    let dir = sample_dir(plan);
    let served = (dir.as_path(), &runtime);
    serve_samples(&mut samples, &links, http_targets, served, observe)?;
    let dir = new_report_dir(&plan.reports_root)?;
    let mut csv = export::csv::RunsCsv::create(&dir.join("runs.csv"))?;
    let machine = Machine::detect(&tools);
    observe(&Progress::Scheduled { runs: order.len() });
    let targets: Vec<&dyn Target> = available.iter().map(|r| r as &dyn Target).collect();
    let bench = Bench {
        targets: &targets,
        samples: &samples,
        warmup_rounds: plan.warmup,
        report_dir: &dir,
        poll_interval: plan.poll_interval,
        monitor_interval: plan.monitor_interval,
        runtime: &runtime,
        tools: &tools,
        cancel,
        observe,
        enough: plan.enough,
        stop: plan
            .stop
            .as_ref()
            .map(|rule| (rule, plan.baseline.as_deref())),
    };
    let recorded = bench.measure(&order, &mut csv);
    observe(&Progress::Done);
    let _ = std::fs::remove_dir_all(dir.join("scratch"));
    let recorded = recorded?;
    let stopping = plan.stop.as_ref().map(|rule| Stopping {
        rule: rule.describe(),
        cells: recorded.stopped.clone(),
    });
    let mut results = assemble_results(plan, machine, &available, skipped, recorded);
    results.stopping = stopping;
    results.sample_versions = (samples.iter())
        .map(|s| {
            (
                s.name.split('@').next().unwrap_or(&s.name).to_owned(),
                s.version,
            )
        })
        .collect();
    export::write_all(&results, &dir, &[])?;
    point_latest(&plan.reports_root, &dir)?;
    Ok(Finished { dir, results })
}

fn sample_dir(plan: &Plan) -> PathBuf {
    plan.manifest.parent().unwrap_or(Path::new(".")).to_owned()
}

/// Starts one file server per link the samples are delivered over (and a plain one when HTTP
/// targets need the others), and tells each sample where it is offered.
fn serve_samples(
    samples: &mut [ReadySample],
    links: &[Option<Link>],
    http_targets: bool,
    (dir, runtime): (&Path, &tokio::runtime::Runtime),
    observe: &dyn Fn(&Progress),
) -> anyhow::Result<()> {
    let mut servers: Vec<(Option<String>, std::net::SocketAddr)> = Vec::new();
    for (sample, link) in samples.iter_mut().zip(links) {
        if link.is_none() && !http_targets {
            continue;
        }
        let key = link.as_ref().map(|l| l.name.clone());
        let address = match servers.iter().find(|s| s.0 == key) {
            Some(server) => server.1,
            None => {
                let address = crate::fileserver::start(runtime, dir, link.as_ref())?;
                servers.push((key, address));
                address
            }
        };
        if let Some(link) = link {
            observe(&Progress::Note(format!(
                "{}: every target gets it over a shaped link, {}",
                sample.name,
                link.describe()
            )));
        }
        sample.server = Some(address);
        sample.shaped = link.is_some();
    }
    Ok(())
}

/// Builds the missing samples of the plan and probes each; with each, the link it is delivered
/// over (its own `@LINK`, else the run's).
fn prepare_samples(
    plan: &Plan,
    tools: &Tools,
    observe: &dyn Fn(&Progress),
) -> anyhow::Result<(Vec<ReadySample>, Vec<Option<Link>>)> {
    let specs = plan
        .samples
        .iter()
        .map(|spec| crate::link::split_sample(spec))
        .collect::<Result<Vec<_>, String>>()
        .map_err(anyhow::Error::msg)?;
    let names: Vec<String> = specs.iter().map(|(name, _)| name.to_string()).collect();
    let manifest = Manifest::load(&plan.manifest)?;
    let on_status =
        |name: &str, message: &str| observe(&Progress::Note(format!("sample {name}: {message}")));
    let builder = Builder {
        manifest: &manifest,
        dir: sample_dir(plan),
        tools: tools.clone(),
        on_status: &on_status,
    };
    let built = builder.ensure(&names)?;
    let mut samples = Vec::new();
    let mut links = Vec::new();
    for (spec, (name, own)) in plan.samples.iter().zip(specs) {
        let Some((_, path, _)) = built.iter().find(|b| b.0 == name) else {
            continue;
        };
        samples.push(ReadySample {
            name: spec.clone(),
            version: manifest.sample(name).map_or(1, |s| s.version),
            path: path.clone(),
            media: probe(tools, path)?,
            server: None,
            shaped: false,
        });
        links.push(own.or_else(|| plan.link.clone()));
    }
    Ok((samples, links))
}

/// The targets that can run (an HTTP target's dialect detected) and those skipped, with why.
/// A paired comparison (a fixed order) needs every target.
fn check_targets(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    tools: &Tools,
    observe: &dyn Fn(&Progress),
) -> anyhow::Result<(Vec<Ready>, Vec<Skipped>)> {
    let mut available = Vec::new();
    let mut skipped = Vec::new();
    for target in &plan.targets {
        match targets::check(target, runtime, tools) {
            Ok(ready) => {
                if let Some(dialect) = &ready.dialect {
                    let found = targets::describe(dialect);
                    let at = &dialect.base_url;
                    observe(&Progress::Note(format!(
                        "{}: {found} at {at}",
                        target.name()
                    )));
                }
                available.push(ready)
            }
            Err(reason) => {
                observe(&Progress::Note(format!(
                    "skipped {}: {reason}",
                    target.name()
                )));
                let target = target.name().to_owned();
                skipped.push(Skipped { target, reason });
            }
        }
    }
    if plan.order.is_some() && !skipped.is_empty() {
        let reasons: Vec<String> = skipped
            .iter()
            .map(|s| format!("{}: {}", s.target, s.reason))
            .collect();
        anyhow::bail!(
            "every target must run for a paired comparison: {}",
            reasons.join("; ")
        );
    }
    Ok((available, skipped))
}

/// The plan's fixed order, or the shuffled schedule without the pairs `[run.targets_on]`
/// leaves out.
fn run_order(
    plan: &Plan,
    available: &[Ready],
    samples: &[ReadySample],
) -> anyhow::Result<Vec<Slot>> {
    let order = plan.order.clone().unwrap_or_else(|| {
        let runs_on = |t: usize, s: usize| {
            plan.targets_on
                .get(&samples[s].name)
                .is_none_or(|only| only.iter().any(|n| n == available[t].target.name()))
        };
        let rounds = plan.warmup + plan.runs;
        schedule(available.len(), samples.len(), rounds, plan.seed)
            .into_iter()
            .filter(|&(_, t, s)| runs_on(t, s))
            .collect()
    });
    anyhow::ensure!(
        !order.is_empty(),
        "nothing to run: no target runs on the samples chosen (see [run.targets_on] in the configuration)"
    );
    Ok(order)
}

/// Everything the benchmark produced, summarised.
fn assemble_results(
    plan: &Plan,
    machine: Machine,
    available: &[Ready],
    skipped: Vec<Skipped>,
    recorded: Recorded,
) -> Results {
    let dialects = available
        .iter()
        .filter_map(|r| {
            let target = r.target.name().to_owned();
            Some(TargetDialect {
                target,
                dialect: r.dialect.clone()?,
            })
        })
        .collect();
    Results {
        schema_version: RESULTS_SCHEMA_VERSION,
        clipbench_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        seed: plan.seed,
        baseline: plan.baseline.clone(),
        runs_per_cell: plan.runs,
        warmup: plan.warmup,
        targets: plan
            .targets
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or_default())
            .collect(),
        samples: plan.samples.clone(),
        sample_versions: BTreeMap::new(),
        stopping: None,
        machine,
        skipped,
        dialects,
        interrupted: recorded.interrupted,
        link: plan.link.clone(),
        summaries: summarize(&recorded.runs, plan.baseline.as_deref(), plan.seed),
        runs: recorded.runs,
        timelines: recorded.timelines,
        shapes: recorded.shapes,
    }
}

/// A new report folder `root/<UTC timestamp>` (suffixed when it already exists).
fn new_report_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "-");
    let mut dir = root.join(&stamp);
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = root.join(format!("{stamp}-{n}"));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Points `root/latest` at `dir` (a relative symlink, replaced atomically).
fn point_latest(root: &Path, dir: &Path) -> anyhow::Result<()> {
    let name = dir.file_name().context("report folder has no name")?;
    let temp = root.join(".latest.partial");
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(name, &temp)?;
    std::fs::rename(&temp, root.join("latest"))?;
    Ok(())
}
