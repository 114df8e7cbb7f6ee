//! A backend over HTTP: the job is one request (answered when the job ends); `/progress` is
//! polled meanwhile for the phases and the time to first clip; every clip in `clip_details` is
//! fetched with `GET /<filename>` and probed.

use std::time::{Duration, Instant};

use clipbench_engine::validate::check as check_clip;
use clipbench_engine::{probe, Clip, Priority, Profile};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::{Job, Measured, Sources};
use crate::config::HttpDialect;
use crate::dialect::{classify, interpret, ClipCounter, Flavor, Reading, ResolvedDialect};

/// A client with `timeout` that sends the API key held by the environment variable
/// `api_key_env` (when one is named) on every request.
fn client_for(api_key_env: Option<&str>, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().timeout(timeout);
    if let Some(var) = api_key_env {
        let key = std::env::var(var).map_err(|_| {
            format!("api_key_env {var} is not set: export the server's API key in it")
        })?;
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| format!("{var} holds characters a header cannot carry"))?;
        value.set_sensitive(true);
        let headers =
            reqwest::header::HeaderMap::from_iter([(reqwest::header::AUTHORIZATION, value)]);
        builder = builder.default_headers(headers);
    }
    builder.build().map_err(|e| e.to_string())
}

/// The generate paths tried, in order, when none is configured.
const GENERATE_PATHS: [&str; 2] = ["/generate_shorts", "/generate_shorts_optimized"];

/// Finds the server and its dialect: at the configured base URL or, for a preset without
/// one, on the preset's usual ports. A server of another flavor than the preset names is not
/// taken. The error is the reason the target is skipped.
pub async fn check(config: &HttpDialect) -> Result<ResolvedDialect, String> {
    let expected = config.expected()?;
    let client = client_for(config.api_key_env.as_deref(), Duration::from_secs(3))?;
    let mut tried = Vec::new();
    for base in config.candidate_base_urls()? {
        match detect(&client, &base, config, expected).await {
            Ok(found) => match (expected, found.flavor) {
                (Some(want), Some(got)) if want != got => tried.push(format!(
                    "{base} is {}, not the {} backend",
                    describe(&found),
                    want.as_str()
                )),
                _ => return Ok(found),
            },
            Err(reason) => tried.push(format!("{base}: {reason}")),
        }
    }
    Err(tried.join("; "))
}

/// One line naming a detected server.
pub fn describe(d: &ResolvedDialect) -> String {
    match (d.flavor, d.compat) {
        (Some(Flavor::Clipbench), Some(compat)) => {
            format!("clipbench-engine serve (compat {})", compat.as_str())
        }
        (Some(Flavor::Clipbench), None) => "clipbench-engine serve".into(),
        (Some(flavor), _) => format!("the {} backend", flavor.as_str()),
        (None, _) => "an unknown backend".into(),
    }
}

/// A configured optional path: `Some("")` disables it, `None` means "detect".
fn configured(path: &Option<String>) -> Option<Option<String>> {
    path.as_ref().map(|p| (!p.is_empty()).then(|| p.clone()))
}

/// `GET base+path` as JSON, when it answers 2xx with JSON. Connection refused is an error.
async fn get_json(
    client: &reqwest::Client,
    url: &str,
    evidence: &mut Vec<String>,
) -> Result<Option<Value>, String> {
    match client.get(url).send().await {
        Ok(r) => {
            let status = r.status();
            let json = r.json::<Value>().await.ok().filter(|_| status.is_success());
            evidence.push(format!("GET {url} -> {}", status.as_u16()));
            Ok(json)
        }
        Err(e) if e.is_connect() => {
            Err("no server (connection refused): start the backend first".into())
        }
        Err(e) => Err(format!("no answer to GET {url}: {e}")),
    }
}

