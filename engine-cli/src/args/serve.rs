//! `serve`'s flags and the server configuration they make.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use clap::Args;
use clipbench_engine::{Policy, Profile, Strategy};
use clipbench_fetch::guard::UrlGuard;
use clipbench_server::{Compat, ServerConfig};

use super::budget::parse_deadline;
use super::{BudgetArgs, HeartbeatArgs, PlanArgs};
use clipbench_engine::budget::Deadline;

/// `serve`'s flags.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5001")]
    pub bind: String,
    /// Work folder for downloads and outputs.
    #[arg(long, default_value = "clipbench-serve")]
    pub workdir: PathBuf,
    #[arg(long, default_value = "auto")]
    pub strategy: Strategy,
    /// Encoding profile: original, optimized, seed, copy or smart.
    #[arg(long, default_value = "optimized")]
    pub profile: Profile,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Requests that may wait behind the running job (default 4; in queue mode, jobs in
    /// flight, default 64); more get 429.
    #[arg(long)]
    pub max_queue: Option<usize>,
    /// Encode each moment once (see `run --reuse-overlaps`).
    #[arg(long)]
    pub reuse_overlaps: bool,
    /// The backend to stand in for where the two disagree: `original` (current_clip = clip
    /// started, errors in `error`, its answer's shape and plan) or `optimized`.
    #[arg(long, default_value = "optimized")]
    pub compat: Compat,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// What one job may cost.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// How long a job may run, from its request: `auto` (2 s per second of source, at least
    /// 5 minutes) or a duration; past it the job is cancelled and answers which limit ended it.
    #[arg(long, default_value = "auto", value_parser = parse_deadline)]
    pub job_deadline: Deadline,
    /// Published clips and job folders are removed once older than this.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub keep_for: Duration,
    /// Outputs beyond this size are removed, oldest first (never a running job's).
    #[arg(long, default_value = "20GiB")]
    pub max_disk: ByteSize,
    /// Queue-backed: split each job into tasks on this Redis queue (`redis://HOST:PORT`, or
    /// `rediss://` for TLS; a password as `redis://:PASSWORD@HOST`), made by `worker`s; needs
    /// --store. Jobs then run side by side (--max-queue of them, default 64).
    #[arg(long, requires = "store", value_name = "URL")]
    pub queue: Option<String>,
    /// Where sources and clips are kept in queue mode: `file:///abs/folder` or
    /// `s3://bucket/prefix` (AWS_* variables for credentials and endpoint).
    #[arg(long, requires = "queue", value_name = "URL")]
    pub store: Option<String>,
    /// Queue mode: a job whose tasks no live worker takes for this long answers 503 and its
    /// tasks are removed.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub no_worker_grace: Duration,
    #[command(flatten)]
    pub heartbeat: HeartbeatArgs,
}

/// Who may call.
#[derive(Args)]
pub struct AccessArgs {
    /// Every route but /health then needs `Authorization: Bearer KEY`. Required when the
    /// address is not loopback (or say --insecure-no-api-key).
    #[arg(long, env = "CLIPBENCH_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Serve a non-loopback address without an API key: anyone who reaches it can run jobs.
    #[arg(long)]
    pub insecure_no_api_key: bool,
    /// A web origin allowed to call from a browser besides loopback ones (repeatable; `*`:
    /// any), e.g. https://app.example.com.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// On a loopback address, a Host header answered besides loopback names (repeatable).
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
}

/// What is fetched, and how.
#[derive(Args)]
pub struct FetchArgs {
    /// Fetch from any address, loopback and private ones included (tests, the harness,
    /// private deployments). Off: such addresses are refused with 403.
    #[arg(long)]
    pub allow_private_urls: bool,
    /// Allow one range or host although private: a CIDR (10.1.0.0/16), an address or a host
    /// name (repeatable).
    #[arg(long = "allow-url", value_name = "CIDR|HOST")]
    pub allow_urls: Vec<String>,
    /// Longest a download (or yt-dlp) may take, request to last byte.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub download_deadline: Duration,
    /// Slowest download accepted, per second over each 10 s (0: any).
    #[arg(long, default_value = "64KiB")]
    pub download_min_rate: ByteSize,
    /// Largest download accepted.
    #[arg(long, default_value = "4GiB")]
    pub max_download: ByteSize,
    /// Space a download must leave free on the work folder's disk.
    #[arg(long, default_value = "1GiB")]
    pub min_free: ByteSize,
    /// Longest an ffprobe of a download may take.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub probe_timeout: Duration,
}

