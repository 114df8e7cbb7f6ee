//! `POST /generate_shorts[_optimized]` and `POST /cleanup`: admission into the bounded queue,
//! one job at a time, and the job itself (download → analyze → process).

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::responses::{error, success_body};
use super::{AppState, ProgressState};
use crate::error::EngineError;
use crate::execute::CancelToken;
use crate::fetch::{download, Input};
use crate::run::RunOptions;

/// A parsed job request.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub url: String,
    /// A folder name under `outputs/`, when the client chose one.
    pub output_dir: Option<PathBuf>,
}

/// Parses the JSON body; the error is the message for a 400 answer.
pub fn parse_request(body: &[u8]) -> Result<JobRequest, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("URL is required".into());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("request body is not valid JSON ({e}): send {{\"url\": \"...\"}}"))?;
    let object = value
        .as_object()
        .ok_or("request body must be a JSON object: {\"url\": \"...\"}")?;
    let url = match object.get("url") {
        None | Some(Value::Null) => return Err("URL is required".into()),
        Some(Value::String(s)) if s.trim().is_empty() => return Err("URL is required".into()),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err("url must be a string".into()),
    };
    let output_dir = match object.get("output_dir") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(safe_folder_name(s)?),
        Some(_) => return Err("output_dir must be a string".into()),
    };
    Ok(JobRequest { url, output_dir })
}

/// An `output_dir` is a relative folder inside the server's `outputs/` (no `..`, no root).
fn safe_folder_name(dir: &str) -> Result<PathBuf, String> {
    let path = Path::new(dir);
    let ok = path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(path.to_owned())
    } else {
        Err(format!(
            "output_dir {dir:?} must be a relative folder name inside the server's outputs folder"
        ))
    }
}

/// A job's failure: its HTTP status and message.
#[derive(Debug)]
pub struct JobError {
    pub status: StatusCode,
    pub message: String,
}

impl From<EngineError> for JobError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::UnsupportedScheme(_) | EngineError::PageNeedsYtDlp { .. } => {
                StatusCode::BAD_REQUEST
            }
            EngineError::Download { .. } => StatusCode::BAD_GATEWAY,
            EngineError::FileMissing(_)
            | EngineError::NotMedia { .. }
            | EngineError::NoVideoStream(_)
            | EngineError::ZeroDuration(_)
            | EngineError::InvalidOption(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::ToolMissing { .. } | EngineError::Io { .. } | EngineError::Cancelled => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        JobError {
            status,
            message: e.to_string(),
        }
    }
}

/// `POST /generate_shorts` and `POST /generate_shorts_optimized`.
pub async fn generate_shorts(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let limit = state.config.max_body_bytes;
    let body = match axum::body::to_bytes(request.into_body(), limit).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is over {limit} bytes"),
            )
        }
    };
    let job = match parse_request(&body) {
        Ok(job) => job,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let waiting = state.jobs_in_system.fetch_add(1, Ordering::SeqCst);
    if waiting > state.config.max_queue {
        state.jobs_in_system.fetch_sub(1, Ordering::SeqCst);
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} jobs are already running or queued: retry later",
                waiting
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
        return response;
    }
    let id = state.next_job.fetch_add(1, Ordering::SeqCst);
    // The job runs in its own task: a client that disconnects does not stop it.
    let task_state = state.clone();
    let handle = tokio::spawn(async move {
        let result = {
            let _slot = task_state.job_slot.lock().await;
            run_job(&task_state, id, job).await
        };
        task_state.jobs_in_system.fetch_sub(1, Ordering::SeqCst);
        result
    });
    match handle.await {
        Ok(Ok(body)) => (StatusCode::OK, Json(body)).into_response(),
        Ok(Err(e)) => error(e.status, e.message),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("job {id} crashed: {e}"),
        ),
    }
}

fn set_progress(state: &AppState, update: impl FnOnce(&mut ProgressState)) {
    update(&mut state.progress.lock().unwrap_or_else(|e| e.into_inner()));
}

async fn run_job(state: &Arc<AppState>, id: u64, job: JobRequest) -> Result<Value, JobError> {
    set_progress(state, ProgressState::start);
    let result = process(state, id, &job).await;
    match &result {
        Ok(_) => {
            tracing::info!(job = id, "complete");
            set_progress(state, |p| p.set("complete", "Processing complete", 100.0));
        }
        Err(e) => {
            tracing::warn!(job = id, status = %e.status, "failed: {}", e.message);
            set_progress(state, |p| p.fail(e.message.clone()));
        }
    }
    result
}

