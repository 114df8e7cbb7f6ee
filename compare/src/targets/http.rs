//! A backend over HTTP: the job is one request (answered when the job ends); `/progress` is
//! polled meanwhile for the phases and the time to first clip; every clip in `clip_details` is
//! fetched with `GET /<filename>` and probed.

use std::time::{Duration, Instant};

use clipbench_engine::validate::check as check_clip;
use clipbench_engine::{probe, Clip, Priority, Profile};
use reqwest::Url;
use serde_json::Value;

use super::{Job, Measured};
use crate::config::ResolvedDialect;

/// Answers when the backend's health (or progress) endpoint does.
pub async fn check(dialect: &ResolvedDialect) -> Result<(), String> {
    let path = dialect
        .health_path
        .as_deref()
        .or(dialect.progress_path.as_deref())
        .unwrap_or("/");
    let url = format!("{}{path}", dialect.base_url);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("{url} answered {}", r.status())),
        Err(e) if e.is_connect() => Err(format!(
            "no server at {url} (connection refused): start the backend first"
        )),
        Err(e) => Err(format!("{url} did not answer: {e}")),
    }
}

/// One `/progress` reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub at_s: f64,
    pub status: String,
    pub current_clip: u64,
}

/// Phases and time to first clip from the readings of one job (pure). Readings before the job
/// shows an active status are ignored: `/progress` may still show the previous job.
pub fn phases(
    readings: &[Reading],
    wall_s: f64,
) -> (Option<f64>, Option<f64>, Option<f64>, Option<f64>) {
    let active = ["starting", "downloading", "analyzing", "processing"];
    let Some(first_active) = readings
        .iter()
        .position(|r| active.contains(&r.status.as_str()))
    else {
        return (None, None, None, None);
    };
    let ours = &readings[first_active..];
    let first = |status: &str| ours.iter().find(|r| r.status == status).map(|r| r.at_s);
    let analyzing = first("analyzing");
    let processing = first("processing");
    let download = analyzing.or(processing);
    let analysis = match (analyzing, processing) {
        (Some(a), Some(p)) => Some(p - a),
        _ => None,
    };
    let encode = processing.map(|p| wall_s - p);
    let first_clip = ours
        .iter()
        .find(|r| r.current_clip >= 1 && r.status != "starting")
        .map(|r| r.at_s);
    (download, analysis, encode, first_clip)
}

pub async fn run(dialect: &ResolvedDialect, job: &Job<'_>) -> Measured {
    let Some(sample_url) = job.url else {
        return Measured::failure(0.0, "no URL for the sample (file server not running)");
    };
    let body = dialect.body_template.replace("{url}", sample_url);
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(dialect.timeout_s))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Measured::failure(0.0, e.to_string()),
    };
    let began = Instant::now();
    let mut readings = Vec::new();
    let request = client
        .post(format!("{}{}", dialect.base_url, dialect.generate_path))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send();
    let answer = {
        let poll = poll_progress(&client, dialect, job.poll_interval, began, &mut readings);
        let cancelled = async {
            while !job.cancel.is_cancelled() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            answer = request => Some(answer),
            _ = poll => None,
            _ = cancelled => None,
        }
    };
    let wall_s = began.elapsed().as_secs_f64();
    let response = match answer {
        None => return Measured::failure(wall_s, "interrupted"),
        Some(Err(e)) => return Measured::failure(wall_s, format!("request failed: {e}")),
        Some(Ok(r)) => r,
    };
    let status = response.status();
    let json: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let error = json["error"].as_str().unwrap_or("no error message");
        return Measured::failure(wall_s, format!("answered {status}: {error}"));
    }
    let (download_s, analysis_s, encode_s, time_to_first_clip_s) = phases(&readings, wall_s);
    let mut measured = Measured {
        wall_s,
        download_s,
        analysis_s,
        encode_s,
        time_to_first_clip_s,
        workers: json["processing_metrics"]["threads_used"]
            .as_u64()
            .map(|w| w as usize),
        ..Default::default()
    };
    validate_clips(&client, dialect, &json, job, &mut measured).await;
    if let Some(cleanup) = &dialect.cleanup_path {
        let _ = client
            .post(format!("{}{cleanup}", dialect.base_url))
            .send()
            .await;
    }
    measured
}

