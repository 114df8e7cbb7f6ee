//! The queue-backed mode with the real thing: `redis-server` on a free loopback port (installed
//! by `.ci/setup`), our server on its queue and a local-folder store, and `clipbench-engine
//! worker` processes. Every wait is bounded.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clipbench_engine::{plan, probe, PlanOptions, Policy, Tools};
use clipbench_fetch::guard::UrlGuard;
use clipbench_server::queue::QueueConfig;
use clipbench_server::ServerConfig;
use serde_json::{json, Value};

use common::http::{client, file_server, get_json, post};
use common::{assert_decodes, make_video, make_video_sized};

/// A heartbeat of 0.5 s, two missed: a dead worker's tasks come back after 1 s.
const HEARTBEAT: &str = "500ms";
const MISSED: &str = "2";

/// A redis-server on `port`, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    url: String,
}

impl Redis {
    fn start(port: u16) -> Redis {
        Redis::spawn(
            &["--port", &port.to_string()],
            port,
            format!("redis://127.0.0.1:{port}"),
        )
    }

    /// TLS only (a self-signed certificate made in `dir` with openssl) and a password, as a
    /// shared deployment runs it; the URL skips certificate checks (`#insecure`).
    fn start_secured(dir: &Path, port: u16, password: &str) -> Redis {
        let (cert, key) = (dir.join("redis.crt"), dir.join("redis.key"));
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl must be installed for this test (bash .ci/setup)");
        assert!(made.success());
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let port_text = port.to_string();
        let args = [
            "--port",
            "0",
            "--tls-port",
            &port_text,
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            cert,
            "--tls-auth-clients",
            "no",
            "--requirepass",
            password,
        ];
        Redis::spawn(
            &args,
            port,
            format!("rediss://:{password}@127.0.0.1:{port}/#insecure"),
        )
    }

