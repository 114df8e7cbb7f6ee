//! The records every exporter reads: one [`RunRecord`] per run (flat, so the same struct is a
//! CSV row and a JSON object), and [`Results`], the whole of a benchmark as `results.json`.

use serde::{Deserialize, Serialize};

use crate::dialect::ResolvedDialect;
use crate::machine::Machine;
use crate::stats::{Ratio, Summary};

/// Version of the `results.json` layout (and of `runs.csv`'s columns).
pub const RESULTS_SCHEMA_VERSION: u32 = 2;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Finished and every clip valid: counted in the statistics.
    Ok,
    /// Finished but some clip is missing or invalid: never counted as fast.
    Invalid,
    /// The target failed (error answer, crash, timeout).
    Failed,
}

/// One measured run of one target on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub target: String,
    /// engine, http or command.
    pub kind: String,
    pub sample: String,
    /// 1-based run number of this (target, sample).
    pub run: usize,
    /// Position in the shuffled schedule, warm-ups included.
    pub order: usize,
    pub started_at: String,
    pub status: RunStatus,
    /// Why the run failed or is invalid (problems joined with "; ").
    pub problems: String,
    /// Submission to last clip written (HTTP: request sent to response received).
    pub wall_s: f64,
    pub download_s: Option<f64>,
    pub analysis_s: Option<f64>,
    pub encode_s: Option<f64>,
    pub time_to_first_clip_s: Option<f64>,
    /// Where the phases came from when not from the engine's own events.
    #[serde(default)]
    pub phases_source: Option<String>,
    /// Where the time to first clip came from when not from the engine's own events.
    #[serde(default)]
    pub ttfc_source: Option<String>,
    pub clips: usize,
    pub clips_valid: usize,
    pub output_bytes: u64,
    pub source_duration_s: f64,
    /// Seconds of source video per second of wall time; only for a valid run.
    pub realtime_factor: Option<f64>,
    /// CPU seconds of the ffmpeg children (engine targets), or of a command and its children.
    pub work_cpu_s: Option<f64>,
    /// Worker count the target used, when it says.
    pub workers: Option<usize>,
    /// Where the worker count came from when the target did not report it itself.
    #[serde(default)]
    pub workers_source: Option<String>,
    /// The `--sweep workers=…` value this target stands for.
    pub sweep_workers: Option<usize>,
    pub cpu_mean_percent: f32,
    pub cpu_peak_percent: f32,
    pub memory_peak_bytes: u64,
    /// CPU seconds the 10 Hz sampler itself used.
    pub sampler_cpu_s: f64,
}

impl RunRecord {
    /// Where the figures not measured directly came from, as one line ("" when all were).
    pub fn sources(&self) -> String {
        [
            ("phases", &self.phases_source),
            ("time to first clip", &self.ttfc_source),
            ("workers", &self.workers_source),
        ]
        .iter()
        .filter_map(|(what, source)| Some(format!("{what} from {}", source.as_deref()?)))
        .collect::<Vec<_>>()
        .join("; ")
    }
}

/// The machine's CPU use over one run, for the utilisation plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub target: String,
    pub sample: String,
    pub run: usize,
    /// (seconds since the run started, CPU %) at the sampler's interval.
    pub points: Vec<(f64, f32)>,
}

/// What an HTTP target turned out to be when it was checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDialect {
    pub target: String,
    #[serde(flatten)]
    pub dialect: ResolvedDialect,
}

/// One task of an engine run on its worker: what the per-worker Gantt chart draws and what the
/// projection to other core counts is made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpan {
    pub worker: usize,
    /// encode, copy, chunk, join or audio.
    pub kind: String,
    /// The clip or chunk number.
    pub number: u32,
    /// Seconds since the run started (start-up included).
    pub from_s: f64,
    pub to_s: f64,
    /// CPU seconds of its ffmpeg.
    pub cpu_s: f64,
    pub threads: usize,
}

/// The structure of one engine run: its serial start-up, its tasks and its encoders' memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobShape {
    pub target: String,
    pub sample: String,
    pub run: usize,
    pub analysis_s: f64,
    pub tasks: Vec<TaskSpan>,
    /// The largest peak resident memory of one ffmpeg.
    pub encoder_peak_rss_bytes: u64,
}

/// A target that could not run, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub target: String,
    pub reason: String,
}

/// Statistics of one (target, sample) cell, computed from the valid runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    pub target: String,
    pub sample: String,
    pub runs_valid: usize,
    pub runs_invalid: usize,
    pub runs_failed: usize,
    pub wall: Option<Summary>,
    pub time_to_first_clip: Option<Summary>,
    /// `median(baseline wall) / median(this wall)`: above 1 means faster than the baseline.
    pub speedup_vs_baseline: Option<Ratio>,
    pub cpu_mean_percent: Option<f64>,
    pub realtime_factor: Option<f64>,
    pub work_cpu_s: Option<f64>,
    pub sweep_workers: Option<usize>,
}

/// Everything one benchmark produced: what `results.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub clipbench_version: String,
    pub created_at: String,
    /// Seed of the run order and of the bootstrap.
    pub seed: u64,
    pub baseline: Option<String>,
    pub runs_per_cell: usize,
    pub warmup: usize,
    /// The targets as configured (name, kind and settings).
    pub targets: Vec<serde_json::Value>,
    pub samples: Vec<String>,
    /// Each sample's version in the manifest (absent from older files: version 1). A sample
    /// whose bytes change gets a new version, so runs on it are never compared with runs on
    /// the old one unknowingly.
    #[serde(default)]
    pub sample_versions: std::collections::BTreeMap<String, u32>,
    /// How many runs each cell got, when they stopped once the answer was decided (absent:
    /// a fixed count, `runs_per_cell`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping: Option<Stopping>,
    pub machine: Machine,
    pub skipped: Vec<Skipped>,
    /// The dialect detected for each HTTP target that ran.
    #[serde(default)]
    pub dialects: Vec<TargetDialect>,
    /// True when the benchmark was interrupted before its last run.
    pub interrupted: bool,
    /// The shaped link every target got the samples over (absent: loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<crate::link::Link>,
    pub runs: Vec<RunRecord>,
    pub summaries: Vec<CellSummary>,
    pub timelines: Vec<Timeline>,
    /// Engine runs' tasks per worker.
    #[serde(default)]
    pub shapes: Vec<JobShape>,
}

impl Results {
    /// The version of `sample` these results measured (1 when unrecorded).
    pub fn sample_version(&self, sample: &str) -> u32 {
        let name = sample.split_once('@').map_or(sample, |(name, _)| name);
        self.sample_versions.get(name).copied().unwrap_or(1)
    }

    /// Reads a `results.json`, refusing another schema version with a clear message.
    pub fn read(path: &std::path::Path) -> anyhow::Result<Results> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let version = value["schema_version"].as_u64();
        anyhow::ensure!(
            version == Some(u64::from(RESULTS_SCHEMA_VERSION)),
            "{} has schema_version {version:?}; this clipbench reads {RESULTS_SCHEMA_VERSION}",
            path.display(),
        );
        serde_json::from_value(value)
            .with_context(|| format!("{} does not match the results layout", path.display()))
    }
}

/// The rule a comparison's cells stopped by, and where each stopped (in `results.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopping {
    /// The rule in words (`StopRule::describe`, [`crate::stopping`]).
    pub rule: String,
    pub cells: Vec<Stopped>,
}

/// Why a cell stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopped {
    pub target: String,
    pub sample: String,
    /// Runs made (valid or not).
    pub runs: usize,
    /// `decided after N runs` or `at the most runs, N, undecided`.
    pub reason: String,
}
