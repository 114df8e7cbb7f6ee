//! `clipbench-engine worker`: takes [`ClipTask`]s from the queue and makes their clips with the
//! local executor (same profiles, validation, watchdog and retries as a local run), reading
//! only the byte ranges of the source its clips need from the store (`source.rs`; a source it
//! cannot read in parts once per machine, whole) and writing the clips back to it.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use apalis_redis::RedisStorage;
use redis::aio::ConnectionManager;

use super::records;
use super::source::fetch_parts;
use super::{is_job_id, now_ms, ClipTask, QueueConfig, StoredClip, TaskResult, MAX_TASK_CLIPS};
use crate::error::{Result, ServerError};
use crate::store::Store;
use clipbench_engine::allocate::ThreadSetting;
use clipbench_engine::budget::{SourceShape, WorkBudget};
use clipbench_engine::cancel::CancelToken;
use clipbench_engine::execute::FailureKind;
use clipbench_engine::execute::{execute, ExecuteOptions};
use clipbench_engine::extras::TaskTiming;
use clipbench_engine::report::{FailureSummary, RunReport};
use clipbench_engine::tools::Tools;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub queue: QueueConfig,
    pub store: Store,
    /// Unique among the queue's workers (a restarted worker of the same name takes its
    /// unfinished tasks back at once).
    pub name: String,
    /// Tasks run at once.
    pub slots: usize,
    /// ffmpeg threads per task.
    pub threads: usize,
    /// Holds the sources read from the store and each task's work folder.
    pub cache: PathBuf,
    pub tools: Tools,
    /// A task handed out this many times without a result (its workers died) fails.
    pub max_deliveries: u64,
    /// A task whose source is over these limits is refused (its deadline is the task's own).
    pub budget: WorkBudget,
}

impl WorkerOptions {
    /// One task per logical CPU with one ffmpeg thread each, named after host and process,
    /// caching under the system's temporary folder, 3 deliveries per task, the default
    /// [`WorkBudget`].
    pub fn new(queue: QueueConfig, store: Store) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".into());
        WorkerOptions {
            queue,
            store,
            name: format!("{host}-{}", std::process::id()),
            slots: cores,
            threads: 1,
            cache: std::env::temp_dir().join("clipbench-worker"),
            tools: Tools::from_env(),
            max_deliveries: 3,
            budget: WorkBudget::default(),
        }
    }

    fn work_dir(&self) -> PathBuf {
        self.cache.join("work").join(&self.name)
    }
}

/// What the task handlers share.
struct Shared {
    options: WorkerOptions,
    conn: ConnectionManager,
    /// One lock per source being fetched, so a machine fetches each source once.
    fetching: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Runs the worker until `stop` resolves, then stops taking tasks and lets the running ones
/// finish; while the queue is down it waits and reconnects.
pub async fn run(options: WorkerOptions, stop: impl Future<Output = ()>) -> Result<()> {
    let work = options.work_dir();
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)
        .map_err(|e| ServerError::io("cannot create the worker's folder", &work, e))?;
    let stopping = CancelToken::new();
    let stopped = stopping.clone();
    let mut stop = std::pin::pin!(stop);
    let watch = async {
        (&mut stop).await;
        stopped.cancel();
    };
    let work = async {
        while !stopping.is_cancelled() {
            if let Err(e) = take_tasks(&options, &stopping).await {
                tracing::warn!("{e}; trying again in 2 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = stopping.cancelled() => {}
                }
            }
        }
    };
    tokio::join!(watch, work);
    Ok(())
}

/// One connection's worth of work: registers with the queue and takes tasks until `stopping`
/// (graceful) or until the queue fails.
async fn take_tasks(options: &WorkerOptions, stopping: &CancelToken) -> Result<()> {
    let conn = options.queue.connect().await?;
    let storage = RedisStorage::<ClipTask>::new(conn.clone()).with_config(options.queue.apalis());
    let shared = Arc::new(Shared {
        options: options.clone(),
        conn,
        fetching: Default::default(),
    });
    tracing::info!(
        worker = %options.name,
        queue = %options.queue.shown_url(),
        store = %options.store.url(),
        slots = options.slots,
        "taking tasks"
    );
    let stopping = stopping.clone();
    WorkerBuilder::new(options.name.clone())
        .backend(storage)
        .concurrency(options.slots)
        .data(shared)
        .build(handle)
        .run_with_ctx(move |ctx| {
            let stopping = stopping.clone();
            async move {
                stopping.cancelled().await;
                tracing::info!("stopping: finishing the running tasks");
                ctx.stop()
            }
        })
        .await
        .map_err(|e| ServerError::Queue {
            url: options.queue.shown_url(),
            detail: e.to_string(),
        })
}

