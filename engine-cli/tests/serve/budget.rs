//! Bounded per request, with the real `serve` binary: a source over a limit is refused as soon
//! as its index is read (before its download ends), or by the probe; a job past its deadline
//! is cancelled with nothing left behind; clients that stop reading are dropped and one
//! address cannot hold more than its share of the connections.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;

use crate::common;
use crate::hostile::{children_naming, generate, partial_files, progress_text, Server};

/// A file server that sends `/NAME` in 50 pieces 100 ms apart (5 s in all) and counts the
/// bytes it has sent; `/whole/NAME` refuses Range requests (so the engine downloads first);
/// `/fast/NAME` sends it at once.
struct Slow {
    address: SocketAddr,
    sent: Arc<AtomicUsize>,
}

async fn slow_server(dir: PathBuf) -> Slow {
    let sent = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/{name}", get(slowly))
        .route("/whole/{name}", get(slowly))
        .route("/fast/{name}", get(at_once))
        .with_state((Arc::new(dir), sent.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Slow { address, sent }
}

async fn slowly(
    State((dir, sent)): State<(Arc<PathBuf>, Arc<AtomicUsize>)>,
    UrlPath(name): UrlPath<String>,
) -> impl IntoResponse {
    let data = tokio::fs::read(dir.join(&name)).await.unwrap();
    let length = data.len();
    let pieces: Vec<Vec<u8>> = data
        .chunks(length.div_ceil(50))
        .map(<[u8]>::to_vec)
        .collect();
    let stream = futures_util::stream::iter(pieces).then(move |bytes| {
        let sent = sent.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sent.fetch_add(bytes.len(), Ordering::SeqCst);
            Ok::<_, std::io::Error>(bytes)
        }
    });
    (
        [(header::CONTENT_TYPE, "video/mp4")],
        [(header::CONTENT_LENGTH, length.to_string())],
        Body::from_stream(stream),
    )
}

async fn at_once(
    State((dir, _)): State<(Arc<PathBuf>, Arc<AtomicUsize>)>,
    UrlPath(name): UrlPath<String>,
) -> impl IntoResponse {
    let data = tokio::fs::read(dir.join(&name)).await.unwrap();
    ([(header::CONTENT_TYPE, "video/mp4")], data)
}

/// 20 s of a black 7680x4320 picture at 1 fps: a few kilobytes that decode into 33 MP frames.
fn bomb(dir: &Path, name: &str, index_in_front: bool) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "color=black:s=7680x4320:r=1",
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ];
    if index_in_front {
        args.extend(["-movflags", "+faststart"]);
    }
    args.push(path.to_str().unwrap());
    common::corpus::ffmpeg(&args);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_over_its_frame_size_is_refused_by_its_index_before_it_has_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let size = std::fs::metadata(bomb(&media, "bomb.mp4", true))
        .unwrap()
        .len() as usize;
    let slow = slow_server(media).await;
    let server = Server::start(&dir.path().join("s"), &["--allow-private-urls"]);
    let url = format!("http://{}/bomb.mp4", slow.address);
    let (status, answer, text) = generate(&server.base, &url).await;
    assert_eq!(status, 422, "{text}");
    let message = answer["error"].as_str().unwrap_or(&text);
    assert!(message.contains("7680x4320"), "{message}");
    assert!(message.contains("--max-frame-size"), "{message}");
    // Refused from the index at the front, before the rest of the file came.
    let sent = slow.sent.load(Ordering::SeqCst);
    assert!(
        sent < size,
        "the whole file ({size} bytes) was sent before the refusal"
    );
    assert!(progress_text(&server.base)
        .await
        .contains("--max-frame-size"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_index_in_front_the_probe_refuses_it_and_a_long_source_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    bomb(&media, "end.mp4", false);
    common::make_video(&media, "ten.mp4", 10.0, true);
    let slow = slow_server(media).await;
    let server = Server::start(
        &dir.path().join("s"),
        &["--allow-private-urls", "--max-duration", "5s"],
    );
    // No Range: the engine downloads the whole file, then ffprobe reads its shape.
    let url = format!("http://{}/whole/end.mp4", slow.address);
    let (status, answer, text) = generate(&server.base, &url).await;
    assert_eq!(status, 422, "{text}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("--max-frame-size"),
        "{text}"
    );
    let url = format!("http://{}/ten.mp4", slow.address);
    let (status, answer, text) = generate(&server.base, &url).await;
    assert_eq!(status, 422, "{text}");
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains("duration is 10 s") && message.contains("--max-duration"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_is_cancelled_and_leaves_no_process_or_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    common::make_video_sized(&media, "long.mp4", 16.0, true, "640x360");
    let slow = slow_server(media).await;
    let server = Server::start(
        &dir.path().join("s"),
        &[
            "--allow-private-urls",
            "--profile",
            "original",
            "--strategy",
            "serial",
            "--job-deadline",
            "1s",
        ],
    );
    // Its four clips take about 3 s here: the deadline falls while ffmpeg runs.
    let url = format!("http://{}/fast/long.mp4", slow.address);
    let (status, answer, text) = generate(&server.base, &url).await;
    assert_eq!(status, 504, "{text}");
    assert!(
        answer["error"].as_str().unwrap().contains("--job-deadline"),
        "{text}"
    );
    assert!(progress_text(&server.base).await.contains("--job-deadline"));
    let workdir = server.workdir.to_string_lossy().into_owned();
    // Any process naming the work folder but the server itself: an ffmpeg of the job.
    let left: Vec<String> = (children_naming(&workdir).iter())
        .filter(|pid| **pid != server.child.id())
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect();
    assert!(left.is_empty(), "outlived the job: {left:?}");
    assert!(partial_files(&server.workdir).is_empty());
}

/// A client socket from `from` to `to` whose receive buffer is as small as the kernel allows.
async fn socket_from(from: &str, to: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// `GET path` on a fresh connection from `from`: the status line, or why there was none.
async fn status_from(from: &str, to: SocketAddr, path: &str) -> Result<String, String> {
    status_with(from, to, path, "").await
}

/// `GET path` with `X-Forwarded-For: client`, from the proxy's address (127.0.0.1).
async fn status_for(to: SocketAddr, path: &str, client: &str) -> Result<String, String> {
    status_with(
        "127.0.0.1",
        to,
        path,
        &format!("X-Forwarded-For: {client}\r\n"),
    )
    .await
}

/// `GET path` with `headers` (each ending in CRLF) on a fresh connection from `from`.
async fn status_with(
    from: &str,
    to: SocketAddr,
    path: &str,
    headers: &str,
) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = socket_from(from, to).await;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n");
    let answer = async {
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut text = Vec::new();
        stream
            .read_to_end(&mut text)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&text).into_owned();
        text.lines()
            .next()
            .map(str::to_owned)
            .ok_or_else(|| "closed".to_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .unwrap_or_else(|_| Err("no answer within 5 s".into()))
}

fn address(server: &Server) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_are_dropped_after_the_io_timeout() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--max-connections",
            "6",
            "--max-connections-per-client",
            "10",
            "--io-timeout",
            "1s",
        ],
    );
    // A published file far larger than the sockets' buffers.
    let big: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::create_dir_all(server.workdir.join("outputs")).unwrap();
    std::fs::write(server.workdir.join("outputs/big.mp4"), big).unwrap();
    let to = address(&server);
    // Every slot taken by a client that asks for it and never reads.
    let mut stalled = Vec::new();
    for _ in 0..6 {
        let mut stream = socket_from("127.0.0.1", to).await;
        stream
            .write_all(b"GET /big.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        stalled.push(stream);
    }
    // While they hold every slot, a new client is closed at once …
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = status_from("127.0.0.1", to, "/health").await;
    assert!(
        refused.is_err(),
        "answered with every slot taken: {refused:?}"
    );
    // … and once their writes time out, their slots are freed: a fresh client is answered.
    let deadline = Instant::now() + Duration::from_secs(20);
    let answered = loop {
        match status_from("127.0.0.1", to, "/health").await {
            Ok(status) => break status,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("no slot was freed: {e}: {}", server.log()),
        }
    };
    assert!(answered.contains("200"), "{answered}");
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_over_its_share_is_refused_while_another_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--max-connections-per-client",
            "2",
            "--header-timeout",
            "30s",
        ],
    );
    let to = address(&server);
    // Two idle connections from 127.0.0.1 hold its share.
    let held = [
        socket_from("127.0.0.1", to).await,
        socket_from("127.0.0.1", to).await,
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let over = status_from("127.0.0.1", to, "/health").await;
    assert!(over.is_err(), "a third connection was served: {over:?}");
    let other = status_from("127.0.0.2", to, "/health").await.unwrap();
    assert!(other.contains("200"), "{other}");
    drop(held);
    // Its share given back, 127.0.0.1 is served again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match status_from("127.0.0.1", to, "/health").await {
            Ok(status) => break assert!(status.contains("200"), "{status}"),
            Err(e) if Instant::now() > deadline => panic!("never served again: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_share_is_the_forwarded_address() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--trusted-proxy",
            "127.0.0.1",
            "--max-connections-per-client",
            "1",
        ],
    );
    let to = address(&server);
    // One request of 203.0.113.7 in flight: its body never comes (the proxy's connection).
    let mut pending = socket_from("127.0.0.1", to).await;
    pending
        .write_all(
            b"POST /generate_shorts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 203.0.113.7\r\n\
              Content-Type: application/json\r\nContent-Length: 64\r\n\r\n{",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // All from the proxy's address: the share is per forwarded address, not per connection.
    let same = status_for(to, "/health", "198.51.100.1, 203.0.113.7")
        .await
        .unwrap();
    assert!(same.contains("429"), "{same}");
    let other = status_for(to, "/health", "203.0.113.8").await.unwrap();
    assert!(other.contains("200"), "{other}");
    drop(pending);
}
