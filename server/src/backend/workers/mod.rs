//! `serve --queue URL --store URL`: the same HTTP API, but each job's clips are made by
//! `clipbench-engine worker`s. The server downloads and plans the job, puts the source in the
//! store, queues one task per clip (per group of clips with `--reuse-overlaps`), waits for the
//! results in Redis (`wait.rs`) and answers (`answer.rs`); clips are served from the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use apalis::prelude::TaskSink;
use apalis_redis::RedisStorage;
use async_trait::async_trait;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use redis::aio::ConnectionManager;
use serde_json::{json, Value};

mod answer;
mod stored_clip;
mod wait;

use answer::{answer, QueuedJob};
use stored_clip::serve_from_store;
use wait::wait_for_results;

use crate::admission::Admitted;
use crate::backend::{cancelled_answer, Cleaned, JobBackend, Replacements};
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::input::fetch_input;
use crate::names::{clip_filename, clip_key, title_for};
use crate::progress::ProgressState;
use crate::queue::records::{self, JobState};
use crate::queue::{split, ClipTask, QueueConfig, MAX_TASK_TIMEOUT_S};
use crate::request::{JobError, JobRequest};
use crate::store::Store;
use clipbench_engine::extras::{Compat, JobExtras, Phase};
use clipbench_engine::run::{prepare, Prepared};

/// The queue and store a queue-backed server works through.
pub struct WorkersBackend {
    server: Arc<ServerConfig>,
    config: QueueConfig,
    store: Store,
    conn: ConnectionManager,
}

