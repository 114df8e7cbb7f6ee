//! The `clipbench` objects our server adds to the backends' answers (`/health`, `/progress`
//! and a job's answer), beside the fields the backends define: written by `clipbench-server`,
//! read by the harness (`clipbench`). One type per object, so both sides agree on every key.

use serde::{Deserialize, Serialize};

use crate::allocate::Strategy;
use crate::encode::Profile;
use crate::plan::Policy;
use crate::report::{FailureSummary, RunReport};

/// The name our server gives itself under `/health`'s `clipbench.engine`.
pub const ENGINE_NAME: &str = "clipbench-engine";

/// The backend whose dialect our server speaks where the two real ones disagree
/// (`contract/peers/`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// The original backend (`current_clip` = clip started, errors in `error`).
    Original,
    /// The optimized backend (`current_clip` = clips finished, errors in `message`).
    #[default]
    Optimized,
}

impl Compat {
    /// The dialect's word, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Compat::Original => "original",
            Compat::Optimized => "optimized",
        }
    }
}

impl std::str::FromStr for Compat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "original" => Ok(Compat::Original),
            "optimized" => Ok(Compat::Optimized),
            other => Err(format!(
                "unknown compat {other:?}: use original or optimized"
            )),
        }
    }
}

/// Where a job is: `/progress`'s `clipbench.phase`, and a queued job's phase in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Idle,
    Downloading,
    Analyzing,
    Processing,
    Complete,
    Error,
    /// Stopped by `/cleanup` (queued jobs; `/progress` shows it as idle).
    Cancelled,
}

impl Phase {
    const ALL: [Phase; 7] = [
        Phase::Idle,
        Phase::Downloading,
        Phase::Analyzing,
        Phase::Processing,
        Phase::Complete,
        Phase::Error,
        Phase::Cancelled,
    ];

    /// The phase's word, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Downloading => "downloading",
            Phase::Analyzing => "analyzing",
            Phase::Processing => "processing",
            Phase::Complete => "complete",
            Phase::Error => "error",
            Phase::Cancelled => "cancelled",
        }
    }

    /// The phase named by `word`, if any.
    pub fn parse(word: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == word)
    }

    /// Whether the job has ended.
    pub fn ended(self) -> bool {
        matches!(self, Phase::Complete | Phase::Error | Phase::Cancelled)
    }
}

/// `GET /health`'s `clipbench` object: who answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthExtras {
    /// Always [`ENGINE_NAME`].
    pub engine: String,
    /// The backend whose dialect is spoken.
    pub compat: Compat,
    /// Jobs running or waiting.
    pub jobs: usize,
}

/// `GET /progress`'s `clipbench` object: the exact figures behind the dialect's rounded ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressExtras {
    pub phase: Phase,
    /// What is happening, in our words.
    pub detail: String,
    /// 0–100, unrounded.
    pub progress: f64,
    pub clips_started: usize,
    pub clips_finished: usize,
    pub total_clips: usize,
    pub workers: usize,
    pub elapsed_s: f64,
    pub eta_s: f64,
    pub error: Option<String>,
}

/// A job answer's `clipbench` object. Fields a job did not get to are absent: a cancelled job
/// has `cancelled_by_cleanup`, a local job the run's measurements, a queued one `queue`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobExtras {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// True when `/cleanup` (or a shutdown) stopped the job: it answers with no clips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by_cleanup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_overlaps: Option<bool>,
    pub clips_planned: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clips_done: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clips_failed: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailureSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clips_fallback: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The run's measurements (local jobs).
    #[serde(default, skip_serializing_if = "Option::is_none", flatten)]
    pub run: Option<RunFigures>,
    /// How the job went through the queue (queued jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueFigures>,
}

/// A local run's measurements, as DESIGN.md defines them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    pub analysis_s: f64,
    pub encode_s: f64,
    pub time_to_first_clip_s: Option<f64>,
    pub realtime_factor: f64,
    pub work_cpu_s: f64,
    pub efficiency: f64,
    pub utilisation: f64,
    pub source: SourceFigures,
}

/// What the source turned out to be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceFigures {
    pub width: u32,
    pub height: u32,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub size_bytes: u64,
    pub bit_rate: Option<u64>,
}

/// A queued job's path through the queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueFigures {
    /// The job's id in the queue.
    pub job: String,
    pub tasks: usize,
    /// The workers that ran its tasks.
    pub workers: Vec<String>,
    /// When the tasks were queued, ms since the epoch.
    pub queued_ms: u64,
    /// Download end to tasks queued (analysis and the source's upload), seconds.
    pub analysis_s: f64,
    pub task_timings: Vec<TaskTiming>,
}

/// One queued task's timings, as its worker records them and the job's answer lists them:
/// outside `execute_s` is the queue's share.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskTiming {
    /// The task's position in its job.
    #[serde(default)]
    pub index: usize,
    pub worker: String,
    /// Milliseconds since the epoch when the worker received the task and when it finished.
    pub received_ms: u64,
    pub finished_ms: u64,
    /// Seconds the worker spent fetching the source (0 when cached), running the executor,
    /// uploading the clips, in all.
    pub fetch_s: f64,
    /// Bytes of the source the worker read from the store for the task.
    #[serde(default)]
    pub source_bytes: u64,
    pub execute_s: f64,
    pub upload_s: f64,
    pub wall_s: f64,
}

impl JobExtras {
    /// The extras of a finished local run.
    pub fn of_run(report: &RunReport) -> JobExtras {
        let m = &report.metrics;
        let media = &report.input;
        JobExtras {
            engine_version: Some(env!("CARGO_PKG_VERSION").into()),
            strategy: Some(report.strategy),
            workers: Some(report.allocation.workers),
            profile: Some(report.profile),
            policy: Some(report.plan_options.policy),
            reuse_overlaps: Some(report.reuse_overlaps),
            clips_planned: report.plan.len(),
            clips_failed: Some(m.clips_failed),
            failures: report.failures.clone(),
            clips_fallback: Some(m.clips_fallback),
            notes: report.notes.clone(),
            run: Some(RunFigures {
                analysis_s: report.analysis_s,
                encode_s: m.wall_s,
                time_to_first_clip_s: m.time_to_first_clip_s,
                realtime_factor: m.realtime_factor,
                work_cpu_s: m.work_cpu_s,
                efficiency: m.efficiency,
                utilisation: m.utilisation,
                source: SourceFigures {
                    width: media.width,
                    height: media.height,
                    video_codec: media.video_codec.clone(),
                    audio_codec: media.audio_codec.clone(),
                    size_bytes: media.size_bytes,
                    bit_rate: media.bit_rate,
                },
            }),
            ..JobExtras::default()
        }
    }

    /// The extras of a job that `/cleanup` stopped, with how far it got.
    pub fn cancelled(clips_planned: usize, clips_done: Option<usize>) -> JobExtras {
        JobExtras {
            cancelled_by_cleanup: Some(true),
            clips_planned,
            clips_done,
            ..JobExtras::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_back_from_their_words() {
        for phase in Phase::ALL {
            assert_eq!(Phase::parse(phase.as_str()), Some(phase));
            let json = serde_json::to_value(phase).unwrap();
            assert_eq!(json, phase.as_str());
        }
        assert_eq!(Phase::parse("starting"), None);
    }

    #[test]
    fn a_cancelled_job_says_only_what_it_knows() {
        let json = serde_json::to_value(JobExtras::cancelled(3, None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"cancelled_by_cleanup": true, "clips_planned": 3})
        );
        let back: JobExtras = serde_json::from_value(json).unwrap();
        assert_eq!(back, JobExtras::cancelled(3, None));
    }
}
