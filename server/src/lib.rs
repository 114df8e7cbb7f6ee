//! # clipbench-server
//!
//! `clipbench-engine serve`: the engine ([`clipbench_engine`]) behind the HTTP API of the
//! existing Python backends (DESIGN.md, "HTTP API"), so it can replace them behind the existing
//! frontend; its queue-backed scale-out ([`queue`], `clipbench-engine worker`), the object
//! [`store`] both use, and the guarded URL [`fetch`]. The `clipbench-engine` binary (every
//! command, the pipeline's too) lives here; the pipeline library has no HTTP, queue or store.
//!
//! A thin adapter: requests are parsed here, jobs run the library's [`clipbench_engine::run()`] one at a
//! time (further requests wait in a bounded queue), and the engine's events drive `/progress`.
//! Work folder layout: `downloads/job-N/` for fetched inputs (removed when the job ends),
//! `outputs/<name>/` for a job's clips and bookkeeping, and the published clips (the only files
//! `GET /<file>` serves) at the top of `outputs/`.
//!
//! Safe to expose: downloads go through the fetch guard, every caller passes [`access`], every
//! connection and request is bounded ([`listen`]), outputs are kept for a while and a size
//! ([`retention`]), and a shutdown cancels every job and its children.

pub mod access;
mod admission;
mod clips;
pub mod compat;
pub mod fetch;
mod input;
mod jobs;
mod listen;
mod names;
pub mod progress;
pub mod queue;
mod queued;
mod request;
mod responses;
pub mod retention;
mod state;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

pub use access::Access;
pub use compat::Compat;
pub use listen::Limits;
pub use progress::ProgressState;
pub use queued::QueueBackend;
pub use retention::Retention;
pub use state::{AppState, ServerConfig};

use crate::store::Store;

/// The router with every endpoint, the access rules, the limits and request logging.
pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/generate_shorts", post(jobs::generate_shorts))
        .route("/generate_shorts_optimized", post(jobs::generate_shorts))
        .route("/progress", get(progress::get_progress))
        .route("/health", get(responses::health))
        .route("/cleanup", post(jobs::cleanup))
        .route("/system_info", get(responses::system_info))
        .route("/{*path}", get(clips::serve_clip))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::enforce,
        ));
    listen::with_limits(routes, &state.config.limits)
        .layer(state.config.access.cors())
        .layer(listen::trace_layer())
        .with_state(state)
}

/// Serves on an already-bound listener until the process ends (see [`serve_until`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
) -> clipbench_engine::Result<()> {
    serve_until(listener, config, std::future::pending()).await
}

/// Serves on an already-bound listener until `shutdown` resolves, then stops accepting,
/// cancels every job (their ffmpeg and yt-dlp children are killed and their partial files
/// removed) and returns within `config.limits.shutdown_timeout`.
///
/// The work folder is swept first (downloads and `.partial` files of a previous life, outputs
/// past retention). A queue-backed configuration connects to its queue and opens its store
/// first: an error there is returned before anything is served.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> clipbench_engine::Result<()> {
    for dir in [config.downloads(), config.outputs()] {
        std::fs::create_dir_all(&dir)
            .map_err(|e| clipbench_engine::EngineError::io("cannot create", &dir, e))?;
    }
    retention::sweep_at_start(&config.downloads(), &config.outputs());
    let queue = match (&config.queue, &config.store) {
        (Some(queue), Some(store)) => {
            Some(QueueBackend::connect(queue.clone(), Store::open(store)?).await?)
        }
        (None, None) => None,
        _ => {
            return Err(clipbench_engine::EngineError::InvalidOption(
                "--queue and --store go together: give both or neither".into(),
            ))
        }
    };
    let state = AppState::new(config, queue);
    let sweeper = tokio::spawn(retention::keep_sweeping(state.clone()));
    let served = listen::accept_until(
        listener,
        router(state.clone()),
        &state.config.limits,
        async {
            shutdown.await;
            tracing::info!("shutting down: cancelling every job");
            admission::cancel_all(&state);
        },
    )
    .await;
    sweeper.abort();
    // Jobs see their cancellation within a moment; wait for them (bounded) so their children
    // are reaped and their partial files removed before the process exits.
    let deadline = tokio::time::Instant::now() + state.config.limits.shutdown_timeout;
    while state
        .jobs_in_system
        .load(std::sync::atomic::Ordering::SeqCst)
        > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served
}
