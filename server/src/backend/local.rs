//! The local job backend: jobs run here one at a time (in arrival order), downloaded
//! ([`crate::input`]), made by the engine with its events driving `/progress`, and published
//! under their names ([`crate::names`]) at the top of `outputs/`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reqwest::Url;
use serde_json::Value;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::admission::Admitted;
use crate::backend::{
    cancelled_answer, cancelled_early, Cleaned, JobBackend, JobEnd, Replacements,
};
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::input::{download_dir, job_url};
use crate::names::{clip_filename, resolve_inside, title_for};
use crate::progress::{Phase, ProgressState};
use crate::request::{JobError, JobRequest};
use crate::responses::{error, job_body, JobSummary, Published};
use clipbench_engine::cancel::CancelToken;
use clipbench_engine::extras::{Compat, JobExtras};
use clipbench_engine::report::RunReport;
use clipbench_fetch::redact;
use clipbench_fetch::url_run::{run_url, OnEvent};

/// Runs jobs on this machine, one at a time.
pub struct LocalBackend {
    config: Arc<ServerConfig>,
    /// The running job's progress, as `/progress` shows it.
    progress: Arc<Mutex<ProgressState>>,
    /// Held by the running job; tokio's mutex is fair, so waiting jobs run in arrival order.
    job_slot: tokio::sync::Mutex<()>,
}

impl LocalBackend {
    pub fn new(config: Arc<ServerConfig>) -> LocalBackend {
        LocalBackend {
            config,
            progress: Arc::new(Mutex::new(ProgressState::idle())),
            job_slot: tokio::sync::Mutex::new(()),
        }
    }

    fn update(&self, change: impl FnOnce(&mut ProgressState)) {
        update(&self.progress, change);
    }

    /// The job itself: download → analyze and encode (the engine) → publish the clips.
    async fn process(
        &self,
        admitted: &Admitted,
        job: &JobRequest,
        replacements: &mut Replacements,
    ) -> Result<Value, JobError> {
        let (config, id) = (&self.config, admitted.id);
        let url = job_url(job)?;
        let shown = redact(&url);
        let download_dir = download_dir(config, admitted);
        // Messages about the downloaded file name the URL the client sent.
        replacements.insert(0, (download_dir.display().to_string(), shown.clone()));
        tracing::info!(job = id, url = %shown, "downloading and cutting");
        let folder = admitted.folder.clone().unwrap_or_default();
        let output_dir = config.outputs().join(&folder);
        let report = self
            .run_engine(
                &url,
                &download_dir,
                output_dir,
                &admitted.cancel,
                admitted.received,
            )
            .await;
        if admitted.cleaned_up() {
            tracing::info!(job = id, "cancelled by cleanup");
            let report = report.as_ref().ok();
            let extras = JobExtras::cancelled(
                report.map_or(0, |r| r.plan.len()),
                Some(report.map_or(0, |r| r.metrics.clips_done)),
            );
            let media = report.map(|r| &r.input);
            return Ok(cancelled_answer(
                config.compat,
                admitted,
                job,
                media,
                extras,
            ));
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
            extra: JobExtras::of_run(&report),
        }))
    }

    /// Downloads `url` into `download_dir` and runs the engine into `output_dir`, cutting while
    /// the video arrives when it can (its events and the download feed `/progress`); a cleanup
    /// or a shutdown cancels both through `cancel`. A download that stops after clips were
    /// made fails the job with its reason.
    async fn run_engine(
        &self,
        url: &Url,
        download_dir: &Path,
        output_dir: PathBuf,
        cancel: &CancelToken,
        received: std::time::Instant,
    ) -> Result<RunReport, JobError> {
        let mut options = self.config.run_options(output_dir);
        // The job's deadline counts from its request, its download included.
        options.began = Some(received);
        let on_download = {
            let progress = self.progress.clone();
            move |bytes, total| update(&progress, |p| p.downloading(bytes, total))
        };
        let on_event: OnEvent = {
            let progress = self.progress.clone();
            Arc::new(move |event| update(&progress, |p| p.on_event(&event.event)))
        };
        let download = &self.config.download;
        let ran = run_url(
            url,
            download_dir,
            download,
            &options,
            cancel,
            on_download,
            on_event,
        );
        let ran = ran.await;
        let _ = tokio::fs::remove_dir_all(download_dir).await;
        tracing::info!(
            bytes = ran.bytes,
            download_s = ran.download_s,
            streamed = ran.streamed,
            "downloaded"
        );
        let report = ran.report?;
        match ran.download_error {
            Some(message) if !cancel.is_draining() => Err(JobError {
                status: StatusCode::BAD_GATEWAY,
                message,
            }),
            _ => Ok(report),
        }
    }
}

fn update(progress: &Mutex<ProgressState>, change: impl FnOnce(&mut ProgressState)) {
    change(&mut progress.lock().unwrap_or_else(|e| e.into_inner()));
}

#[async_trait]
impl JobBackend for LocalBackend {
    async fn run(
        &self,
        admitted: &Admitted,
        job: &JobRequest,
        replacements: &mut Replacements,
    ) -> Result<Value, JobError> {
        let _slot = self.job_slot.lock().await;
        if admitted.cleaned_up() {
            tracing::info!(job = admitted.id, "cancelled by cleanup before it started");
            return Ok(cancelled_early(self.config.compat, admitted, job));
        }
        self.update(ProgressState::start);
        self.process(admitted, job, replacements).await
    }

    fn ended(&self, admitted: &Admitted, end: JobEnd) {
        // A cleanup since the job came in reset `/progress` (or will): it stays so.
        if admitted.cleaned_up() {
            return;
        }
        match end {
            JobEnd::Answered => {
                self.update(|p| p.set(Phase::Complete, "Processing complete", 100.0))
            }
            JobEnd::Failed(message) => self.update(|p| p.fail(message)),
        }
    }

    async fn progress(&self) -> Result<ProgressState, ServerError> {
        Ok(self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }

    async fn clean(&self) -> Result<Cleaned, ServerError> {
        // Waiting jobs take the slot first (the lock is fair) and end at once, seeing the
        // cleanup; the running one stops within a moment (its download or ffmpeg is
        // cancelled). Bounded all the same: the answer never waits on a job.
        let timeout = self.config.limits.shutdown_timeout;
        let _slot = tokio::time::timeout(timeout, self.job_slot.lock()).await;
        self.update(|p| *p = ProgressState::idle());
        Ok(Cleaned::default())
    }

    async fn clip(&self, name: &str, request: Request) -> Response {
        let Some(path) = resolve_inside(&self.config.outputs(), name) else {
            return error(StatusCode::NOT_FOUND, "no such clip".into());
        };
        match ServeFile::new(path).oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
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
            .map_err(|e| ServerError::io("cannot publish a clip", &link, e))?;
        published.push(Published {
            clip: outcome.clip,
            filename,
            bytes: outcome.bytes,
        });
    }
    Ok(published)
}
