//! One whole job, as its pipeline: analyse the input and the machine → plan the clips →
//! allocate workers → execute (with the monitor, the resume ledger and the memory cache
//! listening) → assemble the report.

mod deadline;
mod options;
mod resume;

use std::path::Path;
use std::time::{Duration, Instant};

pub use options::{default_timeout, RunOptions, Setup, DEFAULT_STALL_TIMEOUT};

use crate::adapt::adapt;
use crate::allocate::{allocate, Allocation, Strategy, SystemSnapshot};
use crate::arrival::{Arriving, Availability};
use crate::budget::SourceShape;
use crate::cancel::CancelToken;
use crate::encode::Profile;
use crate::error::{EngineError, Result};
use crate::execute::{
    execute, ClipOutcome, Event, ExecuteOptions, Execution, MemoryGate, TimedEvent,
};
use crate::ledger;
use crate::memory::{per_encoder_bytes, EncoderMemory};
use crate::monitor::{available_memory_bytes, snapshot, Monitor, MonitorSummary};
use crate::plan::{plan, Clip, Policy};
use crate::probe::{ffmpeg_version, probe, probe_with_keyframes, with_packets, MediaInfo};
use crate::report::{worker_timelines, Metrics, RunReport, Startup, REPORT_SCHEMA_VERSION};
use crate::task::TaskKind;
use deadline::Deadline;
use resume::Resume;

/// Processes a local video file into clips and reports what happened.
///
/// Events (clip queued, started, progress, finished, failed) are passed to `on_event` as they
/// happen, from worker threads. Errors are returned only for problems with the input or the
/// set-up; failed clips are listed in the report.
pub fn run(
    input: &Path,
    options: &RunOptions,
    cancel: &CancelToken,
    on_event: &(dyn Fn(&TimedEvent) + Sync),
) -> Result<RunReport> {
    run_source(input, None, options, cancel, on_event)
}

/// Like [`run()`], on a source that is still downloading into `input`: the probe waits for
/// the index and the first bytes, the keyframes and the resume key come from the index, and
/// each task starts once the bytes it reads are on disk. A download that stops fails the
/// clips whose bytes never came (the others are made as usual).
pub fn run_arriving(
    input: &Path,
    source: &Arriving,
    options: &RunOptions,
    cancel: &CancelToken,
    on_event: &(dyn Fn(&TimedEvent) + Sync),
) -> Result<RunReport> {
    run_source(input, Some(source), options, cancel, on_event)
}

