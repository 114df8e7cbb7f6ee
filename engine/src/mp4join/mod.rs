//! Joins a smart cut's video pieces and the clip's audio into one MP4, in this process (no
//! ffmpeg start per clip): the pieces' samples are laid end to end on one timeline, each at
//! its planned start, and written with the sample tables, interleaved, `moov` first.
//!
//! The re-encoded heads and feet and the copied frames come from different encoders, whose
//! parameter sets differ (profile, entropy coder, ids). Each piece keeps its own sample entry
//! (its `avc1`/`hvc1` with the `avcC`/`hvcC` its encoder wrote; identical entries are written
//! once): the video's `stsd` holds one entry per distinct piece, every chunk holds samples of
//! one piece, and `stsc` points each chunk at its piece's entry (ISO/IEC 14496-12 8.7.4,
//! 14496-15 5.3.2: a change of entry is where a decoder re-reads its configuration). So every
//! sample decodes from the parameter sets of its own entry alone, as QuickTime, Safari and
//! iOS decode. Each keyframe also carries its piece's sets in-band, the same bytes as its
//! entry: players that read only the first entry (Chromium, Firefox) find them there.
//! The audio's sample entry and edit list are copied as they are. A copy is read from its
//! piece's file, or straight from the source when the source allows ([`CopySource`]); the
//! audio from its file or the source.
//!
//! The rooms: `read` (one track's samples read from a piece), `source` (a copy's samples
//! read from the source), `write` (the joined tracks written as boxes), this file (the join
//! itself: timelines, sample entries, parameter sets).

mod read;
mod source;
mod write;

use std::path::Path;

use read::read_track;
pub use source::{CopiedSamples, CopySource};
use write::write_mp4;

/// One video piece: where its samples are and how long it is planned to show (seconds).
#[derive(Debug, Clone, Copy)]
pub struct JoinPiece<'a> {
    pub from: PieceFrom<'a>,
    pub planned_s: f64,
}