    fn spawn(args: &[&str], port: u16, url: String) -> Redis {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for these tests (bash .ci/setup)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port, url }
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A worker process in its own process group (so a kill takes its ffmpeg too), logging to a
/// file; killed when dropped.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(
        dir: &Path,
        name: &str,
        redis: &str,
        store: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Worker {
        use std::os::unix::process::CommandExt;
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_clipbench-engine"))
            .args(["worker", "--queue", redis, "--store", store, "--name", name])
            .args(["--heartbeat", HEARTBEAT, "--missed-heartbeats", MISSED])
            .args(["--slots", "1", "--cache"])
            .arg(dir.join(name))
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        Worker { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most `limit`) until the log has `text`.
    fn wait_for(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGKILL to the worker and its children, as when its machine dies.
    fn kill(&mut self) {
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Deployment {
    dir: tempfile::TempDir,
    redis: Redis,
    store: String,
    media: SocketAddr,
    base: String,
}

impl Deployment {
    /// Redis, a media file server, and our server on the queue, with the media `videos`; a job
    /// with no live worker for `no_worker_grace` fails.
    async fn start(videos: impl FnOnce(&Path), no_worker_grace: Duration) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let redis = Redis::start(free_port());
        Deployment::start_on(dir, redis, videos, no_worker_grace).await
    }

    /// [`Deployment::start`] on a given Redis.
    async fn start_on(
        dir: tempfile::TempDir,
        redis: Redis,
        videos: impl FnOnce(&Path),
        no_worker_grace: Duration,
    ) -> Deployment {
        let media_dir = dir.path().join("media");
        std::fs::create_dir_all(&media_dir).unwrap();
        videos(&media_dir);
        let media = file_server(&media_dir).await;
        let store = reqwest::Url::from_directory_path(dir.path().join("store"))
            .unwrap()
            .to_string();
        let mut config = ServerConfig::new(dir.path().join("server"));
        // The media comes from a loopback file server.
        config.download.guard = std::sync::Arc::new(UrlGuard::allow_all());
        let mut queue = QueueConfig::new(redis.url());
        queue.heartbeat = humantime::parse_duration(HEARTBEAT).unwrap();
        queue.missed_heartbeats = MISSED.parse().unwrap();
        queue.no_worker_grace = no_worker_grace;
        config.queue = Some(queue);
        config.store = Some(store.clone());
        config.max_queue = 16;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(clipbench_server::serve(listener, config));
        assert_eq!(get_json(&base, "/health").await["status"], "ok");
        Deployment {
            dir,
            redis,
            store,
            media,
            base,
        }
    }

    fn worker(&self, name: &str, env: &[(&str, &str)]) -> Worker {
        self.worker_with(name, env, &[])
    }

    /// A worker with `args` besides the usual ones.
    fn worker_with(&self, name: &str, env: &[(&str, &str)], args: &[&str]) -> Worker {
        Worker::start(
            self.dir.path(),
            name,
            &self.redis.url(),
            &self.store,
            env,
            args,
        )
    }

    fn url(&self, video: &str) -> String {
        format!("http://{}/{video}", self.media)
    }

    fn store_files(&self, folder: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join("store").join(folder))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// `(start, end)` of each clip of an answer.
fn answered_plan(answer: &Value) -> Vec<(f64, f64)> {
    answer["clip_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["start_time"].as_f64().unwrap(),
                c["end_time"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_job_and_a_killed_workers_task_is_done_once_more() {
    let d = Deployment::start(
        |dir| {
            make_video_sized(dir, "talk.mp4", 80.0, true, "640x360");
        },
        Duration::from_secs(60),
    )
    .await;
    let mut doomed = d.worker("doomed", &[]);
    assert!(
        doomed.wait_for("taking tasks", Duration::from_secs(20)),
        "{}",
        doomed.log()
    );
    let job = tokio::spawn({
        let (base, url) = (d.base.clone(), d.url("talk.mp4"));
        async move { post(&base, json!({ "url": url })).await }
    });
    // Killed mid-task, before the second worker exists: its task can only be done by the other.
    assert!(
        doomed.wait_for("started task", Duration::from_secs(60)),
        "{}",
        doomed.log()
    );
    doomed.kill();
    let survivor = d.worker("survivor", &[]);
    let (status, answer) = tokio::time::timeout(Duration::from_secs(240), job)
        .await
        .expect("the job did not end within 240 s")
        .unwrap();
    assert_eq!(status, 200, "{answer}\n{}", survivor.log());

    // The same plan as a local run of the same file and options.
    let source = d.dir.path().join("media/talk.mp4");
    let media = probe(&Tools::from_env(), &source).unwrap();
    let options = PlanOptions {
        policy: Policy::OPTIMIZED,
        ..Default::default()
    };
    let local: Vec<(f64, f64)> = plan(&media, &options)
        .iter()
        .map(|c| (c.start, c.end))
        .collect();
    assert_eq!(answered_plan(&answer), local);
    assert_eq!(answer["clipbench"]["queue"]["workers"], json!(["survivor"]));
    // Each task read only its clip's part of the source from the store (range reads).
    let size = std::fs::metadata(&source).unwrap().len();
    for timing in answer["clipbench"]["queue"]["task_timings"]
        .as_array()
        .unwrap()
    {
        let read = timing["source_bytes"].as_u64().unwrap();
        assert!(
            read > 0 && read < size * 3 / 4,
            "{read} of {size} bytes: {timing}"
        );
    }

    // Every clip once in the store, none half-written, each served whole and decodable.
    let clips = d.store_files("clips");
    assert_eq!(clips.len(), local.len(), "{clips:?}");
    for detail in answer["clip_details"].as_array().unwrap() {
        let name = detail["filename"].as_str().unwrap();
        assert!(clips.contains(&name.to_owned()), "{name} not in {clips:?}");
        let bytes = client()
            .get(format!("{}/{name}", d.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let local_copy = d.dir.path().join(name);
        std::fs::write(&local_copy, &bytes).unwrap();
        assert_decodes(&local_copy, name);
        let served = probe(&Tools::from_env(), &local_copy).unwrap();
        let planned = detail["duration"].as_f64().unwrap();
        assert!(
            (served.duration - planned).abs() < 0.2,
            "{name}: {served:?}"
        );
    }
    // The source lives in the store: the server kept no download.
    let downloads = std::fs::read_dir(d.dir.path().join("server/downloads")).unwrap();
    assert_eq!(downloads.count(), 0);
    // The killed worker's task was delivered twice, and every task recorded once.
    let mut conn = d.redis.connection().await;
    let id = answer["clipbench"]["queue"]["job"].as_str().unwrap();
    let deliveries: std::collections::HashMap<usize, u64> =
        redis::AsyncCommands::hgetall(&mut conn, format!("cb:job:{id}:deliveries"))
            .await
            .unwrap();
    let again = deliveries.values().filter(|n| **n == 2).count();
    assert!(
        again >= 1 && deliveries.values().all(|n| *n <= 2),
        "{deliveries:?}"
    );
    let results: usize = redis::AsyncCommands::hlen(&mut conn, format!("cb:job:{id}:results"))
        .await
        .unwrap();
    assert_eq!(results, local.len());
    let progress = get_json(&d.base, "/progress").await;
    assert_eq!(progress["status"], "complete", "{progress}");
    assert_eq!(progress["total_clips"], local.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_keeps_failing_ends_with_its_reason() {
    let d = Deployment::start(
        |dir| {
            make_video(dir, "tiny.mp4", 12.0, true);
        },
        Duration::from_secs(60),
    )
    .await;
    let _broken = d.worker("broken", &[("CLIPBENCH_FFMPEG", "/nonexistent/ffmpeg")]);
    let (status, answer) = tokio::time::timeout(
        Duration::from_secs(120),
        post(&d.base, json!({ "url": d.url("tiny.mp4") })),
    )
    .await
    .expect("the job did not end within 120 s");
    assert_eq!(status, 500, "{answer}");
    let message = answer["message"].as_str().unwrap_or_default().to_owned()
        + answer["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("no clip could be made") && message.contains("ffmpeg not found"),
        "{answer}"
    );
    assert!(d.store_files("clips").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_down_answers_503_and_the_server_recovers() {
    let mut d = Deployment::start(
        |dir| {
            make_video(dir, "tiny.mp4", 12.0, true);
        },
        Duration::from_secs(60),
    )
    .await;
    let _worker = d.worker("steady", &[]);
    d.redis.stop();
    let (status, answer) = post(&d.base, json!({ "url": d.url("tiny.mp4") })).await;
    assert_eq!(status, 503, "{answer}");
    let text = answer.to_string();
    assert!(
        text.contains("job queue") && text.contains("redis-server"),
        "{text}"
    );
    let progress = client()
        .get(format!("{}/progress", d.base))
        .send()
        .await
        .unwrap();
    assert_eq!(progress.status().as_u16(), 503);

    d.redis = Redis::start(d.redis.port);
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let (status, answer) = post(&d.base, json!({ "url": d.url("tiny.mp4") })).await;
        if status == 200 {
            break answer;
        }
        assert!(Instant::now() < deadline, "never recovered: {answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        answer["clip_details"].as_array().unwrap().len(),
        1,
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_cancels_a_job_and_removes_its_pending_tasks() {
    let d = Deployment::start(
        |dir| {
            make_video(dir, "tiny.mp4", 70.0, true);
        },
        Duration::from_secs(60),
    )
    .await;
    // No worker: the job's tasks wait in the queue.
    let job = tokio::spawn({
        let (base, url) = (d.base.clone(), d.url("tiny.mp4"));
        async move { post(&base, json!({ "url": url })).await }
    });
    let apalis = QueueConfig::new(d.redis.url()).apalis();
    let mut conn = d.redis.connection().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = pending_tasks(&mut conn, &apalis).await;
        if pending == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks were never queued ({pending})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cleanup: Value = client()
        .post(format!("{}/cleanup", d.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleanup["success"], true, "{cleanup}");
    assert_eq!(
        cleanup["clipbench"]["queue"]["tasks_removed"], 3,
        "{cleanup}"
    );
    assert_eq!(pending_tasks(&mut conn, &apalis).await, 0);
    let (status, answer) = tokio::time::timeout(Duration::from_secs(30), job)
        .await
        .expect("the cancelled job did not answer")
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["clipbench"]["cancelled_by_cleanup"], true,
        "{answer}"
    );
    assert!(d.store_files("sources").is_empty());
}

/// Tasks waiting in the apalis queue: its active list and its scheduled set.
async fn pending_tasks(
    conn: &mut redis::aio::MultiplexedConnection,
    apalis: &apalis_redis::Config,
) -> usize {
    let active: usize = redis::AsyncCommands::llen(conn, apalis.active_jobs_list())
        .await
        .unwrap();
    let scheduled: usize = redis::AsyncCommands::zcard(conn, apalis.scheduled_jobs_set())
        .await
        .unwrap();
    active + scheduled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_no_worker_takes_answers_503_and_leaves_no_task() {
    let d = Deployment::start(
        |dir| {
            make_video(dir, "tiny.mp4", 12.0, true);
        },
        Duration::from_secs(2),
    )
    .await;
    let (status, answer) = tokio::time::timeout(
        Duration::from_secs(60),
        post(&d.base, json!({ "url": d.url("tiny.mp4") })),
    )
    .await
    .expect("the job did not give up within 60 s");
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer
            .to_string()
            .contains("clipbench-engine worker --queue"),
        "{answer}"
    );
    let apalis = QueueConfig::new(d.redis.url()).apalis();
    assert_eq!(
        pending_tasks(&mut d.redis.connection().await, &apalis).await,
        0
    );
    assert_eq!(get_json(&d.base, "/progress").await["status"], "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_queue_with_a_password_works_and_the_password_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    let password = "queue-pw-SECRET-0123";
    let redis = Redis::start_secured(dir.path(), free_port(), password);
    let mut d = Deployment::start_on(
        dir,
        redis,
        |dir| {
            make_video(dir, "tiny.mp4", 12.0, true);
        },
        Duration::from_secs(60),
    )
    .await;
    let worker = d.worker("tls", &[]);
    let (status, answer) = post(&d.base, json!({ "url": d.url("tiny.mp4") })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["clip_details"].as_array().unwrap().len(), 1);
    d.redis.stop();
    let (status, answer) = post(&d.base, json!({ "url": d.url("tiny.mp4") })).await;
    assert_eq!(status, 503, "{answer}");
    let progress = client()
        .get(format!("{}/progress", d.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The worker notices the queue is gone and says so in its log.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !worker.log().to_lowercase().contains("error") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for text in [answer.to_string(), progress, worker.log()] {
        assert!(!text.contains(password), "the password leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_task_fails_alone_with_its_reason_and_the_worker_carries_on() {
    use apalis::prelude::TaskSink;
    let d = Deployment::start(
        |dir| {
            make_video(dir, "tiny.mp4", 12.0, true);
        },
        Duration::from_secs(60),
    )
    .await;
    let worker = d.worker("wary", &[]);
    let task = |job: &str, timeout_s: f64| {
        json!({
            "job": job, "index": 0, "source": "sources/none.mp4",
            "media": serde_json::to_value(clipbench_engine::MediaInfo {
                duration: 10.0,
                ..Default::default()
            }).unwrap(),
            "cut_points": null,
            "clips": [{"number": 1, "start": 0.0, "end": 4.0, "priority": "high"}],
            "keys": ["clips/x_clip_001.mp4"], "profile": "optimized",
            "reuse_overlaps": false, "timeout_s": timeout_s, "retries": 1
        })
    };
    let mut conn = redis::aio::ConnectionManager::new(redis::Client::open(d.redis.url()).unwrap())
        .await
        .unwrap();
    // A real job, and tasks of it a server would never make.
    let job = clipbench_server::queue::records::create(&mut conn)
        .await
        .unwrap();
    let tasks: Vec<clipbench_server::queue::ClipTask> = vec![
        serde_json::from_value(task("../../escape", 60.0)).unwrap(),
        serde_json::from_value(task(&job, 1e300)).unwrap(),
    ];
    let mut storage = apalis_redis::RedisStorage::<clipbench_server::queue::ClipTask>::new(conn)
        .with_config(QueueConfig::new(d.redis.url()).apalis());
    storage.push_bulk(tasks).await.unwrap();
    let mut conn = d.redis.connection().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let result: String = loop {
        let found: Option<String> =
            redis::AsyncCommands::hget(&mut conn, format!("cb:job:{job}:results"), 0)
                .await
                .unwrap();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no result: {}", worker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        result.contains("the task is invalid: its timeout"),
        "{result}"
    );
    assert!(
        worker.wait_for("malformed", Duration::from_secs(10)),
        "{}",
        worker.log()
    );
    assert!(!worker.log().contains("panicked"), "{}", worker.log());
    assert!(!d.dir.path().parent().unwrap().join("escape").exists());
    // The same worker still makes a real job's clips.
    let (status, answer) = post(&d.base, json!({ "url": d.url("tiny.mp4") })).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_ffmpeg_stalls_on_a_worker_is_killed_at_the_stall_timeout() {
    let d = Deployment::start(|_| {}, Duration::from_secs(60)).await;
    // A real source in the store; an "ffmpeg" that tells its version, then starts the task's
    // work and never says anything.
    let sources = d.dir.path().join("store").join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    let source = make_video(&sources, "stall.mp4", 6.0, false);
    let silent = d.dir.path().join("silent-ffmpeg");
    let script = "#!/bin/sh\n[ \"$1\" = -version ] && exec ffmpeg -version\nexec sleep 600\n";
    std::fs::write(&silent, script).unwrap();
    std::fs::set_permissions(&silent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let worker = d.worker("watched", &[("CLIPBENCH_FFMPEG", silent.to_str().unwrap())]);
    // A task that may take 10 minutes, whose ffmpeg is watched for 1 s of silence: a result
    // within the wait (a minute) came from the watchdog.
    let task = json!({
        "job": "", "index": 0, "source": "sources/stall.mp4",
        "media": serde_json::to_value(probe(&Tools::from_env(), &source).unwrap()).unwrap(),
        "cut_points": null,
        "clips": [{"number": 1, "start": 0.0, "end": 4.0, "priority": "high"}],
        "keys": ["clips/s_clip_001.mp4"], "profile": "optimized",
        "reuse_overlaps": false, "timeout_s": 600.0, "stall_timeout_s": 1.0, "retries": 0
    });
    let result = result_of(&d, &worker, task).await;
    let failure = &result["failures"][0];
    assert_eq!(failure["kind"], "stalled", "{result}");
    assert!(result["clips"].as_array().unwrap().is_empty(), "{result}");
}

/// Pushes `task` (a JSON task of a new job on `d`'s queue, `job` filled in) and waits for its
/// result (bounded).
async fn result_of(d: &Deployment, worker: &Worker, mut task: Value) -> Value {
    use apalis::prelude::TaskSink;
    let mut conn = redis::aio::ConnectionManager::new(redis::Client::open(d.redis.url()).unwrap())
        .await
        .unwrap();
    let job = clipbench_server::queue::records::create(&mut conn)
        .await
        .unwrap();
    task["job"] = json!(job);
    let task: clipbench_server::queue::ClipTask = serde_json::from_value(task).unwrap();
    let mut storage = apalis_redis::RedisStorage::<clipbench_server::queue::ClipTask>::new(conn)
        .with_config(QueueConfig::new(d.redis.url()).apalis());
    storage.push_bulk(vec![task]).await.unwrap();
    let mut conn = d.redis.connection().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found: Option<String> =
            redis::AsyncCommands::hget(&mut conn, format!("cb:job:{job}:results"), 0)
                .await
                .unwrap();
        if let Some(found) = found {
            break serde_json::from_str(&found).unwrap();
        }
        assert!(Instant::now() < deadline, "no result: {}", worker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_a_task_over_its_budget_and_kills_a_task_at_its_deadline() {
    let d = Deployment::start(|_| {}, Duration::from_secs(60)).await;
    let sources = d.dir.path().join("store").join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    let source = make_video(&sources, "held.mp4", 6.0, false);
    let media = serde_json::to_value(probe(&Tools::from_env(), &source).unwrap()).unwrap();
    let task = |deadline_s: f64| {
        json!({
            "job": "", "index": 0, "source": "sources/held.mp4", "media": media,
            "cut_points": null,
            "clips": [{"number": 1, "start": 0.0, "end": 4.0, "priority": "high"}],
            "keys": ["clips/h_clip_001.mp4"], "profile": "optimized",
            "reuse_overlaps": false, "timeout_s": 600.0, "stall_timeout_s": 600.0,
            "deadline_s": deadline_s, "retries": 0
        })
    };
    // A worker whose budget is smaller than the 160x90 source refuses the task.
    let small = d.worker_with("small", &[], &["--max-frame-size", "100x100"]);
    let refused = result_of(&d, &small, task(600.0)).await;
    let reason = refused["failures"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("--max-frame-size") && reason.contains("160x90"),
        "{refused}"
    );
    drop(small);
    // A task whose ffmpeg never finishes is killed at the task's deadline (its stall timeout
    // and clip timeout are ten minutes).
    let silent = d.dir.path().join("silent-ffmpeg");
    let script = "#!/bin/sh\n[ \"$1\" = -version ] && exec ffmpeg -version\nexec sleep 599\n";
    std::fs::write(&silent, script).unwrap();
    std::fs::set_permissions(&silent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let late = d.worker("late", &[("CLIPBENCH_FFMPEG", silent.to_str().unwrap())]);
    let ended = result_of(&d, &late, task(1.0)).await;
    let reason = ended["failures"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("--job-deadline"), "{ended}");
    assert_eq!(ended["failures"][0]["kind"], "timed_out", "{ended}");
    assert!(
        crate::hostile::children_naming("sleep 599").is_empty(),
        "the task's child outlived its deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_over_the_budget_is_refused_before_it_is_split_into_tasks() {
    let d = Deployment::start(
        |dir| {
            let bomb = dir.join("bomb.mp4");
            common::corpus::ffmpeg(&[
                "-f",
                "lavfi",
                "-i",
                "color=black:s=7680x4320:r=1",
                "-t",
                "8",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                bomb.to_str().unwrap(),
            ]);
        },
        Duration::from_secs(60),
    )
    .await;
    let (status, answer) = post(&d.base, json!({ "url": d.url("bomb.mp4") })).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("--max-frame-size"), "{answer}");
    let apalis = QueueConfig::new(d.redis.url()).apalis();
    assert_eq!(
        pending_tasks(&mut d.redis.connection().await, &apalis).await,
        0
    );
    assert!(d.store_files("sources").is_empty(), "the source was stored");
}
