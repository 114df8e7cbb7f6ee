//! `clipbench run`: builds the samples, checks the targets, runs every (target, sample) pair
//! `warmup + runs` times in a seeded shuffled order, and writes the report. Each finished run
//! is appended to `runs.csv` at once, so an interruption or a crash loses no finished run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clipbench_engine::monitor::Monitor;
use clipbench_engine::{probe, CancelToken, MediaInfo, Tools};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::config::{Config, TargetConfig};
use crate::export;
use crate::machine::Machine;
use crate::record::{
    Results, RunRecord, RunStatus, Skipped, TargetDialect, Timeline, RESULTS_SCHEMA_VERSION,
};
use crate::samples::{Builder, Manifest};
use crate::summary::summarize;
use crate::targets::{self, Job, Measured};

/// What to run.
pub struct Plan {
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
    pub quiet: bool,
    /// Samples only some targets run on (`[run.targets_on]`).
    pub targets_on: std::collections::BTreeMap<String, Vec<String>>,
    /// A fixed order `(round, target, sample)` instead of the shuffled one (`ab`'s balanced
    /// schedule); every target must then pass its check.
    pub order: Option<Vec<(usize, usize, usize)>>,
}

impl Plan {
    /// A plan from a configuration, before command-line overrides.
    pub fn from_config(config: &Config, reports_root: PathBuf, manifest: PathBuf) -> Plan {
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
            quiet: false,
            targets_on: config.run.targets_on.clone(),
            order: None,
        }
    }
}

/// The order of a benchmark: `(round, target index, sample index)`, each round shuffled.
pub fn schedule(
    targets: usize,
    samples: usize,
    rounds: usize,
    seed: u64,
) -> Vec<(usize, usize, usize)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order = Vec::with_capacity(targets * samples * rounds);
    for round in 0..rounds {
        let mut pairs: Vec<(usize, usize, usize)> = (0..targets)
            .flat_map(|t| (0..samples).map(move |s| (round, t, s)))
            .collect();
        pairs.shuffle(&mut rng);
        order.extend(pairs);
    }
    order
}

/// A new report folder `root/<UTC timestamp>` (suffixed when it already exists).
pub fn new_report_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
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
pub fn point_latest(root: &Path, dir: &Path) -> anyhow::Result<()> {
    let name = dir.file_name().context("report folder has no name")?;
    let temp = root.join(".latest.partial");
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(name, &temp)?;
    std::fs::rename(&temp, root.join("latest"))?;
    Ok(())
}

/// A benchmark's result and where it was written.
pub struct Finished {
    pub dir: PathBuf,
    pub results: Results,
}

