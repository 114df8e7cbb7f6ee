//! The server's configuration: how it runs jobs, who may call, its limits.

use std::path::PathBuf;

use clipbench_engine::allocate::Strategy;
use clipbench_engine::encode::Profile;
use clipbench_engine::plan::PlanOptions;
use clipbench_engine::tools::Tools;

use crate::access::Access;
use crate::fetch::DownloadOptions;
use crate::listen::Limits;
use crate::queue::QueueConfig;
use crate::retention::Retention;
use clipbench_engine::extras::Compat;

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
    pub download: DownloadOptions,
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
                policy: clipbench_engine::plan::Policy::OPTIMIZED,
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
            download: DownloadOptions::default(),
            tools: Tools::from_env(),
            queue: None,
            store: None,
        }
    }

    /// The engine's options for one of this server's jobs, writing into `output_dir`.
    pub(crate) fn run_options(&self, output_dir: PathBuf) -> clipbench_engine::run::RunOptions {
        let setup = clipbench_engine::run::Setup {
            strategy: self.strategy,
            profile: self.profile,
            policy: self.plan.policy,
            threads: None,
            reuse_overlaps: self.reuse_overlaps,
        };
        let mut options = clipbench_engine::run::RunOptions::with_setup(output_dir, setup);
        options.plan = self.plan;
        options.tools = self.tools.clone();
        options
    }

    pub(crate) fn downloads(&self) -> PathBuf {
        self.workdir.join("downloads")
    }

    pub(crate) fn outputs(&self) -> PathBuf {
        self.workdir.join("outputs")
    }
}
