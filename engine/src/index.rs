//! A source's MP4 index (`moov`), read while the file is still arriving (pure): where the
//! index sits in the file ([`locate`]), which bytes hold every moment up to a time
//! ([`SourceIndex::bytes_through`]), and the video packets' times (the keyframes a smart cut
//! needs, without reading the media data).
//!
//! Times follow ffmpeg's mov demuxer: a track's edit list shifts its media times (an empty edit
//! delays the track, the first non-empty edit says where it starts), so a keyframe here has
//! the time `ffprobe` gives it. A file this does not map (fragmented, several non-empty edits,
//! no index) is an error: the caller downloads it whole first.

use std::io::Cursor;
use std::ops::Range;

use mp4::{BoxHeader, MoovBox, ReadBox};

use crate::mp4box::well_formed;
use crate::probe::{packets_of, Packets};
pub(crate) use tables::{Sample, Tables};

/// Largest index read, bytes (a 3-hour video's index is a few tens of MiB).
pub const MAX_INDEX_BYTES: u64 = 256 * 1024 * 1024;
/// Most samples one track may list (a day of 48 kHz AAC frames is about 4 million).
const MAX_SAMPLES: u64 = 20_000_000;
/// Seconds of media ffprobe reads at open to learn the streams (a few frames of each).
const PROBE_S: f64 = 2.0;

/// Where a file's index is, judged from the bytes read so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// Not yet known: read more.
    NeedMore,
    /// The index is these bytes of the file.
    At(Range<u64>),
    /// The index follows the media data, which ends here: fetch the file's end from here.
    After(u64),
    /// The file cannot be mapped (not an MP4/MOV, fragmented, no index, an index too large).
    Unmapped(String),
}

/// Where the index is in `data`, which holds a file's bytes from offset `at` on (its
/// beginning, or its tail after the media data) (pure).
pub fn locate(data: &[u8], at: u64) -> Located {
    let mut pos = 0usize;
    while let Some(header) = data.get(pos..pos + 8) {
        let kind = &header[4..8];
        if pos == 0 && at == 0 && !is_top_level(kind) {
            return Located::Unmapped("not an MP4 or MOV file".into());
        }
        let size = match u32::from_be_bytes([header[0], header[1], header[2], header[3]]) {
            0 => return Located::Unmapped("a box that runs to the end of the file".into()),
            1 => match data.get(pos + 8..pos + 16) {
                Some(large) => u64::from_be_bytes(large.try_into().unwrap_or_default()),
                None => return Located::NeedMore,
            },
            n => u64::from(n),
        };
        let start = at + pos as u64;
        let Some(end) = start.checked_add(size).filter(|_| size >= 8) else {
            return Located::Unmapped("a box with an impossible size".into());
        };
        match kind {
            b"moov" if size > MAX_INDEX_BYTES => {
                return Located::Unmapped(format!("an index of {size} bytes is too large"))
            }
            b"moov" if end <= at + data.len() as u64 => return Located::At(start..end),
            b"moov" => return Located::NeedMore,
            b"mdat" if at == 0 => return Located::After(end),
            b"mdat" => return Located::Unmapped("two media data boxes".into()),
            b"moof" | b"sidx" => return Located::Unmapped("a fragmented MP4".into()),
            _ => {}
        }
        pos = match usize::try_from(end - at) {
            Ok(next) if next <= data.len() => next,
            _ => return Located::NeedMore,
        };
    }
    Located::NeedMore
}

/// The top-level boxes an MP4 or MOV may start with.
fn is_top_level(kind: &[u8]) -> bool {
    matches!(
        kind,
        b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide" | b"uuid" | b"pnot"
    )
}

/// One track's reach: for each sample in decoding order, its decode time (seconds on the
/// file's timeline), the end of the furthest byte of it and every sample before it, and the
/// first byte of it and every sample after it.
#[derive(Debug, Clone)]
struct Reach {
    times: Vec<f64>,
    ends: Vec<u64>,
    starts: Vec<u64>,
}

/// Seconds past a span's end whose samples a task may read (B-frames kept past a copy's end,
/// the muxer's interleaving).
pub const READ_PAST_S: f64 = 2.0;
/// Seconds before the keyframe a span's decoding starts from that a task may read (audio
/// before the video's seek point).
pub const READ_BEFORE_S: f64 = 1.0;
/// Bytes past a span's samples that ffmpeg's buffered reads may touch (its reads are 32 KiB).
pub const READ_AHEAD_BYTES: u64 = 64 * 1024;
/// Gaps between byte ranges narrower than this are read with them (one request, not two).
const MERGE_GAP_BYTES: u64 = 256 * 1024;

/// A source's index, read.
#[derive(Debug, Clone)]
pub struct SourceIndex {
    reach: Vec<Reach>,
    /// The first video track's packets in decoding order: (pts, dts, keyframe), seconds.
    video: Vec<(f64, f64, bool)>,
    /// Where the earliest sample ends: the least any read of the media needs.
    first_byte: u64,
    /// The end of the last sample.
    last_byte: u64,
    /// BLAKE3 of the index's bytes.
    digest: u64,
    /// The video track's frame size as its header declares it.
    frame: (u32, u32),
}

