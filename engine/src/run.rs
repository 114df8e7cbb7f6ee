//! One whole job: probe → plan → allocate → execute (with the monitor) → report.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::allocate::{allocate, Strategy, ThreadSetting};
use crate::encode::Profile;
use crate::error::{EngineError, Result};
use crate::execute::{
    clip_profile, execute, CancelToken, ClipOutcome, ClipStatus, Event, ExecuteOptions, MemoryGate,
    TimedEvent,
};
use crate::ledger::{self, DoneClip, Ledger};
use crate::memory::{default_cache_dir, per_encoder_bytes, EncoderMemory};
use crate::monitor::{available_memory_bytes, snapshot, Monitor};
use crate::plan::{plan, Clip, PlanOptions, Policy};
use crate::probe::{ffmpeg_version, probe, probe_with_keyframes, MediaInfo};
use crate::report::{worker_timelines, Metrics, RunReport, Startup, REPORT_SCHEMA_VERSION};
use crate::schedule::TaskKind;
use crate::tools::Tools;
use crate::validate::validate_file;

/// Everything a run needs besides its input.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output_dir: PathBuf,
    pub strategy: Strategy,
    pub profile: Profile,
    pub plan: PlanOptions,
    /// Overrides the strategy's ffmpeg thread setting (e.g. `Fixed(1)` for a W_ref run).
    pub threads: Option<ThreadSetting>,
    /// Per-clip timeout; `None` picks [`default_timeout`].
    pub timeout: Option<Duration>,
    /// Kill (and retry) a clip whose ffmpeg reports no progress for this long.
    pub stall_timeout: Option<Duration>,
    pub retries: u32,
    /// Reuse the clips a previous run of the same input and settings validated (the ledger in
    /// the output folder); only missing or broken clips are encoded.
    pub resume: bool,
    /// Encode each moment of the video once (disjoint chunks joined by stream copy) instead of
    /// encoding every overlap twice. Re-encoding profiles only.
    pub reuse_overlaps: bool,
    /// Where measured encoder memory is remembered between runs (`None`: not remembered).
    pub memory_cache: Option<PathBuf>,
    /// How often the monitor samples CPU and memory.
    pub monitor_interval: Duration,
    pub tools: Tools,
}

impl RunOptions {
    /// The engine's defaults: `auto` strategy, `optimized` profile, fixed 30/25 plan (last clip
    /// at least 15 s, as the optimized backend), one retry, a 60 s stall watchdog, overlaps
    /// encoded twice (as the backends), the default memory cache, 10 Hz monitor.
    pub fn new(output_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            output_dir: output_dir.into(),
            strategy: Strategy::Auto,
            profile: Profile::Optimized,
            plan: PlanOptions {
                policy: Policy::OPTIMIZED,
                ..Default::default()
            },
            threads: None,
            timeout: None,
            stall_timeout: Some(Duration::from_secs(60)),
            retries: 1,
            resume: false,
            reuse_overlaps: false,
            memory_cache: default_cache_dir(),
            monitor_interval: Duration::from_millis(100),
            tools: Tools::from_env(),
        }
    }
}

fn save_ledger(ledger: &Mutex<Ledger>, dir: &Path) -> Result<()> {
    ledger.lock().unwrap_or_else(|e| e.into_inner()).save(dir)
}

/// The ledger's clips that are still in the output folder and still valid.
fn reusable_clips(
    previous: Option<&Ledger>,
    clips: &[Clip],
    media: &MediaInfo,
    options: &RunOptions,
) -> Vec<ClipOutcome> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    clips
        .iter()
        .filter_map(|clip| {
            let recorded = previous.done.iter().find(|d| d.number == clip.number)?;
            let path = options.output_dir.join(clip.file_name());
            let bytes = std::fs::metadata(&path).map(|m| m.len()).ok()?;
            if bytes != recorded.bytes {
                return None;
            }
            let profile = clip_profile(options.profile, media, clip);
            let validation = validate_file(&options.tools, &path, clip, media, profile);
            validation.valid.then(|| ClipOutcome {
                status: ClipStatus::Resumed,
                bytes,
                path: Some(path),
                validation: Some(validation),
                ..ClipOutcome::pending(*clip)
            })
        })
        .collect()
}

