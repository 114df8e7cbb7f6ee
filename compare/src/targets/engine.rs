//! The engine library in-process.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use clipbench_engine::execute::Subject;
use clipbench_engine::run::Setup;
use clipbench_engine::{
    probe, run as run_engine, Event, RunOptions, RunReport, Strategy, ThreadSetting, TimedEvent,
    Tools,
};
use clipbench_fetch::guard::UrlGuard;
use clipbench_fetch::url_run::{run_url, OnEvent};
use clipbench_fetch::DownloadOptions;

use super::{Job, Measured};
use crate::record::{JobShape, TaskSpan};

pub fn check(tools: &Tools) -> Result<(), String> {
    probe::ffmpeg_version(tools)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn run(setup: Setup, job: &Job) -> Measured {
    let options = options(setup, job);
    // The run ends when its last clip is committed, and its first clip counts when it is:
    // the moments the engine's `Finished` events arrive, not when `run` returns (after it
    // stops its sampler and writes its report).
    let committed = Commits::start();
    let result = run_engine(job.input, &options, job.cancel, &|event| {
        committed.see(event)
    });
    measure(result, &committed, job.sample)
}

/// Runs the engine on the sample's `url` as the engine's own `run URL` does: it downloads and
/// cuts while the bytes arrive (or downloads first, when the file does not allow it). The
/// clock starts with the request, so the wait for the bytes counts.
pub fn run_from_url(setup: Setup, job: &Job, url: &str) -> Measured {
    let options = options(setup, job);
    let Ok(url) = reqwest::Url::parse(url) else {
        return Measured::failure(0.0, format!("the sample's URL {url:?} does not parse"));
    };
    // The harness's own file server, on loopback.
    let download = DownloadOptions {
        guard: Arc::new(UrlGuard::allow_all()),
        ..DownloadOptions::default()
    };
    let committed = Arc::new(Commits::start());
    let on_event: OnEvent = {
        let committed = committed.clone();
        Arc::new(move |event| committed.see(event))
    };
    let folder = job.scratch.join(".download");
    let ran = job.runtime.block_on(run_url(
        &url,
        &folder,
        &download,
        &options,
        job.cancel,
        |_, _| {},
        on_event,
    ));
    let _ = std::fs::remove_dir_all(&folder);
    let mut measured = measure(ran.report, &committed, job.sample);
    measured.download_s = Some(ran.download_s);
    if let Some(error) = ran.download_error {
        measured.problems.push(error);
        measured.failed = true;
    }
    measured
}

fn options(setup: Setup, job: &Job) -> RunOptions {
    let mut options = RunOptions::with_setup(job.scratch, setup);
    options.tools = job.tools.clone();
    options
}

/// When each clip was committed, in seconds since the run began.
struct Commits {
    began: Instant,
    at: Mutex<Vec<f64>>,
}

impl Commits {
    fn start() -> Commits {
        Commits {
            began: Instant::now(),
            at: Mutex::new(Vec::new()),
        }
    }

    fn see(&self, event: &TimedEvent) {
        if matches!(
            event.event,
            Event::Finished {
                subject: Subject::Clip(_),
                ..
            }
        ) {
            let at = self.began.elapsed().as_secs_f64();
            self.at.lock().unwrap_or_else(|e| e.into_inner()).push(at);
        }
    }
}

/// A run's figures from its report and its commits.
fn measure<E: std::fmt::Display>(
    result: Result<RunReport, E>,
    commits: &Commits,
    sample: &str,
) -> Measured {
    let returned_s = commits.began.elapsed().as_secs_f64();
    let committed = commits.at.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let last_commit = committed.iter().copied().reduce(f64::max);
    let report = match result {
        Ok(report) => report,
        Err(e) => return Measured::failure(returned_s, e.to_string()),
    };
    let m = &report.metrics;
    let mut problems: Vec<String> = report
        .clips
        .iter()
        .filter(|c| !c.status.is_written())
        .map(|c| {
            let reason = c
                .failure
                .as_ref()
                .map_or("not written".to_owned(), |f| f.reason.clone());
            format!("clip {}: {reason}", c.clip.number)
        })
        .collect();
    if report.cancelled {
        problems.insert(0, "interrupted".into());
    }
    // Every clip reused or failed: nothing was committed, the run lasted until it returned.
    let wall_s = last_commit.unwrap_or(returned_s);
    Measured {
        wall_s,
        download_s: None,
        analysis_s: Some(report.analysis_s),
        encode_s: Some(wall_s - report.analysis_s),
        time_to_first_clip_s: committed.iter().copied().reduce(f64::min),
        clips: report.plan.len(),
        clips_valid: m.clips_done,
        output_bytes: m.output_bytes,
        work_cpu_s: Some(m.work_cpu_s),
        workers: Some(report.allocation.workers),
        sources: Default::default(),
        shape: Some(shape_of(&report, sample)),
        failed: report.cancelled,
        problems,
    }
}

/// The run's tasks on their workers, in seconds since the run started.
fn shape_of(report: &RunReport, sample: &str) -> JobShape {
    let tasks = report
        .clips
        .iter()
        .chain(&report.chunks)
        .filter_map(|o| {
            Some(TaskSpan {
                worker: o.worker?,
                kind: format!("{:?}", o.kind).to_lowercase(),
                number: o.clip.number,
                from_s: report.analysis_s + o.started_s?,
                to_s: report.analysis_s + o.finished_s?,
                cpu_s: o.cpu_s,
                threads: match o.threads {
                    Some(ThreadSetting::Fixed(n)) => n,
                    _ => 1,
                },
            })
        })
        .collect();
    JobShape {
        target: String::new(),
        sample: sample.to_owned(),
        run: 0,
        analysis_s: report.analysis_s,
        tasks,
        encoder_peak_rss_bytes: report
            .clips
            .iter()
            .chain(&report.chunks)
            .map(|o| o.peak_rss_bytes)
            .max()
            .unwrap_or(0),
    }
}

/// How much faster one ffmpeg makes the first clip of `input` on 2 threads than on 1 (its
/// encode wall times, one after the other, with the profile of `setup`).
pub fn two_thread_speedup(
    setup: Setup,
    input: &std::path::Path,
    tools: &Tools,
) -> anyhow::Result<f64> {
    let dir = tempfile_dir()?;
    let mut wall = [0.0; 2];
    for (i, threads) in [1, 2].into_iter().enumerate() {
        let setup = Setup {
            strategy: Strategy::Fixed(1),
            threads: Some(ThreadSetting::Fixed(threads)),
            reuse_overlaps: false,
            ..setup
        };
        let mut options = RunOptions::with_setup(dir.join(format!("threads-{threads}")), setup);
        options.setup.plan.max_clips = 1;
        options.tools = tools.clone();
        let report = run_engine(
            input,
            &options,
            &clipbench_engine::CancelToken::new(),
            &|_| {},
        )?;
        anyhow::ensure!(report.all_valid(), "the calibration clip failed");
        wall[i] = report.metrics.wall_s;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(wall[0] / wall[1].max(1e-9))
}

/// A fresh scratch folder under the system's temporary folder.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("clipbench-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
