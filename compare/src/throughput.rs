//! Batch mode: many jobs against one HTTP backend with K of them in flight, as a web app with
//! many users sends them; reports throughput (jobs per hour) and each job's latency, for each K.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clipbench_engine::CancelToken;

use crate::history;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What to send.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// `http://HOST:PORT` of the backend.
    pub base_url: String,
    /// The video URL every job asks for.
    pub video_url: String,
    /// Jobs per concurrency level.
    pub jobs: usize,
    /// Longest one job may take.
    pub timeout: Duration,
}

/// One job of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub concurrency: usize,
    pub index: usize,
    /// Seconds from the batch's start to the request and to the answer.
    pub sent_s: f64,
    pub wall_s: f64,
    /// HTTP status (0: no answer).
    pub status: u16,
    pub clips: usize,
    pub error: Option<String>,
}

impl JobRecord {
    /// Answered 200 with at least one clip.
    pub fn ok(&self) -> bool {
        self.status == 200 && self.clips > 0
    }
}

/// The figures of one concurrency level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub concurrency: usize,
    pub jobs: usize,
    pub ok: usize,
    pub failed: usize,
    /// First request to last answer, seconds.
    pub wall_s: f64,
    /// Jobs answered with clips per hour of wall time.
    pub jobs_per_hour: f64,
    pub latency_mean_s: f64,
    pub latency_p50_s: f64,
    pub latency_p95_s: f64,
    pub latency_max_s: f64,
}

/// Summarises one level's jobs (latency over the successful ones).
pub fn summarise(concurrency: usize, records: &[JobRecord], wall_s: f64) -> BatchSummary {
    let mut latencies: Vec<f64> = records
        .iter()
        .filter(|r| r.ok())
        .map(|r| r.wall_s)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let ok = latencies.len();
    let quantile = |q: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1]
    };
    BatchSummary {
        concurrency,
        jobs: records.len(),
        ok,
        failed: records.len() - ok,
        wall_s,
        jobs_per_hour: if wall_s > 0.0 {
            ok as f64 * 3600.0 / wall_s
        } else {
            0.0
        },
        latency_mean_s: latencies.iter().sum::<f64>() / ok.max(1) as f64,
        latency_p50_s: quantile(0.5),
        latency_p95_s: quantile(0.95),
        latency_max_s: latencies.last().copied().unwrap_or(0.0),
    }
}

/// Sends `plan.jobs` jobs with `concurrency` in flight; the records in index order and the wall
/// time. A cancel stops sending; jobs in flight are dropped (recorded as interrupted).
pub async fn run_level(
    plan: &BatchPlan,
    concurrency: usize,
    cancel: &CancelToken,
) -> (Vec<JobRecord>, f64) {
    let client = reqwest::Client::builder()
        .timeout(plan.timeout)
        .build()
        .expect("a client with a timeout");
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let began = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for index in 0..plan.jobs {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = cancel.cancelled() => break,
        };
        let (client, url) = (client.clone(), format!("{}/generate_shorts", plan.base_url));
        let body = serde_json::json!({ "url": plan.video_url });
        running.spawn(async move {
            let sent_s = began.elapsed().as_secs_f64();
            let answer = client.post(url).json(&body).send().await;
            let (status, clips, error) = match answer {
                Err(e) => (0, 0, Some(format!("no answer: {e}"))),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let json: Value = response.json().await.unwrap_or(Value::Null);
                    let clips = json["clip_details"].as_array().map_or(0, Vec::len);
                    let error = (status != 200).then(|| {
                        json["error"]
                            .as_str()
                            .or(json["message"].as_str())
                            .unwrap_or("no error message")
                            .to_owned()
                    });
                    (status, clips, error)
                }
            };
            drop(permit);
            JobRecord {
                concurrency,
                index,
                sent_s,
                wall_s: began.elapsed().as_secs_f64() - sent_s,
                status,
                clips,
                error,
            }
        });
    }
    let mut records = Vec::new();
    loop {
        tokio::select! {
            next = running.join_next() => match next {
                Some(Ok(record)) => records.push(record),
                Some(Err(_)) => {}
                None => break,
            },
            _ = cancel.cancelled() => {
                running.abort_all();
                break;
            }
        }
    }
    records.sort_by_key(|r| r.index);
    (records, began.elapsed().as_secs_f64())
}

