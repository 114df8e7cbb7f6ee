//! A job's input: its URL checked, and its own download folder; for a queued job, the video
//! downloaded there (through the fetch guard, within the limits) with progress.

use std::path::PathBuf;

use axum::http::StatusCode;
use reqwest::Url;

use crate::admission::Admitted;
use crate::config::ServerConfig;
use crate::request::{JobError, JobRequest};
use clipbench_fetch::{download, redact, Input};

/// Downloads the job's URL into its own folder, reporting `(bytes, total)` to `on_progress`;
/// messages about the downloaded file will name the URL the client sent.
pub async fn fetch_input(
    config: &ServerConfig,
    admitted: &Admitted,
    job: &JobRequest,
    replacements: &mut Vec<(String, String)>,
    on_progress: impl Fn(u64, Option<u64>) + Send + Sync,
) -> Result<(Url, PathBuf), JobError> {
    let url = job_url(job)?;
    let id = admitted.id;
    let shown = redact(&url);
    tracing::info!(job = id, url = %shown, "downloading");
    let download_dir = download_dir(config, admitted);
    let downloaded = download(
        &url,
        &download_dir,
        &config.download,
        &admitted.cancel,
        on_progress,
    )
    .await?;
    tracing::info!(job = id, bytes = downloaded.bytes, "downloaded");
    replacements.insert(0, (downloaded.path.display().to_string(), shown));
    Ok((url, downloaded.path))
}

/// The job's URL: http(s) only.
pub fn job_url(job: &JobRequest) -> Result<Url, JobError> {
    match Input::parse(&job.url)? {
        Input::Url(url) => Ok(url),
        Input::Path(_) => Err(JobError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{:?} is not an http(s) URL", job.url),
        }),
    }
}

/// The job's own download folder (removed when the job ends).
pub fn download_dir(config: &ServerConfig, admitted: &Admitted) -> PathBuf {
    config.downloads().join(format!("job-{}", admitted.id))
}
