//! The job backend, chosen once at start: [`local`] runs jobs here, one at a time;
//! [`workers`] hands their clips to workers through a queue. The handlers see only this
//! trait; both backends build on the same leaf modules (admission, input, names, responses).

pub mod local;
pub mod workers;

use async_trait::async_trait;
use axum::extract::Request;
use axum::response::Response;
use reqwest::Url;
use serde_json::Value;

use crate::admission::Admitted;
use crate::error::ServerError;
use crate::names::title_for;
use crate::progress::ProgressState;
use crate::request::{JobError, JobRequest};
use crate::responses::{job_body, JobSummary};
use crate::store::Store;
use clipbench_engine::extras::Compat;
use clipbench_engine::extras::JobExtras;
use clipbench_engine::probe::MediaInfo;

/// Server paths and the text that replaces them in every answer (see [`crate::responses::scrub`]).
pub type Replacements = Vec<(String, String)>;

/// Where jobs are made.
#[async_trait]
pub trait JobBackend: Send + Sync {
    /// Makes the job's clips and answers in the backend's shape. A download it makes names
    /// its path in `replacements`. A job cleaned up before or while it runs answers
    /// [`cancelled_answer`] (or fails; the caller answers for it then).
    async fn run(
        &self,
        admitted: &Admitted,
        job: &JobRequest,
        replacements: &mut Replacements,
    ) -> Result<Value, JobError>;

    /// A job has ended.
    fn ended(&self, _admitted: &Admitted, _end: JobEnd) {}

    /// What `/progress` shows now.
    async fn progress(&self) -> Result<ProgressState, ServerError>;

    /// After `/cleanup` cancelled every job: waits (bounded) for them to stop, removes what the
    /// backend keeps beside the work folder, and says what it did (`clipbench.queue`).
    async fn clean(&self) -> Result<Cleaned, ServerError>;

    /// `GET /<name>` for a published clip's name (checked to be one).
    async fn clip(&self, name: &str, request: Request) -> Response;

    /// The store published clips live in, swept by retention (queued jobs).
    fn store(&self) -> Option<&Store> {
        None
    }
}

/// How a job ended, as `/progress` may tell it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    /// Its answer was made.
    Answered,
    /// It failed; the message is public (no URL, no server path).
    Failed(String),
}

/// What a backend's cleanup removed.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Files removed from the store.
    pub files_removed: usize,
    /// The queue's share, when there is one.
    pub queue: Option<Value>,
}

/// The answer of a job that a cleanup stopped before it had a report (before it started, or
/// while it downloaded): [`cancelled_answer`] with nothing planned or done.
pub fn cancelled_early(compat: Compat, admitted: &Admitted, job: &JobRequest) -> Value {
    let extras = JobExtras::cancelled(0, Some(0));
    cancelled_answer(compat, admitted, job, None, extras)
}

/// The answer of a job that a cleanup cancelled: success, no clips (as the optimized backend),
/// and under `clipbench` how far the engine got before it was stopped.
pub fn cancelled_answer(
    compat: Compat,
    admitted: &Admitted,
    job: &JobRequest,
    media: Option<&MediaInfo>,
    extras: JobExtras,
) -> Value {
    let title = Url::parse(&job.url).map_or("video".into(), |u| title_for(&u));
    job_body(&JobSummary {
        compat,
        title: &title,
        media: media.unwrap_or(&MediaInfo::default()),
        clips: &[],
        total_time: admitted.received.elapsed().as_secs_f64(),
        extra: extras,
    })
}