/// Runs a benchmark.
pub fn run(plan: &Plan, cancel: &CancelToken) -> anyhow::Result<Finished> {
    let tools = Tools::from_env();
    let say = |line: String| {
        if !plan.quiet {
            eprintln!("{line}");
        }
    };
    let manifest = Manifest::load(&plan.manifest)?;
    let sample_dir = plan.manifest.parent().unwrap_or(Path::new(".")).to_owned();
    let on_status = |name: &str, message: &str| say(format!("sample {name}: {message}"));
    let builder = Builder {
        manifest: &manifest,
        dir: sample_dir.clone(),
        tools: tools.clone(),
        on_status: &on_status,
    };
    let built = builder.ensure(&plan.samples)?;
    let samples: Vec<(String, PathBuf, MediaInfo)> = built
        .into_iter()
        .map(|(name, path, _)| {
            let media = probe(&tools, &path)?;
            Ok((name, path, media))
        })
        .collect::<Result<_, clipbench_engine::EngineError>>()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut available = Vec::new();
    let mut skipped = Vec::new();
    for target in &plan.targets {
        match targets::check(target, &runtime, &tools) {
            Ok(ready) => {
                if let Some(dialect) = &ready.dialect {
                    say(format!(
                        "{}: {} at {}",
                        target.name(),
                        targets::describe(dialect),
                        dialect.base_url
                    ));
                }
                available.push(ready)
            }
            Err(reason) => {
                say(format!("skipped {}: {reason}", target.name()));
                skipped.push(Skipped {
                    target: target.name().to_owned(),
                    reason,
                });
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
    let server = if available.iter().any(|t| t.dialect.is_some()) {
        Some(crate::fileserver::start(&runtime, &sample_dir)?)
    } else {
        None
    };

    let dir = new_report_dir(&plan.reports_root)?;
    let mut csv = export::csv::RunsCsv::create(&dir.join("runs.csv"))?;
    let machine = Machine::detect(&tools);
    let rounds = plan.warmup + plan.runs;
    let order = plan.order.clone().unwrap_or_else(|| {
        let runs_on = |t: usize, s: usize| {
            plan.targets_on
                .get(&samples[s].0)
                .is_none_or(|only| only.iter().any(|n| n == available[t].target.name()))
        };
        schedule(available.len(), samples.len(), rounds, plan.seed)
            .into_iter()
            .filter(|&(_, t, s)| runs_on(t, s))
            .collect()
    });
    anyhow::ensure!(
        !order.is_empty(),
        "nothing to run: no target runs on the samples chosen (see [run.targets_on] in the configuration)"
    );
    let bar = if plan.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(order.len() as u64), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len} runs {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Off a terminal (a CI log, a pipe) the bar is hidden: one line per finished run instead.
    let lines = !plan.quiet && !std::io::stderr().is_terminal();
    let began = std::time::Instant::now();
    let mut took: Vec<((usize, usize), f64)> = Vec::new();
    let mut runs: Vec<RunRecord> = Vec::new();
    let mut timelines = Vec::new();
    let mut shapes = Vec::new();
    let mut interrupted = false;
    for (position, &(round, t, s)) in order.iter().enumerate() {
        if cancel.is_cancelled() {
            interrupted = true;
            break;
        }
        let ready = &available[t];
        let target = &ready.target;
        let (sample, input, media) = &samples[s];
        let warmup = round < plan.warmup;
        bar.set_message(format!(
            "(eta {}) {} on {sample}{}",
            clock(eta_s(&order[position..], &took)),
            target.name(),
            if warmup { " (warm-up)" } else { "" }
        ));
        let run_began = std::time::Instant::now();
        let scratch = dir.join("scratch").join(format!("run-{position}"));
        std::fs::create_dir_all(&scratch)?;
        let url = server.map(|a| {
            let file = input
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("http://{a}/{file}")
        });
        let job = Job {
            sample,
            input,
            url: url.as_deref(),
            media,
            scratch: &scratch,
            poll_interval: plan.poll_interval,
            cancel,
            runtime: &runtime,
            tools: &tools,
        };
        let started_at =
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let monitor = Monitor::start(plan.monitor_interval);
        let measured = targets::run(ready, &job);
        let monitored = monitor.stop();
        let _ = std::fs::remove_dir_all(&scratch);
        bar.inc(1);
        took.push(((t, s), run_began.elapsed().as_secs_f64()));
        if lines {
            eprintln!(
                "[{}/{}] {} on {sample}{}: {} {:.2} s (elapsed {}, eta {})",
                position + 1,
                order.len(),
                target.name(),
                if warmup { " (warm-up)" } else { "" },
                if measured.failed {
                    "failed"
                } else if measured.problems.is_empty() {
                    "ok"
                } else {
                    "invalid"
                },
                measured.wall_s,
                clock(began.elapsed().as_secs_f64()),
                clock(eta_s(&order[position + 1..], &took))
            );
        }
        if cancel.is_cancelled() {
            // The run was cut short: it is not a finished run.
            interrupted = true;
            break;
        }
        if warmup {
            continue;
        }
        let run_number = runs
            .iter()
            .filter(|r| r.target == target.name() && &r.sample == sample)
            .count()
            + 1;
        let record = record(
            target, sample, media, run_number, position, started_at, &measured, &monitored,
        );
        csv.append(&record)?;
        if record.status != RunStatus::Ok {
            bar.println(format!(
                "{} on {sample} run {run_number}: {:?}: {}",
                target.name(),
                record.status,
                record.problems
            ));
        }
        timelines.push(Timeline {
            target: record.target.clone(),
            sample: record.sample.clone(),
            run: run_number,
            points: monitored
                .samples
                .iter()
                .map(|p| (p.at_s, p.cpu_percent))
                .collect(),
        });
        if let Some(mut shape) = measured.shape {
            (shape.target, shape.run) = (record.target.clone(), run_number);
            shapes.push(shape);
        }
        runs.push(record);
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(dir.join("scratch"));
    let summaries = summarize(&runs, plan.baseline.as_deref(), plan.seed);
    let results = Results {
        schema_version: RESULTS_SCHEMA_VERSION,
        clipbench_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
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
        machine,
        skipped,
        dialects: available
            .iter()
            .filter_map(|r| {
                Some(TargetDialect {
                    target: r.target.name().to_owned(),
                    dialect: r.dialect.clone()?,
                })
            })
            .collect(),
        interrupted,
        runs,
        summaries,
        timelines,
        shapes,
    };
    export::write_all(&results, &dir)?;
    point_latest(&plan.reports_root, &dir)?;
    Ok(Finished { dir, results })
}

/// Seconds the runs still to make should take: each run as long as the finished runs of its
/// (target, sample) took on average, else those of its sample, else all finished runs (pure).
pub fn eta_s(remaining: &[(usize, usize, usize)], took: &[((usize, usize), f64)]) -> f64 {
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

/// `1h02m03s`-style, whole seconds.
fn clock(seconds: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.round() as u64)).to_string()
}

#[allow(clippy::too_many_arguments)]
fn record(
    target: &TargetConfig,
    sample: &str,
    media: &MediaInfo,
    run: usize,
    order: usize,
    started_at: String,
    m: &Measured,
    monitored: &clipbench_engine::monitor::MonitorSummary,
) -> RunRecord {
    let status = if m.failed {
        RunStatus::Failed
    } else if !m.problems.is_empty() || m.clips == 0 || m.clips_valid < m.clips {
        RunStatus::Invalid
    } else {
        RunStatus::Ok
    };
    RunRecord {
        target: target.name().to_owned(),
        kind: target.kind().to_owned(),
        sample: sample.to_owned(),
        run,
        order,
        started_at,
        status,
        problems: m.problems.join("; "),
        wall_s: m.wall_s,
        download_s: m.download_s,
        analysis_s: m.analysis_s,
        encode_s: m.encode_s,
        time_to_first_clip_s: m.time_to_first_clip_s,
        phases_source: m.sources.phases.clone(),
        ttfc_source: m.sources.time_to_first_clip.clone(),
        clips: m.clips,
        clips_valid: m.clips_valid,
        output_bytes: m.output_bytes,
        source_duration_s: media.duration,
        // A failed or invalid run did not process the video: no rate is derived from it.
        realtime_factor: (status == RunStatus::Ok && m.wall_s > 0.0)
            .then(|| media.duration / m.wall_s),
        work_cpu_s: m.work_cpu_s,
        workers: m.workers,
        workers_source: m.sources.workers.clone(),
        sweep_workers: target.sweep_workers(),
        cpu_mean_percent: monitored.cpu_mean_percent,
        cpu_peak_percent: monitored.cpu_peak_percent,
        memory_peak_bytes: monitored.memory_peak_bytes,
        sampler_cpu_s: monitored.sampler_cpu_s,
    }
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
    fn no_rate_is_derived_from_a_failed_or_invalid_run() {
        let target = TargetConfig::from_spec("engine:serial").unwrap().unwrap();
        let media = MediaInfo {
            duration: 60.0,
            ..Default::default()
        };
        let monitored = clipbench_engine::monitor::MonitorSummary::default();
        let rate = |m: &Measured| {
            record(&target, "s", &media, 1, 0, String::new(), m, &monitored).realtime_factor
        };
        let ok = Measured {
            wall_s: 2.0,
            clips: 2,
            clips_valid: 2,
            ..Default::default()
        };
        assert_eq!(rate(&ok), Some(30.0));
        let invalid = Measured {
            clips_valid: 1,
            ..ok.clone()
        };
        assert_eq!(rate(&invalid), None);
        assert_eq!(rate(&Measured::failure(0.003, "answered 500")), None);
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