/// Connections and requests.
#[derive(Args)]
pub struct LimitArgs {
    /// Open connections at most; more are closed.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Requests answered at once; more get 503.
    #[arg(long, default_value_t = 64)]
    pub max_requests: usize,
    /// Longest wait for a request's headers.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// Longest a request body may take to arrive, and any answer but a job's.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Largest request body.
    #[arg(long, default_value = "64KiB")]
    pub max_body: ByteSize,
    /// Longest a shutdown waits for jobs to stop.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// Longest an answer waits for its client to read: a client that stops reading is
    /// dropped and its connection freed.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub io_timeout: Duration,
    /// Most connections one client address may hold; more from it are closed at once.
    #[arg(long, default_value_t = 32)]
    pub max_connections_per_client: usize,
    /// A reverse proxy every connection may come from (repeatable): from it, the per-client
    /// share applies to the address it forwards in X-Forwarded-For.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl ServeArgs {
    /// The server's configuration; refuses an exposed address without an API key.
    pub fn config(self, bound: SocketAddr) -> anyhow::Result<ServerConfig> {
        let loopback = bound.ip().is_loopback();
        if !loopback && self.access.api_key.is_none() && !self.access.insecure_no_api_key {
            anyhow::bail!(
                "{bound} is reachable from other machines and no API key is set: set --api-key \
                 (or CLIPBENCH_API_KEY), or pass --insecure-no-api-key to accept that anyone can run jobs"
            );
        }
        if self.access.api_key.as_deref().is_some_and(|k| k.len() < 16) {
            anyhow::bail!(
                "--api-key is too short: use at least 16 characters (e.g. `openssl rand -hex 32`)"
            );
        }
        let mut config = ServerConfig::new(self.workdir);
        config.compat = self.compat;
        config.setup.strategy = self.strategy;
        config.setup.profile = self.profile;
        config.setup.plan = self.plan.options(match self.compat {
            Compat::Original => Policy::ORIGINAL,
            Compat::Optimized => Policy::OPTIMIZED,
        });
        config.max_queue = self
            .max_queue
            .unwrap_or(if self.queue.is_some() { 64 } else { 4 });
        config.queue = self.queue.as_deref().map(|url| {
            let mut queue = self.heartbeat.queue(url);
            queue.no_worker_grace = self.no_worker_grace;
            queue
        });
        config.store = self.store;
        config.setup.reuse_overlaps = self.reuse_overlaps;
        config.access.api_key = self.access.api_key;
        config.access.cors_origins = self.access.cors_origins;
        config.access.allowed_hosts = self.access.allowed_hosts;
        config.access.check_host = loopback;
        let mut guard = UrlGuard {
            allow_private: self.fetch.allow_private_urls,
            ..UrlGuard::default()
        };
        for entry in &self.fetch.allow_urls {
            guard.allow(entry)?;
        }
        config.download.guard = Arc::new(guard);
        config.download.deadline = self.fetch.download_deadline;
        config.download.min_rate = self.fetch.download_min_rate.as_u64();
        config.download.max_bytes = self.fetch.max_download.as_u64();
        config.download.min_free_bytes = self.fetch.min_free.as_u64();
        config.tools.probe_timeout = self.fetch.probe_timeout;
        config.limits.max_connections = self.limits.max_connections.max(1);
        config.limits.max_requests = self.limits.max_requests.max(1);
        config.limits.header_timeout = self.limits.header_timeout;
        config.limits.request_timeout = self.limits.request_timeout;
        config.limits.max_body_bytes = self.limits.max_body.as_u64() as usize;
        config.limits.shutdown_timeout = self.limits.shutdown_timeout;
        config.limits.io_timeout = self.limits.io_timeout;
        config.limits.max_connections_per_client = self.limits.max_connections_per_client.max(1);
        config.limits.trusted_proxies = self.limits.trusted_proxies;
        config.budget = self.budget.budget(self.job_deadline);
        config.retention.keep_for = self.keep_for;
        config.retention.max_disk_bytes = self.max_disk.as_u64();
        Ok(config)
    }
}