/// The levels as a Markdown table.
pub fn markdown(summaries: &[BatchSummary]) -> String {
    let mut out = String::from(
        "| in flight | jobs | ok | failed | wall (s) | jobs/hour | latency mean (s) | p50 | p95 | max |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in summaries {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            s.concurrency,
            s.jobs,
            s.ok,
            s.failed,
            s.wall_s,
            s.jobs_per_hour,
            s.latency_mean_s,
            s.latency_p50_s,
            s.latency_p95_s,
            s.latency_max_s
        ));
    }
    out
}

/// What a batch adds to the history: each job a run of the target `BASE_URL` on the video's
/// file name, one series per concurrency level, at the commit of the clipbench that measured
/// (the backend's own is not known).
pub fn session(
    plan: &BatchPlan,
    records: &[JobRecord],
    started: std::time::SystemTime,
    machine: &crate::machine::Machine,
    source: &str,
) -> history::Session {
    let (commit, dirty) = history::parse_commit(machine.git_commit.as_deref().unwrap_or(""));
    let sample = plan.video_url.rsplit('/').next().unwrap_or_default();
    let at = |seconds: f64| {
        let when = started + Duration::from_secs_f64(seconds.max(0.0));
        humantime::format_rfc3339_millis(when).to_string()
    };
    let measurements = records
        .iter()
        .enumerate()
        .map(|(i, r)| history::Measurement {
            target: plan.base_url.clone(),
            sample: sample.to_owned(),
            // Numbered across levels: each level numbers its jobs from 0.
            run: i as i64 + 1,
            commit: commit.clone(),
            dirty,
            config_hash: history::config_hash(&serde_json::json!({
                "batch": { "concurrency": r.concurrency, "jobs": plan.jobs }
            })),
            status: if r.ok() { "ok" } else { "failed" }.to_owned(),
            measured_at: at(r.sent_s),
            wall_s: r.wall_s,
            work_cpu_s: None,
            figures: serde_json::to_string(r).unwrap_or_default(),
        })
        .collect();
    history::Session {
        id: history::short_hash(format!("batch\n{}\n{source}", at(0.0)).as_bytes(), 32),
        command: "batch".into(),
        created_at: at(0.0),
        clipbench_version: env!("CARGO_PKG_VERSION").into(),
        machine: history::MachineKey::of(machine),
        source: source.to_owned(),
        interrupted: false,
        measurements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: usize, wall_s: f64, status: u16) -> JobRecord {
        JobRecord {
            concurrency: 2,
            index,
            sent_s: 0.0,
            wall_s,
            status,
            clips: if status == 200 { 3 } else { 0 },
            error: None,
        }
    }

    #[test]
    fn throughput_counts_answered_jobs_and_latency_only_theirs() {
        let records: Vec<JobRecord> = (1..=10)
            .map(|i| record(i, i as f64, 200))
            .chain([record(11, 100.0, 503)])
            .collect();
        let s = summarise(2, &records, 36.0);
        assert_eq!((s.jobs, s.ok, s.failed), (11, 10, 1));
        assert!((s.jobs_per_hour - 1000.0).abs() < 1e-9);
        assert!((s.latency_mean_s - 5.5).abs() < 1e-9);
        assert_eq!(s.latency_p50_s, 5.0);
        assert_eq!(s.latency_p95_s, 10.0);
        assert_eq!(s.latency_max_s, 10.0);
        let none = summarise(1, &[record(1, 3.0, 500)], 3.0);
        assert_eq!(
            (none.ok, none.jobs_per_hour, none.latency_p95_s),
            (0, 0.0, 0.0)
        );
    }

    #[test]
    fn the_table_has_a_row_per_level() {
        let rows = markdown(&[
            summarise(1, &[record(1, 2.0, 200)], 2.0),
            summarise(4, &[record(1, 2.0, 200)], 2.0),
        ]);
        assert_eq!(rows.lines().count(), 4);
        assert!(rows.contains("| 4 | 1 | 1 | 0 | 2.0 | 1800 |"), "{rows}");
    }
}
