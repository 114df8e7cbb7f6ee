//! Waiting for a queued job's results: polls its state in Redis, gives up when no worker is
//! alive to take its tasks or the queue stays down.

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::WorkersBackend;
use crate::queue::records;
use crate::queue::TaskResult;
use crate::request::JobError;
use axum::http::StatusCode;
use clipbench_engine::extras::Phase;
use clipbench_engine::EngineError;

/// How long the queue may stay down during a job before the job answers 503.
const QUEUE_DOWN_GRACE: Duration = Duration::from_secs(15);

/// Polls the job's state until every task has a result (`Some`) or the job is cancelled, in
/// the queue or through `cancel` (`None`); 503 when the queue stays down for
/// [`QUEUE_DOWN_GRACE`]; past `deadline` (the job's `limit` from its request) its pending
/// tasks are removed, the job cancelled, and it answers which limit ended it.
pub(super) async fn wait_for_results(
    queue: &WorkersBackend,
    id: &str,
    tasks: usize,
    cancel: &clipbench_engine::cancel::CancelToken,
    (deadline, limit): (Instant, Duration),
) -> Result<Option<Vec<(usize, TaskResult)>>, JobError> {
    let mut conn = queue.conn();
    let mut down_since: Option<Instant> = None;
    let mut no_worker_since: Option<Instant> = None;
    let mut polls = 0u64;
    loop {
        if cancel.is_draining() {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Err(past_deadline(queue, &mut conn, id, limit).await);
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
        match records::read(&mut conn, id).await {
            Ok(Some(job)) if job.phase == Phase::Cancelled => return Ok(None),
            Ok(None) => return Ok(None),
            Ok(Some(job)) if job.tasks_done >= tasks => {
                return records::results(&mut conn, id)
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

/// Ends a job past its deadline: its pending tasks removed, the job cancelled (running tasks
/// stop at their own deadline); the error to answer.
async fn past_deadline(
    queue: &WorkersBackend,
    conn: &mut ConnectionManager,
    id: &str,
    limit: Duration,
) -> JobError {
    let ids = [id.to_owned()];
    let removed = records::remove_pending(conn, &queue.config.apalis(), &ids)
        .await
        .unwrap_or(0);
    let error = EngineError::DeadlinePassed {
        limit_s: limit.as_secs(),
    };
    let _ = records::fail(conn, id, &error.to_string()).await;
    tracing::warn!(job = %id, removed, "past its deadline: job ended");
    JobError::from(error)
}

/// Whether no worker of the queue has beaten within the visibility timeout.
async fn no_workers(queue: &WorkersBackend, conn: &mut ConnectionManager) -> bool {
    let within = queue.config.visibility_timeout();
    records::live_workers(conn, &queue.config.apalis(), within)
        .await
        .is_ok_and(|n| n == 0)
}

/// Gives up a job no worker takes: its pending tasks are removed; the error to answer.
async fn abandon(queue: &WorkersBackend, conn: &mut ConnectionManager, id: &str) -> JobError {
    let ids = [id.to_owned()];
    let removed = records::remove_pending(conn, &queue.config.apalis(), &ids)
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
