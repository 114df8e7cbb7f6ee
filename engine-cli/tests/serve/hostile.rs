//! The server as an attacker meets it: the real `clipbench-engine serve` binary on loopback,
//! a loopback "internal" server holding a secret (plain text, text disguised as a video, a
//! playlist and a concat list naming other files, a redirect to them, a source that trickles),
//! and hostile requests. Every loop is bounded in count and time; all traffic stays on
//! 127.0.0.1 (the guard refuses before connecting, so no test names another address).

use crate::common;

use std::io::{BufRead, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

const SECRET: &str = "INTERNAL-SECRET-7f3a91";

/// The internal server: its address and how often its secret was served.
struct Internal {
    address: SocketAddr,
    secret_hits: Arc<AtomicUsize>,
}

async fn internal_server(video: PathBuf) -> Internal {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let secret_text = format!("{SECRET}\n{}", "confidential line\n".repeat(30));
    let counted = |hits: Arc<AtomicUsize>, content_type: &'static str, body: String| {
        move || {
            let (hits, body) = (hits.clone(), body.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                ([(header::CONTENT_TYPE, content_type)], body)
            }
        }
    };
    // A playlist naming a local file and the internal server, an ffconcat list likewise.
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/hostname\n#EXTINF:10,\nhttp://{address}/secret.mp4\n#EXT-X-ENDLIST\n"
    );
    let app = Router::new()
        .route(
            "/secret.txt",
            get(counted(hits.clone(), "text/plain", secret_text.clone())),
        )
        .route(
            "/secret.mp4",
            get(counted(
                hits.clone(),
                "application/octet-stream",
                secret_text.clone(),
            )),
        )
        .route(
            "/list.m3u8",
            get(counted(hits.clone(), "application/octet-stream", playlist)),
        )
        // Text with terminal colour codes: ffmpeg's `tty` demuxer draws it as a 640x400 video.
        .route(
            "/notes.txt",
            get(counted(
                hits.clone(),
                "application/octet-stream",
                format!("\u{1b}[1;31m{SECRET}\u{1b}[0m\n").repeat(30),
            )),
        )
        .route(
            "/concat.mp4",
            get(counted(
                hits.clone(),
                "application/octet-stream",
                format!(
                    "ffconcat version 1.0\nfile '/etc/hostname'\nfile 'http://{address}/secret.txt'\n"
                ),
            )),
        )
        .route(
            "/redirect",
            get(move || async move {
                (
                    axum::http::StatusCode::FOUND,
                    [(header::LOCATION, format!("http://{address}/secret.mp4"))],
                )
            }),
        )
        .route("/trickle.mp4", get(trickle))
        .route(
            "/video.mp4",
            get(move || {
                let video = video.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "video/mp4")],
                        std::fs::read(video).unwrap(),
                    )
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Internal {
        address,
        secret_hits: hits,
    }
}

/// One byte every 300 ms of an announced megabyte, for at most a minute.
async fn trickle() -> impl IntoResponse {
    let stream = futures_util::stream::unfold(0u32, |n| async move {
        if n >= 200 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"x")),
            n + 1,
        ))
    });
    (
        [
            (header::CONTENT_TYPE, "video/mp4"),
            (header::CONTENT_LENGTH, "1000000"),
        ],
        axum::body::Body::from_stream(stream),
    )
}

