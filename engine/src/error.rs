//! Typed errors a user can cause or fix; each message says what happened and what to do.

use std::path::PathBuf;

/// Everything the engine can fail with before or around encoding.
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
    /// An option value that cannot be parsed or makes no sense.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A file system operation failed.
    #[error("{action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A bug in the engine (a thread panicked): nothing the user did.
    #[error("internal error: {0}: please report it with the command that caused it")]
    Internal(String),
    /// The object store of a queue-backed deployment failed (message names key and store).
    #[error("{0}: check the store (--store) is reachable and writable")]
    Store(String),
    /// The job queue (Redis) failed or is down.
    #[error(
        "the job queue {url} is not answering ({detail}): start it (`redis-server`) or fix --queue"
    )]
    Queue { url: String, detail: String },
    /// The run was cancelled before it started encoding.
    /// The download of a source being cut while it arrives stopped before the file could
    /// be read.
    #[error("the download stopped before the video could be read ({0}): check the URL and the connection, then try again")]
    DownloadStopped(String),
    #[error("cancelled")]
    Cancelled,
}

impl EngineError {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        EngineError::Io {
            action,
            path: path.into(),
            cause,
        }
    }
}

/// Result alias for the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