impl SourceIndex {
    /// Reads an index (the whole `moov` box, header included). The error is one line.
    pub fn parse(moov: &[u8]) -> Result<SourceIndex, String> {
        if !well_formed(moov, true, 0) {
            return Err("its index's boxes do not nest".into());
        }
        let mut cursor = Cursor::new(moov);
        let header = BoxHeader::read(&mut cursor).map_err(|e| format!("its index: {e}"))?;
        let moov_box =
            MoovBox::read_box(&mut cursor, header.size).map_err(|e| format!("its index: {e}"))?;
        let movie_timescale = u64::from(moov_box.mvhd.timescale.max(1));
        let mut reach = Vec::new();
        let mut video = None;
        let mut frame = (0, 0);
        for (n, trak) in moov_box.traks.iter().enumerate() {
            let handler = trak.mdia.hdlr.handler_type.value;
            if &handler != b"vide" && &handler != b"soun" {
                continue;
            }
            let samples = Tables::of(&moov_box, n)?.samples(movie_timescale)?;
            if &handler == b"vide" && video.is_none() {
                video = Some(samples.iter().map(|s| (s.pts, s.dts, s.key)).collect());
                frame = (
                    trak.tkhd.width.value().into(),
                    trak.tkhd.height.value().into(),
                );
            }
            let mut furthest = 0;
            let (times, ends) = samples
                .iter()
                .map(|s| {
                    furthest = furthest.max(s.end);
                    (s.dts, furthest)
                })
                .unzip();
            let mut lowest = u64::MAX;
            let mut starts: Vec<u64> = (samples.iter().rev())
                .map(|s| {
                    lowest = lowest.min(s.start);
                    lowest
                })
                .collect();
            starts.reverse();
            reach.push(Reach {
                times,
                ends,
                starts,
            });
        }
        let video: Vec<_> = video.ok_or("its index lists no video track")?;
        let first_byte = (reach.iter())
            .filter_map(|r| r.ends.first())
            .min()
            .copied()
            .unwrap_or(0);
        let last_byte = (reach.iter()).filter_map(|r| r.ends.last()).max().copied();
        let mut digest = [0u8; 8];
        digest.copy_from_slice(&blake3::hash(moov).as_bytes()[..8]);
        Ok(SourceIndex {
            reach,
            video,
            first_byte,
            last_byte: last_byte.unwrap_or(0),
            digest: u64::from_le_bytes(digest),
            frame,
        })
    }

    /// The bytes from the file's start that hold every sample of every track decoded at or
    /// before `t` seconds (the end of the media data past the last sample).
    pub fn bytes_through(&self, t: f64) -> u64 {
        (self.reach.iter())
            .filter_map(|r| {
                let n = r.times.partition_point(|&time| time <= t);
                n.checked_sub(1).map(|i| r.ends[i])
            })
            .max()
            .unwrap_or(self.first_byte)
    }

    /// The first byte of every sample of every track decoded at or after `t` seconds.
    pub fn bytes_from(&self, t: f64) -> u64 {
        (self.reach.iter())
            .filter_map(|r| r.starts.get(r.times.partition_point(|&time| time < t)))
            .min()
            .copied()
            .unwrap_or(self.last_byte)
    }

    /// The bytes a task making `[from, to]` (seconds on the file's timeline) reads: from the
    /// samples before the keyframe its decoding starts at, to the samples just past its end
    /// and the reads ahead of them.
    pub fn span_bytes(&self, from: f64, to: f64) -> Range<u64> {
        let keyframe = (self.video.iter())
            .filter(|(pts, _, key)| *key && *pts <= from)
            .map(|(_, dts, _)| *dts)
            .fold(f64::NEG_INFINITY, f64::max);
        let start = self.bytes_from(keyframe.min(from) - READ_BEFORE_S);
        let end = (self.bytes_through(to + READ_PAST_S) + READ_AHEAD_BYTES).min(self.last_byte);
        start.min(end)..end
    }

    /// The byte ranges of the file that tasks making `spans` read, beside the index: the
    /// first bytes (ffmpeg reads them when it opens the file) and each span's, merged.
    pub fn ranges_for(&self, spans: impl IntoIterator<Item = (f64, f64)>) -> Vec<Range<u64>> {
        let mut ranges: Vec<Range<u64>> = std::iter::once(0..self.probe_bytes())
            .chain(
                spans
                    .into_iter()
                    .map(|(from, to)| self.span_bytes(from, to)),
            )
            .collect();
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::new();
        for range in ranges {
            match merged.last_mut() {
                Some(last) if range.start <= last.end + MERGE_GAP_BYTES => {
                    last.end = last.end.max(range.end)
                }
                _ => merged.push(range),
            }
        }
        merged
    }

    /// The bytes ffprobe reads when it opens the file to learn its streams: the first
    /// seconds of every track.
    pub fn probe_bytes(&self) -> u64 {
        let first = (self.reach.iter())
            .filter_map(|r| r.times.first())
            .copied()
            .fold(f64::INFINITY, f64::min);
        self.bytes_through(first + PROBE_S)
    }

    /// The end of the last sample: every byte any task may read lies before it (or in the
    /// index).
    pub fn last_byte(&self) -> u64 {
        self.last_byte
    }

    /// The video packets' keyframes, cut points and reordering, as `ffprobe` lists them.
    pub fn packets(&self) -> Packets {
        packets_of(self.video.iter().copied())
    }

    /// A hash of the index: what the file holds (every sample's size, place and time), the
    /// resume key of a source that is still arriving.
    pub fn content_hash(&self) -> u64 {
        self.digest
    }
}

mod shape;
mod tables;

#[cfg(test)]
mod tests;
