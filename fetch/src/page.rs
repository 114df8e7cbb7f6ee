//! A web page (e.g. a YouTube watch page) handed to yt-dlp, when it is installed: no
//! configuration files, one video, every fetch through the guarded proxy, within the limits.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::guard::UrlGuard;
use super::proxy::GuardedProxy;
use super::{over_deadline, redact, redact_urls_in, Downloaded};
use crate::error::{FetchError, Result};
use clipbench_engine::cancel::CancelToken;

/// Hands a page URL (e.g. a YouTube watch page) to `yt-dlp`, when it is installed, within
/// `(deadline, max_bytes)`: no configuration files, one video, every fetch through a
/// [`GuardedProxy`], killed at the deadline or when `cancel` is drained.
pub(super) async fn fetch_page(
    url: &Url,
    dir: &Path,
    content_type: &str,
    (deadline, max_bytes): (Duration, u64),
    guard: &Arc<UrlGuard>,
    cancel: &CancelToken,
) -> Result<Downloaded> {
    let shown = redact(url);
    let fail = |detail: String| FetchError::Download {
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
            return Err(FetchError::PageNeedsYtDlp {
                url: shown.clone(),
                content_type: content_type.to_owned(),
            })
        }
        Err(e) => return Err(FetchError::io("cannot start", "yt-dlp", e)),
        Ok(child) => child,
    };
    // Dropping the child's future kills it (kill_on_drop).
    let output = tokio::select! {
        output = tokio::time::timeout(deadline, child.wait_with_output()) => output,
        _ = cancel.drained() => {
            remove_page_files(dir).await;
            return Err(FetchError::Cancelled);
        }
    };
    let output = match output {
        Err(_) => {
            remove_page_files(dir).await;
            return Err(fail(over_deadline(deadline)));
        }
        Ok(Err(e)) => return Err(FetchError::io("cannot wait for", "yt-dlp", e)),
        Ok(Ok(output)) => output,
    };
    if let Some(refusal) = proxy.refusal() {
        remove_page_files(dir).await;
        return Err(FetchError::UrlForbidden {
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
    written(dir)
        .await?
        .ok_or_else(|| fail("yt-dlp wrote no file".into()))
}

/// The video yt-dlp wrote into `dir`, if any.
async fn written(dir: &Path) -> Result<Option<Downloaded>> {
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| FetchError::io("cannot read", dir, e))?;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("page-video.") && !name.ends_with(".part") {
            let bytes = entry.metadata().await.map(|m| m.len()).unwrap_or(0);
            return Ok(Some(Downloaded {
                path: entry.path(),
                bytes,
                content_type: None,
            }));
        }
    }
    Ok(None)
}

/// yt-dlp's options before the output template: no user or system configuration, no
/// playlists, a size cap, a socket timeout, and the guarded proxy for every fetch.
pub(super) fn ytdlp_args(proxy: &str, max_bytes: u64) -> Vec<String> {
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
