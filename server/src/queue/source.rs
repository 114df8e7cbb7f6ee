//! The part of a task's source a worker reads from the store: its index, its first bytes and
//! the byte ranges of the task's clips, with range requests, into a sparse file of the source's
//! size (every byte ffmpeg reads is there; the others are never read). A source whose index
//! cannot be read this way is fetched whole instead, once per machine.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Result, ServerError};
use crate::store::Store;
use clipbench_engine::index::{locate, Located, SourceIndex, MAX_INDEX_BYTES};
use clipbench_engine::Clip;

/// The first read of a source: enough for its file type and, often, its index.
const FIRST_READ_BYTES: u64 = 256 * 1024;

/// Reads what the task's `clips` need of the source `key` (its timeline starting at
/// `start_time`) into `into`: the bytes read, or `None` when the source cannot be read in
/// parts (not an MP4, no readable index) and is to be fetched whole.
pub(super) async fn fetch_parts(
    store: &Store,
    key: &str,
    clips: &[Clip],
    start_time: f64,
    into: &Path,
) -> Result<Option<u64>> {
    let mut read = 0u64;
    let mut head_len = FIRST_READ_BYTES;
    let (head, size, moov) = loop {
        let head = get(store, key, 0..head_len).await?;
        read += head.bytes.len() as u64;
        let size = head.size;
        let moov = match locate(&head.bytes, 0) {
            Located::At(range) => {
                let bytes = head.bytes.slice(range.start as usize..range.end as usize);
                (range.start, bytes)
            }
            Located::After(at) if size.saturating_sub(at) <= MAX_INDEX_BYTES => {
                let tail = get(store, key, at..size).await?;
                read += tail.bytes.len() as u64;
                match locate(&tail.bytes, at) {
                    Located::At(range) => {
                        let (from, to) = ((range.start - at) as usize, (range.end - at) as usize);
                        (range.start, tail.bytes.slice(from..to))
                    }
                    _ => return Ok(None),
                }
            }
            Located::NeedMore if head_len < size && head_len < MAX_INDEX_BYTES => {
                head_len *= 4;
                continue;
            }
            _ => return Ok(None),
        };
        break (head.bytes, size, moov);
    };
    let Ok(index) = SourceIndex::parse(&moov.1) else {
        return Ok(None);
    };
    let spans = clips
        .iter()
        .map(|c| (c.start + start_time, c.end + start_time));
    let ranges = index.ranges_for(spans);
    let file = File::create(into).map_err(|e| ServerError::io("cannot create", into, e))?;
    let write = |bytes: &[u8], at: u64| {
        (file.write_all_at(bytes, at)).map_err(|e| ServerError::io("cannot write", into, e))
    };
    file.set_len(size)
        .map_err(|e| ServerError::io("cannot size", into, e))?;
    write(&head, 0)?;
    write(&moov.1, moov.0)?;
    let have = head.len() as u64;
    for range in ranges {
        let range = range.start.max(have)..range.end.min(size);
        if range.is_empty() {
            continue;
        }
        let part = get(store, key, range.clone()).await?;
        read += part.bytes.len() as u64;
        write(&part.bytes, range.start)?;
    }
    Ok(Some(read))
}

/// The byte `range` of `key` (shorter at the object's end).
async fn get(
    store: &Store,
    key: &str,
    range: std::ops::Range<u64>,
) -> Result<crate::store::Fetched> {
    store
        .get(key, Some(range))
        .await?
        .ok_or_else(|| ServerError::Store(format!("the source {key} is not in the store")))
}
