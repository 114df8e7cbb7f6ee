//! A queued job's answer from its task results: the clips the workers stored, their failures,
//! and how the job went through the queue, in the backend's shape.

use axum::http::StatusCode;
use serde_json::Value;

use super::WorkersBackend;
use crate::admission::Admitted;
use crate::queue::records;
use crate::queue::{ClipTask, TaskResult};
use crate::request::JobError;
use crate::responses::{job_body, JobSummary, Published};
use clipbench_engine::extras::{JobExtras, Phase, QueueFigures, TaskTiming};
use clipbench_engine::report::FailureSummary;
use clipbench_engine::run::Prepared;

/// A job whose tasks are queued.
#[derive(Clone, Copy)]
pub(super) struct QueuedJob<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub prepared: &'a Prepared,
    pub tasks: &'a [ClipTask],
    /// When the tasks were queued, ms since the epoch.
    pub queued_ms: u64,
    /// Download end to tasks queued (analysis and the source's upload), seconds.
    pub analysis_s: f64,
}

/// What a job's task results add up to.
struct Gathered {
    /// The clips stored, in clip order.
    published: Vec<Published>,
    failures: Vec<FailureSummary>,
    /// The workers that ran the tasks, in order of first result.
    workers: Vec<String>,
}

/// Adds up the task results of `tasks` (pure).
fn gather(tasks: &[ClipTask], results: &[(usize, TaskResult)]) -> Gathered {
    let mut gathered = Gathered {
        published: Vec::new(),
        failures: Vec::new(),
        workers: Vec::new(),
    };
    for (index, result) in results {
        let Some(task) = tasks.get(*index) else {
            continue;
        };
        for stored in &result.clips {
            let Some(clip) = task.clips.iter().find(|c| c.number == stored.number) else {
                continue;
            };
            gathered.published.push(Published {
                clip: *clip,
                filename: stored.key.trim_start_matches("clips/").to_owned(),
                bytes: stored.bytes,
            });
        }
        gathered.failures.extend(result.failures.iter().cloned());
        if !gathered.workers.contains(&result.timing.worker) {
            gathered.workers.push(result.timing.worker.clone());
        }
    }
    gathered.published.sort_by_key(|p| p.clip.number);
    gathered
}

/// The job's answer from its task results, in the backend's shape.
pub(super) async fn answer(
    queue: &WorkersBackend,
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
    let Gathered {
        published,
        failures,
        workers,
    } = gather(tasks, &results);
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
    records::set_phase(&mut conn, id, Phase::Complete, "Processing complete")
        .await
        .map_err(|e| queue.err(e))?;
    // Each task's timings, for the queue's overhead: outside `execute_s` is the queue's share.
    let task_timings = results
        .iter()
        .map(|(index, r)| TaskTiming {
            index: *index,
            ..r.timing.clone()
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