async fn poll_progress(
    client: &reqwest::Client,
    dialect: &ResolvedDialect,
    interval: Duration,
    began: Instant,
    readings: &mut Vec<Reading>,
) {
    let Some(path) = &dialect.progress_path else {
        return std::future::pending().await;
    };
    let url = format!("{}{path}", dialect.base_url);
    loop {
        if let Ok(response) = client
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            if let Ok(p) = response.json::<Value>().await {
                readings.push(Reading {
                    at_s: began.elapsed().as_secs_f64(),
                    status: p["status"].as_str().unwrap_or_default().to_owned(),
                    current_clip: p["current_clip"].as_u64().unwrap_or(0),
                });
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Fetches every listed clip and checks it against its planned span.
async fn validate_clips(
    client: &reqwest::Client,
    dialect: &ResolvedDialect,
    json: &Value,
    job: &Job<'_>,
    m: &mut Measured,
) {
    let details = json["clip_details"].as_array().cloned().unwrap_or_default();
    m.clips = details.len();
    if details.is_empty() {
        m.problems.push("the answer lists no clip".into());
    }
    let base = match Url::parse(&format!("{}/", dialect.base_url)) {
        Ok(base) => base,
        Err(e) => {
            m.problems.push(format!("bad base URL: {e}"));
            return;
        }
    };
    for (i, detail) in details.iter().enumerate() {
        let number = detail["clip_number"].as_u64().unwrap_or(i as u64 + 1);
        let Some(filename) = detail["filename"].as_str() else {
            m.problems.push(format!("clip {number}: no filename"));
            continue;
        };
        let fetched = match base.join(filename) {
            Ok(url) => client
                .get(url)
                .send()
                .await
                .and_then(|r| r.error_for_status()),
            Err(e) => {
                m.problems
                    .push(format!("clip {number}: bad filename {filename:?}: {e}"));
                continue;
            }
        };
        let bytes = match fetched {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                m.problems
                    .push(format!("clip {number}: cannot fetch {filename}: {e}"));
                continue;
            }
        };
        m.output_bytes += bytes.len() as u64;
        let local = job.scratch.join(format!("fetched_{number:03}.mp4"));
        if let Err(e) = tokio::fs::write(&local, &bytes).await {
            m.problems.push(format!("clip {number}: cannot store: {e}"));
            continue;
        }
        let start = detail["start_time"].as_f64().unwrap_or(0.0);
        let end = detail["end_time"].as_f64().unwrap_or(start);
        let clip = Clip {
            number: number as u32,
            start,
            end,
            priority: Priority::Normal,
        };
        let verdict = match probe(job.tools, &local) {
            Ok(info) => check_clip(&info, &clip, job.media, Profile::Optimized),
            Err(e) => {
                m.problems.push(format!("clip {number}: {e}"));
                continue;
            }
        };
        if verdict.valid {
            m.clips_valid += 1;
        } else {
            m.problems
                .push(format!("clip {number}: {}", verdict.problems.join(", ")));
        }
        let _ = tokio::fs::remove_file(&local).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(at_s: f64, status: &str, current_clip: u64) -> Reading {
        Reading {
            at_s,
            status: status.into(),
            current_clip,
        }
    }

    #[test]
    fn phases_from_progress_readings() {
        let readings = [
            r(0.1, "complete", 24), // the previous job, still shown
            r(0.2, "downloading", 0),
            r(1.0, "analyzing", 0),
            r(1.5, "processing", 0),
            r(4.0, "processing", 1),
            r(9.0, "complete", 3),
        ];
        let (download, analysis, encode, first) = phases(&readings, 9.5);
        assert_eq!(download, Some(1.0));
        assert_eq!(analysis, Some(0.5));
        assert_eq!(encode, Some(8.0));
        assert_eq!(first, Some(4.0));
        assert_eq!(
            phases(&[r(0.1, "complete", 3)], 1.0),
            (None, None, None, None)
        );
    }
}
