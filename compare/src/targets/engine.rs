//! The engine library in-process.

use std::sync::Mutex;
use std::time::Instant;

use clipbench_engine::{
    probe, run as run_engine, Event, Policy, Profile, RunOptions, Strategy, ThreadSetting, Tools,
};

use super::{Job, Measured};

pub fn check(tools: &Tools) -> Result<(), String> {
    probe::ffmpeg_version(tools)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How an engine target runs.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub strategy: Strategy,
    pub profile: Profile,
    pub policy: Policy,
    pub threads: Option<ThreadSetting>,
    pub reuse_overlaps: bool,
}

pub fn run(setup: Setup, job: &Job) -> Measured {
    let mut options = RunOptions::new(job.scratch);
    options.strategy = setup.strategy;
    options.profile = setup.profile;
    options.plan.policy = setup.policy;
    options.threads = setup.threads;
    options.reuse_overlaps = setup.reuse_overlaps;
    options.tools = job.tools.clone();
    // The run ends when its last clip is committed, and its first clip counts when it is:
    // the moments the engine's `Finished` events arrive, not when `run` returns (after it
    // stops its sampler and writes its report).
    let began = Instant::now();
    let committed = Mutex::new(Vec::<f64>::new());
    let result = run_engine(job.input, &options, job.cancel, &|event| {
        if matches!(event.event, Event::Finished { .. }) {
            let at = began.elapsed().as_secs_f64();
            committed.lock().unwrap_or_else(|e| e.into_inner()).push(at);
        }
    });
    let returned_s = began.elapsed().as_secs_f64();
    let committed = committed.into_inner().unwrap_or_else(|e| e.into_inner());
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
        failed: report.cancelled,
        problems,
    }
}
