//! A job's state in Redis, shared by every server and worker of a deployment (keys in
//! [`super`]'s doc).

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use super::{now_ms, TaskResult};
use clipbench_engine::extras::Phase;

/// A job's state as read from Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    pub id: String,
    pub phase: Phase,
    pub detail: String,
    pub error: Option<String>,
    pub tasks: usize,
    pub tasks_done: usize,
    pub clips: usize,
    pub clips_done: usize,
    /// Seconds since the job was created (until it ended, once it has).
    pub elapsed_s: f64,
}

fn job_key(id: &str) -> String {
    format!("cb:job:{id}")
}

fn results_key(id: &str) -> String {
    format!("cb:job:{id}:results")
}

fn deliveries_key(id: &str) -> String {
    format!("cb:job:{id}:deliveries")
}

const UNFINISHED: &str = "cb:jobs";
const LATEST: &str = "cb:latest";

/// Creates a job (phase `downloading`) and makes it the latest; its id.
pub async fn create(conn: &mut ConnectionManager) -> redis::RedisResult<String> {
    let number: u64 = conn.incr("cb:next", 1).await?;
    let id = format!("j{number}");
    redis::pipe()
        .atomic()
        .hset_multiple(
            job_key(&id),
            &[
                ("phase", Phase::Downloading.as_str().to_owned()),
                ("created_ms", now_ms().to_string()),
            ],
        )
        .ignore()
        .sadd(UNFINISHED, &id)
        .ignore()
        .set(LATEST, &id)
        .ignore()
        .query_async::<()>(conn)
        .await?;
    Ok(id)
}

/// Moves a job to `phase` with `detail`; an ended phase takes it off the unfinished set.
pub async fn set_phase(
    conn: &mut ConnectionManager,
    id: &str,
    phase: Phase,
    detail: &str,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.atomic()
        .hset_multiple(
            job_key(id),
            &[("phase", phase.as_str()), ("detail", detail)],
        )
        .ignore();
    if phase.ended() {
        pipe.hset(job_key(id), "ended_ms", now_ms())
            .ignore()
            .srem(UNFINISHED, id)
            .ignore();
    }
    pipe.query_async(conn).await
}

/// Records why a job failed and ends it.
pub async fn fail(conn: &mut ConnectionManager, id: &str, error: &str) -> redis::RedisResult<()> {
    let _: () = conn.hset(job_key(id), "error", error).await?;
    set_phase(conn, id, Phase::Error, "Failed").await
}

/// Starts the processing phase: `tasks` tasks making `clips` clips.
pub async fn start_processing(
    conn: &mut ConnectionManager,
    id: &str,
    tasks: usize,
    clips: usize,
) -> redis::RedisResult<()> {
    let _: () = conn
        .hset_multiple(
            job_key(id),
            &[("tasks", tasks.to_string()), ("clips", clips.to_string())],
        )
        .await?;
    let detail = format!("Processing {clips} clips as {tasks} queued tasks");
    set_phase(conn, id, Phase::Processing, &detail).await
}

/// Records a task's result unless one is recorded already; whether this one was.
pub async fn record(
    conn: &mut ConnectionManager,
    id: &str,
    index: usize,
    result: &TaskResult,
) -> redis::RedisResult<bool> {
    let json = serde_json::to_string(result).unwrap_or_default();
    let first: bool = conn.hset_nx(results_key(id), index, json).await?;
    if first {
        let _: () = conn
            .hincr(job_key(id), "clips_done", result.clips.len())
            .await?;
    }
    Ok(first)
}

/// Counts one more delivery of a task to a worker; how many there have been.
pub async fn delivered(
    conn: &mut ConnectionManager,
    id: &str,
    index: usize,
) -> redis::RedisResult<u64> {
    conn.hincr(deliveries_key(id), index, 1).await
}

/// Whether a task's result is recorded already.
pub async fn is_recorded(
    conn: &mut ConnectionManager,
    id: &str,
    index: usize,
) -> redis::RedisResult<bool> {
    conn.hexists(results_key(id), index).await
}

