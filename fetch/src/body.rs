//! A response body saved within its limits (size, deadline, minimum rate, free space), under
//! its `.partial` name until complete; and what a `Content-Type` says the body is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{check_free_space, describe, over_deadline, RATE_WINDOW};
use crate::error::FetchError;
use clipbench_engine::cancel::CancelToken;

/// What a body's limits are while it streams.
pub(super) struct BodyLimits {
    pub max_bytes: u64,
    /// The announced length.
    pub total: Option<u64>,
    pub deadline: tokio::time::Instant,
    /// The whole download's deadline, for the message.
    pub deadline_len: Duration,
    pub min_rate: u64,
    pub min_free_bytes: u64,
    /// The download folder (its disk keeps `min_free_bytes` free).
    pub dir: PathBuf,
}

/// Why saving a body stopped.
pub(super) enum Saving {
    /// The connection failed, was too slow, or the body is over the limit.
    Network(String),
    /// The disk, or a cancellation.
    Local(FetchError),
}

/// Whether `bytes` arrived in one rate window is too slow for `min_rate` bytes per second.
pub fn too_slow(bytes: u64, window: Duration, min_rate: u64) -> bool {
    (bytes as f64) < min_rate as f64 * window.as_secs_f64()
}

/// Where a body's bytes go, piece by piece.
pub(super) trait Sink {
    /// Takes the next piece of the body.
    async fn write(&mut self, piece: &[u8]) -> Result<(), Saving>;
}

/// A body saved under its `.partial` name, renamed when complete.
struct PartialFile {
    file: tokio::fs::File,
    partial: PathBuf,
}

impl Sink for PartialFile {
    async fn write(&mut self, piece: &[u8]) -> Result<(), Saving> {
        (self.file.write_all(piece).await)
            .map_err(|e| Saving::Local(FetchError::io("cannot write", &self.partial, e)))
    }
}

/// Streams a response body to `path` (under its `.partial` name until complete, removed on
/// failure or cancellation). Returns the bytes.
pub(super) async fn save_body(
    response: reqwest::Response,
    path: &Path,
    limits: &BodyLimits,
    cancel: &CancelToken,
    on_progress: &impl Fn(u64, Option<u64>),
) -> Result<u64, Saving> {
    let partial = clipbench_engine::files::partial_path(path);
    let disk = |action, e| Saving::Local(FetchError::io(action, &partial, e));
    let result = async {
        let file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| disk("cannot create", e))?;
        let mut sink = PartialFile {
            file,
            partial: partial.clone(),
        };
        let bytes = pump(response, limits, cancel, on_progress, &mut sink).await?;
        sink.file
            .flush()
            .await
            .map_err(|e| disk("cannot write", e))?;
        tokio::fs::rename(&partial, path)
            .await
            .map_err(|e| disk("cannot rename", e))?;
        Ok(bytes)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    result
}

/// Streams a response body into `sink` within `limits` (size, deadline, minimum rate over
/// each window, free space next to `limits.dir`) until `cancel` is drained. Returns the bytes.
pub(super) async fn pump(
    response: reqwest::Response,
    limits: &BodyLimits,
    cancel: &CancelToken,
    on_progress: &impl Fn(u64, Option<u64>),
    sink: &mut impl Sink,
) -> Result<u64, Saving> {
    let mut bytes = 0u64;
    let mut window = (tokio::time::Instant::now(), 0u64);
    let mut stream = response.bytes_stream();
    loop {
        let window_end = window.0 + RATE_WINDOW;
        let chunk = tokio::select! {
            chunk = stream.next() => chunk,
            _ = tokio::time::sleep_until(window_end) => {
                if limits.min_rate > 0 && too_slow(bytes - window.1, RATE_WINDOW, limits.min_rate) {
                    return Err(Saving::Network(format!(
                        "slower than {} bytes/s over {} s (--download-min-rate)",
                        limits.min_rate,
                        RATE_WINDOW.as_secs()
                    )));
                }
                check_free_space(&limits.dir, 0, limits.min_free_bytes).map_err(Saving::Local)?;
                window = (window_end, bytes);
                continue;
            }
            _ = tokio::time::sleep_until(limits.deadline) => {
                return Err(Saving::Network(over_deadline(limits.deadline_len)));
            }
            _ = cancel.drained() => return Err(Saving::Local(FetchError::Cancelled)),
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk.map_err(|e| Saving::Network(describe(e)))?;
        bytes += chunk.len() as u64;
        if bytes > limits.max_bytes {
            return Err(Saving::Network(format!(
                "over the {} byte limit",
                limits.max_bytes
            )));
        }
        sink.write(&chunk).await?;
        on_progress(bytes, limits.total);
    }
    Ok(bytes)
}

/// What a `Content-Type` says the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ContentKind {
    /// A web page: handed to yt-dlp.
    Page,
    /// Text or structured data, never a video.
    NotMedia,
    /// Media, or a type that does not say (`application/octet-stream`).
    Media,
}

/// The media type of a `Content-Type` value: lower case, without its parameters
/// (`Text/HTML; charset=utf-8` → `text/html`).
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(super) fn kind_of(content_type: &str) -> ContentKind {
    let essence = media_type(content_type);
    match essence.as_str() {
        "text/html" | "application/xhtml+xml" => ContentKind::Page,
        "application/json"
        | "application/xml"
        | "application/javascript"
        | "application/x-mpegurl"
        | "application/vnd.apple.mpegurl"
        | "application/dash+xml" => ContentKind::NotMedia,
        e if e.starts_with("text/") || e.starts_with("image/") => ContentKind::NotMedia,
        _ => ContentKind::Media,
    }
}