/// One delivery of a task: skipped when its job is cancelled or its result is in; failed when
/// it was delivered too often; else made, with up to three tries of the store and queue.
async fn handle(task: ClipTask, shared: Data<Arc<Shared>>) -> Result<(), BoxDynError> {
    let shared = Arc::clone(&shared);
    let mut conn = shared.conn.clone();
    let (job, index) = (task.job.as_str(), task.index);
    if !is_job_id(job) {
        // No job to record a result for: a task no server made.
        tracing::warn!(index, "dropped a task whose job id is malformed");
        return Ok(());
    }
    if records::is_cancelled(&mut conn, job).await? {
        tracing::info!(job, index, "skipped: the job was cancelled");
        return Ok(());
    }
    if records::is_recorded(&mut conn, job, index).await? {
        tracing::info!(job, index, "skipped: already done");
        return Ok(());
    }
    let deliveries = records::delivered(&mut conn, job, index).await?;
    let received_ms = now_ms();
    tracing::info!(
        job,
        index,
        deliveries,
        clips = task.clips.len(),
        "started task"
    );
    let over = shared.options.budget.check(&SourceShape::of(&task.media));
    let result = if let Err(invalid) = task.validate() {
        tracing::warn!(job, index, "refused an invalid task: {invalid}");
        failed(
            &shared.options.name,
            &task,
            format!("the task is invalid: {invalid}"),
            received_ms,
        )
    } else if let Err(over) = over {
        tracing::warn!(
            job,
            index,
            "refused a task over this worker's budget: {over}"
        );
        failed(&shared.options.name, &task, over.to_string(), received_ms)
    } else if deliveries > shared.options.max_deliveries {
        let reason = format!(
            "the task was handed to a worker {deliveries} times without finishing \
             (each worker died or was stopped mid-task)"
        );
        failed(&shared.options.name, &task, reason, received_ms)
    } else {
        let mut tries = 0;
        loop {
            tries += 1;
            match make(&shared, &task, received_ms).await {
                Ok(result) => break result,
                Err(e) if tries < 3 => {
                    tracing::warn!(job, index, "{e}; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => break failed(&shared.options.name, &task, e.to_string(), received_ms),
            }
        }
    };
    // The result must not be lost to a short queue outage: the server waits for it.
    let mut tries = 0;
    let first = loop {
        tries += 1;
        match records::record(&mut conn, job, index, &result).await {
            Ok(first) => break first,
            Err(e) if tries < 60 => {
                tracing::warn!(job, index, "cannot record the result ({e}); trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    tracing::info!(
        job,
        index,
        clips = result.clips.len(),
        failures = result.failures.len(),
        wall_s = result.timing.wall_s,
        duplicate = !first,
        "finished task"
    );
    Ok(())
}

/// A result in which every clip of the task failed for `reason`.
fn failed(worker: &str, task: &ClipTask, reason: String, received_ms: u64) -> TaskResult {
    TaskResult {
        timing: TaskTiming {
            index: task.index,
            worker: worker.to_owned(),
            received_ms,
            finished_ms: now_ms(),
            ..TaskTiming::default()
        },
        clips: Vec::new(),
        failures: task
            .clips
            .iter()
            .take(MAX_TASK_CLIPS)
            .map(|c| FailureSummary {
                clip: c.number,
                kind: FailureKind::Task,
                reason: reason.clone(),
                stderr_tail: String::new(),
            })
            .collect(),
    }
}

/// Fetches the source, runs the executor on the task's clips in a fresh folder, uploads the
/// valid clips under their keys.
async fn make(shared: &Shared, task: &ClipTask, received_ms: u64) -> Result<TaskResult> {
    let options = &shared.options;
    let began = Instant::now();
    let name = format!("{}-{}", task.job, task.index);
    let parts = options.work_dir().join(format!("{name}.source"));
    let fetched = fetch_parts(
        &options.store,
        &task.source,
        &task.clips,
        task.media.start_time,
        &parts,
    );
    let (source, source_bytes) = match fetched.await {
        Ok(Some(bytes)) => (parts.clone(), bytes),
        Ok(None) => fetch_source(shared, &task.source).await?,
        Err(e) => {
            let _ = tokio::fs::remove_file(&parts).await;
            return Err(e);
        }
    };
    let fetch_s = began.elapsed().as_secs_f64();
    let out = options.work_dir().join(&name);
    let _ = tokio::fs::remove_dir_all(&out).await;
    let mut media = task.media.clone();
    media.path = source;
    media.cut_points = task.cut_points.clone();
    let execute_options = ExecuteOptions {
        threads: ThreadSetting::Fixed(options.threads),
        timeout: Duration::from_secs_f64(task.timeout_s),
        stall_timeout: Some(Duration::from_secs_f64(task.stall_timeout_s)),
        retries: task.retries,
        // The worker's threads are its own: no boost.
        tail_boost: false,
        ..task.setup.execute_options(&out, options.tools.clone())
    };
    let clips = task.clips.clone();
    let executed = Instant::now();
    // The task's deadline (from its receipt) cancels its clips and kills their ffmpeg.
    let cancel = CancelToken::new();
    let left = Duration::from_secs_f64(task.deadline_s)
        .saturating_sub(Duration::from_millis(now_ms().saturating_sub(received_ms)));
    let deadline = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            tokio::time::sleep(left).await;
            cancel.cancel();
        }
    });
    let execution = tokio::task::spawn_blocking({
        let cancel = cancel.clone();
        move || execute(&media, &clips, &execute_options, &cancel, &|_| {})
    })
    .await;
    deadline.abort();
    let _ = tokio::fs::remove_file(&parts).await;
    let execution = execution
        .map_err(|e| ServerError::Internal(format!("a task's executor panicked: {e}")))??;
    let execute_s = executed.elapsed().as_secs_f64();
    let uploaded = Instant::now();
    let mut stored = Vec::new();
    for outcome in execution.outcomes.iter().filter(|o| o.status.is_written()) {
        let (Some(path), Some(position)) = (
            &outcome.path,
            task.clips
                .iter()
                .position(|c| c.number == outcome.clip.number),
        ) else {
            continue;
        };
        let key = &task.keys[position];
        let bytes = options.store.put_file(key, path).await?;
        stored.push(StoredClip {
            number: outcome.clip.number,
            key: key.clone(),
            bytes,
        });
    }
    let upload_s = uploaded.elapsed().as_secs_f64();
    let _ = tokio::fs::remove_dir_all(&out).await;
    Ok(TaskResult {
        timing: TaskTiming {
            index: task.index,
            worker: options.name.clone(),
            received_ms,
            finished_ms: now_ms(),
            fetch_s,
            source_bytes,
            execute_s,
            upload_s,
            wall_s: began.elapsed().as_secs_f64(),
        },
        failures: past_deadline(RunReport::failures_of(&execution), &cancel, task, &stored),
        clips: stored,
    })
}

/// A task's failures; when its deadline cancelled it, every clip it did not store fails
/// saying which limit ended it.
fn past_deadline(
    mut failures: Vec<FailureSummary>,
    cancel: &CancelToken,
    task: &ClipTask,
    stored: &[StoredClip],
) -> Vec<FailureSummary> {
    if !cancel.is_cancelled() {
        return failures;
    }
    let reason = clipbench_engine::EngineError::DeadlinePassed {
        limit_s: task.deadline_s as u64,
    }
    .to_string();
    failures.retain(|f| stored.iter().all(|s| s.number != f.clip));
    for clip in (task.clips.iter()).filter(|c| stored.iter().all(|s| s.number != c.number)) {
        match failures.iter_mut().find(|f| f.clip == clip.number) {
            Some(failure) => failure.reason = reason.clone(),
            None => failures.push(FailureSummary {
                clip: clip.number,
                kind: FailureKind::TimedOut,
                reason: reason.clone(),
                stderr_tail: String::new(),
            }),
        }
    }
    failures
}

/// The local copy of the whole source `key`, fetched from the store the first time: its path
/// and the bytes read now (0 when the machine had it).
async fn fetch_source(shared: &Shared, key: &str) -> Result<(PathBuf, u64)> {
    let local = shared
        .options
        .cache
        .join("sources")
        .join(key.replace('/', "_"));
    let lock = {
        let mut locks = shared.fetching.lock().await;
        locks.entry(key.to_owned()).or_default().clone()
    };
    let _held = lock.lock().await;
    if local.exists() {
        return Ok((local, 0));
    }
    create_parent(&local)?;
    let bytes = shared.options.store.get_file(key, &local).await?;
    tracing::info!(key, bytes, "fetched the whole source from the store");
    Ok((local, bytes))
}

fn create_parent(path: &Path) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| ServerError::io("cannot create", parent, e))
}