async fn process(state: &Arc<AppState>, id: u64, job: &JobRequest) -> Result<Value, JobError> {
    let config = &state.config;
    let url = match Input::parse(&job.url)? {
        Input::Url(url) => url,
        Input::Path(_) => {
            return Err(JobError {
                status: StatusCode::BAD_REQUEST,
                message: format!("{:?} is not an http(s) URL", job.url),
            })
        }
    };
    tracing::info!(job = id, %url, "downloading");
    set_progress(state, |p| p.set("downloading", "Downloading video", 0.0));
    let download_dir = config.downloads().join(format!("job-{id}"));
    let progress_state = state.clone();
    let downloaded = download(
        &url,
        &download_dir,
        &config.download,
        move |bytes, total| set_progress(&progress_state, |p| p.downloading(bytes, total)),
    )
    .await?;
    tracing::info!(job = id, bytes = downloaded.bytes, "analyzing");
    set_progress(state, |p| p.set("analyzing", "Analyzing video", 10.0));
    let folder = job
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("job-{id}")));
    let mut options = RunOptions::new(config.outputs().join(&folder));
    options.strategy = config.strategy;
    options.profile = config.profile;
    options.plan = config.plan;
    options.reuse_overlaps = config.reuse_overlaps;
    options.tools = config.tools.clone();
    let event_state = state.clone();
    let input = downloaded.path.clone();
    let report = tokio::task::spawn_blocking(move || {
        crate::run::run(&input, &options, &CancelToken::new(), &|event| {
            set_progress(&event_state, |p| p.on_event(&event.event))
        })
    })
    .await
    .map_err(|e| JobError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("the engine crashed: {e}"),
    })??;
    if report.metrics.clips_done == 0 {
        let reason = report
            .failures
            .first()
            .map_or("no clip was planned".to_owned(), |f| f.reason.clone());
        return Err(JobError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("no clip could be made: {reason}"),
        });
    }
    Ok(success_body(&report, &config.outputs(), &url))
}

/// `POST /cleanup`: removes downloads and outputs and resets progress; 409 while a job runs.
pub async fn cleanup(State(state): State<Arc<AppState>>) -> Response {
    let Ok(_slot) = state.job_slot.try_lock() else {
        return busy();
    };
    if state.jobs_in_system.load(Ordering::SeqCst) > 0 {
        return busy();
    }
    let mut removed = 0usize;
    for dir in [state.config.downloads(), state.config.outputs()] {
        removed += count_files(&dir);
        let _ = tokio::fs::remove_dir_all(&dir).await;
        if let Err(e) = tokio::fs::create_dir_all(&dir).await {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot recreate {}: {e}", dir.display()),
            );
        }
    }
    set_progress(&state, |p| *p = ProgressState::idle());
    tracing::info!(removed, "cleanup");
    Json(json!({"success": true, "message": format!("Removed {removed} files")})).into_response()
}

fn busy() -> Response {
    error(
        StatusCode::CONFLICT,
        "a job is running or queued: clean up after it ends".to_owned(),
    )
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_strictly() {
        assert_eq!(
            parse_request(br#"{"url": " http://h/v.mp4 ", "output_dir": "mine"}"#),
            Ok(JobRequest {
                url: "http://h/v.mp4".into(),
                output_dir: Some("mine".into())
            })
        );
        assert_eq!(parse_request(b""), Err("URL is required".into()));
        assert_eq!(parse_request(b"{}"), Err("URL is required".into()));
        assert_eq!(
            parse_request(br#"{"url": ""}"#),
            Err("URL is required".into())
        );
        assert_eq!(
            parse_request(br#"{"url": 5}"#),
            Err("url must be a string".into())
        );
        assert!(parse_request(b"{not json")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse_request(b"[1]").unwrap_err().contains("JSON object"));
        for bad in ["../x", "/etc", "a/../../b"] {
            let body = format!(r#"{{"url": "http://h/v.mp4", "output_dir": "{bad}"}}"#);
            assert!(parse_request(body.as_bytes())
                .unwrap_err()
                .contains("relative folder"));
        }
    }
}
