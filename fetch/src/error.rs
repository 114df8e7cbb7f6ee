//! Why fetching an input failed; each message says what happened and what to do.

use std::path::PathBuf;

use clipbench_engine::error::IoFailure;
use clipbench_engine::EngineError;

/// Everything fetching a URL can fail with, and (for a run from a URL) the engine's failures.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A URL could not be downloaded.
    #[error("cannot download {url}: {detail}")]
    Download { url: String, detail: String },
    /// The URL's server refused it (a 4xx answer): the URL is wrong, gone or not public.
    #[error("cannot download {url}: its server answered {status}: check the URL")]
    UrlRefused { url: String, status: String },
    /// A URL that points at a web page, not at a media file, and yt-dlp is not installed.
    #[error("{url} is a web page ({content_type}), not a media file: install yt-dlp (`pip install yt-dlp`) to fetch videos from pages, or pass a direct media URL")]
    PageNeedsYtDlp { url: String, content_type: String },
    /// The fetch guard refused the URL or one of its redirects (an internal address).
    #[error("refusing to fetch {url}: {reason}")]
    UrlForbidden { url: String, reason: String },
    /// The URL answered with text or data, not media.
    #[error("{url} is not a video (the server sent {content_type}): pass a direct video URL")]
    NotAVideo { url: String, content_type: String },
    /// The disk would be too full.
    #[error("not enough disk space: {needed} bytes needed with the reserve, {free} free: free some space or lower --min-free")]
    NoSpace { needed: u64, free: u64 },
    /// A URL whose scheme is not http or https.
    #[error("refusing {0}: only http:// and https:// URLs or local paths are accepted")]
    UnsupportedScheme(String),
    /// A file system operation failed.
    #[error(transparent)]
    Io(IoFailure),
    /// A bug (a task panicked): nothing the user did.
    #[error("internal error: {0}: please report it with the command that caused it")]
    Internal(String),
    /// The download was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The engine's run of what was fetched failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl FetchError {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        FetchError::Io(IoFailure::new(action, path, cause))
    }
}

/// Result alias for fetching.
pub type Result<T, E = FetchError> = std::result::Result<T, E>;
