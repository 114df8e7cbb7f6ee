//! `POST /generate_shorts[_optimized]` and `POST /cleanup`: a job from its request to its
//! answer — admitted ([`crate::admission`]), one at a time (or on the queue, [`crate::queued`]),
//! downloaded ([`crate::input`]), made by the engine, published under its names
//! ([`crate::names`]) — in the backend's shape with no server path in it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use reqwest::Url;

use crate::admission::{cancel_all, Admitted, JobPlace};
use crate::compat::Compat;
use crate::fetch::redact;
use crate::input::fetch_input;
use crate::names::{clip_filename, title_for};
use crate::progress::ProgressState;
use crate::progress::{self, Phase};
use crate::request::{parse_request, JobError, JobRequest};
use crate::responses::{
    engine_error, error, job_body, run_extras, scrub, scrub_text, JobSummary, Published,
};
use crate::state::AppState;
use clipbench_engine::error::EngineError;
use clipbench_engine::execute::CancelToken;
use clipbench_engine::probe::MediaInfo;
use clipbench_engine::report::RunReport;

/// `POST /generate_shorts` and `POST /generate_shorts_optimized`.
pub async fn generate_shorts(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // The limit layers bound the body's size and time; a body that breaks them fails here.
    let body = match axum::body::to_bytes(request.into_body(), usize::MAX).await {
        Ok(body) => body,
        Err(e) => return body_error(&e, state.config.limits.max_body_bytes),
    };
    let job = match parse_request(&body) {
        Ok(job) => job,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let place = match JobPlace::take(&state, job.output_dir.as_deref()) {
        Ok(place) => place,
        Err(refusal) => return refusal.into_response(),
    };
    let (id, admitted) = (place.id, place.admitted());
    // The job runs in its own task: a client that disconnects does not stop it. The place is
    // freed when the task ends, also by a panic.
    let task_state = state.clone();
    let handle = tokio::spawn(async move {
        let _place = place;
        if task_state.queue.is_some() {
            // Queued jobs run side by side: the workers share out their tasks.
            run_job(&task_state, &admitted, job).await
        } else {
            let _slot = task_state.job_slot.lock().await;
            run_job(&task_state, &admitted, job).await
        }
    });
    match handle.await {
        Ok(Ok(body)) => (StatusCode::OK, Json(body)).into_response(),
        Ok(Err(e)) => error(e.status, e.message),
        Err(e) => {
            tracing::error!(job = id, "the job failed unexpectedly: {e}");
            progress::update(&state, |p| p.fail("the job failed unexpectedly".into()));
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

async fn run_job(
    state: &Arc<AppState>,
    admitted: &Admitted,
    job: JobRequest,
) -> Result<Value, JobError> {
    let id = admitted.id;
    if admitted.cleaned_up(state) {
        tracing::info!(job = id, "cancelled by cleanup before it started");
        return Ok(cleaned_body(state, admitted, &job, None));
    }
    progress::update(state, ProgressState::start);
    let shown_url = Url::parse(&job.url).map_or_else(|_| job.url.clone(), |u| redact(&u));
    let mut replacements = vec![(state.config.workdir.display().to_string(), String::new())];
    if let Ok(real) = state.config.workdir.canonicalize() {
        replacements.insert(0, (real.display().to_string(), String::new()));
    }
    let result = match &state.queue {
        Some(queue) => {
            crate::queued::run_job(state, queue, admitted, &job, &mut replacements).await
        }
        None => process(state, admitted, &job, &mut replacements).await,
    };
    // A job stopped by a cleanup (or a shutdown) before it had a report, e.g. while it
    // downloaded, answers as one stopped later: success with no clips.
    let result = match result {
        Err(_) if admitted.cleaned_up(state) => {
            tracing::info!(job = id, "cancelled by cleanup");
            Ok(cleaned_body(state, admitted, &job, None))
        }
        other => other,
    };
    // The download is not needed once the job ends, whatever its end.
    let download = state.config.downloads().join(format!("job-{id}"));
    let _ = tokio::fs::remove_dir_all(download).await;
    if let (Err(_), Some(folder)) = (&result, &admitted.folder) {
        let _ = tokio::fs::remove_dir_all(state.config.outputs().join(folder)).await;
    }
    let result = match result {
        Ok(mut body) => {
            scrub(&mut body, &replacements);
            Ok(body)
        }
        Err(mut e) => {
            e.message = scrub_text(&e.message, &replacements);
            Err(e)
        }
    };
    match &result {
        Ok(_) => {
            tracing::info!(job = id, "complete");
            progress::update(state, |p| {
                p.set(Phase::Complete, "Processing complete", 100.0)
            });
        }
        Err(e) => {
            tracing::warn!(job = id, status = %e.status, "failed: {}", e.message);
            // `/progress` is everyone's: it says what failed, not which URL.
            let public = e.message.replace(&shown_url, "the video URL");
            progress::update(state, |p| p.fail(public));
        }
    }
    result
}

/// The answer of a job that a cleanup cancelled: success, no clips (as the optimized backend),
/// and under `clipbench` how far the engine got before it was stopped.
fn cleaned_body(
    state: &AppState,
    admitted: &Admitted,
    job: &JobRequest,
    report: Option<&RunReport>,
) -> Value {
    let title = Url::parse(&job.url).map_or("video".into(), |u| title_for(&u));
    job_body(&JobSummary {
        compat: state.config.compat,
        title: &title,
        media: report.map_or(&MediaInfo::default(), |r| &r.input),
        clips: &[],
        total_time: admitted.received.elapsed().as_secs_f64(),
        extra: json!({
            "cancelled_by_cleanup": true,
            "clips_planned": report.map_or(0, |r| r.plan.len()),
            "clips_done": report.map_or(0, |r| r.metrics.clips_done),
        }),
    })
}

/// The job itself: download → analyze and encode (the engine) → publish the clips.
async fn process(
    state: &Arc<AppState>,
    admitted: &Admitted,
    job: &JobRequest,
    replacements: &mut Vec<(String, String)>,
) -> Result<Value, JobError> {
    let (config, id) = (&state.config, admitted.id);
    let (url, input) = fetch_input(state, admitted, job, replacements).await?;
    tracing::info!(job = id, "analyzing");
    progress::update(state, |p| p.set(Phase::Analyzing, "Analyzing video", 10.0));
    let folder = admitted.folder.clone().unwrap_or_default();
    let report = run_engine(
        state,
        input,
        config.outputs().join(&folder),
        &admitted.cancel,
    )
    .await;
    if admitted.cleaned_up(state) {
        tracing::info!(job = id, "cancelled by cleanup");
        return Ok(cleaned_body(state, admitted, job, report.as_ref().ok()));
    }
    let report = report?;
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
    let title = title_for(&url);
    let tag = folder.to_string_lossy().replace(['/', '\\'], "-");
    let stem = format!("{title}_{tag}");
    let clips = publish(&report, &config.outputs(), &stem, config.compat)?;
    Ok(job_body(&JobSummary {
        compat: config.compat,
        title: &title,
        media: &report.input,
        clips: &clips,
        total_time: admitted.received.elapsed().as_secs_f64(),
        extra: run_extras(&report),
    }))
}

/// Runs the engine on `input` into `output_dir` off the async threads, its events feeding
/// `/progress`; a cleanup or a shutdown cancels it through `cancel`.
async fn run_engine(
    state: &Arc<AppState>,
    input: PathBuf,
    output_dir: PathBuf,
    cancel: &CancelToken,
) -> Result<RunReport, JobError> {
    let options = state.config.run_options(output_dir);
    let event_state = state.clone();
    let cancel = cancel.clone();
    let report = tokio::task::spawn_blocking(move || {
        clipbench_engine::run::run(&input, &options, &cancel, &|event| {
            progress::update(&event_state, |p| p.on_event(&event.event))
        })
    })
    .await;
    let report = report.map_err(|e| JobError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("the engine crashed: {e}"),
    })?;
    Ok(report?)
}

/// Gives every written clip a bare file name in the outputs folder (a hard link to the clip in
/// the job's folder, replacing an older one of that name), so `GET /<filename>` serves it as
/// the backends do: `STEM_clip_001.mp4`, and `STEM_clip_001_25s.mp4` for the original.
fn publish(
    report: &RunReport,
    outputs: &Path,
    stem: &str,
    compat: Compat,
) -> Result<Vec<Published>, JobError> {
    let mut published = Vec::new();
    for outcome in report.clips.iter().filter(|c| c.status.is_written()) {
        let Some(path) = &outcome.path else { continue };
        let filename = clip_filename(stem, &outcome.clip, compat);
        let link = outputs.join(&filename);
        let _ = std::fs::remove_file(&link);
        std::fs::hard_link(path, &link)
            .map_err(|e| EngineError::io("cannot publish a clip", &link, e))?;
        published.push(Published {
            clip: outcome.clip,
            filename,
            bytes: outcome.bytes,
        });
    }
    Ok(published)
}

/// `POST /cleanup`: cancels the running job and the queued ones (they answer with no clips, as
/// the optimized backend's job does), then removes downloads and outputs and resets progress.
pub async fn cleanup(State(state): State<Arc<AppState>>) -> Response {
    cancel_all(&state);
    // Queued jobs take the slot first (the lock is fair) and end at once, seeing the cleanup;
    // the running one stops within a moment (its download or ffmpeg is cancelled). Bounded all
    // the same: the answer never waits on a job.
    let _slot =
        tokio::time::timeout(state.config.limits.shutdown_timeout, state.job_slot.lock()).await;
    let mut removed = 0usize;
    let mut queue_extra = Value::Null;
    if let Some(queue) = &state.queue {
        let (jobs, tasks) = match queue.cancel_all().await {
            Ok(counts) => counts,
            Err(e) => return engine_error(e),
        };
        for prefix in ["clips", "sources"] {
            match queue.store.delete_prefix(prefix).await {
                Ok(n) => removed += n,
                Err(e) => return engine_error(e),
            }
        }
        queue_extra = json!({"jobs_cancelled": jobs, "tasks_removed": tasks});
    }
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
    progress::update(&state, |p| *p = ProgressState::idle());
    tracing::info!(removed, "cleanup");
    Json(json!({
        "message": "All data cleaned up successfully.",
        "success": true,
        "clipbench": {"files_removed": removed, "queue": queue_extra},
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
