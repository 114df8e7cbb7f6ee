//! Scale-out on a job queue: a job's clips become [`ClipTask`]s on an apalis queue in Redis,
//! `clipbench-engine worker` processes on any machine run them with the local executor, and the
//! job's state (phase, results, failures) lives in the same Redis, so any server can answer for
//! any job. Files go through a [`crate::store::Store`].
//!
//! Redis keys besides apalis's own (`clipbench:*` from [`QUEUE_NAME`]):
//! `cb:job:ID` (hash: phase, detail, error, tasks, clips, clips_done, created_ms, ended_ms),
//! `cb:job:ID:results` (hash: task index → [`TaskResult`], written once),
//! `cb:job:ID:deliveries` (hash: task index → times handed to a worker), `cb:jobs` (set of
//! unfinished jobs), `cb:latest` (the newest job, for `/progress`), `cb:next` (id counter).

pub mod records;
mod source;
pub mod worker;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ServerError};
use clipbench_engine::extras::TaskTiming;
use clipbench_engine::plan::Clip;
use clipbench_engine::probe::{CutPoint, MediaInfo};
use clipbench_engine::report::FailureSummary;
use clipbench_engine::run::{Setup, DEFAULT_STALL_TIMEOUT};

/// The apalis queue the tasks go on.
pub const QUEUE_NAME: &str = "clipbench";

/// Clips per task with `--reuse-overlaps`: a group shares its chunks, so a moment is encoded
/// once within it (twice only at a group's edges).
pub const REUSE_GROUP: usize = 4;

/// One unit of queued work: consecutive clips of one job, with all a worker needs to make them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipTask {
    pub job: String,
    /// Position of the task in its job, from 0.
    pub index: usize,
    /// Store key of the source video.
    pub source: String,
    /// The source as the server probed it (its path is the server's; the worker's copy is used).
    pub media: MediaInfo,
    /// `media.cut_points`, which reports leave out.
    pub cut_points: Option<Vec<CutPoint>>,
    pub clips: Vec<Clip>,
    /// Store key of each clip, in the order of `clips`.
    pub keys: Vec<String>,
    /// The job's setup: its profile and `reuse_overlaps` decide how the clips are made (the
    /// worker's own slots and threads decide how many at once). Flat in the task's JSON, as
    /// `profile` and `reuse_overlaps` were before, so workers read tasks of either version.
    #[serde(flatten)]
    pub setup: Setup,
    /// Longest one attempt of one clip may take, seconds.
    pub timeout_s: f64,
    /// An ffmpeg that reports no progress for this long is killed, seconds (tasks from before
    /// it was sent: the engine's default).
    #[serde(default = "default_stall_timeout_s")]
    pub stall_timeout_s: f64,
    /// Seconds from its receipt after which the task's clips are cancelled, children killed:
    /// what was left of its job's deadline when it was queued (tasks from before it was sent:
    /// as long as a task may take).
    #[serde(default = "longest_task_s")]
    pub deadline_s: f64,
    /// Executor retries per clip.
    pub retries: u32,
}

/// Why a task from the queue is not run: the queue is shared, so a task is checked as any
/// other input before it names a file or a duration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidTask {
    #[error("its job id is not 1 to 64 letters, digits, '-' or '_'")]
    JobId,
    #[error("its source key is not sources/<name>")]
    Source,
    #[error("it has {clips} clips and {keys} keys: one key per clip, 1 to {MAX_TASK_CLIPS} clips")]
    Clips { clips: usize, keys: usize },
    #[error("a clip key is not clips/<name>.mp4")]
    Key,
    #[error("a clip's times are not within the video")]
    Times,
    #[error(
        "its timeout is not between 1 s and {MAX_TASK_TIMEOUT_S} s (its stall timeout: 0.1 s)"
    )]
    Timeout,
    #[error("its retries are over {MAX_TASK_RETRIES}")]
    Retries,
}

fn longest_task_s() -> f64 {
    MAX_TASK_TIMEOUT_S
}

fn default_stall_timeout_s() -> f64 {
    DEFAULT_STALL_TIMEOUT.as_secs_f64()
}

/// Most clips in one task.
pub const MAX_TASK_CLIPS: usize = 100;
/// Longest timeout a task may ask for, seconds (a day).
pub const MAX_TASK_TIMEOUT_S: f64 = 86_400.0;
/// Most retries a task may ask for.
pub const MAX_TASK_RETRIES: u32 = 5;

/// Whether `name` is one safe file-name part: letters, digits, `-`, `_`, `.`, not starting
/// with a dot, at most 255 bytes.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether a job id has the shape servers give it.
pub fn is_job_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