/// Asks the server what it is: `/health`, `/progress`, which generate path takes a POST (an
/// empty JSON object, which every known backend refuses with 400 without starting a job), and
/// whether `/cleanup` takes a POST (`OPTIONS`, which changes nothing).
async fn detect(
    client: &reqwest::Client,
    base: &str,
    config: &HttpDialect,
    expected: Option<Flavor>,
) -> Result<ResolvedDialect, String> {
    let mut evidence = Vec::new();
    let health_path = configured(&config.health_path).unwrap_or(Some("/health".into()));
    let progress_path = configured(&config.progress_path).unwrap_or(Some("/progress".into()));
    let health = match &health_path {
        Some(path) => get_json(client, &format!("{base}{path}"), &mut evidence).await?,
        None => None,
    };
    let progress = match &progress_path {
        Some(path) => get_json(client, &format!("{base}{path}"), &mut evidence).await?,
        None => None,
    };
    let (detected, compat) = classify(health.as_ref(), progress.as_ref());
    let flavor = detected.or(expected);
    let generate_path = find_generate_path(client, base, config, &mut evidence).await?;
    let cleanup_path = match configured(&config.cleanup_path) {
        Some(path) => path,
        None => {
            let url = format!("{base}/cleanup");
            let allowed = match client.request(Method::OPTIONS, &url).send().await {
                Ok(r) => r
                    .headers()
                    .get(reqwest::header::ALLOW)
                    .and_then(|a| a.to_str().ok())
                    .map(|a| a.to_ascii_uppercase().contains("POST")),
                Err(_) => None,
            };
            evidence.push(format!("OPTIONS {url} allows POST: {allowed:?}"));
            let has_cleanup = allowed.unwrap_or(matches!(
                flavor,
                Some(Flavor::Optimized | Flavor::Clipbench)
            ));
            has_cleanup.then(|| "/cleanup".to_owned())
        }
    };
    Ok(ResolvedDialect {
        flavor,
        compat,
        base_url: base.to_owned(),
        generate_path,
        progress_path: progress.is_some().then_some(progress_path).flatten(),
        health_path: health.is_some().then_some(health_path).flatten(),
        cleanup_path,
        // What the server's `current_clip` means (ours: that of the backend it imitates).
        current_clip: config
            .current_clip
            .or(compat.or(flavor).map(Flavor::clip_counter))
            .unwrap_or(ClipCounter::Finished),
        body_template: config
            .body_template
            .clone()
            .unwrap_or_else(|| r#"{"url": "{url}"}"#.to_owned()),
        timeout_s: config.timeout_s.unwrap_or(1800.0),
        api_key_env: config.api_key_env.clone(),
        evidence,
    })
}

/// The first generate path (the configured one, else the backends') that takes a POST: an
/// empty body is refused by a real route (400) and not found (404, 405) by a missing one.
async fn find_generate_path(
    client: &reqwest::Client,
    base: &str,
    config: &HttpDialect,
    evidence: &mut Vec<String>,
) -> Result<String, String> {
    let candidates: Vec<String> = match &config.generate_path {
        Some(path) => vec![path.clone()],
        None => GENERATE_PATHS.iter().map(|p| (*p).to_owned()).collect(),
    };
    for path in candidates {
        let url = format!("{base}{path}");
        let answer = client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await
            .map_err(|e| format!("no answer to POST {url}: {e}"))?;
        let status = answer.status();
        evidence.push(format!("POST {url} {{}} -> {}", status.as_u16()));
        if status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
            return Ok(path);
        }
    }
    Err(format!(
        "no generate path takes a POST ({}): set generate_path",
        evidence.join(", ")
    ))
}

pub async fn run(dialect: &ResolvedDialect, job: &Job<'_>) -> Measured {
    let Some(sample_url) = job.url else {
        return Measured::failure(0.0, "no URL for the sample (file server not running)");
    };
    let body = dialect.body_template.replace("{url}", sample_url);
    let timeout = Duration::from_secs_f64(dialect.timeout_s);
    let client = match client_for(dialect.api_key_env.as_deref(), timeout) {
        Ok(c) => c,
        Err(e) => return Measured::failure(0.0, e),
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
        tokio::select! {
            answer = request => Some(answer),
            _ = poll => None,
            _ = job.cancel.cancelled() => None,
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
    let timings = interpret(dialect, &readings, wall_s);
    let mut measured = Measured {
        wall_s,
        download_s: timings.download_s,
        analysis_s: timings.analysis_s,
        encode_s: timings.encode_s,
        time_to_first_clip_s: timings.time_to_first_clip_s,
        workers: timings.workers,
        sources: Sources {
            phases: timings.phases_source,
            time_to_first_clip: timings.ttfc_source,
            workers: timings.workers_source,
        },
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
                readings.push(Reading::parse(
                    dialect.flavor,
                    &p,
                    began.elapsed().as_secs_f64(),
                ));
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
            let problems: Vec<String> = verdict.problems.iter().map(|p| p.to_string()).collect();
            m.problems
                .push(format!("clip {number}: {}", problems.join(", ")));
        }
        let _ = tokio::fs::remove_file(&local).await;
    }
}
