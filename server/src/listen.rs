//! Connections and requests, bounded: a cap on open connections, a deadline for a request's
//! headers (slowloris) and body, a body size limit, a cap on requests in flight and a deadline
//! for every answer but a job's — all tower / tower-http layers or hyper settings — and a
//! graceful stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::responses::error;

/// The server's limits; each is a `serve` flag.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most; more are closed at once (`--max-connections`).
    pub max_connections: usize,
    /// Requests being answered at once; more get 503 (`--max-requests`).
    pub max_requests: usize,
    /// Longest wait for a request's headers, also on an idle kept-alive connection
    /// (`--header-timeout`).
    pub header_timeout: Duration,
    /// Longest a request's body may take to arrive, and longest any answer but a job's may
    /// take (`--request-timeout`).
    pub request_timeout: Duration,
    /// Largest request body, bytes (`--max-body`).
    pub max_body_bytes: usize,
    /// Longest a shutdown waits for jobs to stop and answers to go out (`--shutdown-timeout`).
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    /// 256 connections, 64 requests in flight, 10 s for headers, 30 s for a body or an
    /// answer, 64 KiB bodies, 10 s to shut down.
    fn default() -> Self {
        Limits {
            max_connections: 256,
            max_requests: 64,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 64 * 1024,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// `routes` with the request limits: body size and time for every route, and an answer
/// deadline for every route but the generate ones (a job answers when it is done).
pub fn with_limits<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    limits: &Limits,
) -> Router<S> {
    let overloaded = |_: tower::BoxError| async {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is answering too many requests at once: retry in a moment".into(),
        )
    };
    let timeout = limits.request_timeout;
    routes
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                if request.uri().path().starts_with("/generate_shorts") {
                    return next.run(request).await;
                }
                match tokio::time::timeout(timeout, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => error(
                        StatusCode::REQUEST_TIMEOUT,
                        "the answer took too long".into(),
                    ),
                }
            },
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.request_timeout))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(axum::middleware::map_response(json_errors))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(limits.max_requests),
        )
}

/// Gives the plain-text refusals of the limit layers (413, 408) a JSON body in the backends'
/// error shape.
async fn json_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_json => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large: send {\"url\": \"...\"}".into(),
        ),
        StatusCode::REQUEST_TIMEOUT if !is_json => error(
            StatusCode::REQUEST_TIMEOUT,
            "the request body took too long to arrive".into(),
        ),
        _ => response,
    }
}

/// One log line per request at `info` (method, path, status, time); never headers or bodies.
pub fn trace_layer(
) -> TraceLayer<tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>>
{
    TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// Accepts connections for `app` until `shutdown` resolves, then stops accepting and lets the
/// open connections finish (at most `limits.shutdown_timeout`).
pub async fn accept_until(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> crate::error::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                "over {} open connections: closing a new one",
                limits.max_connections
            );
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown timeout: closing them");
    }
    Ok(())
}
