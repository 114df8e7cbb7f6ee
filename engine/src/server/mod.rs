//! `clipbench-engine serve`: the engine behind the HTTP API of the existing Python backends
//! (DESIGN.md, "HTTP API"), so it can replace them behind the existing frontend.
//!
//! A thin adapter: requests are parsed here, jobs run the library's [`crate::run()`] one at a
//! time (further requests wait in a bounded queue), and the engine's events drive `/progress`.
//! Work folder layout: `downloads/job-N/` for fetched inputs (removed when the job ends),
//! `outputs/<name>/` for a job's clips and bookkeeping, and the published clips (the only files
//! `GET /<file>` serves) at the top of `outputs/`.
//!
//! Safe to expose: downloads go through the fetch guard, every caller passes [`access`], every
//! connection and request is bounded ([`listen`]), outputs are kept for a while and a size
//! ([`retention`]), and a shutdown cancels every job and its children.

pub mod access;
mod files;
mod jobs;
mod listen;
mod progress;
mod queued;
mod request;
mod responses;
pub mod retention;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use crate::allocate::Strategy;
use crate::encode::Profile;
use crate::execute::CancelToken;
use crate::plan::PlanOptions;
use crate::tools::Tools;

pub use access::Access;
pub use listen::Limits;
pub use progress::{Compat, ProgressState};
pub use queued::QueueBackend;
pub use retention::Retention;

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
    /// Who may call, from which origins and hosts.
    pub access: Access,
    /// Connection, request and body limits.
    pub limits: Limits,
    /// How long and how much output is kept.
    pub retention: Retention,
    /// Downloads: guard, deadline, rate, size and free space.
    pub download: crate::fetch::DownloadOptions,
    pub tools: Tools,
    /// Queue-backed: jobs become tasks on this queue, run by `worker`s (with `store`).
    pub queue: Option<QueueConfig>,
    /// Where a queue-backed server keeps sources and clips (`file:///…` or `s3://…`).
    pub store: Option<String>,
}

impl ServerConfig {
    /// Defaults: the optimized backend's dialect, `auto` strategy, `optimized` profile, fixed
    /// 30/25 plan with a 15 s last clip, a queue of 4, loopback origins and hosts only, no API
    /// key, the fetch guard on, and the default [`Limits`] and [`Retention`].
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
            access: Access {
                check_host: true,
                ..Access::default()
            },
            limits: Limits::default(),
            retention: Retention::default(),
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
    /// Every admitted job's cancel token, for `/cleanup` and shutdown.
    running: Mutex<HashMap<u64, CancelToken>>,
    /// Output folders of admitted jobs: retention never touches them, no other job takes them.
    folders_in_use: Mutex<HashSet<String>>,
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
            running: Mutex::new(HashMap::new()),
            folders_in_use: Mutex::new(HashSet::new()),
            cleanups: AtomicU64::new(0),
            next_job: AtomicU64::new(1),
        })
    }
}

/// The router with every endpoint, the access rules, the limits and request logging.
pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/generate_shorts", post(jobs::generate_shorts))
        .route("/generate_shorts_optimized", post(jobs::generate_shorts))
        .route("/progress", get(progress::get_progress))
        .route("/health", get(responses::health))
        .route("/cleanup", post(jobs::cleanup))
        .route("/system_info", get(responses::system_info))
        .route("/{*path}", get(files::serve_clip))
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
pub async fn serve(listener: tokio::net::TcpListener, config: ServerConfig) -> crate::Result<()> {
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
) -> crate::Result<()> {
    for dir in [config.downloads(), config.outputs()] {
        std::fs::create_dir_all(&dir)
            .map_err(|e| crate::EngineError::io("cannot create", &dir, e))?;
    }
    retention::sweep_at_start(&config.downloads(), &config.outputs());
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
    let state = AppState::new(config, queue);
    let sweeper = tokio::spawn(retention::keep_sweeping(state.clone()));
    let served = listen::accept_until(
        listener,
        router(state.clone()),
        &state.config.limits,
        async {
            shutdown.await;
            tracing::info!("shutting down: cancelling every job");
            jobs::cancel_all(&state);
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
