//! Admission: a job's place in the server from its request to its end — counted against
//! `--max-queue`, cancellable by `/cleanup` and shutdown, holding its output folder — and what
//! the job itself knows of it ([`Admitted`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use clipbench_engine::execute::CancelToken;

use crate::responses::error;
use crate::state::AppState;

/// A job's place in the server, from admission to its end: counted against `--max-queue`,
/// cancellable by `/cleanup` and shutdown, holding its output folder. Dropping it (also when
/// the job panics) gives all of it back.
pub struct JobPlace {
    state: Arc<AppState>,
    pub id: u64,
    epoch: u64,
    received: Instant,
    cancel: CancelToken,
    /// The job's folder under `outputs/` (local jobs).
    folder: Option<String>,
}

/// Why a job is not admitted.
#[derive(Debug)]
pub enum NotAdmitted {
    /// `--max-queue` jobs are running or waiting.
    Busy(usize),
    /// The `output_dir` holds another job's clips.
    FolderTaken(String),
    /// The job's folder cannot be created.
    Folder(std::io::ErrorKind),
}

impl IntoResponse for NotAdmitted {
    fn into_response(self) -> Response {
        match self {
            NotAdmitted::Busy(waiting) => {
                let mut response = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{waiting} jobs are already running or queued: retry later"),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
                response
            }
            NotAdmitted::FolderTaken(name) => error(
                StatusCode::CONFLICT,
                format!("output_dir {name:?} holds another job's clips: choose another name"),
            ),
            NotAdmitted::Folder(kind) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the server cannot create a job folder: {kind}"),
            ),
        }
    }
}

impl JobPlace {
    /// Admits a job: busy when the queue is full, refused when `output_dir` is another job's.
    pub fn take(state: &Arc<AppState>, output_dir: Option<&Path>) -> Result<JobPlace, NotAdmitted> {
        let waiting = state.jobs_in_system.fetch_add(1, Ordering::SeqCst);
        let mut place = JobPlace {
            state: state.clone(),
            id: state.next_job.fetch_add(1, Ordering::SeqCst),
            epoch: state.cleanups.load(Ordering::SeqCst),
            received: Instant::now(),
            cancel: CancelToken::new(),
            folder: None,
        };
        if waiting > state.config.max_queue {
            return Err(NotAdmitted::Busy(waiting));
        }
        if state.queue.is_none() {
            place.folder = Some(place.reserve_folder(output_dir)?);
        }
        state
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(place.id, place.cancel.clone());
        Ok(place)
    }

    /// Creates the job's folder: `output_dir` when given (taken when it exists: another
    /// job's), else the first free `job-N` from the job's number on.
    fn reserve_folder(&self, output_dir: Option<&Path>) -> Result<String, NotAdmitted> {
        let outputs = self.state.config.outputs();
        let mut in_use = self
            .state
            .folders_in_use
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut try_name = |name: String| -> Result<Option<String>, NotAdmitted> {
            if in_use.contains(&name) {
                return Ok(None);
            }
            match std::fs::create_dir(outputs.join(&name)) {
                Ok(()) => {
                    in_use.insert(name.clone());
                    Ok(Some(name))
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(NotAdmitted::Folder(e.kind())),
            }
        };
        if let Some(dir) = output_dir {
            let name = dir.to_string_lossy().into_owned();
            return try_name(name.clone())?.ok_or(NotAdmitted::FolderTaken(name));
        }
        let mut n = self.id;
        loop {
            if let Some(name) = try_name(format!("job-{n}"))? {
                return Ok(name);
            }
            n += 1;
        }
    }

    /// What the job itself needs to know of its place.
    pub fn admitted(&self) -> Admitted {
        Admitted {
            id: self.id,
            epoch: self.epoch,
            received: self.received,
            cancel: self.cancel.clone(),
            folder: self.folder.clone().map(PathBuf::from),
        }
    }
}

impl Drop for JobPlace {
    fn drop(&mut self) {
        let state = &self.state;
        state.jobs_in_system.fetch_sub(1, Ordering::SeqCst);
        state
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        if let Some(folder) = &self.folder {
            state
                .folders_in_use
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(folder);
        }
    }
}

/// A request let into the queue.
pub struct Admitted {
    pub id: u64,
    /// The number of cleanups before it: a cleanup since then cancels it.
    epoch: u64,
    pub received: Instant,
    /// Cancelled by `/cleanup` and by shutdown: stops the download and the engine.
    pub cancel: CancelToken,
    /// The job's folder under `outputs/` (local jobs).
    pub folder: Option<PathBuf>,
}

impl Admitted {
    pub fn cleaned_up(&self, state: &AppState) -> bool {
        state.cleanups.load(Ordering::SeqCst) != self.epoch
    }
}

/// Cancels every admitted job (cleanup and shutdown): downloads stop, ffmpeg children are
/// killed, waiting jobs end as soon as they start.
pub fn cancel_all(state: &AppState) {
    state.cleanups.fetch_add(1, Ordering::SeqCst);
    for cancel in state
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
    {
        cancel.cancel();
    }
}
