//! # clipbench-server
//!
//! The library behind `clipbench-engine serve` and `worker` (the binary: package
//! `clipbench-engine-cli`): the engine ([`clipbench_engine`]) behind the HTTP API of the
//! existing Python backends (DESIGN.md, "HTTP API"), so it can replace them behind the existing
//! frontend; its queue-backed scale-out ([`queue`]) and the object [`store`] both use. Inputs
//! that are URLs are fetched by [`clipbench_fetch`]; errors of its own: [`error::ServerError`].
//!
//! A thin adapter, flowing one way: a request is parsed (`request`), admitted
//! (`admission`) and handed to the job backend chosen at start (`backend`: `local`, jobs
//! here one at a time with the library's [`clipbench_engine::run()`], or `workers`, clips made
//! by workers); both build on the same leaves (`input`, `names`, `responses`,
//! [`progress`]). Work folder layout: `downloads/job-N/` for fetched inputs (removed
//! when the job ends), `outputs/<name>/` for a job's clips and bookkeeping, and the published
//! clips (the only files `GET /<file>` serves) at the top of `outputs/`.
//!
//! Safe to expose: downloads go through the fetch guard, every caller passes [`access`], every
//! connection and request is bounded (`listen`), outputs are kept for a while and a size
//! ([`retention`]), and a shutdown cancels every job and its children.

pub mod access;
mod admission;
mod app;
mod backend;
mod clips;
mod config;
pub mod error;
mod info;
mod input;
mod jobs;
mod listen;
mod names;
pub mod progress;
pub mod queue;
mod request;
mod responses;
pub mod retention;
pub mod store;
mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

pub use access::Access;
pub use clipbench_engine::extras::Compat;
pub use config::ServerConfig;
pub use listen::Limits;
pub use progress::ProgressState;
pub use retention::Retention;

use crate::admission::Admission;
use crate::app::AppState;
use crate::backend::local::LocalBackend;
use crate::backend::workers::WorkersBackend;
use crate::backend::JobBackend;
use crate::store::Store;

/// The router with every endpoint, the access rules, the limits and request logging.
fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/generate_shorts", post(jobs::generate_shorts))
        .route("/generate_shorts_optimized", post(jobs::generate_shorts))
        .route("/progress", get(info::progress))
        .route("/health", get(info::health))
        .route("/cleanup", post(jobs::cleanup))
        .route("/system_info", get(info::system_info))
        .route("/{*path}", get(clips::serve_clip))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(state.config.access.clone()),
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
) -> crate::error::Result<()> {
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
) -> crate::error::Result<()> {
    for dir in [config.downloads(), config.outputs()] {
        std::fs::create_dir_all(&dir)
            .map_err(|e| crate::error::ServerError::io("cannot create", &dir, e))?;
    }
    retention::sweep_at_start(&config.downloads(), &config.outputs());
    let config = Arc::new(config);
    let (backend, folders): (Arc<dyn JobBackend>, _) = match (&config.queue, &config.store) {
        (Some(queue), Some(store)) => {
            let store = Store::open(store)?;
            let queued = WorkersBackend::connect(config.clone(), queue.clone(), store).await?;
            (Arc::new(queued), None)
        }
        (None, None) => (
            Arc::new(LocalBackend::new(config.clone())),
            Some(config.outputs()),
        ),
        _ => {
            return Err(crate::error::ServerError::InvalidOption(
                "--queue and --store go together: give both or neither".into(),
            ))
        }
    };
    let state = Arc::new(AppState {
        admission: Admission::new(config.max_queue, folders),
        backend,
        config,
    });
    let sweeper = tokio::spawn(retention::keep_sweeping(
        state.config.retention,
        state.config.outputs(),
        state.admission.clone(),
        state.backend.store().cloned(),
    ));
    let served = listen::accept_until(
        listener,
        router(state.clone()),
        &state.config.limits,
        async {
            shutdown.await;
            tracing::info!("shutting down: cancelling every job");
            state.admission.cancel_all();
        },
    )
    .await;
    sweeper.abort();
    // Jobs see their cancellation within a moment; wait for them (bounded) so their children
    // are reaped and their partial files removed before the process exits.
    let deadline = tokio::time::Instant::now() + state.config.limits.shutdown_timeout;
    while state.admission.jobs() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served
}
