//! Inputs that are URLs: streamed to a local file with reqwest (atomic: `.partial`, then
//! renamed), with a size limit, timeouts and progress.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Url;
use tokio::io::AsyncWriteExt;

use crate::error::{EngineError, Result};

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
                if scheme != "http" && scheme != "https" {
                    return Err(EngineError::UnsupportedScheme(input.to_owned()));
                }
                Url::parse(input)
                    .map(Input::Url)
                    .map_err(|e| EngineError::Download {
                        url: input.to_owned(),
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
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            max_bytes: 4 * 1024 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

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

/// Streams `url` into `dir`, calling `on_progress(bytes_so_far, total_if_known)`. A URL that
/// answers with a web page is handed to `yt-dlp` when installed
/// ([`EngineError::PageNeedsYtDlp`] otherwise).
pub async fn download(
    url: &Url,
    dir: &Path,
    options: &DownloadOptions,
    on_progress: impl Fn(u64, Option<u64>),
) -> Result<Downloaded> {
    let fail = |detail: String| EngineError::Download {
        url: url.to_string(),
        detail,
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| EngineError::io("cannot create download folder", dir, e))?;
    let client = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| fail(describe(&e)))?;
    let status = response.status();
    if status.is_client_error() {
        return Err(EngineError::UrlRefused {
            url: url.to_string(),
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
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if content_type.as_deref().is_some_and(is_page) {
        drop(response);
        return fetch_page(url, dir, content_type.as_deref().unwrap_or_default()).await;
    }
    let path = dir.join(file_name_for(url));
    let limit = (options.max_bytes, total);
    let bytes = save_body(response, &path, limit, &on_progress)
        .await
        .map_err(|e| match e {
            Saving::Network(detail) => fail(detail),
            Saving::Disk(e) => e,
        })?;
    Ok(Downloaded {
        path,
        bytes,
        content_type,
    })
}

/// Why saving a body stopped.
enum Saving {
    /// The connection failed or the body is over the limit.
    Network(String),
    Disk(EngineError),
}

/// Streams a response body to `path` (under its `.partial` name until complete, removed on
/// failure); `(max_bytes, total)`: the size limit and the announced length. Returns the bytes.
async fn save_body(
    response: reqwest::Response,
    path: &Path,
    (max_bytes, total): (u64, Option<u64>),
    on_progress: &impl Fn(u64, Option<u64>),
) -> Result<u64, Saving> {
    let partial = crate::files::partial_path(path);
    let disk = |action, e| Saving::Disk(EngineError::io(action, &partial, e));
    let result = async {
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| disk("cannot create", e))?;
        let mut bytes = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Saving::Network(describe(&e)))?;
            bytes += chunk.len() as u64;
            if bytes > max_bytes {
                return Err(Saving::Network(format!("over the {max_bytes} byte limit")));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| disk("cannot write", e))?;
            on_progress(bytes, total);
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

/// Whether a content type is a web page rather than media.
fn is_page(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// Hands a page URL (e.g. a YouTube watch page) to `yt-dlp`, when it is installed.
async fn fetch_page(url: &Url, dir: &Path, content_type: &str) -> Result<Downloaded> {
    let template = dir.join("page-video.%(ext)s");
    let output = tokio::process::Command::new("yt-dlp")
        .args([
            "--no-playlist",
            "--quiet",
            "--no-progress",
            "-f",
            "mp4/best",
            "-o",
        ])
        .arg(&template)
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let output = match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EngineError::PageNeedsYtDlp {
                url: url.to_string(),
                content_type: content_type.to_owned(),
            })
        }
        Err(e) => return Err(EngineError::io("cannot start", "yt-dlp", e)),
        Ok(output) => output,
    };
    let fail = |detail: String| EngineError::Download {
        url: url.to_string(),
        detail,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("yt-dlp failed").to_owned();
        return Err(fail(format!("yt-dlp: {last}")));
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

/// A one-line description of a reqwest error.
fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "cannot connect: check the URL and that the server is up".to_owned()
    } else if e.is_timeout() {
        "timed out: the server is too slow or unreachable".to_owned()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
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
