//! Real HTTP on loopback for the server tests: a file server, our server, a bounded client.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::routing::get;
use axum::Router;
use clipbench_fetch::guard::UrlGuard;
use clipbench_server::{serve, ServerConfig};
use serde_json::Value;
use tower_http::services::ServeDir;

/// A loopback file server for `dir`, plus `/page` answering an HTML page.
pub async fn file_server(dir: &Path) -> SocketAddr {
    let app = Router::new()
        .route(
            "/page",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<html>a video page</html>",
                )
            }),
        )
        .fallback_service(ServeDir::new(dir));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// Our server with a small plan suited to tiny inputs.
pub async fn engine_server(workdir: &Path, tune: impl FnOnce(&mut ServerConfig)) -> String {
    let mut config = ServerConfig::new(workdir);
    // The media comes from a loopback file server.
    config.download.guard = std::sync::Arc::new(UrlGuard::allow_all());
    config.setup.plan.policy = "fixed:1:4:3".parse().unwrap();
    tune(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config));
    let base = format!("http://{address}");
    // Answered once the server has made its folders and serves.
    assert_eq!(get_json(&base, "/health").await["status"], "ok");
    base
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

pub async fn post(base: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{base}/generate_shorts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET base+path` as JSON.
pub async fn get_json(base: &str, path: &str) -> Value {
    client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn progress(base: &str) -> Value {
    get_json(base, "/progress").await
}

/// Polls `/progress` until `done` holds, at most `limit`; returns every reading.
pub async fn poll_until(base: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < deadline && seen.len() < 5000 {
        let p = progress(base).await;
        let finished = done(&p);
        seen.push(p);
        if finished {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "progress never reached the expected state: {:?}",
        seen.last()
    );
}