/// A generous per-clip timeout: 60 s plus 10 s per second of clip.
pub fn default_timeout(clip_seconds: f64) -> Duration {
    Duration::from_secs_f64(60.0 + 10.0 * clip_seconds.max(0.0))
}

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
    if options.reuse_overlaps && !options.profile.reencodes() {
        return Err(EngineError::InvalidOption(
            "--reuse-overlaps re-encodes each moment once; the copy profile encodes nothing: \
             drop one of them"
                .into(),
        ));
    }
    let analysis_start = Instant::now();
    // The probe, the tool version, the machine snapshot (a 100 ms CPU sample) and the input's
    // content hash (resume key) are independent: gather them at once.
    let mut startup = Startup::default();
    let (media, ffmpeg_version, system, content_hash) = std::thread::scope(|scope| {
        let version = scope.spawn(|| timed(|| ffmpeg_version(&options.tools)));
        let system = scope.spawn(|| timed(|| snapshot(options.strategy.cpu_sample())));
        let hash = scope.spawn(|| timed(|| ledger::content_hash(input)));
        // Exact stream copies need the keyframes: the adaptive plan snaps clip starts to them.
        let (media, probe_s) = timed(|| {
            if options.profile == Profile::Copy && options.plan.policy == Policy::Adaptive {
                probe_with_keyframes(&options.tools, input)
            } else {
                probe(&options.tools, input)
            }
        });
        startup.probe_s = probe_s;
        let lost = || EngineError::InvalidOption("an analysis thread panicked".into());
        let (version, system, hash) = (
            version.join().unwrap_or_else(|_| (Err(lost()), 0.0)),
            system
                .join()
                .unwrap_or_else(|_| (snapshot(Duration::ZERO), 0.0)),
            hash.join().unwrap_or_else(|_| (Err(lost()), 0.0)),
        );
        (
            startup.tool_check_s,
            startup.machine_s,
            startup.content_hash_s,
        ) = (version.1, system.1, hash.1);
        (media, version.0, system.0, hash.0)
    });
    let media = media?;
    let ffmpeg_version = ffmpeg_version?;
    let clips = plan(&media, &options.plan);
    if clips.is_empty() {
        return Err(EngineError::InvalidOption(format!(
            "the {} policy plans no clip for a {:.1} s video: try --policy adaptive or a smaller minimum last clip (fixed:MIN)",
            options.plan.policy, media.duration
        )));
    }
    let memory_cache = options.memory_cache.as_deref().map(EncoderMemory::load);
    let measured = memory_cache
        .as_ref()
        .and_then(|m| m.measured(options.profile, media.width, media.height));
    let (per_encoder, memory_source) = per_encoder_bytes(measured, media.width, media.height);
    let mut allocation = allocate(options.strategy, &system, &media, clips.len(), per_encoder);
    if options.strategy == Strategy::Auto {
        allocation
            .reason
            .push_str(&format!(" ({memory_source} encoder memory)"));
    }
    if let Some(threads) = options.threads {
        allocation.ffmpeg_threads = threads;
        allocation
            .reason
            .push_str(&format!(", threads overridden to {threads}"));
    }
    let analysis_s = analysis_start.elapsed().as_secs_f64();
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
    let execute_options = ExecuteOptions {
        profile: options.profile,
        threads: allocation.ffmpeg_threads,
        workers: allocation.workers,
        timeout: options.timeout.unwrap_or_else(|| default_timeout(longest)),
        stall_timeout: options.stall_timeout,
        retries: options.retries,
        output_dir: options.output_dir.clone(),
        tools: options.tools.clone(),
        cores: system.logical_cpus,
        tail_boost: options.strategy == Strategy::Auto && options.threads.is_none(),
        reuse_overlaps: options.reuse_overlaps,
        memory: Some(MemoryGate {
            per_encoder_bytes: per_encoder,
            available_bytes: available_memory_bytes,
        }),
    };
    std::fs::create_dir_all(&options.output_dir)
        .map_err(|e| EngineError::io("cannot create output folder", &options.output_dir, e))?;
    let key = ledger::key(content_hash?, options.profile, &options.plan);
    let previous = options
        .resume
        .then(|| Ledger::load_matching(&options.output_dir, &key))
        .flatten()
        .filter(|l| l.plan == clips);
    let reused = reusable_clips(previous.as_ref(), &clips, &media, options);
    let todo: Vec<Clip> = clips
        .iter()
        .filter(|c| !reused.iter().any(|r| r.clip.number == c.number))
        .copied()
        .collect();
    let ledger = Mutex::new(Ledger {
        schema_version: ledger::LEDGER_SCHEMA_VERSION,
        key,
        plan: clips.clone(),
        done: reused
            .iter()
            .map(|o| DoneClip {
                number: o.clip.number,
                bytes: o.bytes,
            })
            .collect(),
    });
    save_ledger(&ledger, &options.output_dir)?;
    let monitor = Monitor::start(options.monitor_interval);
    let execution = execute(
        &media,
        &todo,
        &execute_options,
        cancel,
        &|event: &TimedEvent| {
            if let Event::Finished { clip, bytes, .. } = event.event {
                let mut ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
                ledger.done.push(DoneClip {
                    number: clip,
                    bytes,
                });
                if let Err(e) = ledger.save(&options.output_dir) {
                    tracing::warn!("cannot update the resume ledger: {e}");
                }
            }
            on_event(event)
        },
    );
    let monitor = monitor.stop();
    let mut execution = execution?;
    execution.outcomes.extend(reused);
    execution.outcomes.sort_by_key(|o| o.clip.number);
    if let (Some(dir), Some(mut memory)) = (&options.memory_cache, memory_cache) {
        remember_encoder_memory(
            &mut memory,
            &execution.outcomes,
            &execution.chunks,
            options,
            &media,
        );
        if let Err(e) = memory.save(dir) {
            tracing::warn!("cannot remember the measured encoder memory: {e}");
        }
    }
    let mut metrics = Metrics::compute(
        &execution.outcomes,
        &execution.chunks,
        system.logical_cpus,
        media.duration,
    );
    metrics.memory_hold_s = execution.memory_hold_s;
    let workers = worker_timelines(&execution.outcomes, &execution.chunks, metrics.wall_s);
    Ok(RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        engine_version: crate::BUILD.to_owned(),
        ffmpeg_version,
        failures: RunReport::failures_of(&execution),
        input: media,
        plan_options: options.plan,
        plan: clips,
        strategy: options.strategy,
        profile: options.profile,
        system,
        allocation,
        analysis_s,
        startup,
        metrics,
        cancelled: execution.cancelled,
        workers,
        reuse_overlaps: options.reuse_overlaps,
        clips: execution.outcomes,
        chunks: execution.chunks,
        monitor,
    })
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
    clips: &[ClipOutcome],
    chunks: &[ClipOutcome],
    options: &RunOptions,
    media: &MediaInfo,
) {
    if !options.profile.reencodes() {
        return;
    }
    let peak = clips
        .iter()
        .chain(chunks)
        .filter(|o| matches!(o.kind, TaskKind::Encode | TaskKind::Chunk))
        .map(|o| o.peak_rss_bytes)
        .max()
        .unwrap_or(0);
    memory.record(options.profile, media.width, media.height, peak);
}
