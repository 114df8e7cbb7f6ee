//! Inputs that are URLs: streamed to a local file with reqwest (atomic: `.partial`, then
//! renamed) within limits (size, deadline, minimum rate, free space), with progress, through
//! the fetch [`guard`]; web pages go to yt-dlp through a guarded [`proxy`].

pub mod guard;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Url;
use tokio::io::AsyncWriteExt;

use clipbench_engine::error::{EngineError, Result};
use clipbench_engine::execute::CancelToken;
use guard::{find_refusal, GuardedResolver, Refusal, UrlGuard};
use proxy::GuardedProxy;

/// An input: a local path or an http(s) URL.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Path(PathBuf),
    Url(Url),
}

impl Input {
    /// Classifies a command-line or API input; any scheme other than http/https is refused.
    pub fn parse(input: &str) -> Result<Input> {
        match input.split_once("://") {
            Some((scheme, _)) if !scheme.contains(['/', '\\']) => {
                let scheme = scheme.to_ascii_lowercase();
                // Messages name the URL without its credentials or query.
                let shown = Url::parse(input).map_or_else(|_| "the URL".to_owned(), |u| redact(&u));
                if scheme != "http" && scheme != "https" {
                    return Err(EngineError::UnsupportedScheme(shown));
                }
                Url::parse(input)
                    .map(Input::Url)
                    .map_err(|e| EngineError::Download {
                        url: shown,
                        detail: format!("not a valid URL ({e})"),
                    })
            }
            _ => Ok(Input::Path(PathBuf::from(input))),
        }
    }
}

/// Limits of a download.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Largest body accepted, bytes.
    pub max_bytes: u64,
    pub connect_timeout: Duration,
    /// Longest wait for the next chunk of the body.
    pub read_timeout: Duration,
    /// Longest a whole download may take, request to last byte (yt-dlp's too).
    pub deadline: Duration,
    /// Slowest rate accepted, bytes per second over each [`RATE_WINDOW`] (0: any).
    pub min_rate: u64,
    /// Free space to leave on the download folder's disk, bytes.
    pub min_free_bytes: u64,
    /// Which addresses may be fetched.
    pub guard: Arc<UrlGuard>,
}

impl Default for DownloadOptions {
    /// 4 GiB, 10 s to connect, 30 s between chunks, 15 minutes in all, at least 64 KiB/s,
    /// 1 GiB left free, and the guard on.
    fn default() -> Self {
        DownloadOptions {
            max_bytes: 4 * 1024 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(15 * 60),
            min_rate: 64 * 1024,
            min_free_bytes: 1024 * 1024 * 1024,
            guard: Arc::new(UrlGuard::default()),
        }
    }
}

/// The window over which the minimum rate is measured.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// A finished download.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub path: PathBuf,
    pub bytes: u64,
    /// The `Content-Type` the server sent, if any.
    pub content_type: Option<String>,
}

/// The local file name for a URL: its last path segment, or `download.mp4`.
pub fn file_name_for(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(|s| s.replace(['/', '\\'], "_"))
        .unwrap_or_else(|| "download.mp4".to_owned())
}

/// Where a download is saved in its folder: `source`, with the URL's extension when it is a
/// short alphanumeric one (the URL's name itself never reaches the file system).
fn source_name(url: &Url) -> String {
    let name = file_name_for(url);
    match name.rsplit_once('.') {
        Some((_, ext))
            if (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!("source.{}", ext.to_ascii_lowercase())
        }
        _ => "source".to_owned(),
    }
}

/// A URL as messages and logs show it: no user name or password, no query or fragment (they
/// often carry tokens); `?…` marks a removed query.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    let had_query = shown.query().is_some();
    shown.set_query(None);
    let mut text = shown.to_string();
    if had_query {
        text.push_str("?…");
    }
    text
}

