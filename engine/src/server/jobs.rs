//! `POST /generate_shorts[_optimized]` and `POST /cleanup`: admission into the bounded queue,
//! one job at a time, the job itself (download → analyze → process → publish), and its answer
//! in the backend's shape with no server path in it.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use reqwest::Url;

use super::progress::{Compat, Phase};
use super::request::{parse_request, JobError, JobRequest};
use super::responses::{error, job_body, run_extras, scrub, scrub_text, JobSummary, Published};
use super::{AppState, ProgressState};
use crate::error::EngineError;
use crate::execute::CancelToken;
use crate::fetch::{download, file_name_for, Input};
use crate::plan::Clip;
use crate::probe::MediaInfo;
use crate::report::RunReport;

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
    let admitted = Admitted {
        id,
        epoch: state.cleanups.load(Ordering::SeqCst),
        received: Instant::now(),
    };
    // The job runs in its own task: a client that disconnects does not stop it.
    let task_state = state.clone();
    let handle = tokio::spawn(async move {
        let result = if task_state.queue.is_some() {
            // Queued jobs run side by side: the workers share out their tasks.
            run_job(&task_state, &admitted, job).await
        } else {
            let _slot = task_state.job_slot.lock().await;
            run_job(&task_state, &admitted, job).await
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

/// A request let into the queue.
pub(super) struct Admitted {
    pub(super) id: u64,
    /// The number of cleanups before it: a cleanup since then cancels it.
    epoch: u64,
    pub(super) received: Instant,
}

impl Admitted {
    fn cleaned_up(&self, state: &AppState) -> bool {
        state.cleanups.load(Ordering::SeqCst) != self.epoch
    }
}

fn set_progress(state: &AppState, update: impl FnOnce(&mut ProgressState)) {
    update(&mut state.progress.lock().unwrap_or_else(|e| e.into_inner()));
}

/// The video's name: the URL's file name without its extension, safe as a file name part.
pub(super) fn title_for(url: &Url) -> String {
    let name = file_name_for(url);
    let stem = name
        .rsplit_once('.')
        .map_or(name.as_str(), |(stem, _)| stem);
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if safe.is_empty() {
        "video".into()
    } else {
        safe
    }
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
    set_progress(state, ProgressState::start);
    let mut replacements = vec![(state.config.workdir.display().to_string(), String::new())];
    if let Ok(real) = state.config.workdir.canonicalize() {
        replacements.insert(0, (real.display().to_string(), String::new()));
    }
    let result = match &state.queue {
        Some(queue) => {
            super::queued::run_job(state, queue, admitted, &job, &mut replacements).await
        }
        None => process(state, admitted, &job, &mut replacements).await,
    };
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
            set_progress(state, |p| {
                p.set(Phase::Complete, "Processing complete", 100.0)
            });
        }
        Err(e) => {
            tracing::warn!(job = id, status = %e.status, "failed: {}", e.message);
            set_progress(state, |p| p.fail(e.message.clone()));
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
    let (url, input) = fetch_input(state, id, job, replacements).await?;
    tracing::info!(job = id, "analyzing");
    set_progress(state, |p| p.set(Phase::Analyzing, "Analyzing video", 10.0));
    let folder = job
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("job-{id}")));
    let report = run_engine(state, input, config.outputs().join(&folder)).await;
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

/// Downloads the job's URL into its own folder, reporting progress; messages about the
/// downloaded file will name the URL the client sent.
pub(super) async fn fetch_input(
    state: &Arc<AppState>,
    id: u64,
    job: &JobRequest,
    replacements: &mut Vec<(String, String)>,
) -> Result<(Url, PathBuf), JobError> {
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
    let config = &state.config;
    let download_dir = config.downloads().join(format!("job-{id}"));
    let progress_state = state.clone();
    let downloaded = download(
        &url,
        &download_dir,
        &config.download,
        move |bytes, total| set_progress(&progress_state, |p| p.downloading(bytes, total)),
    )
    .await?;
    tracing::info!(job = id, bytes = downloaded.bytes, "downloaded");
    replacements.insert(0, (downloaded.path.display().to_string(), url.to_string()));
    Ok((url, downloaded.path))
}

/// Runs the engine on `input` into `output_dir` off the async threads, its events feeding
/// `/progress`; a cleanup cancels it through `state.running`.
async fn run_engine(
    state: &Arc<AppState>,
    input: PathBuf,
    output_dir: PathBuf,
) -> Result<RunReport, JobError> {
    let options = state.config.run_options(output_dir);
    let event_state = state.clone();
    let cancel = CancelToken::new();
    *state.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(cancel.clone());
    let report = tokio::task::spawn_blocking(move || {
        crate::run::run(&input, &options, &cancel, &|event| {
            set_progress(&event_state, |p| p.on_event(&event.event))
        })
    })
    .await;
    *state.running.lock().unwrap_or_else(|e| e.into_inner()) = None;
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

/// A clip's published file name: `STEM_clip_001.mp4`, and `STEM_clip_001_25s.mp4` for the
/// original backend.
pub(super) fn clip_filename(stem: &str, clip: &Clip, compat: Compat) -> String {
    let number = clip.number;
    match compat {
        Compat::Original => format!("{stem}_clip_{number:03}_{}s.mp4", clip.start as u64),
        Compat::Optimized => format!("{stem}_clip_{number:03}.mp4"),
    }
}

/// `POST /cleanup`: cancels the running job and the queued ones (they answer with no clips, as
/// the optimized backend's job does), then removes downloads and outputs and resets progress.
pub async fn cleanup(State(state): State<Arc<AppState>>) -> Response {
    state.cleanups.fetch_add(1, Ordering::SeqCst);
    if let Some(running) = state
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        running.cancel();
    }
    // Queued jobs take the slot first (the lock is fair) and end at once, seeing the cleanup.
    let _slot = state.job_slot.lock().await;
    let mut removed = 0usize;
    let mut queue_extra = Value::Null;
    if let Some(queue) = &state.queue {
        let (jobs, tasks) = match queue.cancel_all().await {
            Ok(counts) => counts,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
        for prefix in ["clips", "sources"] {
            match queue.store.delete_prefix(prefix).await {
                Ok(n) => removed += n,
                Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
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
    set_progress(&state, |p| *p = ProgressState::idle());
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
