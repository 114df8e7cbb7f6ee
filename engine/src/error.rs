//! Typed errors a user can cause or fix; each message says what happened and what to do.

use std::path::PathBuf;

/// Everything the pipeline can fail with before or around encoding (fetching a URL fails with
/// `clipbench_fetch::FetchError`, the server's store and queue with its own error).
///
/// Per-clip encoding failures are not errors of the run: they are reported in
/// [`crate::execute::ClipOutcome`] and the other clips are kept.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// ffmpeg or ffprobe could not be started.
    #[error("{tool} not found: install ffmpeg (`sudo apt-get install -y ffmpeg`) or set {env_var} to its path")]
    ToolMissing {
        tool: &'static str,
        env_var: &'static str,
    },
    /// ffmpeg or ffprobe started but did not answer `-version` in time.
    #[error("{tool} -version did not answer within {limit_s} s: check that {env_var} (or PATH) names a working {tool}")]
    ToolHangs {
        tool: &'static str,
        env_var: &'static str,
        limit_s: u64,
    },
    /// The input path does not exist.
    #[error("input file {0} does not exist: check the path")]
    FileMissing(PathBuf),
    /// ffprobe could not read the file as media.
    #[error("{path} is not a video file ffprobe can read ({detail}): pass a video file")]
    NotMedia { path: PathBuf, detail: String },
    /// The file has no video stream.
    #[error("{0} has no video stream: clips need video, pass a video file")]
    NoVideoStream(PathBuf),
    /// The file's duration is zero or unknown.
    #[error("{0} has zero duration: nothing to cut, pass a video that has frames")]
    ZeroDuration(PathBuf),
    /// An option value that cannot be parsed or makes no sense.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A file system operation failed.
    #[error(transparent)]
    Io(IoFailure),
    /// A bug in the engine (a thread panicked): nothing the user did.
    #[error("internal error: {0}: please report it with the command that caused it")]
    Internal(String),
    /// The download of a source being cut while it arrives stopped before the file could
    /// be read.
    #[error("the download stopped before the video could be read ({0}): check the URL and the connection, then try again")]
    DownloadStopped(String),
    /// The source is over a limit of the job's budget ([`crate::budget`]).
    #[error(transparent)]
    OverBudget(#[from] OverBudget),
    /// The job ran past its deadline: its clips were cancelled, its children killed.
    #[error("the job ran past its deadline of {limit_s} s (--job-deadline): its clips were cancelled; send a shorter source, or raise --job-deadline on a private deployment")]
    DeadlinePassed { limit_s: u64 },
    /// The run was cancelled before it started encoding.
    #[error("cancelled")]
    Cancelled,
}

impl EngineError {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        EngineError::Io(IoFailure::new(action, path, cause))
    }
}

/// A file system operation that failed: what was being done, to which path, and why (the
/// I/O failure of every crate's error).
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {cause}")]
pub struct IoFailure {
    pub action: &'static str,
    pub path: PathBuf,
    pub cause: std::io::Error,
}

impl IoFailure {
    pub fn new(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        IoFailure {
            action,
            path: path.into(),
            cause,
        }
    }

    /// What failed without the path (a server's folders are its own business).
    pub fn without_path(&self) -> String {
        format!("{}: {}", self.action, self.cause)
    }
}

/// Result alias for the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// A source over one of the limits of a job's budget ([`crate::budget::WorkBudget`]): which,
/// its value, the limit and the flag that sets it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the source's {limit} is {value}, over the limit of {allowed} ({flag}): send a smaller source, or raise {flag} on a private deployment")]
pub struct OverBudget {
    pub limit: &'static str,
    pub value: String,
    pub allowed: String,
    pub flag: &'static str,
}