impl<'a> JoinPiece<'a> {
    /// A piece in an MP4 file ffmpeg wrote, planned to show `planned_s` seconds.
    pub fn file(path: &'a Path, planned_s: f64) -> JoinPiece<'a> {
        JoinPiece {
            from: PieceFrom::File(path),
            planned_s,
        }
    }
}

/// Where a piece's (or the clip's audio's) samples are.
#[derive(Debug, Clone, Copy)]
pub enum PieceFrom<'a> {
    /// An MP4 file ffmpeg wrote (a head, a foot, a copy; the audio).
    File(&'a Path),
    /// Samples read straight from the source (a video copy; the audio).
    Source(&'a CopySource, CopiedSamples),
}

impl PieceFrom<'_> {
    /// The video (else the audio) track's samples.
    fn read(&self, video: bool) -> Result<read::Read, JoinError> {
        match (self, video) {
            (PieceFrom::File(path), _) => read_track(path, video),
            (PieceFrom::Source(source, copy), true) => source.read_copy(*copy),
            (PieceFrom::Source(source, copy), false) => source.read_audio(*copy),
        }
    }

    fn name(&self) -> String {
        match self {
            PieceFrom::File(path) => path.display().to_string(),
            PieceFrom::Source(..) => "the copy".to_owned(),
        }
    }
}

/// Why a join failed (one line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JoinError(String);

pub(super) fn fail<T>(what: impl Into<String>) -> Result<T, JoinError> {
    Err(JoinError(what.into()))
}

/// The movie timescale of the output (milliseconds, as ffmpeg writes).
pub(super) const MOVIE_TIMESCALE: u64 = 1000;
/// Largest sample time accepted, in ticks of the track's timescale (2^40: years at 90 kHz).
pub(super) const MAX_TICKS: u64 = 1 << 40;
/// Samples of one track are written in chunks of at most this many seconds.
pub(super) const CHUNK_S: f64 = 0.5;

/// One sample on the output timeline (media timescale of its track).
#[derive(Debug, Clone)]
pub(super) struct TrackSample {
    pub dts: i64,
    pub cts_offset: i64,
    pub duration: i64,
    pub sync: bool,
    pub bytes: Vec<u8>,
    /// Which of its track's sample entries describes it (an index into [`Track::entries`]).
    pub entry: usize,
}

/// One output track.
#[derive(Debug)]
pub(super) struct Track {
    pub video: bool,
    pub timescale: u32,
    /// The sample entries (whole boxes) of the track's `stsd`, in order.
    pub entries: Vec<Vec<u8>>,
    pub tkhd_matrix: [i32; 9],
    pub width: u32,
    pub height: u32,
    /// Edit list entries `(segment duration in movie units, media time)`.
    pub edits: Vec<(u64, i64)>,
    pub samples: Vec<TrackSample>,
}

/// Joins `pieces` (video) and `audio` (the clip's audio track: a file's, or the source's
/// samples) into `output`; returns the bytes written.
pub fn join_mp4(
    pieces: &[JoinPiece],
    audio: Option<PieceFrom>,
    output: &Path,
) -> Result<u64, JoinError> {
    let video = join_video(pieces)?;
    let mut tracks = vec![video];
    if let Some(from) = audio {
        let read = from.read(false)?;
        let edits = read
            .edits
            .iter()
            .map(|&(d, t)| {
                (
                    rescale(d as i64, read.movie_timescale, MOVIE_TIMESCALE as u32) as u64,
                    t,
                )
            })
            .collect();
        tracks.push(Track {
            video: false,
            timescale: read.timescale,
            entries: vec![read.entry],
            tkhd_matrix: read.matrix,
            width: 0,
            height: 0,
            edits,
            samples: read.samples,
        });
    }
    write_mp4(&tracks, output)
}

fn rescale(value: i64, from: u32, to: u32) -> i64 {
    let scaled = value as i128 * to as i128;
    let from = from as i128;
    (if scaled >= 0 {
        (scaled + from / 2) / from
    } else {
        (scaled - from / 2) / from
    }) as i64
}

/// The pieces' samples on one timeline: piece `p` shows from the sum of the planned lengths
/// before it; decoding times keep the pieces' own reordering delay.
fn join_video(pieces: &[JoinPiece]) -> Result<Track, JoinError> {
    let mut reads = pieces
        .iter()
        .map(|p| p.from.read(true))
        .collect::<Result<Vec<_>, _>>()?;
    for read in &mut reads {
        if let Some(length_size) = hevc_length_size(&read.entry) {
            open_as_broken_link(&mut read.samples, length_size);
        }
    }
    let Some(longest) = reads.iter().max_by_key(|r| r.samples.len()) else {
        return fail("no pieces to join");
    };
    // One track, one codec: a decoder changes its configuration between entries, not its
    // codec (ffmpeg ignores an entry of another codec).
    let codec = |read: &read::Read| String::from_utf8_lossy(&read.entry[4..8]).into_owned();
    if let Some(other) = reads.iter().find(|r| codec(r) != codec(longest)) {
        return fail(format!(
            "the pieces' codecs differ ({} and {})",
            codec(other),
            codec(longest)
        ));
    }
    let timescale = longest.timescale;
    // Per piece: its first decoding time and when it shows its first frame. Each piece is
    // decoded from its planned start on, and shown `delay` later: the largest lead of shown
    // over decoded of any piece (the source's and x264's can differ), so that no piece's
    // decoding overlaps the one before it and no frame is shown before it is decoded.
    let starts: Vec<(i64, i64)> = reads
        .iter()
        .map(|r| {
            let shown = r.samples.iter().map(|s| s.dts + s.cts_offset).min();
            let first_dts = r.samples.first().map_or(0, |s| s.dts);
            (first_dts, shown.unwrap_or(first_dts))
        })
        .collect();
    let delay = reads
        .iter()
        .zip(&starts)
        .map(|(r, (dts, shown))| rescale(shown - dts, r.timescale, timescale))
        .max()
        .unwrap_or(0);
    let mut samples: Vec<TrackSample> = Vec::new();
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut planned = 0.0;
    for ((read, piece), (first_dts, shown)) in reads.iter().zip(pieces).zip(&starts) {
        let offset = (planned * timescale as f64).round() as i64;
        let sets = parameter_sets(&read.entry)?;
        let entry = match entries.iter().position(|e| *e == read.entry) {
            Some(known) => known,
            None => {
                entries.push(read.entry.clone());
                entries.len() - 1
            }
        };
        for s in &read.samples {
            let dts = offset + rescale(s.dts - first_dts, read.timescale, timescale);
            let shown_at = s.dts + s.cts_offset - shown;
            let pts = offset + delay + rescale(shown_at, read.timescale, timescale);
            if samples.last().is_some_and(|last| last.dts >= dts) || pts < dts {
                return fail(format!(
                    "the decoding times of {} overlap the piece before it",
                    piece.from.name()
                ));
            }
            let mut bytes = Vec::new();
            if s.sync {
                bytes = sets.in_band();
            }
            bytes.extend_from_slice(&s.bytes);
            samples.push(TrackSample {
                dts,
                cts_offset: pts - dts,
                duration: rescale(s.duration, read.timescale, timescale),
                sync: s.sync,
                bytes,
                entry,
            });
        }
        planned += piece.planned_s;
    }
    for i in 1..samples.len() {
        samples[i - 1].duration = samples[i].dts - samples[i - 1].dts;
    }
    let movie_length = (planned * MOVIE_TIMESCALE as f64).round() as u64;
    Ok(Track {
        video: true,
        timescale,
        entries,
        tkhd_matrix: longest.matrix,
        width: longest.width,
        height: longest.height,
        edits: vec![(movie_length, delay)],
        samples,
    })
}

/// The parameter sets of a sample description (H.264's SPS and PPS, HEVC's VPS, SPS and
/// PPS), and the length of its NAL size fields.
#[derive(Debug, PartialEq)]
struct ParameterSets {
    length_size: usize,
    nals: Vec<Vec<u8>>,
}

impl ParameterSets {
    /// The sets as length-prefixed NAL units, to go in front of a sample.
    fn in_band(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in &self.nals {
            let len = (nal.len() as u32).to_be_bytes();
            out.extend_from_slice(&len[4 - self.length_size..]);
            out.extend_from_slice(nal);
        }
        out
    }
}

/// The parameter sets of the `avcC` or `hvcC` inside a sample entry.
fn parameter_sets(entry: &[u8]) -> Result<ParameterSets, JoinError> {
    let record = |name: &[u8]| {
        let at = entry.windows(4).position(|w| w == name)?;
        entry.get(at + 4..)
    };
    let bad = |what: &str| {
        JoinError(format!(
            "the video's sample description has no readable {what}"
        ))
    };
    if let Some(config) = record(b"avcC") {
        return avc_sets(config).ok_or_else(|| bad("avcC"));
    }
    let config = record(b"hvcC").ok_or_else(|| bad("avcC or hvcC"))?;
    hevc_sets(config).ok_or_else(|| bad("hvcC"))
}

/// A length-prefixed (16 bits) NAL unit at `pos`, and the position after it.
fn nal_at(config: &[u8], pos: usize) -> Option<(Vec<u8>, usize)> {
    let len = u16::from_be_bytes([*config.get(pos)?, *config.get(pos + 1)?]) as usize;
    Some((config.get(pos + 2..pos + 2 + len)?.to_vec(), pos + 2 + len))
}

/// An `avcC`: its SPS (count in 5 bits) and PPS (8 bits) after a 5-byte header.
fn avc_sets(config: &[u8]) -> Option<ParameterSets> {
    let length_size = (*config.get(4)? as usize & 3) + 1;
    let mut pos = 5;
    let mut nals = Vec::new();
    for mask in [0x1f, 0xff] {
        let count = *config.get(pos)? as usize & mask;
        pos += 1;
        for _ in 0..count {
            let (nal, next) = nal_at(config, pos)?;
            nals.push(nal);
            pos = next;
        }
    }
    Some(ParameterSets { length_size, nals })
}

/// HEVC NAL unit types: a clean random access picture (an open GOP's keyframe), and the
/// broken link access it becomes where a piece opens with it.
const HEVC_CRA: u8 = 21;
const HEVC_BLA_W_LP: u8 = 16;

/// The NAL length size of an `hvcC` sample entry, when the track is HEVC.
fn hevc_length_size(entry: &[u8]) -> Option<usize> {
    let at = entry.windows(4).position(|w| w == b"hvcC")? + 4;
    Some((*entry.get(at + 21)? as usize & 3) + 1)
}

/// An HEVC piece that opens on an open GOP's keyframe (a CRA, copied from the source) made to
/// stand after another piece, as encoders splice streams: its leading pictures — decoded after
/// the keyframe, shown before it, referring to the GOP before, which is not there — are
/// dropped (the piece before shows those moments; no later picture may refer to them), and
/// the CRA becomes a broken link access (BLA), so that decoders start its pictures' order
/// afresh as at an IDR. Nothing changes for a piece that opens on an IDR.
fn open_as_broken_link(samples: &mut Vec<TrackSample>, length_size: usize) {
    let Some(first) = samples.first_mut() else {
        return;
    };
    let Some(at) = first_picture_header(&first.bytes, length_size) else {
        return;
    };
    if (first.bytes[at] >> 1) & 0x3f != HEVC_CRA {
        return;
    }
    // The slice syntax of a CRA and a BLA is the same: only the type changes.
    first.bytes[at] = (first.bytes[at] & 0x81) | (HEVC_BLA_W_LP << 1);
    let shown = first.dts + first.cts_offset;
    samples.retain(|s| s.dts + s.cts_offset >= shown);
}

/// Where the NAL unit header of a sample's first picture (VCL) NAL unit is, in a sample of
/// length-prefixed HEVC NAL units.
fn first_picture_header(bytes: &[u8], length_size: usize) -> Option<usize> {
    let mut pos = 0;
    loop {
        let len = (bytes.get(pos..pos + length_size)?)
            .iter()
            .fold(0usize, |n, b| n << 8 | *b as usize);
        let header = pos + length_size;
        if (*bytes.get(header)? >> 1) & 0x3f < 32 {
            return Some(header);
        }
        pos = header.checked_add(len)?;
    }
}

/// HEVC NAL unit types of the video, sequence and picture parameter sets.
const HEVC_PARAMETER_SETS: [u8; 3] = [32, 33, 34];

/// An `hvcC` (ISO/IEC 14496-15): a 22-byte header whose last byte holds the NAL length size,
/// then arrays of NAL units by type; the VPS, SPS and PPS are kept (SEI and the rest are not
/// parameter sets).
fn hevc_sets(config: &[u8]) -> Option<ParameterSets> {
    let length_size = (*config.get(21)? as usize & 3) + 1;
    let arrays = *config.get(22)?;
    let mut pos = 23;
    let mut nals = Vec::new();
    for _ in 0..arrays {
        let nal_type = *config.get(pos)? & 0x3f;
        let count = u16::from_be_bytes([*config.get(pos + 1)?, *config.get(pos + 2)?]);
        pos += 3;
        for _ in 0..count {
            let (nal, next) = nal_at(config, pos)?;
            if HEVC_PARAMETER_SETS.contains(&nal_type) {
                nals.push(nal);
            }
            pos = next;
        }
    }
    Some(ParameterSets { length_size, nals })
}

#[cfg(test)]
mod tests;
