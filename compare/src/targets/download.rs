//! The harness's own download of a sample over a shaped link, for targets that take a file
//! (engine, command): what a backend pays before its first clip.

use std::path::Path;

use clipbench_engine::CancelToken;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

/// Streams `url` into `path` (stopping when cancelled); the error is one line.
pub async fn fetch(url: &str, path: &Path, cancel: &CancelToken) -> Result<(), String> {
    let answer = reqwest::get(url)
        .await
        .and_then(|a| a.error_for_status())
        .map_err(|e| format!("downloading the sample failed: {e}"))?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("cannot write the downloaded sample: {e}"))?;
    let mut body = answer.bytes_stream();
    while let Some(chunk) = body.next().await {
        if cancel.is_cancelled() {
            return Err("interrupted".into());
        }
        let chunk = chunk.map_err(|e| format!("the sample's download broke off: {e}"))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write the downloaded sample: {e}"))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write the downloaded sample: {e}"))
}
