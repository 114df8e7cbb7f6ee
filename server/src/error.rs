//! Why the server's own parts failed (the store, the queue, its folders); the pipeline's and
//! the fetch's failures pass through as they are. Each message says what happened and what to
//! do; the request module's `JobError` turns any of them into an answer.

use std::path::PathBuf;

use clipbench_engine::error::IoFailure;
use clipbench_engine::EngineError;
use clipbench_fetch::FetchError;

/// Everything a server job or worker can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The object store of a queue-backed deployment failed (message names key and store).
    #[error("{0}: check the store (--store) is reachable and writable")]
    Store(String),
    /// The job queue (Redis) failed or is down.
    #[error(
        "the job queue {url} is not answering ({detail}): start it (`redis-server`) or fix --queue"
    )]
    Queue { url: String, detail: String },
    /// An option value that cannot be parsed or makes no sense.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A file system operation failed.
    #[error(transparent)]
    Io(IoFailure),
    /// A bug (a task panicked): nothing the user did.
    #[error("internal error: {0}: please report it with the command that caused it")]
    Internal(String),
    /// Fetching the input failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The pipeline failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl ServerError {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        ServerError::Io(IoFailure::new(action, path, cause))
    }
}

/// Result alias for the server.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;