/// A `clipbench-engine serve` process; killed when dropped.
pub(crate) struct Server {
    pub child: Child,
    pub base: String,
    pub workdir: PathBuf,
    log: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let workdir = dir.join("work");
        let log = dir.join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_clipbench-engine"))
            .args(["serve", "--bind", "127.0.0.1:0", "--policy", "fixed:1:4:4"])
            .arg("--workdir")
            .arg(&workdir)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.split_whitespace().nth(2).expect("the address line");
        Server {
            child,
            base: address.to_owned(),
            workdir,
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every `.mp4` under the outputs folder.
    fn clips(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut dirs = vec![self.workdir.join("outputs")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    dirs.push(entry.path());
                } else if entry.path().extension().is_some_and(|e| e == "mp4") {
                    found.push(entry.path());
                }
            }
        }
        found
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub(crate) async fn generate(base: &str, url: &str) -> (u16, Value, String) {
    let response = client()
        .post(format!("{base}/generate_shorts"))
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

pub(crate) async fn progress_text(base: &str) -> String {
    client()
        .get(format!("{base}/progress"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) fn partial_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                dirs.push(entry.path());
            } else if entry.path().to_string_lossy().ends_with(".partial") {
                found.push(entry.path());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_internal_addresses_in_every_spelling_and_after_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let video = common::make_video(dir.path(), "v.mp4", 4.0, true);
    let internal = internal_server(video).await;
    let port = internal.address.port();
    let server = Server::start(&dir.path().join("a"), &[]);
    let own_port = server.base.rsplit(':').next().unwrap().to_owned();
    let spellings = [
        format!("http://127.0.0.1:{port}/secret.mp4"),
        format!("http://127.1:{port}/secret.mp4"),
        format!("http://0x7f000001:{port}/secret.mp4"),
        format!("http://2130706433:{port}/secret.mp4"),
        format!("http://[::ffff:127.0.0.1]:{port}/secret.mp4"),
        format!("http://[::1]:{port}/secret.mp4"),
        format!("http://0.0.0.0:{port}/secret.mp4"),
        format!("http://localhost:{port}/secret.mp4"),
        format!("http://127.0.0.1:{own_port}/progress"),
    ];
    let mut answers = Vec::new();
    for url in &spellings {
        let (status, body, text) = generate(&server.base, url).await;
        assert_eq!(status, 403, "{url}: {text}");
        let message = body["error"].as_str().unwrap();
        assert!(
            (message.contains("loopback") || message.contains("unspecified"))
                && message.contains("--allow-private-urls"),
            "{url}: {message}"
        );
        assert!(!text.contains(SECRET));
        answers.push(message.replace(url, "URL"));
    }
    // A closed port and an open one get the same answer: no port scanning.
    let (_, closed, _) = generate(&server.base, "http://127.0.0.1:1/secret.mp4").await;
    let closed = closed["error"]
        .as_str()
        .unwrap()
        .replace("http://127.0.0.1:1/secret.mp4", "URL");
    assert_eq!(closed, answers[0]);

    // An allowed host that redirects inward: the hop is refused.
    let by_name = Server::start(&dir.path().join("b"), &["--allow-url", "localhost"]);
    let (status, body, text) =
        generate(&by_name.base, &format!("http://localhost:{port}/redirect")).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        body["error"].as_str().unwrap().contains("loopback"),
        "{text}"
    );

    assert_eq!(
        internal.secret_hits.load(Ordering::SeqCst),
        0,
        "no byte was fetched"
    );
    for server in [&server, &by_name] {
        assert!(server.clips().is_empty());
        assert!(!progress_text(&server.base).await.contains(SECRET));
        assert!(!server.log().contains(SECRET));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_private_urls_allowed_text_and_references_are_still_not_videos() {
    let dir = tempfile::tempdir().unwrap();
    let video = common::make_video(dir.path(), "v.mp4", 4.0, true);
    let internal = internal_server(video).await;
    let a = internal.address;
    let server = Server::start(dir.path(), &["--allow-private-urls"]);
    for path in [
        "secret.txt",
        "secret.mp4",
        "notes.txt",
        "list.m3u8",
        "concat.mp4",
        "redirect",
    ] {
        let (status, body, text) = generate(&server.base, &format!("http://{a}/{path}")).await;
        assert_eq!(status, 422, "{path}: {text}");
        assert!(
            body["error"].as_str().unwrap().contains("not a video"),
            "{path}: {text}"
        );
        assert!(!text.contains(SECRET), "{path}");
    }
    assert!(server.clips().is_empty(), "nothing was published");
    assert!(!server.log().contains(SECRET));
    assert!(!progress_text(&server.base).await.contains(SECRET));
    // The real video still makes clips.
    let (status, body, text) = generate(&server.base, &format!("http://{a}/video.mp4")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(body["clip_details"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_source_is_cut_at_its_deadline_and_cleanup_cancels_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let video = common::make_video(dir.path(), "v.mp4", 2.0, false);
    let internal = internal_server(video).await;
    let url = format!("http://{}/trickle.mp4", internal.address);
    let server = Server::start(
        &dir.path().join("a"),
        &["--allow-private-urls", "--download-deadline", "2s"],
    );
    let (status, body, text) = generate(&server.base, &url).await;
    assert_eq!(status, 502, "{text}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--download-deadline"),
        "{text}"
    );
    assert!(partial_files(&server.workdir).is_empty());

    // Under the default deadline, a cleanup stops the download.
    let patient = Server::start(&dir.path().join("b"), &["--allow-private-urls"]);
    let base = patient.base.clone();
    let job = tokio::spawn({
        let (base, url) = (base.clone(), url.clone());
        async move { generate(&base, &url).await }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !progress_text(&base).await.contains("Downloading") {
        assert!(Instant::now() < deadline, "the download never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cleanup = client()
        .post(format!("{base}/cleanup"))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .expect("cleanup answers while a download trickles");
    assert_eq!(cleanup.status(), 200);
    let (status, body, text) = tokio::time::timeout(Duration::from_secs(15), job)
        .await
        .expect("the job ends once cleaned up")
        .unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(body["clipbench"]["cancelled_by_cleanup"], true, "{text}");
    assert!(partial_files(&patient.workdir).is_empty());
}

#[test]
fn slowloris_sockets_are_closed_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--header-timeout", "1s"]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let sockets: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&address).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s
        })
        .collect();
    for mut socket in sockets {
        let mut answer = Vec::new();
        // The server answers 408 or just closes; either way the read ends, not the timeout.
        let read = socket.read_to_end(&mut answer);
        assert!(read.is_ok(), "a slow socket stayed open: {read:?}");
        assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"));
    }
    // The server still answers.
    let mut fresh = std::net::TcpStream::connect(&address).unwrap();
    fresh
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    fresh
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = fresh.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_the_job_and_leaves_no_child_and_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let video = common::make_video_sized(dir.path(), "v.mp4", 16.0, true, "640x360");
    let internal = internal_server(video).await;
    let mut server = Server::start(
        dir.path(),
        &[
            "--allow-private-urls",
            "--profile",
            "original",
            "--strategy",
            "serial",
        ],
    );
    let base = server.base.clone();
    let url = format!("http://{}/video.mp4", internal.address);
    let _job = tokio::spawn(async move { generate(&base, &url).await });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !progress_text(&server.base).await.contains("\"processing\"") {
        assert!(Instant::now() < deadline, "the job never started encoding");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let workdir = server.workdir.to_string_lossy().into_owned();
    assert!(!children_naming(&workdir).is_empty(), "ffmpeg runs");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}: {}", server.log());
    assert!(
        children_naming(&workdir).is_empty(),
        "an ffmpeg outlived the server"
    );
    assert!(partial_files(&server.workdir).is_empty());
}

/// Processes whose command line names `text`.
pub(crate) fn children_naming(text: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(text))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_answers_progress_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let key = "k3y-0123456789abcdef-SECRETKEY";
    let server = Server::start(dir.path(), &["--allow-private-urls", "--api-key", key]);
    let url = "http://user:hunter2@127.0.0.1:1/v.mp4?token=QUERYTOKEN";
    let answer = client()
        .post(format!("{}/generate_shorts", server.base))
        .bearer_auth(key)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 502);
    let text = answer.text().await.unwrap();
    let progress = client()
        .get(format!("{}/progress", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let log = server.log();
    for secret in ["hunter2", "QUERYTOKEN", "SECRETKEY"] {
        assert!(!text.contains(secret), "answer: {text}");
        assert!(!progress.contains(secret), "progress: {progress}");
        assert!(!log.contains(secret), "log: {log}");
    }
    assert!(!log.contains("\u{1b}["), "no colour codes in a log file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_callers_with_the_key_from_allowed_hosts_and_origins_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let key = "0123456789abcdef0123";
    let server = Server::start(dir.path(), &["--api-key", key]);
    let post = |body: &'static str, content_type: &'static str| {
        client()
            .post(format!("{}/generate_shorts", server.base))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
    };
    let status =
        |r: reqwest::RequestBuilder| async move { r.send().await.unwrap().status().as_u16() };
    assert_eq!(status(post("{}", "application/json")).await, 401);
    assert_eq!(
        status(post("{}", "application/json").bearer_auth("wrong")).await,
        401
    );
    assert_eq!(
        status(post("{}", "application/json").bearer_auth(key)).await,
        400
    );
    assert_eq!(
        status(post(r#"{"url":"x"}"#, "text/plain").bearer_auth(key)).await,
        415
    );
    let rebound = post("{}", "application/json")
        .bearer_auth(key)
        .header(header::HOST, "rebound.example");
    assert_eq!(status(rebound).await, 403);
    let cross_site = post("{}", "application/json")
        .bearer_auth(key)
        .header(header::ORIGIN, "https://evil.example");
    assert_eq!(status(cross_site).await, 403);
    let local_page = post("{}", "application/json")
        .bearer_auth(key)
        .header(header::ORIGIN, "http://localhost:3000");
    assert_eq!(status(local_page).await, 400);
    let health = client().get(format!("{}/health", server.base));
    assert_eq!(status(health).await, 200);
    let progress = client().get(format!("{}/progress", server.base));
    assert_eq!(status(progress).await, 401);
    let ledger = client()
        .get(format!("{}/clipbench-ledger.json", server.base))
        .bearer_auth(key);
    assert_eq!(status(ledger).await, 404);
}

#[test]
fn an_exposed_address_without_a_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_clipbench-engine"))
        .args(["serve", "--bind", "0.0.0.0:0", "--workdir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--api-key") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_go_after_keep_for_and_a_full_disk_is_refused_before_downloading() {
    let dir = tempfile::tempdir().unwrap();
    let video = common::make_video(dir.path(), "v.mp4", 4.0, true);
    let internal = internal_server(video).await;
    let url = format!("http://{}/video.mp4", internal.address);
    let server = Server::start(
        &dir.path().join("a"),
        &["--allow-private-urls", "--keep-for", "2s"],
    );
    let (status, body, text) = generate(&server.base, &url).await;
    assert_eq!(status, 200, "{text}");
    let name = body["clip_details"][0]["filename"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!server.clips().is_empty());
    assert!(
        std::fs::read_dir(server.workdir.join("downloads"))
            .unwrap()
            .count()
            == 0,
        "the download went with its job"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.clips().is_empty() {
        assert!(Instant::now() < deadline, "the clips were never removed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gone = client()
        .get(format!("{}/{name}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);

    let full = Server::start(
        &dir.path().join("b"),
        &["--allow-private-urls", "--min-free", "1PiB"],
    );
    let (status, body, text) = generate(&full.base, &url).await;
    assert_eq!(status, 507, "{text}");
    assert!(
        body["error"].as_str().unwrap().contains("--min-free"),
        "{text}"
    );
}