fn run_source(
    input: &Path,
    source: Option<&Arriving>,
    options: &RunOptions,
    cancel: &CancelToken,
    on_event: &(dyn Fn(&TimedEvent) + Sync),
) -> Result<RunReport> {
    if options.setup.reuse_overlaps && !options.setup.profile.reencodes() {
        return Err(EngineError::InvalidOption(format!(
            "--reuse-overlaps re-encodes each moment once; the {} profile copies instead: \
             drop one of them",
            options.setup.profile
        )));
    }
    let began = Instant::now();
    let (analysis, options, clips, notes) = analyse_and_plan(input, source, options, cancel)?;
    let options = &options;
    let mut memory = options.memory_cache.as_deref().map(EncoderMemory::load);
    let (allocation, per_encoder) = allocate_workers(options, &analysis, clips.len(), &memory);
    let analysis_s = began.elapsed().as_secs_f64();
    if cancel.is_draining() {
        return Err(EngineError::Cancelled);
    }
    on_event(&TimedEvent {
        at_s: 0.0,
        event: Event::Planned {
            clips: clips.len(),
            workers: allocation.workers,
        },
    });
    let longest = clips.iter().map(|c| c.duration()).fold(0.0, f64::max);
    let timeout = options.timeout.unwrap_or_else(|| default_timeout(longest));
    let mut execute_options =
        execute_options(options, &allocation, &analysis.system, per_encoder, timeout);
    execute_options.source = source.map(|s| Arriving {
        start_time: analysis.media.start_time,
        ..s.clone()
    });
    std::fs::create_dir_all(&options.output_dir)
        .map_err(|e| EngineError::io("cannot create output folder", &options.output_dir, e))?;
    let resume = Resume::start(analysis.content_hash, &clips, &analysis.media, options)?;
    let monitor = Monitor::start(options.monitor_interval);
    let limit = (options.budget).map(|b| b.deadline_for(analysis.media.duration));
    let job_began = options.began.unwrap_or(began);
    let deadline = limit.map(|limit| Deadline::start(cancel, job_began + limit));
    let execution = execute(
        &analysis.media,
        &resume.todo,
        &execute_options,
        deadline.as_ref().map_or(cancel, |d| &d.token),
        &|event: &TimedEvent| {
            resume.on_event(event);
            on_event(event)
        },
    );
    let monitor = monitor.stop();
    if let (Some(limit), true) = (limit, deadline.as_ref().is_some_and(|d| d.expired())) {
        return Err(EngineError::DeadlinePassed {
            limit_s: limit.as_secs(),
        });
    }
    drop(deadline);
    let mut execution = execution?;
    execution.outcomes.extend(resume.reused);
    execution.outcomes.sort_by_key(|o| o.clip.number);
    if let (Some(dir), Some(memory)) = (&options.memory_cache, &mut memory) {
        remember_encoder_memory(memory, &execution, options, &analysis.media);
        if let Err(e) = memory.save(dir) {
            tracing::warn!("cannot remember the measured encoder memory: {e}");
        }
    }
    let planned = Planned {
        clips,
        allocation,
        analysis_s,
        notes,
    };
    Ok(assemble_report(
        options, analysis, planned, execution, monitor,
    ))
}

/// A job analysed and planned, for running its clips elsewhere (a queue's workers).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The input, probed (with keyframes when the mode needs them).
    pub media: MediaInfo,
    pub clips: Vec<Clip>,
    /// The options of the mode this file allows (profile and reuse may differ from those asked).
    pub options: RunOptions,
    /// How the mode was made sound for this file.
    pub notes: Vec<String>,
    /// The input's content hash.
    pub content_hash: u64,
    /// Longest one attempt of one clip may take.
    pub timeout: Duration,
}

/// Analyses `input` and plans its clips as [`run()`] does, without encoding anything.
pub fn prepare(input: &Path, options: &RunOptions) -> Result<Prepared> {
    let (analysis, options, clips, notes) =
        analyse_and_plan(input, None, options, &CancelToken::new())?;
    let longest = clips.iter().map(|c| c.duration()).fold(0.0, f64::max);
    Ok(Prepared {
        timeout: options.timeout.unwrap_or_else(|| default_timeout(longest)),
        media: analysis.media,
        clips,
        options,
        notes,
        content_hash: analysis.content_hash,
    })
}

/// The analysis, the options of the mode this file allows, the plan and the mode's notes.
fn analyse_and_plan(
    input: &Path,
    source: Option<&Arriving>,
    options: &RunOptions,
    cancel: &CancelToken,
) -> Result<(Analysis, RunOptions, Vec<Clip>, Vec<String>)> {
    // Over a limit, a source is refused as soon as its shape is known: from an arriving
    // file's index, before its media is read; else from the probe.
    if let (Some(budget), Some(source)) = (&options.budget, source) {
        budget.check(&source.index.shape())?;
    }
    let analysis = analyse(input, source, options, cancel)?;
    if let Some(budget) = &options.budget {
        budget.check(&SourceShape::of(&analysis.media))?;
    }
    // What this file allows: from here on the options are those of the sound mode.
    let mode = adapt(
        options.setup.profile,
        options.setup.reuse_overlaps,
        &analysis.media,
    );
    for note in &mode.notes {
        tracing::info!("{note}");
    }
    let mut options = options.clone();
    options.setup.profile = mode.profile;
    options.setup.reuse_overlaps = mode.reuse_overlaps;
    let clips = plan(&analysis.media, &options.setup.plan);
    Ok((analysis, options, clips, mode.notes))
}

