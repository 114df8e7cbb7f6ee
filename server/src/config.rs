//! The server's configuration: how it runs jobs, who may call, its limits.

use std::path::PathBuf;

use clipbench_engine::budget::WorkBudget;
use clipbench_engine::run::{RunOptions, Setup};
use clipbench_engine::tools::Tools;

use crate::access::Access;
use crate::listen::Limits;
use crate::queue::QueueConfig;
use crate::retention::Retention;
use clipbench_engine::extras::Compat;
use clipbench_fetch::DownloadOptions;

/// How the server runs jobs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Holds `downloads/` and `outputs/`.
    pub workdir: PathBuf,
    /// How jobs are encoded.
    pub setup: Setup,
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
    /// What one job may cost: the source's limits and the job's deadline.
    pub budget: WorkBudget,
    pub tools: Tools,
    /// Queue-backed: jobs become tasks on this queue, run by `worker`s (with `store`).
    pub queue: Option<QueueConfig>,
    /// Where a queue-backed server keeps sources and clips (`file:///…` or `s3://…`).
    pub store: Option<String>,
}

impl ServerConfig {
    /// Defaults: the optimized backend's dialect, the default [`Setup`], a queue of 4, loopback
    /// origins and hosts only, no API key, the fetch guard on, and the default [`Limits`],
    /// [`WorkBudget`] and [`Retention`].
    pub fn new(workdir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            workdir: workdir.into(),
            setup: Setup::default(),
            compat: Compat::Optimized,
            max_queue: 4,
            access: Access {
                check_host: true,
                ..Access::default()
            },
            limits: Limits::default(),
            retention: Retention::default(),
            download: DownloadOptions::default(),
            budget: WorkBudget::default(),
            tools: Tools::from_env(),
            queue: None,
            store: None,
        }
    }

    /// The engine's options for one of this server's jobs, writing into `output_dir`.
    pub(crate) fn run_options(&self, output_dir: PathBuf) -> RunOptions {
        let mut options = RunOptions::with_setup(output_dir, self.setup);
        options.tools = self.tools.clone();
        options.budget = Some(self.budget);
        options
    }

    pub(crate) fn downloads(&self) -> PathBuf {
        self.workdir.join("downloads")
    }

    pub(crate) fn outputs(&self) -> PathBuf {
        self.workdir.join("outputs")
    }
}
