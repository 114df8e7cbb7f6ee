//! Serves the sample files on a 127.0.0.1 port, since HTTP backends take URLs — at loopback
//! speed, or through a shaped [`Link`]: every request waits the link's latency, and every
//! response body (Range requests included) is sent through one token bucket shared by all the
//! server's connections, so the run's downloads share the link's rate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use tower_http::services::ServeDir;

use crate::link::{Link, TokenBucket};

/// Bytes sent per wait: small enough that the rate holds within a fraction of a second.
const PIECE: usize = 16 * 1024;

/// A link's state in a running server.
struct Shaper {
    link: Link,
    bucket: Mutex<TokenBucket>,
    clock: Instant,
}

impl Shaper {
    /// How long to wait before sending `bytes` now.
    fn wait_for(&self, bytes: usize) -> std::time::Duration {
        let now = self.clock.elapsed().as_secs_f64();
        let wait = self
            .bucket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(now, bytes);
        std::time::Duration::from_secs_f64(wait)
    }
}

/// Delays the answer by the link's latency and meters its body through the bucket.
async fn shaped(State(shaper): State<Arc<Shaper>>, request: Request, next: Next) -> Response {
    tokio::time::sleep(shaper.link.latency()).await;
    let (parts, body) = next.run(request).await.into_parts();
    let pieces = body.into_data_stream().flat_map(|chunk| {
        let pieces: Vec<Result<Bytes, axum::Error>> = match chunk {
            Ok(bytes) => (0..bytes.len())
                .step_by(PIECE)
                .map(|at| Ok(bytes.slice(at..(at + PIECE).min(bytes.len()))))
                .collect(),
            Err(e) => vec![Err(e)],
        };
        futures_util::stream::iter(pieces)
    });
    let metered = pieces.then(move |piece| {
        let shaper = shaper.clone();
        async move {
            if let Ok(bytes) = &piece {
                tokio::time::sleep(shaper.wait_for(bytes.len())).await;
            }
            piece
        }
    });
    Response::from_parts(parts, Body::from_stream(metered))
}

/// Starts a static file server for `dir` on an ephemeral loopback port of `runtime`, shaped
/// by `link` when given.
pub fn start(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    link: Option<&Link>,
) -> std::io::Result<SocketAddr> {
    let mut app = axum::Router::new().fallback_service(ServeDir::new(dir));
    if let Some(link) = link {
        let shaper = Arc::new(Shaper {
            link: link.clone(),
            bucket: Mutex::new(TokenBucket::new(link.bytes_per_s(), PIECE as f64)),
            clock: Instant::now(),
        });
        app = app.layer(axum::middleware::from_fn_with_state(shaper, shaped));
    }
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shaped_download_cannot_beat_its_link_and_ranges_still_work() {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("sample.mp4"), &body).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // 1.6 Mbit/s = 200 kB/s, 50 ms: the whole file needs at least (200 000 − one piece) /
        // 200 000 s after the latency.
        let link = Link::parse("1.6mbit,50ms").unwrap();
        let address = start(&runtime, dir.path(), Some(&link)).unwrap();
        let url = format!("http://{address}/sample.mp4");
        let client = reqwest::Client::new();
        let began = Instant::now();
        let whole = runtime.block_on(async { client.get(&url).send().await?.bytes().await });
        let took = began.elapsed().as_secs_f64();
        assert_eq!(whole.unwrap().as_ref(), &body[..]);
        let least = 0.05 + (200_000 - PIECE) as f64 / 200_000.0;
        assert!(
            took >= least,
            "{took} s is faster than the link allows ({least} s)"
        );
        let range = runtime.block_on(async {
            let answer = client
                .get(&url)
                .header("Range", "bytes=1000-1999")
                .send()
                .await?;
            Ok::<_, reqwest::Error>((answer.status(), answer.bytes().await?))
        });
        let (status, bytes) = range.unwrap();
        assert_eq!(status, 206);
        assert_eq!(bytes.as_ref(), &body[1000..2000]);
        // Without a link the same server is plain loopback.
        let plain = start(&runtime, dir.path(), None).unwrap();
        let fast = runtime.block_on(async {
            reqwest::get(format!("http://{plain}/sample.mp4"))
                .await?
                .bytes()
                .await
        });
        assert_eq!(fast.unwrap().len(), body.len());
    }
}
