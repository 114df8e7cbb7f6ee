//! `clipbench-engine serve`: the engine behind the HTTP API of the existing Python backends
//! (DESIGN.md, "HTTP API"), so it can replace them behind the existing frontend.
//!
//! A thin adapter: requests are parsed here, jobs run the library's [`crate::run()`] one at a
//! time (further requests wait in a bounded queue), and the engine's events drive `/progress`.
//! Work folder layout: `downloads/job-N/` for fetched inputs, `outputs/<name>/` for clips.

mod files;
mod jobs;
mod progress;
mod queued;
mod request;
mod responses;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method};
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::allocate::Strategy;
use crate::encode::Profile;
use crate::execute::CancelToken;
use crate::plan::PlanOptions;
use crate::tools::Tools;

pub use progress::{Compat, ProgressState};
pub use queued::QueueBackend;

use crate::queue::QueueConfig;
use crate::store::Store;

/// How the server runs jobs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Holds `downloads/` and `outputs/`.
    pub workdir: PathBuf,
    pub strategy: Strategy,
    pub profile: Profile,
    pub plan: PlanOptions,
    /// Encode each moment once (`--reuse-overlaps`).
    pub reuse_overlaps: bool,
    /// The backend whose dialect is spoken where the two disagree.
    pub compat: Compat,
    /// Requests that may wait behind the running job; more get 429.
    pub max_queue: usize,
    /// Allowed CORS origins; empty allows any origin.
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    pub download: crate::fetch::DownloadOptions,
    pub tools: Tools,
    /// Queue-backed: jobs become tasks on this queue, run by `worker`s (with `store`).
    pub queue: Option<QueueConfig>,
    /// Where a queue-backed server keeps sources and clips (`file:///…` or `s3://…`).
    pub store: Option<String>,
}

impl ServerConfig {
    /// Defaults: the optimized backend's dialect, `auto` strategy, `optimized` profile, fixed
    /// 30/25 plan with a 15 s last clip, a queue of 4, any CORS origin, 64 KiB bodies.
    pub fn new(workdir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            workdir: workdir.into(),
            strategy: Strategy::Auto,
            profile: Profile::Optimized,
            plan: PlanOptions {
                policy: crate::plan::Policy::OPTIMIZED,
                ..Default::default()
            },
            reuse_overlaps: false,
            compat: Compat::Optimized,
            max_queue: 4,
            cors_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
            download: crate::fetch::DownloadOptions::default(),
            tools: Tools::from_env(),
            queue: None,
            store: None,
        }
    }

    /// The engine's options for one of this server's jobs, writing into `output_dir`.
    fn run_options(&self, output_dir: PathBuf) -> crate::run::RunOptions {
        let setup = crate::run::Setup {
            strategy: self.strategy,
            profile: self.profile,
            policy: self.plan.policy,
            threads: None,
            reuse_overlaps: self.reuse_overlaps,
        };
        let mut options = crate::run::RunOptions::with_setup(output_dir, setup);
        options.plan = self.plan;
        options.tools = self.tools.clone();
        options
    }

    fn downloads(&self) -> PathBuf {
        self.workdir.join("downloads")
    }

    fn outputs(&self) -> PathBuf {
        self.workdir.join("outputs")
    }
}

/// State shared by the handlers.
pub struct AppState {
    config: ServerConfig,
    /// The running job's progress, as `/progress` shows it.
    progress: Mutex<ProgressState>,
    /// Held by the running job; tokio's mutex is fair, so queued jobs run in arrival order.
    job_slot: tokio::sync::Mutex<()>,
    /// Jobs running or waiting.
    jobs_in_system: AtomicUsize,
    /// The running job's cancel token, for `/cleanup`.
    running: Mutex<Option<CancelToken>>,
    /// Cleanups so far: a job admitted before the latest one is cancelled.
    cleanups: AtomicU64,
    next_job: AtomicU64,
    /// The queue and store of a queue-backed server.
    queue: Option<QueueBackend>,
}

impl AppState {
    /// The state of a local server, or of a queue-backed one when `queue` is given.
    pub fn new(config: ServerConfig, queue: Option<QueueBackend>) -> Arc<AppState> {
        Arc::new(AppState {
            queue,
            config,
            progress: Mutex::new(ProgressState::idle()),
            job_slot: tokio::sync::Mutex::new(()),
            jobs_in_system: AtomicUsize::new(0),
            running: Mutex::new(None),
            cleanups: AtomicU64::new(0),
            next_job: AtomicU64::new(1),
        })
    }
}

/// The router with every endpoint, CORS and request logging.
pub fn router(state: Arc<AppState>) -> Router {
    let cors = if state.config.cors_origins.is_empty() {
        CorsLayer::new().allow_origin(Any)
    } else {
        let origins: Vec<HeaderValue> = state
            .config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        CorsLayer::new().allow_origin(AllowOrigin::list(origins))
    }
    .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
    .allow_headers(Any);
    Router::new()
        .route("/generate_shorts", post(jobs::generate_shorts))
        .route("/generate_shorts_optimized", post(jobs::generate_shorts))
        .route("/progress", get(progress::get_progress))
        .route("/health", get(responses::health))
        .route("/cleanup", post(jobs::cleanup))
        .route("/system_info", get(responses::system_info))
        .route("/{*path}", get(files::serve_clip))
        // The handlers enforce the body limit themselves, to answer 413 with a JSON body.
        .layer(DefaultBodyLimit::disable())
        .layer(cors)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Serves on an already-bound listener until the future is dropped or the process ends.
///
/// A queue-backed configuration connects to its queue and opens its store first: an error
/// there is returned before anything is served.
pub async fn serve(listener: tokio::net::TcpListener, config: ServerConfig) -> crate::Result<()> {
    for dir in [config.downloads(), config.outputs()] {
        std::fs::create_dir_all(&dir)
            .map_err(|e| crate::EngineError::io("cannot create", &dir, e))?;
    }
    let queue = match (&config.queue, &config.store) {
        (Some(queue), Some(store)) => {
            Some(QueueBackend::connect(queue.clone(), Store::open(store)?).await?)
        }
        (None, None) => None,
        _ => {
            return Err(crate::EngineError::InvalidOption(
                "--queue and --store go together: give both or neither".into(),
            ))
        }
    };
    let app = router(AppState::new(config, queue));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|e| crate::EngineError::Internal(format!("the server stopped: {e}")))
}