/// A client that connects only where `options.guard` allows, for every redirect hop too, and
/// never through a proxy (a proxy would resolve names the guard never sees).
fn client(options: &DownloadOptions) -> Result<reqwest::Client, String> {
    let guard = options.guard.clone();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(Refusal::TooManyRedirects(MAX_REDIRECTS));
        }
        match guard.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(refusal) => attempt.error(refusal),
        }
    });
    let mut builder = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .redirect(redirects);
    if !options.guard.allow_private {
        builder = builder
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(options.guard.clone())));
    }
    builder.build().map_err(|e| e.to_string())
}

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 10;

/// Streams `url` into `dir`, calling `on_progress(bytes_so_far, total_if_known)`, within
/// `options` (guard, deadline, rate, size, free space) until `cancel` is drained. A URL that
/// answers with a web page is handed to `yt-dlp` when installed
/// ([`EngineError::PageNeedsYtDlp`] otherwise); text and data answers are refused.
pub async fn download(
    url: &Url,
    dir: &Path,
    options: &DownloadOptions,
    cancel: &CancelToken,
    on_progress: impl Fn(u64, Option<u64>),
) -> Result<Downloaded> {
    let shown = redact(url);
    let fail = |detail: String| EngineError::Download {
        url: shown.clone(),
        detail,
    };
    let refused = |refusal: Refusal| EngineError::UrlForbidden {
        url: shown.clone(),
        reason: refusal.to_string(),
    };
    options.guard.check_url(url).map_err(refused)?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| EngineError::io("cannot create download folder", dir, e))?;
    let deadline = tokio::time::Instant::now() + options.deadline;
    let client = client(options).map_err(fail)?;
    let response = tokio::select! {
        response = tokio::time::timeout_at(deadline, client.get(url.clone()).send()) => response,
        _ = cancel.drained() => return Err(EngineError::Cancelled),
    };
    let response = match response {
        Err(_) => return Err(fail(over_deadline(options.deadline))),
        Ok(Err(e)) => {
            return Err(match find_refusal(&e) {
                Some(refusal) => refused(refusal),
                None => fail(describe(e)),
            })
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_client_error() {
        return Err(EngineError::UrlRefused {
            url: shown.clone(),
            status: status.to_string(),
        });
    }
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}")));
    }
    let total = response.content_length();
    if total.is_some_and(|t| t > options.max_bytes) {
        return Err(fail(format!(
            "{} bytes is over the {} byte limit",
            total.unwrap_or(0),
            options.max_bytes
        )));
    }
    check_free_space(dir, total.unwrap_or(0), options.min_free_bytes)?;
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match content_type.as_deref().map(kind_of) {
        Some(ContentKind::Page) => {
            drop(response);
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let limits = (remaining, options.max_bytes);
            let content_type = content_type.as_deref().unwrap_or_default();
            return fetch_page(url, dir, content_type, limits, &options.guard, cancel).await;
        }
        Some(ContentKind::NotMedia) => {
            return Err(EngineError::NotAVideo {
                url: shown.clone(),
                content_type: content_type.unwrap_or_default(),
            })
        }
        Some(ContentKind::Media) | None => {}
    }
    let path = dir.join(source_name(url));
    let limits = BodyLimits {
        max_bytes: options.max_bytes,
        total,
        deadline,
        deadline_len: options.deadline,
        min_rate: options.min_rate,
        min_free_bytes: options.min_free_bytes,
    };
    let bytes = save_body(response, &path, &limits, cancel, &on_progress)
        .await
        .map_err(|e| match e {
            Saving::Network(detail) => fail(detail),
            Saving::Local(e) => e,
        })?;
    Ok(Downloaded {
        path,
        bytes,
        content_type,
    })
}

fn over_deadline(deadline: Duration) -> String {
    format!(
        "not finished within the {} download deadline (--download-deadline)",
        humantime::format_duration(deadline)
    )
}