impl WorkersBackend {
    /// Connects to the queue (failing at once when it does not answer).
    pub async fn connect(
        server: Arc<ServerConfig>,
        config: QueueConfig,
        store: Store,
    ) -> crate::error::Result<WorkersBackend> {
        let conn = config.connect().await?;
        Ok(WorkersBackend {
            server,
            config,
            store,
            conn,
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn err(&self, e: redis::RedisError) -> JobError {
        JobError::from(self.config.error(e))
    }

    /// The newest job's state.
    async fn latest(&self) -> crate::error::Result<Option<JobState>> {
        records::latest(&mut self.conn())
            .await
            .map_err(|e| self.config.error(e))
    }

    /// Cancels every unfinished job and removes their pending tasks; (jobs, tasks removed).
    async fn cancel_all(&self) -> crate::error::Result<(usize, usize)> {
        let mut conn = self.conn();
        let ids = records::cancel_unfinished(&mut conn)
            .await
            .map_err(|e| self.config.error(e))?;
        let removed = records::remove_pending(&mut conn, &self.config.apalis(), &ids)
            .await
            .map_err(|e| self.config.error(e))?;
        Ok((ids.len(), removed))
    }
}

#[async_trait]
impl JobBackend for WorkersBackend {
    /// A queued job from request to answer; a job that fails after it was created is marked so
    /// in the store, with its reason. Queued jobs run side by side: the workers share out
    /// their tasks.
    async fn run(
        &self,
        admitted: &Admitted,
        job: &JobRequest,
        replacements: &mut Replacements,
    ) -> Result<Value, JobError> {
        let mut conn = self.conn();
        let id = records::create(&mut conn).await.map_err(|e| self.err(e))?;
        tracing::info!(job = %id, "queued job created");
        let result = process(self, &id, admitted, job, replacements).await;
        if let Err(e) = &result {
            let _ = records::fail(&mut conn, &id, &e.message).await;
        }
        result
    }

    async fn progress(&self) -> Result<ProgressState, ServerError> {
        let job = self.latest().await?;
        Ok(job.map_or_else(ProgressState::idle, |j| ProgressState::of_queued(&j)))
    }

    async fn clean(&self) -> Result<Cleaned, ServerError> {
        let (jobs, tasks) = self.cancel_all().await?;
        let mut files_removed = 0;
        for prefix in ["clips", "sources"] {
            files_removed += self.store.delete_prefix(prefix).await?;
        }
        Ok(Cleaned {
            files_removed,
            queue: Some(json!({"jobs_cancelled": jobs, "tasks_removed": tasks})),
        })
    }

    async fn clip(&self, name: &str, request: Request) -> Response {
        let range = request
            .headers()
            .get(axum::http::header::RANGE)
            .and_then(|v| v.to_str().ok());
        serve_from_store(&self.store, name, range).await
    }

    fn store(&self) -> Option<&Store> {
        Some(&self.store)
    }
}

async fn process(
    queue: &WorkersBackend,
    id: &str,
    admitted: &Admitted,
    job: &JobRequest,
    replacements: &mut Replacements,
) -> Result<Value, JobError> {
    let mut conn = queue.conn();
    let server = &queue.server;
    let (url, input) = fetch_input(server, admitted, job, replacements, |_, _| {}).await?;
    records::set_phase(&mut conn, id, Phase::Analyzing, "Analyzing video")
        .await
        .map_err(|e| queue.err(e))?;
    let analysed = Instant::now();
    let prepared = analyse(server, input.clone()).await?;
    let source = source_key(&prepared, &input);
    if !queue.store.exists(&source).await? {
        queue.store.put_file(&source, &input).await?;
    }
    let title = title_for(&url);
    let stem = format!("{title}_{id}");
    // The job's deadline counts from its request; each task carries what is left of it.
    let limit = server.budget.deadline_for(prepared.media.duration);
    let deadline = admitted.received + limit;
    let left_s = deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    let tasks = tasks_for(id, &prepared, &source, &stem, server.compat, left_s);
    records::start_processing(&mut conn, id, tasks.len(), prepared.clips.len())
        .await
        .map_err(|e| queue.err(e))?;
    let mut storage =
        RedisStorage::<ClipTask>::new(conn.clone()).with_config(queue.config.apalis());
    storage.push_bulk(tasks.clone()).await.map_err(|e| {
        JobError::from(ServerError::Queue {
            url: queue.config.shown_url(),
            detail: e.to_string(),
        })
    })?;
    let (queued_ms, analysis_s) = (crate::queue::now_ms(), analysed.elapsed().as_secs_f64());
    tracing::info!(job = %id, tasks = tasks.len(), "tasks queued");
    let waited = wait_for_results(queue, id, tasks.len(), &admitted.cancel, (deadline, limit));
    let Some(results) = waited.await? else {
        tracing::info!(job = %id, "cancelled by cleanup");
        let extras = JobExtras::cancelled(prepared.clips.len(), None);
        let media = Some(&prepared.media);
        return Ok(cancelled_answer(
            server.compat,
            admitted,
            job,
            media,
            extras,
        ));
    };
    let job = QueuedJob {
        id,
        title: &title,
        prepared: &prepared,
        tasks: &tasks,
        queued_ms,
        analysis_s,
    };
    answer(queue, admitted, &job, results).await
}

/// Probes and plans the input as a local run would (off the async threads).
async fn analyse(server: &ServerConfig, input: PathBuf) -> Result<Prepared, JobError> {
    let options = server.run_options(server.outputs());
    tokio::task::spawn_blocking(move || prepare(&input, &options))
        .await
        .map_err(|e| JobError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the analysis crashed: {e}"),
        })?
        .map_err(JobError::from)
}

/// The source's key: its content hash, so the same video is stored once.
fn source_key(prepared: &Prepared, input: &Path) -> String {
    let extension = input
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("video");
    format!("sources/{:016x}.{extension}", prepared.content_hash)
}

/// The job's tasks, each clip under its published name.
fn tasks_for(
    id: &str,
    prepared: &Prepared,
    source: &str,
    stem: &str,
    compat: Compat,
    deadline_s: f64,
) -> Vec<ClipTask> {
    let options = &prepared.options;
    split(&prepared.clips, options.setup.reuse_overlaps)
        .into_iter()
        .enumerate()
        .map(|(index, clips)| ClipTask {
            job: id.to_owned(),
            index,
            source: source.to_owned(),
            media: prepared.media.clone(),
            cut_points: prepared.media.cut_points.clone(),
            keys: clips
                .iter()
                .map(|c| clip_key(&clip_filename(stem, c, compat)))
                .collect(),
            clips,
            setup: options.setup,
            timeout_s: prepared.timeout.as_secs_f64(),
            deadline_s: deadline_s.clamp(1.0, MAX_TASK_TIMEOUT_S),
            // No watchdog: as long as a task may take.
            stall_timeout_s: (options.stall_timeout)
                .map_or(MAX_TASK_TIMEOUT_S, |s| s.as_secs_f64()),
            retries: options.retries,
        })
        .collect()
}
