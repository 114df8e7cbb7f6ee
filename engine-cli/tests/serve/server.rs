//! `clipbench-engine serve` against real HTTP: our server and a loopback file server on
//! ephemeral 127.0.0.1 ports, a reqwest client, real ffmpeg. Every polling loop is bounded.

use crate::common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::header;
use clipbench_engine::{Profile, Strategy};
use clipbench_fetch::url_run::STREAMED_NOTE;
use serde_json::{json, Value};

use common::http::{client, engine_server, file_server, get_json, poll_until, post, progress};
use common::{make_video, make_video_sized};

/// Sends raw bytes and returns the status code of the answer (bypasses URL normalisation).
fn raw_get_status(base: &str, path: &str) -> u16 {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    workdir: PathBuf,
    media: SocketAddr,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let media_dir = dir.path().join("media");
    std::fs::create_dir_all(&media_dir).unwrap();
    make_video(&media_dir, "tiny.mp4", 12.0, true);
    make_video_sized(&media_dir, "slow.mp4", 16.0, true, "640x360");
    std::fs::write(media_dir.join("notes.txt"), "just text").unwrap();
    std::fs::write(media_dir.join("broken.mp4"), vec![0x42u8; 50_000]).unwrap();
    let media = file_server(&media_dir).await;
    Fixture {
        workdir: dir.path().join("work"),
        _dir: dir,
        media,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_job_with_progress_downloads_and_ranges() {
    let f = fixture().await;
    let base = engine_server(&f.workdir, |c| c.setup.strategy = Strategy::Serial).await;
    let url = format!("http://{}/tiny.mp4", f.media);
    let job = tokio::spawn({
        let base = base.clone();
        async move { post(&base, json!({ "url": url })).await }
    });
    let readings = poll_until(&base, Duration::from_secs(60), |p| {
        p["status"] == "complete"
    })
    .await;
    let (status, body) = job.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<&str> = readings
        .iter()
        .filter_map(|p| p["status"].as_str())
        .collect();
    assert!(statuses.contains(&"processing"), "{statuses:?}");
    let clips: Vec<u64> = readings
        .iter()
        .filter_map(|p| p["current_clip"].as_u64())
        .collect();
    assert!(
        clips.windows(2).all(|w| w[0] <= w[1]),
        "current_clip never falls: {clips:?}"
    );
    let last = readings.last().unwrap();
    assert_eq!(
        (last["current_clip"].as_u64(), last["progress"].as_u64()),
        (Some(4), Some(100))
    );
    for field in [
        "threads_used",
        "estimated_time_remaining",
        "elapsed_time",
        "total_clips",
        "message",
    ] {
        assert!(!last[field].is_null(), "{field} missing");
    }
    assert_eq!(body["processing_metrics"]["clips_created"], 4);
    assert_eq!(body["original_metadata"]["resolution"], json!([160, 90]));
    // The file server allows Range requests: the index at the file's end was fetched first and
    // the video cut while it downloaded.
    let notes = body["clipbench"]["notes"].as_array().unwrap();
    assert!(notes.contains(&json!(STREAMED_NOTE)), "{notes:?}");
    let details = body["clip_details"].as_array().unwrap();
    assert_eq!(details.len(), 4);
    for detail in details {
        let filename = detail["filename"].as_str().unwrap();
        assert!(!filename.contains('/'), "a bare file name: {filename}");
        let url = format!("{base}/{filename}");
        let response = client().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "video/mp4");
        let bytes = response.bytes().await.unwrap();
        assert!(
            (bytes.len() as f64 / 1048576.0 - detail["size_mb"].as_f64().unwrap()).abs() < 1e-6
        );
    }
    let first = format!("{base}/{}", details[0]["filename"].as_str().unwrap());
    let ranged = client()
        .get(&first)
        .header(header::RANGE, "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert!(ranged.headers()[header::CONTENT_RANGE]
        .to_str()
        .unwrap()
        .starts_with("bytes 0-99/"));
    assert_eq!(ranged.bytes().await.unwrap().len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_status_and_the_server_carries_on() {
    let f = fixture().await;
    let base = engine_server(&f.workdir, |c| c.limits.max_body_bytes = 1024).await;
    let http = client();
    let raw = |body: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .post(format!("{base}/generate_shorts_optimized"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, b) = raw("").await;
    assert_eq!((s, b["error"].as_str()), (400, Some("URL is required")));
    let (s, b) = raw("{\"url\": ").await;
    assert!(
        s == 400 && b["error"].as_str().unwrap().contains("not valid JSON"),
        "{b}"
    );
    let (s, b) = raw("{}").await;
    assert_eq!((s, b["error"].as_str()), (400, Some("URL is required")));
    let (s, b) = raw("{\"url\": 42}").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("url must be a string"))
    );
    let (s, _) = raw("{\"url\": \"http://h/v.mp4\", \"output_dir\": \"../../etc\"}").await;
    assert_eq!(s, 400);
    let big = format!("{{\"url\": \"{}\"}}", "x".repeat(4096));
    let r = http
        .post(format!("{base}/generate_shorts"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    let m = f.media;
    let cases = [
        (format!("ftp://{m}/tiny.mp4"), 400, "only http"),
        ("/etc/passwd".to_owned(), 400, "not an http(s) URL"),
        (
            "http://127.0.0.1:1/v.mp4".to_owned(),
            502,
            "cannot download",
        ),
        (format!("http://{m}/missing.mp4"), 422, "404"),
        (format!("http://{m}/notes.txt"), 422, "not a video"),
        (format!("http://{m}/broken.mp4"), 422, "not a video"),
    ];
    let workdir = f.workdir.canonicalize().unwrap().display().to_string();
    for (url, status, needle) in cases {
        let (s, b) = post(&base, json!({ "url": url })).await;
        assert_eq!(s, status, "{url}: {b}");
        let message = b["error"].as_str().unwrap();
        assert!(message.contains(needle), "{url}: {b}");
        assert!(
            !message.contains(&workdir) && !message.contains("downloads/"),
            "a server path in the answer: {message}"
        );
        let after = progress(&base).await;
        assert_eq!(after["status"], "error");
        // `/progress` is everyone's: the same error without the client's URL.
        assert_eq!(
            after["message"],
            message.replace(&url, "the video URL"),
            "the optimized backend's error field"
        );
        assert!(!after.to_string().contains(&url), "{after}");
    }
    if which("yt-dlp").is_none() {
        let (s, b) = post(&base, json!({ "url": format!("http://{m}/page") })).await;
        assert_eq!(s, 400, "{b}");
        assert!(
            b["error"].as_str().unwrap().contains("install yt-dlp"),
            "{b}"
        );
    }
    // The next request is served normally.
    let (s, b) = post(&base, json!({ "url": format!("http://{m}/tiny.mp4") })).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(progress(&base).await["status"], "complete");
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outside_the_outputs_folder_is_served() {
    let f = fixture().await;
    let base = engine_server(&f.workdir, |_| {}).await;
    // A symlink inside outputs pointing out of it.
    std::os::unix::fs::symlink("/etc/hostname", f.workdir.join("outputs/escape.mp4")).unwrap();
    let traversal = tokio::task::spawn_blocking(move || {
        [
            "/../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "//etc/passwd",
            "/escape.mp4",
            "/nothing.mp4",
        ]
        .map(|path| (path, raw_get_status(&base, path)))
    })
    .await
    .unwrap();
    for (path, status) in traversal {
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_at_a_time_with_a_bounded_queue() {
    let f = fixture().await;
    let base = engine_server(&f.workdir, |c| {
        c.max_queue = 1;
        c.setup.strategy = Strategy::Serial;
        c.setup.profile = Profile::Original;
        c.setup.plan.policy = "fixed:1:4:4".parse().unwrap();
    })
    .await;
    let url = format!("http://{}/slow.mp4", f.media);
    let send = |output: &'static str| {
        let (base, url) = (base.clone(), url.clone());
        tokio::spawn(async move { post(&base, json!({ "url": url, "output_dir": output })).await })
    };
    let first = send("first");
    poll_until(&base, Duration::from_secs(30), |p| {
        p["status"] == "processing"
    })
    .await;
    let second = send("second");
    // Wait for the second job to be in the queue (the event the third request depends on).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while get_json(&base, "/health").await["clipbench"]["jobs"] != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second job never queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, body) = post(&base, json!({ "url": url })).await;
    assert_eq!(status, 429, "{body}");
    let (s1, b1) = first.await.unwrap();
    let (s2, b2) = second.await.unwrap();
    assert_eq!((s1, s2), (200, 200), "{b1} {b2}");
    for (body, folder) in [(&b1, "first"), (&b2, "second")] {
        let details = body["clip_details"].as_array().unwrap();
        assert_eq!(details.len(), 4);
        assert!(details
            .iter()
            .all(|d| d["filename"].as_str().unwrap().contains(folder)));
    }
    let done = progress(&base).await;
    assert_eq!(
        (done["status"].as_str(), done["current_clip"].as_u64()),
        (Some("complete"), Some(4))
    );
    // After the jobs: cleanup removes outputs and downloads and resets progress.
    let r = client()
        .post(format!("{base}/cleanup"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["success"], true);
    assert_eq!(
        std::fs::read_dir(f.workdir.join("outputs"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(f.workdir.join("downloads"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(progress(&base).await["status"], "idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_does_not_stop_the_job() {
    let f = fixture().await;
    let base = engine_server(&f.workdir, |c| c.setup.strategy = Strategy::Serial).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let url = format!("http://{}/tiny.mp4", f.media);
    let sent = impatient
        .post(format!("{base}/generate_shorts"))
        .json(&json!({ "url": url, "output_dir": "gone" }))
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up first");
    poll_until(&base, Duration::from_secs(60), |p| {
        p["status"] == "complete"
    })
    .await;
    let clips = std::fs::read_dir(f.workdir.join("outputs/gone"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".mp4"))
        .count();
    assert_eq!(clips, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_system_info_and_cors() {
    let f = fixture().await;
    let base = engine_server(&f.workdir, |c| c.setup.strategy = Strategy::Fixed(3)).await;
    let health = get_json(&base, "/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["clipbench"]["jobs"], 0);
    let info = get_json(&base, "/system_info").await;
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(info["logical_cores"].as_u64(), Some(cores as u64));
    // The configured strategy's allocation for a typical job, not a default.
    assert_eq!(info["allocation"]["workers"], 3, "{info}");
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{base}/generate_shorts"))
        .header(header::ORIGIN, "http://localhost:3000")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .send()
        .await
        .unwrap();
    // A frontend served from localhost keeps working; other origins are not allowed.
    assert_eq!(
        preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:3000"
    );
    let foreign = client()
        .request(reqwest::Method::OPTIONS, format!("{base}/generate_shorts"))
        .header(header::ORIGIN, "https://evil.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .send()
        .await
        .unwrap();
    assert!(foreign
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
    let idle = progress(&base).await;
    assert_eq!(idle["status"], "idle");
}

#[test]
fn the_binary_serves_on_the_address_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clipbench-engine"))
        .args(["serve", "--bind", "127.0.0.1:0", "--workdir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let address = line.split_whitespace().nth(2).unwrap().to_owned();
    let status = raw_get_status(&address, "/health");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200, "{line}");
}
