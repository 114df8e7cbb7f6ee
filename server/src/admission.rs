//! Admission: a job's place in the server from its request to its end — counted against
//! `--max-queue`, cancellable by `/cleanup` and shutdown, holding its output folder — and what
//! the job itself knows of it ([`Admitted`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use clipbench_engine::cancel::CancelToken;

use crate::responses::error;

/// Every job's place in the server: how many are in, their cancel tokens and their folders.
pub struct Admission {
    /// Requests that may wait behind the running job; more get 429.
    max_queue: usize,
    /// Where jobs' folders are made, when they get one (local jobs).
    outputs: Option<PathBuf>,
    /// Jobs running or waiting.
    jobs_in_system: AtomicUsize,
    /// Every admitted job's cancel token, for `/cleanup` and shutdown.
    running: Mutex<HashMap<u64, CancelToken>>,
    /// Output folders of admitted jobs: retention never touches them, no other job takes them.
    folders_in_use: Mutex<HashSet<String>>,
    /// Cleanups so far: a job admitted before the latest one is cancelled.
    cleanups: AtomicU64,
    next_job: AtomicU64,
}

impl Admission {
    /// Admits up to `max_queue` waiting jobs; each gets a folder under `outputs` when given.
    pub fn new(max_queue: usize, outputs: Option<PathBuf>) -> Arc<Admission> {
        Arc::new(Admission {
            max_queue,
            outputs,
            jobs_in_system: AtomicUsize::new(0),
            running: Mutex::new(HashMap::new()),
            folders_in_use: Mutex::new(HashSet::new()),
            cleanups: AtomicU64::new(0),
            next_job: AtomicU64::new(1),
        })
    }

    /// Jobs running or waiting.
    pub fn jobs(&self) -> usize {
        self.jobs_in_system.load(Ordering::SeqCst)
    }

    /// The output folders admitted jobs hold.
    pub fn folders_in_use(&self) -> HashSet<String> {
        lock(&self.folders_in_use).clone()
    }

    /// Cancels every admitted job (cleanup and shutdown): downloads stop, ffmpeg children are
    /// killed, waiting jobs end as soon as they start.
    pub fn cancel_all(&self) {
        self.cleanups.fetch_add(1, Ordering::SeqCst);
        for cancel in lock(&self.running).values() {
            cancel.cancel();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A job's place in the server, from admission to its end: counted against `--max-queue`,
/// cancellable by `/cleanup` and shutdown, holding its output folder. Dropping it (also when
/// the job panics) gives all of it back.
pub struct JobPlace {
    admission: Arc<Admission>,
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
    pub fn take(
        admission: &Arc<Admission>,
        output_dir: Option<&Path>,
    ) -> Result<JobPlace, NotAdmitted> {
        let waiting = admission.jobs_in_system.fetch_add(1, Ordering::SeqCst);
        let mut place = JobPlace {
            admission: admission.clone(),
            id: admission.next_job.fetch_add(1, Ordering::SeqCst),
            epoch: admission.cleanups.load(Ordering::SeqCst),
            received: Instant::now(),
            cancel: CancelToken::new(),
            folder: None,
        };
        if waiting > admission.max_queue {
            return Err(NotAdmitted::Busy(waiting));
        }
        if let Some(outputs) = &admission.outputs {
            place.folder = Some(place.reserve_folder(outputs, output_dir)?);
        }
        lock(&admission.running).insert(place.id, place.cancel.clone());
        Ok(place)
    }

    /// Creates the job's folder: `output_dir` when given (taken when it exists: another
    /// job's), else the first free `job-N` from the job's number on.
    fn reserve_folder(
        &self,
        outputs: &Path,
        output_dir: Option<&Path>,
    ) -> Result<String, NotAdmitted> {
        let mut in_use = lock(&self.admission.folders_in_use);
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
            admission: self.admission.clone(),
        }
    }
}

impl Drop for JobPlace {
    fn drop(&mut self) {
        let admission = &self.admission;
        admission.jobs_in_system.fetch_sub(1, Ordering::SeqCst);
        lock(&admission.running).remove(&self.id);
        if let Some(folder) = &self.folder {
            lock(&admission.folders_in_use).remove(folder);
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
    admission: Arc<Admission>,
}

impl Admitted {
    /// Whether a cleanup (or a shutdown) came after the job was admitted.
    pub fn cleaned_up(&self) -> bool {
        self.admission.cleanups.load(Ordering::SeqCst) != self.epoch
    }
}
