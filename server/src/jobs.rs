//! `POST /generate_shorts[_optimized]` and `POST /cleanup`: a job from its request to its
//! answer — parsed ([`crate::request`]), admitted ([`crate::admission`]), made by the job
//! backend ([`crate::backend`]) — in the backend's shape with no server path in it.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use reqwest::Url;
use serde_json::{json, Value};

use crate::admission::{Admitted, JobPlace};
use crate::app::AppState;
use crate::backend::{cancelled_early, JobEnd};
use crate::request::{parse_request, JobError, JobRequest};
use crate::responses::{error, scrub, scrub_text, server_error};
use clipbench_fetch::redact;

/// `POST /generate_shorts` and `POST /generate_shorts_optimized`.
pub async fn generate_shorts(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // The limit layers bound the body's size and time; a body that breaks them fails here.
    let body = match axum::body::to_bytes(request.into_body(), usize::MAX).await {
        Ok(body) => body,
        Err(e) => return body_error(&e, state.config.limits.max_body_bytes),
    };
    let job = match parse_request(&body) {
        Ok(job) => job,
        Err(refused) => return error(StatusCode::BAD_REQUEST, refused.to_string()),
    };
    let place = match JobPlace::take(&state.admission, job.output_dir.as_deref()) {
        Ok(place) => place,
        Err(refusal) => return refusal.into_response(),
    };
    let (id, admitted, watched) = (place.id, place.admitted(), place.admitted());
    // The job runs in its own task: a client that disconnects does not stop it. The place is
    // freed when the task ends, also by a panic.
    let task_state = state.clone();
    let handle = tokio::spawn(async move {
        let _place = place;
        run_job(&task_state, &admitted, job).await
    });
    match handle.await {
        Ok(Ok(body)) => (StatusCode::OK, Json(body)).into_response(),
        Ok(Err(e)) => error(e.status, e.message),
        Err(e) => {
            tracing::error!(job = id, "the job failed unexpectedly: {e}");
            let failed = JobEnd::Failed("the job failed unexpectedly".into());
            state.backend.ended(&watched, failed);
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("job {id} failed unexpectedly (an engine bug): please report it"),
            )
        }
    }
}

/// The answer to a request body that broke a limit: too large (413) or too slow (408).
fn body_error(e: &axum::Error, limit: usize) -> Response {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is over {limit} bytes"),
            );
        }
        source = cause.source();
    }
    error(
        StatusCode::REQUEST_TIMEOUT,
        "the request body did not arrive in time".into(),
    )
}

/// A job through the backend, then what every job's end needs: its download removed (and its
/// folder when it failed), server paths scrubbed from the answer, the backend told.
async fn run_job(
    state: &Arc<AppState>,
    admitted: &Admitted,
    job: JobRequest,
) -> Result<Value, JobError> {
    let id = admitted.id;
    let config = &state.config;
    let shown_url = Url::parse(&job.url).map_or_else(|_| job.url.clone(), |u| redact(&u));
    let mut replacements = vec![(config.workdir.display().to_string(), String::new())];
    if let Ok(real) = config.workdir.canonicalize() {
        replacements.insert(0, (real.display().to_string(), String::new()));
    }
    let result = if admitted.cleaned_up() {
        tracing::info!(job = id, "cancelled by cleanup before it started");
        Ok(cancelled_early(config.compat, admitted, &job))
    } else {
        state.backend.run(admitted, &job, &mut replacements).await
    };
    // A job stopped by a cleanup (or a shutdown) before it had a report, e.g. while it
    // downloaded, answers as one stopped later: success with no clips.
    let result = match result {
        Err(_) if admitted.cleaned_up() => {
            tracing::info!(job = id, "cancelled by cleanup");
            Ok(cancelled_early(config.compat, admitted, &job))
        }
        other => other,
    };
    // The download is not needed once the job ends, whatever its end.
    let download = config.downloads().join(format!("job-{id}"));
    let _ = tokio::fs::remove_dir_all(download).await;
    if let (Err(_), Some(folder)) = (&result, &admitted.folder) {
        let _ = tokio::fs::remove_dir_all(config.outputs().join(folder)).await;
    }
    match result {
        Ok(mut body) => {
            scrub(&mut body, &replacements);
            tracing::info!(job = id, "complete");
            state.backend.ended(admitted, JobEnd::Answered);
            Ok(body)
        }
        Err(mut e) => {
            e.message = scrub_text(&e.message, &replacements);
            tracing::warn!(job = id, status = %e.status, "failed: {}", e.message);
            // `/progress` is everyone's: it says what failed, not which URL.
            let public = e.message.replace(&shown_url, "the video URL");
            state.backend.ended(admitted, JobEnd::Failed(public));
            Err(e)
        }
    }
}

/// `POST /cleanup`: cancels the running job and the queued ones (they answer with no clips, as
/// the optimized backend's job does), then removes downloads, outputs and what the backend
/// keeps, and resets progress.
pub async fn cleanup(State(state): State<Arc<AppState>>) -> Response {
    state.admission.cancel_all();
    let cleaned = match state.backend.clean().await {
        Ok(cleaned) => cleaned,
        Err(e) => return server_error(e),
    };
    let mut removed = cleaned.files_removed;
    for dir in [state.config.downloads(), state.config.outputs()] {
        removed += count_files(&dir);
        let _ = tokio::fs::remove_dir_all(&dir).await;
        if let Err(e) = tokio::fs::create_dir_all(&dir).await {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot recreate the server's work folders: {e}"),
            );
        }
    }
    tracing::info!(removed, "cleanup");
    Json(json!({
        "message": "All data cleaned up successfully.",
        "success": true,
        "clipbench": {"files_removed": removed, "queue": cleaned.queue},
    }))
    .into_response()
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
