//! `clipbench-engine serve --compat original|optimized` against the recordings of the real
//! backends (`contract/peers/`): the same request gets an answer with the recordings' keys and
//! JSON types, field for field (integers where they send integers), the same plan, `/progress`
//! with their statuses, fields and meaning of `current_clip`, and what the real frontend calls
//! (generate, progress, health, cleanup) gets what it expects. Real server, real ffmpeg, on an
//! ephemeral loopback port; every polling loop is bounded.

use crate::common;

use std::path::Path;
use std::time::Duration;

use clipbench_engine::{Profile, Strategy};
use clipbench_server::Compat;
use serde_json::{json, Value};

use common::http::{client, engine_server, file_server, get_json, poll_until, post, progress};
use common::make_video;

fn recording(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contract/peers")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `recorded` is in `ours` with the same JSON type, recursively; arrays have the
/// same length. Where the recorded backend sent a placeholder `0` for a figure it could not
/// compute (the original backend's coverage of a video whose duration yt-dlp did not know), a
/// float is accepted.
fn same_shape(recorded: &Value, ours: &Value, at: &str, problems: &mut Vec<String>) {
    match (recorded, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (key, value) in r {
                match o.get(key) {
                    Some(mine) => same_shape(value, mine, &format!("{at}.{key}"), problems),
                    None => problems.push(format!("{at}.{key} is missing")),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if r.len() != o.len() {
                problems.push(format!("{at}: {} items, recorded {}", o.len(), r.len()));
            }
            for (i, (a, b)) in r.iter().zip(o).enumerate() {
                same_shape(a, b, &format!("{at}[{i}]"), problems);
            }
        }
        _ => {
            let placeholder = at.ends_with(".video_coverage_percentage") && recorded == &json!(0);
            if kind(recorded) != kind(ours) && !(placeholder && ours.is_number()) {
                problems.push(format!(
                    "{at}: {} {ours}, recorded {} {recorded}",
                    kind(ours),
                    kind(recorded)
                ));
            }
        }
    }
}

fn assert_same_shape(recorded: &Value, ours: &Value, what: &str) {
    let mut problems = Vec::new();
    same_shape(recorded, ours, what, &mut problems);
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

/// Runs the recorded request against our server in `compat`, polling `/progress`; returns the
/// answer and every reading.
async fn replay(compat: Compat, media_dir: &Path, workdir: &Path) -> (String, Value, Vec<Value>) {
    let media = file_server(media_dir).await;
    let base = engine_server(workdir, |c| {
        c.compat = compat;
        c.setup.strategy = Strategy::Serial;
        c.setup.profile = Profile::Optimized;
        c.setup.plan.policy = match compat {
            Compat::Original => clipbench_engine::Policy::ORIGINAL,
            Compat::Optimized => clipbench_engine::Policy::OPTIMIZED,
        };
    })
    .await;
    let idle = progress(&base).await;
    let url = format!("http://{media}/in70.mp4");
    let job = tokio::spawn({
        let base = base.clone();
        async move { post(&base, json!({ "url": url })).await }
    });
    let mut readings = vec![idle];
    readings.extend(
        poll_until(&base, Duration::from_secs(120), |p| {
            p["status"] == "complete" || p["status"] == "error"
        })
        .await,
    );
    let (status, body) = job.await.unwrap();
    assert_eq!(status, 200, "{body}");
    (base, body, readings)
}

/// The statuses of `readings`, once each, in order.
fn statuses(readings: &[Value]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for r in readings {
        let status = r["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status);
        }
    }
    seen
}

/// Checks our readings against the recorded trace: statuses from the recorded vocabulary in
/// its order, and each reading shaped like the recorded reading of the same status.
fn check_trace(recorded: &Value, readings: &[Value]) {
    let trace: Vec<Value> = recorded["progress_trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["p"].clone())
        .collect();
    let vocabulary = statuses(&trace);
    let ours = statuses(readings);
    let mut position = 0;
    for status in &ours {
        let found = vocabulary[position..].iter().position(|s| s == status);
        let Some(offset) = found else {
            panic!("status {status} out of the recorded order {vocabulary:?}: ours {ours:?}");
        };
        position += offset;
    }
    for reading in readings {
        let status = reading["status"].as_str().unwrap();
        let like = trace.iter().find(|r| r["status"] == status).unwrap();
        assert_same_shape(like, reading, &format!("/progress while {status}"));
    }
}

fn check_clip_details(recorded: &Value, ours: &Value, suffix: &str) {
    let recorded = recorded["clip_details"].as_array().unwrap();
    let ours = ours["clip_details"].as_array().unwrap();
    assert_eq!(ours.len(), recorded.len(), "the same plan");
    for (r, o) in recorded.iter().zip(ours) {
        for key in ["clip_number", "start_time", "end_time", "duration"] {
            let (a, b) = (r[key].as_f64().unwrap(), o[key].as_f64().unwrap());
            assert!((a - b).abs() < 0.1, "{key}: ours {b}, recorded {a}");
        }
        let filename = o["filename"].as_str().unwrap();
        let number = o["clip_number"].as_u64().unwrap();
        let start = o["start_time"].as_u64().unwrap();
        let expected = suffix
            .replace("NNN", &format!("{number:03}"))
            .replace("S", &start.to_string());
        assert!(
            filename.starts_with("in70_")
                && filename.ends_with(&expected)
                && !filename.contains('/'),
            "{filename} should end with {expected}"
        );
        assert_eq!(o["path"], format!("outputs/{filename}"), "a relative path");
    }
}

/// One clip fetched as the frontend does, `GET /<filename>`.
async fn fetch_first_clip(base: &str, body: &Value) {
    let filename = body["clip_details"][0]["filename"].as_str().unwrap();
    let response = client()
        .get(format!("{base}/{filename}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let size = response.bytes().await.unwrap().len() as f64 / 1048576.0;
    let listed = body["clip_details"][0]["size_mb"].as_f64().unwrap();
    assert!((size - listed).abs() < 1e-9);
}

fn inputs() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    make_video(&media, "in70.mp4", 70.0, true);
    (dir, media)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_the_original_backend() {
    let (dir, media) = inputs();
    let recorded = recording("original-generate.json");
    let (base, body, readings) = replay(Compat::Original, &media, &dir.path().join("work")).await;
    assert_same_shape(&recorded["response"], &body, "response");
    check_clip_details(&recorded["response"], &body, "_clip_NNN_Ss.mp4");
    check_trace(&recorded, &readings);
    // current_clip is the clip being started: clip 1 shows while nothing is finished yet.
    assert!(
        readings
            .iter()
            .any(|r| r["current_clip"] == 1 && r["clipbench"]["clips_finished"] == 0),
        "current_clip = 1 never seen before a clip finished: {readings:?}"
    );
    assert_same_shape(
        &recorded["progress_after"],
        &progress(&base).await,
        "progress after",
    );
    fetch_first_clip(&base, &body).await;
    let summary = &body["processing_summary"];
    assert_eq!(summary["total_duration_generated"], 60);
    assert!((summary["video_coverage_percentage"].as_f64().unwrap() - 6000.0 / 70.0).abs() < 0.1);
    assert_eq!(body["statistics"]["longest_clip"], 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_the_optimized_backend() {
    let (dir, media) = inputs();
    let recorded = recording("optimized-generate.json");
    let (base, body, readings) = replay(Compat::Optimized, &media, &dir.path().join("work")).await;
    assert_same_shape(&recorded["response"], &body, "response");
    check_clip_details(&recorded["response"], &body, "_clip_NNN.mp4");
    check_trace(&recorded, &readings);
    // current_clip counts clips finished.
    for r in &readings {
        assert_eq!(r["current_clip"], r["clipbench"]["clips_finished"], "{r}");
    }
    assert_same_shape(
        &recorded["progress_after"],
        &progress(&base).await,
        "progress after",
    );
    fetch_first_clip(&base, &body).await;
    // Clips per minute, not frames per second.
    let metrics = &body["processing_metrics"];
    let per_minute = 3.0 * 60.0 / metrics["total_time"].as_f64().unwrap();
    assert!((metrics["fps_processed"].as_f64().unwrap() - per_minute).abs() < 1e-9);

    // The frontend's other calls: isBackendAvailable and cleanupAll.
    let health = get_json(&base, "/health").await;
    assert_eq!(health["status"], "ok");
    assert!(health["version"].is_string());
    let cleanup = client()
        .post(format!("{base}/cleanup"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleanup.status(), 200);
    let cleanup: Value = cleanup.json().await.unwrap();
    assert_eq!(cleanup["success"], true);
    assert_eq!(cleanup["message"], "All data cleaned up successfully.");
    assert_eq!(progress(&base).await["status"], "idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_during_a_job_answers_it_with_no_clips() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    common::make_video_sized(&media, "in70.mp4", 40.0, true, "640x360");
    let recorded = recording("optimized-cleanup-mid-job.json");
    let files = file_server(&media).await;
    let workdir = dir.path().join("work");
    let base = engine_server(&workdir, |c| {
        c.setup.strategy = Strategy::Serial;
        c.setup.profile = Profile::Original;
        c.setup.plan.policy = "fixed:1:5:5".parse().unwrap();
    })
    .await;
    let url = format!("http://{files}/in70.mp4");
    let job = tokio::spawn({
        let base = base.clone();
        async move { post(&base, json!({ "url": url })).await }
    });
    poll_until(&base, Duration::from_secs(60), |p| {
        p["status"] == "processing"
    })
    .await;
    let cleanup = client()
        .post(format!("{base}/cleanup"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleanup.status(), 200);
    let (status, body) = job.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_same_shape(
        &recorded["job_response_after_cleanup"],
        &body,
        "response after cleanup",
    );
    assert_eq!(body["processing_metrics"]["clips_created"], 0);
    // The running job was stopped, not left to finish its 8 clips.
    let extra = &body["clipbench"];
    assert_eq!(extra["clips_planned"], 8, "{extra}");
    assert!(extra["clips_done"].as_u64().unwrap() < 8, "{extra}");
    let left = std::fs::read_dir(workdir.join("outputs")).unwrap().count();
    assert_eq!(left, 0, "cleanup removed every output");
    assert_eq!(progress(&base).await["status"], "idle");
}

/// The requests of `bad-requests.txt`, as sent to the recorded backends.
fn bad_request(name: &str, files: &str) -> (Option<&'static str>, String) {
    let json = Some("application/json");
    match name {
        "no body, no ctype" => (None, String::new()),
        "json ctype, empty body" => (json, String::new()),
        "invalid json" => (json, "{\"url\": ".into()),
        "{}" => (json, "{}".into()),
        "url empty string" => (json, r#"{"url": ""}"#.into()),
        "url number" => (json, r#"{"url": 5}"#.into()),
        "missing file (404)" => (json, format!(r#"{{"url": "http://{files}/missing"}}"#)),
        "file:// url" => (json, r#"{"url": "file:///etc/hostname"}"#.into()),
        "local path" => (json, r#"{"url": "/srv/data/in70.mp4"}"#.into()),
        "not a video (text)" => (json, format!(r#"{{"url": "http://{files}/notvideo"}}"#)),
        "form body w/ url" => (
            Some("application/x-www-form-urlencoded"),
            format!("url=http://{files}/in70.mp4"),
        ),
        other => panic!("a recorded request this test does not know: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_clear_4xx_where_the_backends_answer_500() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("notvideo"), "just text").unwrap();
    let files = file_server(&media).await.to_string();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contract/peers/bad-requests.txt"),
    )
    .unwrap();
    for compat in [Compat::Original, Compat::Optimized] {
        let port = if compat == Compat::Original {
            "5000"
        } else {
            "5001"
        };
        let base = engine_server(&dir.path().join(port), |c| c.compat = compat).await;
        let mut seen = 0;
        for line in text
            .lines()
            .skip(1)
            .filter(|l| !l.trim_start().starts_with("progress"))
        {
            let (request, recorded) = line.split_once('|').unwrap();
            let mut words: Vec<&str> = request.split_whitespace().collect();
            let (recorded_status, recorded_port) = (words.pop().unwrap(), words.pop().unwrap());
            if recorded_port != port {
                continue;
            }
            let name = words.join(" ");
            let (content_type, body) = bad_request(&name, &files);
            let mut sent = client().post(format!("{base}/generate_shorts")).body(body);
            if let Some(content_type) = content_type {
                sent = sent.header("content-type", content_type);
            }
            let answer = sent.send().await.unwrap();
            let status = answer.status().as_u16();
            let answer: Value = answer.json().await.unwrap();
            let recorded: Value = serde_json::from_str(recorded.trim()).unwrap();
            assert!(
                answer["error"].is_string() && recorded["error"].is_string(),
                "{name}"
            );
            assert!((400..500).contains(&status), "{name}: {status} {answer}");
            if recorded_status.starts_with('4') {
                assert_eq!(status.to_string(), recorded_status, "{name}");
                assert_eq!(answer["error"], recorded["error"], "{name}");
            }
            seen += 1;
        }
        assert_eq!(seen, 11, "every recorded bad request of port {port}");
        let after = progress(&base).await;
        let recorded_after = text
            .lines()
            .filter(|l| l.trim_start().starts_with("progress after"))
            .nth(if compat == Compat::Original { 0 } else { 1 })
            .and_then(|l| l.split_once(':'))
            .map(|(_, json)| serde_json::from_str::<Value>(json.trim()).unwrap())
            .unwrap();
        assert_same_shape(&recorded_after, &after, "progress after the bad requests");
    }
}