/// What is known before any clip is planned.
struct Analysis {
    media: MediaInfo,
    ffmpeg_version: String,
    system: SystemSnapshot,
    /// The input's content hash (the resume key).
    content_hash: u64,
    startup: Startup,
}

/// The probe, the tool version, the machine snapshot (a CPU sample only for strategies that
/// read it) and the content hash are independent: gathered at once, each timed. An arriving
/// source is probed once its first bytes are there, and its keyframes and hash come from its
/// index.
fn analyse(
    input: &Path,
    source: Option<&Arriving>,
    options: &RunOptions,
    cancel: &CancelToken,
) -> Result<Analysis> {
    // Exact stream copies need the keyframes: the adaptive plan snaps clip starts to them, and
    // a smart cut copies from them.
    let keyframes = match options.setup.profile {
        Profile::Copy => options.setup.plan.policy == Policy::Adaptive,
        Profile::Smart => true,
        _ => false,
    };
    let tools = &options.tools;
    let lost = |what: &str| EngineError::Internal(format!("the {what} thread panicked"));
    let (media, version, system, hash) = std::thread::scope(|scope| {
        let version = scope.spawn(|| timed(|| ffmpeg_version(tools)));
        let system = scope.spawn(|| timed(|| snapshot(options.setup.strategy.cpu_sample())));
        let hash = scope.spawn(|| {
            timed(|| match source {
                Some(source) => Ok(source.index.content_hash()),
                None => ledger::content_hash(input),
            })
        });
        let media = timed(|| match (source, keyframes) {
            (Some(source), _) => probe_arriving(tools, input, source, keyframes, cancel),
            (None, true) => probe_with_keyframes(tools, input),
            (None, false) => probe(tools, input),
        });
        (
            media,
            version
                .join()
                .unwrap_or_else(|_| (Err(lost("tool check")), 0.0)),
            system
                .join()
                .unwrap_or_else(|_| (snapshot(Duration::ZERO), 0.0)),
            hash.join()
                .unwrap_or_else(|_| (Err(lost("content hash")), 0.0)),
        )
    });
    Ok(Analysis {
        media: media.0?,
        ffmpeg_version: version.0?,
        system: system.0,
        content_hash: hash.0?,
        startup: Startup {
            probe_s: media.1,
            machine_s: system.1,
            tool_check_s: version.1,
            content_hash_s: hash.1,
        },
    })
}

/// Probes a source that is still arriving once the bytes ffprobe reads are there; the
/// keyframes (when `keyframes`) come from its index, its size from where its media data ends.
fn probe_arriving(
    tools: &crate::Tools,
    input: &Path,
    source: &Arriving,
    keyframes: bool,
    cancel: &CancelToken,
) -> Result<MediaInfo> {
    match source.arrival.wait_for(source.index.probe_bytes(), cancel) {
        Availability::Ready => {}
        _ if cancel.is_draining() => return Err(EngineError::Cancelled),
        Availability::Never(reason) => return Err(EngineError::DownloadStopped(reason)),
        Availability::NotYet => return Err(EngineError::Cancelled),
    }
    let mut media = probe(tools, input)?;
    if keyframes {
        media = with_packets(media, &source.index.packets());
    }
    media.size_bytes = source.index.last_byte();
    if media.duration > 0.0 {
        media.bit_rate = Some((media.size_bytes as f64 * 8.0 / media.duration) as u64);
    }
    Ok(media)
}

