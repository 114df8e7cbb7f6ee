//! A run from a URL: the engine cuts while the video downloads when it can (a direct MP4 or
//! MOV link whose index it reads: [`crate::download_arriving`]), else it downloads
//! first and says why in one note of the report. The CLI's `run URL`, the local server's jobs
//! and the harness's engine targets over a link all go through here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use reqwest::Url;

use crate::error::{FetchError, Result};
use crate::{arriving_path, download_arriving, DownloadOptions, Downloaded};
use clipbench_engine::arrival::{Arrival, Arriving, IndexState};
use clipbench_engine::cancel::CancelToken;
use clipbench_engine::EngineError;
use clipbench_engine::{run, run_arriving, RunOptions, RunReport, TimedEvent};

/// Where the engine's events go (from its worker threads).
pub type OnEvent = Arc<dyn Fn(&TimedEvent) + Send + Sync>;

/// How a run from a URL went.
#[derive(Debug)]
pub struct UrlRun {
    /// The run's report, or what stopped the job (the download's own error when it failed
    /// before anything could be cut).
    pub report: Result<RunReport>,
    /// The download failed after the run began (one line): the clips whose bytes came are in
    /// the report, the others failed with this reason.
    pub download_error: Option<String>,
    /// Seconds from the request to the last byte (or to the failure).
    pub download_s: f64,
    /// Bytes downloaded.
    pub bytes: u64,
    /// The run cut while the video downloaded (`false`: it waited for the whole file).
    pub streamed: bool,
}

/// The note a report carries when its run cut the source while it downloaded.
pub const STREAMED_NOTE: &str = "cut while the video downloaded";

/// Downloads `url` into `dir` within `download` and runs the engine with `options`, cutting
/// while the bytes arrive when the file allows it. `dir` is left for the caller to remove.
pub async fn run_url(
    url: &Url,
    dir: &Path,
    download: &DownloadOptions,
    options: &RunOptions,
    cancel: &CancelToken,
    on_progress: impl Fn(u64, Option<u64>) + Send + Sync + 'static,
    on_event: OnEvent,
) -> UrlRun {
    let arrival = Arrival::new();
    let began = Instant::now();
    // The download stops when the job is cancelled, or when the run failed without it.
    let stop = CancelToken::new();
    let fetching = {
        let (url, dir, download) = (url.clone(), dir.to_owned(), download.clone());
        let (stop, arrival) = (stop.clone(), arrival.clone());
        tokio::spawn(async move {
            let got = download_arriving(&url, &dir, &download, &stop, on_progress, arrival);
            (got.await, began.elapsed().as_secs_f64())
        })
    };
    let forward = {
        let (cancel, stop) = (cancel.clone(), stop.clone());
        tokio::spawn(async move {
            cancel.drained().await;
            stop.drain();
        })
    };
    let path = arriving_path(url, dir);
    let cutting = {
        let (arrival, options, cancel) = (arrival.clone(), options.clone(), cancel.clone());
        let on_event = on_event.clone();
        tokio::task::spawn_blocking(move || {
            cut_arriving(&path, &arrival, &options, &cancel, on_event)
        })
    };
    let streamed = cutting.await.unwrap_or_else(|e| {
        Some(Err(FetchError::Internal(format!(
            "the engine crashed: {e}"
        ))))
    });
    if matches!(streamed, Some(Err(_))) {
        stop.drain();
    }
    let (downloaded, download_s) = fetching.await.unwrap_or_else(|e| {
        let lost = FetchError::Internal(format!("the download crashed: {e}"));
        (Err(lost), began.elapsed().as_secs_f64())
    });
    forward.abort();
    let bytes = downloaded.as_ref().map_or(0, |d| d.bytes);
    let (report, download_error, streamed) = match (streamed, downloaded) {
        // Nothing could be cut: the download's error says why.
        (Some(Err(FetchError::Engine(EngineError::DownloadStopped(_)))) | None, Err(e)) => {
            (Err(e), None, false)
        }
        (Some(report), downloaded) => (report, downloaded.err().map(|e| e.to_string()), true),
        (None, Ok(downloaded)) => {
            let why = match arrival.wait_for_index(&CancelToken::new()) {
                Some(IndexState::Unmapped(reason)) => reason,
                _ => "its index was not read".to_owned(),
            };
            let report = cut_whole(downloaded, options.clone(), cancel.clone(), on_event, why);
            (report.await, None, false)
        }
    };
    UrlRun {
        report,
        download_error,
        download_s,
        bytes,
        streamed,
    }
}

/// Cuts the source while it arrives, once its index is read (`None` when it cannot be: the
/// caller waits for the whole file).
fn cut_arriving(
    path: &Path,
    arrival: &Arc<Arrival>,
    options: &RunOptions,
    cancel: &CancelToken,
    on_event: OnEvent,
) -> Option<Result<RunReport>> {
    let IndexState::Known(index) = arrival.wait_for_index(cancel)? else {
        return None;
    };
    let source = Arriving::new(arrival.clone(), index);
    let mut report = run_arriving(path, &source, options, cancel, &|e| on_event(e));
    if let Ok(report) = &mut report {
        report.notes.push(STREAMED_NOTE.to_owned());
    }
    Some(report.map_err(FetchError::from))
}

/// Cuts a whole downloaded file, noting why it was not cut while it arrived.
async fn cut_whole(
    downloaded: Downloaded,
    options: RunOptions,
    cancel: CancelToken,
    on_event: OnEvent,
    why: String,
) -> Result<RunReport> {
    let path: PathBuf = downloaded.path;
    let cut = tokio::task::spawn_blocking(move || {
        let mut report = run(&path, &options, &cancel, &|e| on_event(e))?;
        report
            .notes
            .push(format!("downloaded before cutting: {why}"));
        Ok(report)
    });
    cut.await
        .unwrap_or_else(|e| Err(FetchError::Internal(format!("the engine crashed: {e}"))))
}
