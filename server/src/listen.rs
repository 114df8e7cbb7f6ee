//! Connections and requests, bounded: a cap on open connections and a share of them per client
//! address (the address a trusted reverse proxy forwards, behind one), a deadline for a
//! request's headers (slowloris) and body, a body size limit, a cap on requests in flight, a
//! deadline for every answer but a job's, an answer that makes no progress (a client that
//! stops reading) dropped — tower / tower-http layers, hyper settings and a write timeout on
//! the socket — and a graceful stop.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio_io_timeout::TimeoutStream;
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
    /// Longest an answer's bytes may wait for the client to read them: a client that stops
    /// reading is dropped and its slot freed (`--io-timeout`). (Requests that stop arriving
    /// are bounded by the header and request timeouts; a job's own answer waits for the job.)
    pub io_timeout: Duration,
    /// Most connections one client address may hold; more from it are closed at once
    /// (`--max-connections-per-client`).
    pub max_connections_per_client: usize,
    /// Reverse proxies every connection may come from: from them, the share applies to the
    /// address they forward (`X-Forwarded-For`'s last), counted per request (`--trusted-proxy`).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for Limits {
    /// 256 connections, 32 of them per client address, 64 requests in flight, 10 s for
    /// headers, 30 s for a body or an answer, 30 s for a client to read, 64 KiB bodies, 10 s
    /// to shut down, no trusted proxy.
    fn default() -> Self {
        Limits {
            max_connections: 256,
            max_requests: 64,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 64 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            max_connections_per_client: 32,
            trusted_proxies: Vec::new(),
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
        .layer(axum::middleware::from_fn(forwarded_share))
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

/// How many connections (or, behind a trusted proxy, requests) each client address holds,
/// and how many it may.
#[derive(Clone)]
struct ClientShares {
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    most: usize,
}

/// One connection's (or request's) place in its client's share; given back when dropped.
struct Share {
    shares: ClientShares,
    client: IpAddr,
}

impl ClientShares {
    fn new(most: usize) -> ClientShares {
        ClientShares {
            held: Arc::default(),
            most: most.max(1),
        }
    }

    /// A place for `client`, or `None` when it holds its share already.
    fn take(&self, client: IpAddr) -> Option<Share> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(client).or_default();
        if *count >= self.most {
            return None;
        }
        *count += 1;
        Some(Share {
            shares: self.clone(),
            client,
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.shares.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

/// Where a connection came from, for the per-request share behind a trusted proxy.
#[derive(Clone)]
struct Peer {
    proxied: bool,
    clients: ClientShares,
}

/// Behind a trusted proxy: a request from an address already holding its share (requests in
/// flight) is answered 429 at once; others go on. The address is the last of
/// `X-Forwarded-For`, the one the proxy itself saw.
async fn forwarded_share(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request.extensions().get::<Peer>().cloned();
    let Some(peer) = peer.filter(|p| p.proxied) else {
        return next.run(request).await;
    };
    let client = (request.headers().get_all("x-forwarded-for").iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back();
    let Some(client) = client else {
        return next.run(request).await;
    };
    match peer.clients.take(client) {
        Some(share) => {
            let response = next.run(request).await;
            drop(share);
            response
        }
        None => error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many requests from one address at once (over {}): wait for them to end",
                peer.clients.most
            ),
        ),
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
    let clients = ClientShares::new(limits.max_connections_per_client);
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
        let (stream, peer) = tokio::select! {
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
        // Behind a trusted proxy the share is the forwarded address's, per request.
        let proxied = limits.trusted_proxies.contains(&peer.ip());
        let share = match proxied {
            true => None,
            false => match clients.take(peer.ip()) {
                Some(share) => Some(share),
                None => {
                    tracing::warn!(
                        "a client over its share of {} connections: closing a new one",
                        limits.max_connections_per_client
                    );
                    drop(stream);
                    continue;
                }
            },
        };
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.io_timeout));
        let app = app.clone().layer(axum::Extension(Peer {
            proxied,
            clients: clients.clone(),
        }));
        let service = TowerToHyperService::new(app);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(Box::pin(stream)), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop((slot, share));
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
