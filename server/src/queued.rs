//! `serve --queue URL --store URL`: the same HTTP API, but each job's clips are made by
//! `clipbench-engine worker`s. The server downloads and plans the job, puts the source in the
//! store, queues one task per clip (per group of clips with `--reuse-overlaps`), waits for the
//! results in Redis and answers; clips are served from the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::TaskSink;
use apalis_redis::RedisStorage;
use async_trait::async_trait;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use redis::aio::ConnectionManager;
use serde_json::{json, Value};

use crate::admission::Admitted;
use crate::backend::{cancelled_answer, Cleaned, JobBackend, Replacements};
use crate::config::ServerConfig;
use crate::input::fetch_input;
use crate::names::{clip_filename, title_for};
use crate::progress::ProgressState;
use crate::queue::state::{self, JobState};
use crate::queue::{split, ClipTask, QueueConfig, TaskResult};
use crate::request::{JobError, JobRequest};
use crate::responses::{engine_error, error, job_body, JobSummary, Published};
use crate::store::Store;
use clipbench_engine::error::EngineError;
use clipbench_engine::extras::{Compat, JobExtras, Phase, QueueFigures, TaskTiming};
use clipbench_engine::report::FailureSummary;
use clipbench_engine::run::{prepare, Prepared};

/// The queue and store a queue-backed server works through.
pub struct QueueBackend {
    server: Arc<ServerConfig>,
    config: QueueConfig,
    store: Store,
    conn: ConnectionManager,
}

/// The store key of a published clip.
pub fn clip_key(filename: &str) -> String {
    format!("clips/{filename}")
}

/// How long the queue may stay down during a job before the job answers 503.
const QUEUE_DOWN_GRACE: Duration = Duration::from_secs(15);