/// Workers and threads for this machine and input, and the memory one encoder is budgeted.
fn allocate_workers(
    options: &RunOptions,
    analysis: &Analysis,
    clips: usize,
    memory: &Option<EncoderMemory>,
) -> (Allocation, u64) {
    let media = &analysis.media;
    let measured = memory
        .as_ref()
        .and_then(|m| m.measured(options.setup.profile, media.width, media.height));
    let (per_encoder, memory_source) = per_encoder_bytes(measured, media.width, media.height);
    let mut allocation = allocate(
        options.setup.strategy,
        &analysis.system,
        media,
        clips,
        per_encoder,
    );
    if options.setup.strategy == Strategy::Auto {
        allocation
            .reason
            .push_str(&format!(" ({memory_source} encoder memory)"));
    }
    if let Some(threads) = options.setup.threads {
        allocation.ffmpeg_threads = threads;
        allocation
            .reason
            .push_str(&format!(", threads overridden to {threads}"));
    }
    (allocation, per_encoder)
}

/// The executor's options for this run.
fn execute_options(
    options: &RunOptions,
    allocation: &Allocation,
    system: &SystemSnapshot,
    per_encoder_bytes: u64,
    timeout: Duration,
) -> ExecuteOptions {
    ExecuteOptions {
        threads: allocation.ffmpeg_threads,
        workers: allocation.workers,
        timeout,
        stall_timeout: options.stall_timeout,
        retries: options.retries,
        cores: system.logical_cpus,
        memory: Some(MemoryGate {
            per_encoder_bytes,
            available_bytes: available_memory_bytes,
        }),
        ..(options.setup).execute_options(&options.output_dir, options.tools.clone())
    }
}

/// What was decided before executing.
struct Planned {
    clips: Vec<Clip>,
    allocation: Allocation,
    analysis_s: f64,
    /// How the mode was made sound for this file.
    notes: Vec<String>,
}

/// The run's report: its metrics, timelines and every clip's outcome.
fn assemble_report(
    options: &RunOptions,
    analysis: Analysis,
    planned: Planned,
    execution: Execution,
    monitor: MonitorSummary,
) -> RunReport {
    let cores = analysis.system.logical_cpus;
    let (clips, chunks) = (&execution.outcomes, &execution.chunks);
    let mut metrics = Metrics::compute(clips, chunks, cores, analysis.media.duration);
    metrics.memory_hold_s = execution.memory_hold_s;
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        engine_version: crate::BUILD.to_owned(),
        ffmpeg_version: analysis.ffmpeg_version,
        failures: RunReport::failures_of(&execution),
        input: analysis.media,
        plan_options: options.setup.plan,
        plan: planned.clips,
        strategy: options.setup.strategy,
        profile: options.setup.profile,
        system: analysis.system,
        allocation: planned.allocation,
        analysis_s: planned.analysis_s,
        notes: planned.notes,
        startup: analysis.startup,
        workers: worker_timelines(clips, chunks, metrics.wall_s),
        metrics,
        cancelled: execution.cancelled,
        reuse_overlaps: options.setup.reuse_overlaps,
        clips: execution.outcomes,
        chunks: execution.chunks,
        monitor,
    }
}

/// Runs `step` and says how long it took, seconds.
fn timed<T>(step: impl FnOnce() -> T) -> (T, f64) {
    let began = Instant::now();
    let value = step();
    (value, began.elapsed().as_secs_f64())
}

/// Records the largest peak memory of this run's encoders (re-encoding profiles only).
fn remember_encoder_memory(
    memory: &mut EncoderMemory,
    execution: &Execution,
    options: &RunOptions,
    media: &MediaInfo,
) {
    if !options.setup.profile.reencodes() {
        return;
    }
    let encoders = |o: &&ClipOutcome| matches!(o.kind, TaskKind::Encode | TaskKind::Chunk);
    let peak = (execution.outcomes.iter().chain(&execution.chunks))
        .filter(encoders)
        .map(|o| o.peak_rss_bytes)
        .max()
        .unwrap_or(0);
    memory.record(options.setup.profile, media.width, media.height, peak);
}
