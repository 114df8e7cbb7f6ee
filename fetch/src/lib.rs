//! # clipbench-fetch
//!
//! Inputs that are URLs, fetched as if every byte were hostile: streamed to a local file with
//! reqwest (atomic: `.partial`, then renamed) within limits (size, deadline, minimum rate,
//! free space), with progress, through the fetch [`guard`] (every address and redirect hop
//! checked; `body.rs`); an MP4 or MOV cut while it arrives (`arriving.rs`); web pages through
//! yt-dlp behind a guarded [`proxy`] (`page.rs`); and [`url_run::run_url`], the engine run
//! from a URL that the CLI, the server and the harness share. Builds on the pipeline
//! ([`clipbench_engine`]) only: no HTTP server, queue or store. Errors: [`FetchError`].

mod arriving;
mod body;
pub mod error;
pub mod guard;
mod page;
pub mod proxy;
pub mod url_run;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

pub use arriving::{arriving_path, download_arriving};
use body::{kind_of, save_body, BodyLimits, ContentKind, Saving};
pub use body::{media_type, too_slow};
use clipbench_engine::cancel::CancelToken;
pub use error::{FetchError, Result};
use guard::{find_refusal, GuardedResolver, Refusal, UrlGuard};
use page::fetch_page;

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
                    return Err(FetchError::UnsupportedScheme(shown));
                }
                Url::parse(input)
                    .map(Input::Url)
                    .map_err(|e| FetchError::Download {
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
/// ([`FetchError::PageNeedsYtDlp`] otherwise); text and data answers are refused.
pub async fn download(
    url: &Url,
    dir: &Path,
    options: &DownloadOptions,
    cancel: &CancelToken,
    on_progress: impl Fn(u64, Option<u64>),
) -> Result<Downloaded> {
    match answer(url, dir, options, cancel).await? {
        Answer::Fetched(downloaded) => Ok(downloaded),
        Answer::Media(media) => {
            let bytes = save_body(
                media.response,
                &media.path,
                &media.limits,
                cancel,
                &on_progress,
            )
            .await
            .map_err(|e| saving_error(url, e))?;
            Ok(Downloaded {
                path: media.path,
                bytes,
                content_type: media.content_type,
            })
        }
    }
}

/// What a URL answered, before its body is read.
enum Answer {
    /// A page whose video yt-dlp fetched.
    Fetched(Downloaded),
    /// A media body to save.
    Media(Box<MediaAnswer>),
}

/// A media answer: its response, where it goes, its limits.
struct MediaAnswer {
    response: reqwest::Response,
    path: PathBuf,
    limits: BodyLimits,
    content_type: Option<String>,
}

/// Checks `url` and sends the request: a page is handed to yt-dlp, text and data refused, a
/// media body returned unread with its limits.
async fn answer(
    url: &Url,
    dir: &Path,
    options: &DownloadOptions,
    cancel: &CancelToken,
) -> Result<Answer> {
    let shown = redact(url);
    let fail = |detail: String| FetchError::Download {
        url: shown.clone(),
        detail,
    };
    options
        .guard
        .check_url(url)
        .map_err(|r| refused(&shown, r))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| FetchError::io("cannot create download folder", dir, e))?;
    let deadline = tokio::time::Instant::now() + options.deadline;
    let response = request(url, options, deadline, cancel).await?;
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
            let page = fetch_page(url, dir, content_type, limits, &options.guard, cancel);
            return Ok(Answer::Fetched(page.await?));
        }
        Some(ContentKind::NotMedia) => {
            return Err(FetchError::NotAVideo {
                url: shown.clone(),
                content_type: content_type.unwrap_or_default(),
            })
        }
        Some(ContentKind::Media) | None => {}
    }
    Ok(Answer::Media(Box::new(MediaAnswer {
        response,
        path: dir.join(source_name(url)),
        limits: BodyLimits {
            max_bytes: options.max_bytes,
            total,
            deadline,
            deadline_len: options.deadline,
            min_rate: options.min_rate,
            min_free_bytes: options.min_free_bytes,
            dir: dir.to_owned(),
        },
        content_type,
    })))
}

/// A body that stopped, as the error to answer.
fn saving_error(url: &Url, e: Saving) -> FetchError {
    match e {
        Saving::Network(detail) => FetchError::Download {
            url: redact(url),
            detail,
        },
        Saving::Local(e) => e,
    }
}

/// Sends the GET within `deadline`: its response when it succeeded, else the error to answer
/// (a refusal by the guard, a 4xx, another failure).
async fn request(
    url: &Url,
    options: &DownloadOptions,
    deadline: tokio::time::Instant,
    cancel: &CancelToken,
) -> Result<reqwest::Response> {
    let shown = redact(url);
    let fail = |detail: String| FetchError::Download {
        url: shown.clone(),
        detail,
    };
    let client = client(options).map_err(fail)?;
    let response = tokio::select! {
        response = tokio::time::timeout_at(deadline, client.get(url.clone()).send()) => response,
        _ = cancel.drained() => return Err(FetchError::Cancelled),
    };
    let response = match response {
        Err(_) => return Err(fail(over_deadline(options.deadline))),
        Ok(Err(e)) => {
            return Err(match find_refusal(&e) {
                Some(refusal) => refused(&shown, refusal),
                None => fail(describe(e)),
            })
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_client_error() {
        return Err(FetchError::UrlRefused {
            url: shown,
            status: status.to_string(),
        });
    }
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}")));
    }
    Ok(response)
}

/// A URL the guard refused, as the error to answer (the reason, never the address).
fn refused(shown: &str, refusal: Refusal) -> FetchError {
    FetchError::UrlForbidden {
        url: shown.to_owned(),
        reason: refusal.to_string(),
    }
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
        Some(free) if free < needed.saturating_add(min_free) => Err(FetchError::NoSpace {
            needed: needed.saturating_add(min_free),
            free,
        }),
        _ => Ok(()),
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
mod tests;