/// Refuses a download that would leave less than `min_free` bytes on `dir`'s disk.
fn check_free_space(dir: &Path, needed: u64, min_free: u64) -> Result<()> {
    match clipbench_engine::files::free_bytes(dir) {
        Some(free) if free < needed.saturating_add(min_free) => Err(EngineError::NoSpace {
            needed: needed.saturating_add(min_free),
            free,
        }),
        _ => Ok(()),
    }
}

/// What a body's limits are while it streams.
struct BodyLimits {
    max_bytes: u64,
    /// The announced length.
    total: Option<u64>,
    deadline: tokio::time::Instant,
    /// The whole download's deadline, for the message.
    deadline_len: Duration,
    min_rate: u64,
    min_free_bytes: u64,
}

/// Why saving a body stopped.
enum Saving {
    /// The connection failed, was too slow, or the body is over the limit.
    Network(String),
    /// The disk, or a cancellation.
    Local(EngineError),
}

/// Whether `bytes` arrived in one rate window is too slow for `min_rate` bytes per second.
pub fn too_slow(bytes: u64, window: Duration, min_rate: u64) -> bool {
    (bytes as f64) < min_rate as f64 * window.as_secs_f64()
}

/// Streams a response body to `path` (under its `.partial` name until complete, removed on
/// failure or cancellation). Returns the bytes.
async fn save_body(
    response: reqwest::Response,
    path: &Path,
    limits: &BodyLimits,
    cancel: &CancelToken,
    on_progress: &impl Fn(u64, Option<u64>),
) -> Result<u64, Saving> {
    let partial = clipbench_engine::files::partial_path(path);
    let disk = |action, e| Saving::Local(EngineError::io(action, &partial, e));
    let result = async {
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| disk("cannot create", e))?;
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
                    if let Some(dir) = path.parent() {
                        check_free_space(dir, 0, limits.min_free_bytes).map_err(Saving::Local)?;
                    }
                    window = (window_end, bytes);
                    continue;
                }
                _ = tokio::time::sleep_until(limits.deadline) => {
                    return Err(Saving::Network(over_deadline(limits.deadline_len)));
                }
                _ = cancel.drained() => return Err(Saving::Local(EngineError::Cancelled)),
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
            file.write_all(&chunk)
                .await
                .map_err(|e| disk("cannot write", e))?;
            on_progress(bytes, limits.total);
        }
        file.flush().await.map_err(|e| disk("cannot write", e))?;
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

/// What a `Content-Type` says the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentKind {
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