impl ClipTask {
    /// Checks what a worker will turn into paths, keys and durations.
    pub fn validate(&self) -> std::result::Result<(), InvalidTask> {
        if !is_job_id(&self.job) {
            return Err(InvalidTask::JobId);
        }
        if !self
            .source
            .strip_prefix("sources/")
            .is_some_and(is_safe_name)
        {
            return Err(InvalidTask::Source);
        }
        if self.clips.is_empty()
            || self.clips.len() > MAX_TASK_CLIPS
            || self.keys.len() != self.clips.len()
        {
            return Err(InvalidTask::Clips {
                clips: self.clips.len(),
                keys: self.keys.len(),
            });
        }
        let key_ok = |k: &String| {
            k.strip_prefix("clips/")
                .is_some_and(|name| is_safe_name(name) && name.ends_with(".mp4"))
        };
        if !self.keys.iter().all(key_ok) {
            return Err(InvalidTask::Key);
        }
        let duration = self.media.duration;
        let times_ok = duration.is_finite()
            && duration > 0.0
            && self.clips.iter().all(|c| {
                c.start.is_finite()
                    && c.end.is_finite()
                    && c.start >= 0.0
                    && c.start < c.end
                    && c.end <= duration + 1.0
            });
        if !times_ok {
            return Err(InvalidTask::Times);
        }
        let within =
            |s: f64, least: f64| s.is_finite() && (least..=MAX_TASK_TIMEOUT_S).contains(&s);
        if !within(self.timeout_s, 1.0)
            || !within(self.stall_timeout_s, 0.1)
            || !within(self.deadline_s, 0.1)
        {
            return Err(InvalidTask::Timeout);
        }
        if self.retries > MAX_TASK_RETRIES {
            return Err(InvalidTask::Retries);
        }
        Ok(())
    }
}

/// A clip a worker wrote to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredClip {
    pub number: u32,
    pub key: String,
    pub bytes: u64,
}

/// What became of one task: written once per task, by the first worker to finish it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Who ran it and where its time went (outside `execute_s` is the queue's share).
    #[serde(flatten)]
    pub timing: TaskTiming,
    pub clips: Vec<StoredClip>,
    pub failures: Vec<FailureSummary>,
}

/// Splits a job's clips into tasks: one clip each, or groups of [`REUSE_GROUP`] consecutive
/// clips with `--reuse-overlaps` (which reuses the encode of a shared moment only within a task).
pub fn split(clips: &[Clip], reuse_overlaps: bool) -> Vec<Vec<Clip>> {
    let size = if reuse_overlaps { REUSE_GROUP } else { 1 };
    clips.chunks(size).map(<[Clip]>::to_vec).collect()
}

/// The queue's connection settings.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// A worker's heartbeat; its tasks are handed to another worker once it has missed
    /// [`QueueConfig::missed_heartbeats`] of them (the visibility timeout).
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
    /// A job whose tasks no live worker has taken for this long fails (503) and its pending
    /// tasks are removed, rather than waiting for a worker forever.
    pub no_worker_grace: Duration,
}

impl QueueConfig {
    /// Heartbeat every second, tasks of a worker silent for 5 s delivered again, a job with no
    /// live worker for 60 s failed. An idle worker
    /// looks for new tasks at each heartbeat (apalis), so the heartbeat also bounds how long a
    /// queued task waits for an idle worker.
    pub fn new(url: impl Into<String>) -> Self {
        QueueConfig {
            url: url.into(),
            heartbeat: Duration::from_secs(1),
            missed_heartbeats: 5,
            no_worker_grace: Duration::from_secs(60),
        }
    }

    /// How long a dead worker's tasks wait before they are delivered again.
    pub fn visibility_timeout(&self) -> Duration {
        self.heartbeat * self.missed_heartbeats as u32
    }

    /// apalis's settings for the clip queue: one task fetched at a time, so tasks spread over
    /// every worker instead of piling up at the first.
    pub fn apalis(&self) -> apalis_redis::Config {
        apalis_redis::Config::default()
            .queue(QUEUE_NAME)
            .batch_size(1)
            .heartbeat_interval(self.heartbeat)
            .missed_heartbeats(self.missed_heartbeats)
    }

    /// Connects, failing fast (2 s) when Redis does not answer; the connection comes back by
    /// itself once Redis does.
    pub async fn connect(&self) -> Result<ConnectionManager> {
        if self.url.starts_with("rediss://") {
            crate::tls::use_ring_for_tls();
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|e| self.error(e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(1);
        client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| self.error(e))
    }

    /// A Redis error as the engine's queue error, naming the queue (without its password).
    pub fn error(&self, e: redis::RedisError) -> ServerError {
        ServerError::Queue {
            url: self.shown_url(),
            detail: e.to_string().replace(&self.url, &self.shown_url()),
        }
    }

    /// The queue's URL as messages and logs show it: the password replaced by `***`.
    pub fn shown_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) => "the queue (an unreadable URL)".to_owned(),
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
