//! A source written as its bytes arrive: each piece is on disk (visible to ffmpeg children)
//! before the [`Arrival`] says so, and the index is read as soon as it is complete — from the
//! file's start, or from its end when the downloader fetched that first.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::{Arrival, IndexState};
use crate::index::{locate, Located, SourceIndex, MAX_INDEX_BYTES};

/// Writes one arriving source and tells its [`Arrival`].
#[derive(Debug)]
pub struct SourceWriter {
    file: File,
    arrival: Arc<Arrival>,
    /// The file's first bytes, kept until the index is found.
    head: Vec<u8>,
    received: u64,
    /// Where the index is, once known from the head.
    located: Option<Located>,
}

/// What the downloader must do after a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Go on.
    Continue,
    /// The index follows the media data: fetch the file from this offset to its end (a Range
    /// request) and give it to [`SourceWriter::write_tail`].
    FetchTail(u64),
}

impl SourceWriter {
    /// Creates (or empties) `path` for a source arriving through `arrival`.
    pub fn create(path: &Path, arrival: Arc<Arrival>) -> std::io::Result<SourceWriter> {
        Ok(SourceWriter {
            file: File::create(path)?,
            arrival,
            head: Vec::new(),
            received: 0,
            located: None,
        })
    }

    /// Bytes from the start written so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Appends the next bytes of the file and publishes them.
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<Next> {
        self.file.write_all(bytes)?;
        self.received += bytes.len() as u64;
        self.arrival.advance(self.received);
        if self.located.is_some() {
            return Ok(Next::Continue);
        }
        self.head.extend_from_slice(bytes);
        let located = locate(&self.head, 0);
        let next = match &located {
            Located::NeedMore if self.head.len() as u64 > MAX_INDEX_BYTES => {
                self.unmapped("no index in its first bytes".into());
                return Ok(Next::Continue);
            }
            Located::NeedMore => return Ok(Next::Continue),
            Located::At(range) => {
                let moov = &self.head[range.start as usize..range.end as usize];
                self.arrival.set_index(parse(moov));
                Next::Continue
            }
            Located::After(offset) => Next::FetchTail(*offset),
            Located::Unmapped(reason) => {
                self.arrival.set_index(IndexState::Unmapped(reason.clone()));
                Next::Continue
            }
        };
        self.head = Vec::new();
        self.located = Some(located);
        Ok(next)
    }

    /// Writes the file's end (from `at`, where the media data ends) and reads the index in it.
    pub fn write_tail(&mut self, at: u64, tail: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(tail, at)?;
        match locate(tail, at) {
            Located::At(range) => {
                let moov = &tail[(range.start - at) as usize..(range.end - at) as usize];
                self.arrival.set_index(parse(moov));
            }
            Located::Unmapped(reason) => self.unmapped(reason),
            _ => self.unmapped("no index at its end".into()),
        }
        Ok(())
    }

    /// The file cannot be cut while it arrives (`reason`): it is downloaded first.
    pub fn unmapped(&self, reason: String) {
        self.arrival.set_index(IndexState::Unmapped(reason));
    }

    /// Every byte is written: published as complete.
    pub fn finish(self) -> u64 {
        self.arrival.complete();
        self.received
    }
}

fn parse(moov: &[u8]) -> IndexState {
    match SourceIndex::parse(moov) {
        Ok(index) => IndexState::Known(Arc::new(index)),
        Err(reason) => IndexState::Unmapped(reason),
    }
}
