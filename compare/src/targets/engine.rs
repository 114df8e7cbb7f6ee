//! The engine library in-process.

use std::time::Instant;

use clipbench_engine::{
    probe, run as run_engine, Policy, Profile, RunOptions, Strategy, ThreadSetting, Tools,
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
    let began = Instant::now();
    let result = run_engine(job.input, &options, job.cancel, &|_| {});
    let wall_s = began.elapsed().as_secs_f64();
    let report = match result {
        Ok(report) => report,
        Err(e) => return Measured::failure(wall_s, e.to_string()),
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
    Measured {
        wall_s,
        download_s: None,
        analysis_s: Some(report.analysis_s),
        encode_s: Some(m.wall_s),
        time_to_first_clip_s: m.time_to_first_clip_s.map(|t| t + report.analysis_s),
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
