//! A media body written as it arrives, for a run that cuts while it downloads: through the
//! engine's [`SourceWriter`] (each piece on disk before the run may read it), its index read
//! as soon as it is complete — at the front, or first fetched from the file's end with a Range
//! request when the index follows the media data and the server allows it. A page (yt-dlp), a
//! file without a readable index or a server without Range leave the run to wait for the whole
//! file, with the reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};

use super::body::{pump, Saving, Sink};
use super::{answer, client, describe, saving_error, Answer, DownloadOptions, Downloaded};
use crate::error::{FetchError, Result};
use clipbench_engine::arrival::{Arrival, IndexState, Next, SourceWriter};
use clipbench_engine::cancel::CancelToken;
use clipbench_engine::index::MAX_INDEX_BYTES;

/// Like [`super::download`], with the body written as it arrives and published through
/// `arrival` (see the module). The download ends `arrival`: complete, or failed with the
/// error's one line. The file stays in `dir` either way (a run may still read the bytes that
/// came): the caller removes the folder.
pub async fn download_arriving(
    url: &Url,
    dir: &Path,
    options: &DownloadOptions,
    cancel: &CancelToken,
    on_progress: impl Fn(u64, Option<u64>),
    arrival: Arc<Arrival>,
) -> Result<Downloaded> {
    let result = fetch(url, dir, options, cancel, on_progress, &arrival).await;
    match &result {
        Ok(_) => arrival.complete(),
        Err(e) => arrival.fail(e.to_string()),
    }
    result
}

/// Where the body of `url` is written in `dir` while it arrives (a page fetched by yt-dlp is
/// written elsewhere: its [`Downloaded::path`] says where).
pub fn arriving_path(url: &Url, dir: &Path) -> PathBuf {
    dir.join(super::source_name(url))
}

async fn fetch(
    url: &Url,
    dir: &Path,
    options: &DownloadOptions,
    cancel: &CancelToken,
    on_progress: impl Fn(u64, Option<u64>),
    arrival: &Arc<Arrival>,
) -> Result<Downloaded> {
    let media = match answer(url, dir, options, cancel).await? {
        Answer::Fetched(downloaded) => {
            let why = "a web page, whose video yt-dlp fetches whole";
            arrival.set_index(IndexState::Unmapped(why.into()));
            return Ok(downloaded);
        }
        Answer::Media(media) => media,
    };
    let path = media.path.clone();
    let writer = SourceWriter::create(&path, arrival.clone())
        .map_err(|e| FetchError::io("cannot create", &path, e))?;
    let client = client(options).map_err(|detail| FetchError::Download {
        url: super::redact(url),
        detail,
    })?;
    let mut sink = ArrivingSink {
        writer,
        tail: Tail {
            client,
            url: media.response.url().clone(),
            total: media.limits.total,
            deadline: media.limits.deadline,
        },
        cancel,
        path: path.clone(),
    };
    let bytes = pump(
        media.response,
        &media.limits,
        cancel,
        &on_progress,
        &mut sink,
    )
    .await
    .map_err(|e| saving_error(url, e))?;
    sink.writer.finish();
    Ok(Downloaded {
        path,
        bytes,
        content_type: media.content_type,
    })
}

/// The body's sink: the source writer, and what fetching the file's end needs.
struct ArrivingSink<'a> {
    writer: SourceWriter,
    tail: Tail,
    cancel: &'a CancelToken,
    path: PathBuf,
}

impl Sink for ArrivingSink<'_> {
    async fn write(&mut self, piece: &[u8]) -> std::result::Result<(), Saving> {
        let disk = |e| Saving::Local(FetchError::io("cannot write", &self.path, e));
        if let Next::FetchTail(at) = self.writer.append(piece).map_err(disk)? {
            match self.tail.fetch(at, self.cancel).await {
                Ok(tail) => self.writer.write_tail(at, &tail).map_err(disk)?,
                Err(reason) => self
                    .writer
                    .unmapped(format!("its index is at its end and {reason}")),
            }
        }
        Ok(())
    }
}

/// The request for a file's end.
struct Tail {
    client: reqwest::Client,
    /// Where the body came from (after redirects).
    url: Url,
    total: Option<u64>,
    deadline: tokio::time::Instant,
}

/// Bytes after the media data accepted: the index and a little more.
const MAX_TAIL_BYTES: u64 = MAX_INDEX_BYTES + 1024 * 1024;

impl Tail {
    /// The file's bytes from `at` to its end, with a Range request (the reason when the
    /// server cannot give them, completing "its index is at its end and …").
    async fn fetch(&self, at: u64, cancel: &CancelToken) -> std::result::Result<Vec<u8>, String> {
        let total = self.total.ok_or("the server did not say the file's size")?;
        let length = total
            .checked_sub(at)
            .filter(|&l| l > 0)
            .ok_or("the file ends before it")?;
        if length > MAX_TAIL_BYTES {
            return Err(format!("{length} bytes follow the media data"));
        }
        let request = self
            .client
            .get(self.url.clone())
            .header(RANGE, format!("bytes={at}-{}", total - 1));
        let response = tokio::select! {
            r = tokio::time::timeout_at(self.deadline, request.send()) => r,
            _ = cancel.drained() => return Err("the download was cancelled".into()),
        };
        let response = match response {
            Err(_) => return Err("the request for it timed out".into()),
            Ok(Err(e)) => return Err(format!("the request for it failed: {}", describe(e))),
            Ok(Ok(response)) => response,
        };
        if response.status() != StatusCode::PARTIAL_CONTENT {
            let status = response.status();
            return Err(format!("the server answered {status} to a range request"));
        }
        let range = (response.headers().get(CONTENT_RANGE))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !range.starts_with(&format!("bytes {at}-")) {
            return Err(format!("the server sent another range ({range:?})"));
        }
        let mut tail = Vec::with_capacity(length as usize);
        let mut body = response.bytes_stream();
        while let Some(chunk) = tokio::time::timeout_at(self.deadline, body.next())
            .await
            .map_err(|_| "its download timed out")?
        {
            let chunk = chunk.map_err(|e| format!("its download broke off: {}", describe(e)))?;
            if tail.len() as u64 + chunk.len() as u64 > length {
                return Err("the server sent more than was asked".into());
            }
            tail.extend_from_slice(&chunk);
        }
        if (tail.len() as u64) < length {
            return Err("its download broke off".into());
        }
        Ok(tail)
    }
}