impl QueueBackend {
    /// Connects to the queue (failing at once when it does not answer).
    pub async fn connect(
        server: Arc<ServerConfig>,
        config: QueueConfig,
        store: Store,
    ) -> clipbench_engine::Result<QueueBackend> {
        let conn = config.connect().await?;
        Ok(QueueBackend {
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
    async fn latest(&self) -> clipbench_engine::Result<Option<JobState>> {
        state::latest(&mut self.conn())
            .await
            .map_err(|e| self.config.error(e))
    }

    /// Cancels every unfinished job and removes their pending tasks; (jobs, tasks removed).
    async fn cancel_all(&self) -> clipbench_engine::Result<(usize, usize)> {
        let mut conn = self.conn();
        let ids = state::cancel_unfinished(&mut conn)
            .await
            .map_err(|e| self.config.error(e))?;
        let removed = state::remove_pending(&mut conn, &self.config.apalis(), &ids)
            .await
            .map_err(|e| self.config.error(e))?;
        Ok((ids.len(), removed))
    }
}

#[async_trait]
impl JobBackend for QueueBackend {
    /// A queued job from request to answer; a job that fails after it was created is marked so
    /// in the store, with its reason. Queued jobs run side by side: the workers share out
    /// their tasks.
    async fn run(
        &self,
        admitted: &Admitted,
        job: &JobRequest,
        replacements: &mut Replacements,
    ) -> Result<Value, JobError> {
        if admitted.cleaned_up() {
            let extras = JobExtras::cancelled(0, Some(0));
            return Ok(cancelled_answer(
                self.server.compat,
                admitted,
                job,
                None,
                extras,
            ));
        }
        let mut conn = self.conn();
        let id = state::create(&mut conn).await.map_err(|e| self.err(e))?;
        tracing::info!(job = %id, "queued job created");
        let result = process(self, &id, admitted, job, replacements).await;
        if let Err(e) = &result {
            let _ = state::fail(&mut conn, &id, &e.message).await;
        }
        result
    }

    async fn progress(&self) -> Result<ProgressState, EngineError> {
        let job = self.latest().await?;
        Ok(job.map_or_else(ProgressState::idle, |j| ProgressState::of_queued(&j)))
    }

    async fn clean(&self) -> Result<Cleaned, EngineError> {
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
        serve_clip(self, name, range).await
    }

    fn store(&self) -> Option<&Store> {
        Some(&self.store)
    }
}

async fn process(
    queue: &QueueBackend,
    id: &str,
    admitted: &Admitted,
    job: &JobRequest,
    replacements: &mut Replacements,
) -> Result<Value, JobError> {
    let mut conn = queue.conn();
    let server = &queue.server;
    let (url, input) = fetch_input(server, admitted, job, replacements, |_, _| {}).await?;
    state::set_phase(&mut conn, id, Phase::Analyzing, "Analyzing video")
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
    let tasks = tasks_for(id, &prepared, &source, &stem, server.compat);
    state::start_processing(&mut conn, id, tasks.len(), prepared.clips.len())
        .await
        .map_err(|e| queue.err(e))?;
    let mut storage =
        RedisStorage::<ClipTask>::new(conn.clone()).with_config(queue.config.apalis());
    storage.push_bulk(tasks.clone()).await.map_err(|e| {
        JobError::from(EngineError::Queue {
            url: queue.config.shown_url(),
            detail: e.to_string(),
        })
    })?;
    let (queued_ms, analysis_s) = (crate::queue::now_ms(), analysed.elapsed().as_secs_f64());
    tracing::info!(job = %id, tasks = tasks.len(), "tasks queued");
    let Some(results) = wait_for_results(queue, id, tasks.len(), &admitted.cancel).await? else {
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
            retries: options.retries,
        })
        .collect()
}

/// Polls the job's state until every task has a result (`Some`) or the job is cancelled, in
/// the queue or through `cancel` (`None`); 503 when the queue stays down for [`QUEUE_DOWN_GRACE`].
async fn wait_for_results(
    queue: &QueueBackend,
    id: &str,
    tasks: usize,
    cancel: &clipbench_engine::execute::CancelToken,
) -> Result<Option<Vec<(usize, TaskResult)>>, JobError> {
    let mut conn = queue.conn();
    let mut down_since: Option<Instant> = None;
    let mut no_worker_since: Option<Instant> = None;
    let mut polls = 0u64;
    loop {
        if cancel.is_draining() {
            return Ok(None);
        }
        polls += 1;
        // About once a second: is any worker alive to take the tasks?
        if polls % 10 == 0 {
            no_worker_since = match no_workers(queue, &mut conn).await {
                true => Some(no_worker_since.unwrap_or_else(Instant::now)),
                false => None,
            };
            if no_worker_since.is_some_and(|since| since.elapsed() > queue.config.no_worker_grace) {
                return Err(abandon(queue, &mut conn, id).await);
            }
        }
        match state::read(&mut conn, id).await {
            Ok(Some(job)) if job.phase == Phase::Cancelled => return Ok(None),
            Ok(None) => return Ok(None),
            Ok(Some(job)) if job.tasks_done >= tasks => {
                return state::results(&mut conn, id)
                    .await
                    .map(Some)
                    .map_err(|e| queue.err(e));
            }
            Ok(Some(_)) => down_since = None,
            Err(e) => {
                let since = *down_since.get_or_insert_with(Instant::now);
                if since.elapsed() > QUEUE_DOWN_GRACE {
                    let mut error = queue.err(e);
                    error.message = format!("{} (job {id}'s tasks stay queued)", error.message);
                    return Err(error);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A job whose tasks are queued.
#[derive(Clone, Copy)]
struct QueuedJob<'a> {
    id: &'a str,
    title: &'a str,
    prepared: &'a Prepared,
    tasks: &'a [ClipTask],
    /// When the tasks were queued, ms since the epoch.
    queued_ms: u64,
    /// Download end to tasks queued (analysis and the source's upload), seconds.
    analysis_s: f64,
}

/// Whether no worker of the queue has beaten within the visibility timeout.
async fn no_workers(queue: &QueueBackend, conn: &mut ConnectionManager) -> bool {
    let within = queue.config.visibility_timeout();
    state::live_workers(conn, &queue.config.apalis(), within)
        .await
        .is_ok_and(|n| n == 0)
}

/// Gives up a job no worker takes: its pending tasks are removed; the error to answer.
async fn abandon(queue: &QueueBackend, conn: &mut ConnectionManager, id: &str) -> JobError {
    let ids = [id.to_owned()];
    let removed = state::remove_pending(conn, &queue.config.apalis(), &ids)
        .await
        .unwrap_or(0);
    tracing::warn!(job = %id, removed, "no worker alive: job abandoned");
    JobError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!(
            "no worker took job {id}'s tasks within {} s (none is alive on the server's queue): \
             start `clipbench-engine worker --queue URL --store URL` with the server's --queue \
             and --store, and send the job again",
            queue.config.no_worker_grace.as_secs(),
        ),
    }
}

/// The job's answer from its task results, in the backend's shape.
async fn answer(
    queue: &QueueBackend,
    admitted: &Admitted,
    job: &QueuedJob<'_>,
    results: Vec<(usize, TaskResult)>,
) -> Result<Value, JobError> {
    let QueuedJob {
        id,
        title,
        prepared,
        tasks,
        queued_ms,
        analysis_s,
    } = *job;
    let mut published = Vec::new();
    let mut failures: Vec<FailureSummary> = Vec::new();
    let mut workers: Vec<String> = Vec::new();
    for (index, result) in &results {
        for stored in &result.clips {
            let Some(clip) = tasks[*index]
                .clips
                .iter()
                .find(|c| c.number == stored.number)
            else {
                continue;
            };
            published.push(Published {
                clip: *clip,
                filename: stored.key.trim_start_matches("clips/").to_owned(),
                bytes: stored.bytes,
            });
        }
        failures.extend(result.failures.iter().cloned());
        if !workers.contains(&result.worker) {
            workers.push(result.worker.clone());
        }
    }
    published.sort_by_key(|p| p.clip.number);
    let mut conn = queue.conn();
    if published.is_empty() {
        let reason = failures
            .first()
            .map_or("no clip was planned".to_owned(), |f| f.reason.clone());
        return Err(JobError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("no clip could be made: {reason}"),
        });
    }
    state::set_phase(&mut conn, id, Phase::Complete, "Processing complete")
        .await
        .map_err(|e| queue.err(e))?;
    // Each task's timings, for the queue's overhead: outside `execute_s` is the queue's share.
    let task_timings = results
        .iter()
        .map(|(index, r)| TaskTiming {
            index: *index,
            worker: r.worker.clone(),
            received_ms: r.received_ms,
            finished_ms: r.finished_ms,
            fetch_s: r.fetch_s,
            execute_s: r.execute_s,
            upload_s: r.upload_s,
            wall_s: r.wall_s,
        })
        .collect();
    let options = &prepared.options;
    Ok(job_body(&JobSummary {
        compat: queue.server.compat,
        title,
        media: &prepared.media,
        clips: &published,
        total_time: admitted.received.elapsed().as_secs_f64(),
        extra: JobExtras {
            engine_version: Some(env!("CARGO_PKG_VERSION").into()),
            profile: Some(options.setup.profile),
            policy: Some(options.setup.plan.policy),
            reuse_overlaps: Some(options.setup.reuse_overlaps),
            clips_planned: prepared.clips.len(),
            clips_failed: Some(failures.len()),
            failures,
            notes: prepared.notes.clone(),
            queue: Some(QueueFigures {
                job: id.to_owned(),
                tasks: tasks.len(),
                workers,
                queued_ms,
                analysis_s,
                task_timings,
            }),
            ..JobExtras::default()
        },
    }))
}

/// `GET /<filename>` in queue mode: the clip from the store, with Range support.
async fn serve_clip(queue: &QueueBackend, filename: &str, range_header: Option<&str>) -> Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let not_found = || error(StatusCode::NOT_FOUND, format!("/{filename} not found"));
    if filename.is_empty()
        || filename.contains('/')
        || filename.contains('\\')
        || filename.starts_with('.')
    {
        return not_found();
    }
    let key = clip_key(filename);
    let unavailable = engine_error;
    let size = match queue.store.size(&key).await {
        Ok(Some(size)) => size,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(e),
    };
    let range = match range_header.map(http_range_header::parse_range_header) {
        None => None,
        Some(parsed) => match parsed.and_then(|r| r.validate(size)) {
            Ok(ranges) if ranges.len() == 1 => {
                let r = &ranges[0];
                Some(*r.start()..*r.end() + 1)
            }
            _ => {
                return (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                )
                    .into_response()
            }
        },
    };
    let fetched = match queue.store.get(&key, range.clone()).await {
        Ok(Some(fetched)) => fetched,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(e),
    };
    let mut headers = vec![
        (header::CONTENT_TYPE, "video/mp4".to_owned()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
    ];
    let status = if range.is_some() {
        headers.push((
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                fetched.range.start,
                fetched.range.end - 1,
                fetched.size
            ),
        ));
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = (status, fetched.bytes).into_response();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