fn kind_of(content_type: &str) -> ContentKind {
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

/// Hands a page URL (e.g. a YouTube watch page) to `yt-dlp`, when it is installed, within
/// `(deadline, max_bytes)`: no configuration files, one video, every fetch through a
/// [`GuardedProxy`], killed at the deadline or when `cancel` is drained.
async fn fetch_page(
    url: &Url,
    dir: &Path,
    content_type: &str,
    (deadline, max_bytes): (Duration, u64),
    guard: &Arc<UrlGuard>,
    cancel: &CancelToken,
) -> Result<Downloaded> {
    let shown = redact(url);
    let fail = |detail: String| EngineError::Download {
        url: shown.clone(),
        detail,
    };
    let proxy = GuardedProxy::start(guard.clone())
        .await
        .map_err(|e| fail(format!("cannot start the download proxy: {e}")))?;
    let template = dir.join("page-video.%(ext)s");
    let mut command = std::process::Command::new("yt-dlp");
    command
        .args(ytdlp_args(&proxy.url(), max_bytes))
        .arg(&template)
        .arg("--")
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    clipbench_engine::tools::die_with_parent(&mut command);
    let child = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EngineError::PageNeedsYtDlp {
                url: shown.clone(),
                content_type: content_type.to_owned(),
            })
        }
        Err(e) => return Err(EngineError::io("cannot start", "yt-dlp", e)),
        Ok(child) => child,
    };
    // Dropping the child's future kills it (kill_on_drop).
    let output = tokio::select! {
        output = tokio::time::timeout(deadline, child.wait_with_output()) => output,
        _ = cancel.drained() => {
            remove_page_files(dir).await;
            return Err(EngineError::Cancelled);
        }
    };
    let output = match output {
        Err(_) => {
            remove_page_files(dir).await;
            return Err(fail(over_deadline(deadline)));
        }
        Ok(Err(e)) => return Err(EngineError::io("cannot wait for", "yt-dlp", e)),
        Ok(Ok(output)) => output,
    };
    if let Some(refusal) = proxy.refusal() {
        remove_page_files(dir).await;
        return Err(EngineError::UrlForbidden {
            url: shown.clone(),
            reason: format!("the page's video: {refusal}"),
        });
    }
    if !output.status.success() {
        remove_page_files(dir).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("yt-dlp failed");
        // yt-dlp's messages may quote the URL with its query: keep only the first 200
        // characters of the last line, with every URL it names redacted.
        return Err(fail(format!("yt-dlp: {}", redact_urls_in(last, 200))));
    }
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| EngineError::io("cannot read", dir, e))?;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("page-video.") && !name.ends_with(".part") {
            let bytes = entry.metadata().await.map(|m| m.len()).unwrap_or(0);
            return Ok(Downloaded {
                path: entry.path(),
                bytes,
                content_type: None,
            });
        }
    }
    Err(fail("yt-dlp wrote no file".into()))
}

/// yt-dlp's options before the output template: no user or system configuration, no
/// playlists, a size cap, a socket timeout, and the guarded proxy for every fetch.
fn ytdlp_args(proxy: &str, max_bytes: u64) -> Vec<String> {
    [
        "--ignore-config",
        "--no-playlist",
        "--no-cache-dir",
        "--quiet",
        "--no-progress",
        "--socket-timeout",
        "30",
        "--max-filesize",
        &max_bytes.to_string(),
        "--proxy",
        proxy,
        "-f",
        "mp4/best",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Removes yt-dlp's files of a job that did not finish.
async fn remove_page_files(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("page-video.")
        {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

/// `text` cut to `max` characters, every http(s) URL in it redacted.
pub fn redact_urls_in(text: &str, max: usize) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            let start = word.find("http://").or_else(|| word.find("https://"));
            match start.and_then(|i| Url::parse(&word[i..]).ok().map(|u| (i, u))) {
                Some((i, url)) => format!("{}{}", &word[..i], redact(&url)),
                None => word.to_owned(),
            }
        })
        .collect();
    words.join(" ").chars().take(max).collect()
}

/// A one-line description of a reqwest error, without the URL (it may carry credentials).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_connect() {
        "cannot connect: check the URL and that the server is up".to_owned()
    } else if e.is_timeout() {
        "timed out: the server is too slow or unreachable".to_owned()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_classified() {
        assert_eq!(
            Input::parse("a/b.mp4").unwrap(),
            Input::Path("a/b.mp4".into())
        );
        assert!(matches!(
            Input::parse("https://x.org/v.mp4").unwrap(),
            Input::Url(_)
        ));
        assert!(matches!(
            Input::parse("HTTP://x.org/v.mp4").unwrap(),
            Input::Url(_)
        ));
        assert!(matches!(
            Input::parse("ftp://x.org/v.mp4"),
            Err(EngineError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            Input::parse("file:///etc/passwd"),
            Err(EngineError::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn file_names_from_urls() {
        let name = |u: &str| file_name_for(&Url::parse(u).unwrap());
        assert_eq!(name("http://h/videos/bbb.mp4?x=1"), "bbb.mp4");
        assert_eq!(name("http://h/"), "download.mp4");
        // The URL parser resolves encoded dot segments, so nothing escapes the folder.
        assert_eq!(name("http://h/a/%2e%2e"), "download.mp4");
    }
}