/// The job's state; `None` when there is no such job.
pub async fn read(conn: &mut ConnectionManager, id: &str) -> redis::RedisResult<Option<JobState>> {
    let fields: HashMap<String, String> = conn.hgetall(job_key(id)).await?;
    if fields.is_empty() {
        return Ok(None);
    }
    let tasks_done: usize = conn.hlen(results_key(id)).await?;
    let number = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok());
    let created = number("created_ms").unwrap_or_else(now_ms);
    let until = number("ended_ms").unwrap_or_else(now_ms);
    Ok(Some(JobState {
        id: id.to_owned(),
        phase: fields
            .get("phase")
            .and_then(|p| Phase::parse(p))
            .unwrap_or(Phase::Error),
        detail: fields.get("detail").cloned().unwrap_or_default(),
        error: fields.get("error").cloned(),
        tasks: number("tasks").unwrap_or(0) as usize,
        tasks_done,
        clips: number("clips").unwrap_or(0) as usize,
        clips_done: number("clips_done").unwrap_or(0) as usize,
        elapsed_s: until.saturating_sub(created) as f64 / 1000.0,
    }))
}

/// The newest job's state, if any.
pub async fn latest(conn: &mut ConnectionManager) -> redis::RedisResult<Option<JobState>> {
    let id: Option<String> = conn.get(LATEST).await?;
    match id {
        Some(id) => read(conn, &id).await,
        None => Ok(None),
    }
}

/// Every recorded task result of a job, in task order.
pub async fn results(
    conn: &mut ConnectionManager,
    id: &str,
) -> redis::RedisResult<Vec<(usize, TaskResult)>> {
    let raw: HashMap<usize, String> = conn.hgetall(results_key(id)).await?;
    let mut results: Vec<(usize, TaskResult)> = raw
        .into_iter()
        .filter_map(|(i, json)| serde_json::from_str(&json).ok().map(|r| (i, r)))
        .collect();
    results.sort_by_key(|(i, _)| *i);
    Ok(results)
}

/// Cancels every unfinished job; their ids.
pub async fn cancel_unfinished(conn: &mut ConnectionManager) -> redis::RedisResult<Vec<String>> {
    let ids: Vec<String> = conn.smembers(UNFINISHED).await?;
    for id in &ids {
        set_phase(conn, id, Phase::Cancelled, "Cancelled by cleanup").await?;
    }
    let _: () = conn.del(LATEST).await?;
    Ok(ids)
}

/// Whether a job was cancelled (a missing job counts as cancelled: its state was cleaned up).
pub async fn is_cancelled(conn: &mut ConnectionManager, id: &str) -> redis::RedisResult<bool> {
    let phase: Option<String> = conn.hget(job_key(id), "phase").await?;
    Ok(phase.is_none_or(|p| p == Phase::Cancelled.as_str()))
}

/// Removes the pending (not yet delivered) tasks of the jobs `ids` from the apalis queue (its
/// active list and its scheduled set, where a fresh task waits until a worker promotes it); how
/// many.
pub async fn remove_pending(
    conn: &mut ConnectionManager,
    config: &apalis_redis::Config,
    ids: &[String],
) -> redis::RedisResult<usize> {
    let (active, scheduled, data) = (
        config.active_jobs_list(),
        config.scheduled_jobs_set(),
        config.job_data_hash(),
    );
    let mut pending: Vec<String> = conn.lrange(&active, 0, -1).await?;
    pending.extend(conn.zrange::<_, Vec<String>>(&scheduled, 0, -1).await?);
    let mut removed = 0;
    for task_id in pending {
        let payload: Option<Vec<u8>> = conn.hget(&data, &task_id).await?;
        let job = payload
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
            .and_then(|v| v.get("job").and_then(|j| j.as_str()).map(str::to_owned));
        if job.is_some_and(|job| ids.contains(&job)) {
            let listed: usize = conn.lrem(&active, 0, &task_id).await?;
            let waiting: usize = conn.zrem(&scheduled, &task_id).await?;
            let _: () = conn.hdel(&data, &task_id).await?;
            removed += listed + waiting;
        }
    }
    Ok(removed)
}

/// Workers of the queue that have beaten within `within`.
pub async fn live_workers(
    conn: &mut ConnectionManager,
    config: &apalis_redis::Config,
    within: std::time::Duration,
) -> redis::RedisResult<usize> {
    let since = (now_ms() / 1000).saturating_sub(within.as_secs().max(1));
    conn.zcount(config.workers_set(), since, "+inf").await
}
