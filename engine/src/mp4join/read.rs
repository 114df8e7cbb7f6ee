//! Reading an MP4 for the join: its box tree checked before anything parses it (a hostile
//! file must not hang the reader), then one track's samples and sample description.

use std::io::Cursor;
use std::path::Path;

use super::write::boxed;
use super::{JoinError, TrackSample, MAX_TICKS};
use crate::mp4box::well_formed;

/// A track read from a file: its samples in its own timescale.
pub(super) struct Read {
    pub timescale: u32,
    /// The sample entry (`avc1`, `hvc1`, `mp4a`, … box) every sample of the track uses.
    pub entry: Vec<u8>,
    pub matrix: [i32; 9],
    pub width: u32,
    pub height: u32,
    pub movie_timescale: u32,
    pub edits: Vec<(u64, i64)>,
    pub samples: Vec<TrackSample>,
}

/// The first video (or audio) track of the MP4 at `path`.
pub(super) fn read_track(path: &Path, video: bool) -> Result<Read, JoinError> {
    let cannot =
        |e: &dyn std::fmt::Display| JoinError(format!("cannot read {}: {e}", path.display()));
    let data = std::fs::read(path).map_err(|e| cannot(&e))?;
    if !well_formed(&data, true, 0) {
        return Err(cannot(
            &"its boxes do not nest (a size of 0 or past the parent)",
        ));
    }
    let size = data.len() as u64;
    let mut reader =
        mp4::Mp4Reader::read_header(Cursor::new(&data[..]), size).map_err(|e| cannot(&e))?;
    let kind = if video {
        mp4::TrackType::Video
    } else {
        mp4::TrackType::Audio
    };
    let (&id, track) = reader
        .tracks()
        .iter()
        .find(|(_, t)| t.track_type().ok() == Some(kind))
        .ok_or_else(|| cannot(&"no such track"))?;
    let timescale = track.timescale();
    let tkhd = &track.trak.tkhd;
    let m = &tkhd.matrix;
    let matrix = [m.a, m.b, m.u, m.c, m.d, m.v, m.x, m.y, m.w];
    let (width, height) = (tkhd.width.raw_value(), tkhd.height.raw_value());
    let edits = track
        .trak
        .edts
        .as_ref()
        .and_then(|e| e.elst.as_ref())
        .map(|elst| {
            elst.entries
                .iter()
                .map(|e| (e.segment_duration, e.media_time as i64))
                .collect()
        })
        .unwrap_or_default();
    let count = track.sample_count();
    let movie_timescale = reader.moov.mvhd.timescale;
    if timescale == 0 || movie_timescale == 0 {
        return Err(cannot(&"a timescale of 0"));
    }
    let handler = if video { b"vide" } else { b"soun" };
    let entry = match sample_entries(&data, handler).as_deref() {
        Some([entry]) => entry.clone(),
        Some([_, _, ..]) => return Err(cannot(&"several sample descriptions in one piece")),
        _ => return Err(cannot(&"no sample description")),
    };
    // The count is the file's word: reserve no more than a plausible piece holds.
    let mut samples = Vec::with_capacity((count as usize).min(1 << 16));
    for n in 1..=count {
        let s = reader
            .read_sample(id, n)
            .map_err(|e| cannot(&e))?
            .ok_or_else(|| cannot(&format!("no sample {n}")))?;
        // Times far beyond any clip would overflow the timeline arithmetic.
        if s.start_time > MAX_TICKS
            || s.duration as u64 > MAX_TICKS
            || (s.rendering_offset as i64).abs() > MAX_TICKS as i64
        {
            return Err(cannot(&format!("sample {n} has an implausible time")));
        }
        samples.push(TrackSample {
            dts: s.start_time as i64,
            cts_offset: s.rendering_offset as i64,
            duration: s.duration as i64,
            sync: s.is_sync,
            bytes: s.bytes.to_vec(),
            entry: 0,
        });
    }
    Ok(Read {
        timescale,
        entry,
        matrix,
        width,
        height,
        movie_timescale,
        edits,
        samples,
    })
}

/// The boxes directly inside `data`: `(type, payload)`.
pub(super) fn boxes(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let header = data.get(pos..pos + 8)?;
        let mut size = u32::from_be_bytes(header[..4].try_into().ok()?) as usize;
        let mut start = pos + 8;
        if size == 1 {
            size = u64::from_be_bytes(data.get(pos + 8..pos + 16)?.try_into().ok()?) as usize;
            start = pos + 16;
        } else if size == 0 {
            size = data.len() - pos;
        }
        let end = pos.checked_add(size)?;
        let item = (&header[4..8], data.get(start..end)?);
        pos = pos.checked_add(size.max(8))?;
        Some(item)
    })
}

pub(super) fn child<'a>(data: &'a [u8], kind: &[u8]) -> Option<&'a [u8]> {
    boxes(data).find(|(t, _)| *t == kind).map(|(_, p)| p)
}

/// The sample entries (whole boxes) of the `stsd` of the first track with `handler` (`vide`,
/// `soun`).
pub(super) fn sample_entries(data: &[u8], handler: &[u8; 4]) -> Option<Vec<Vec<u8>>> {
    let moov = child(data, b"moov")?;
    let mdia = boxes(moov)
        .filter(|(t, _)| *t == b"trak")
        .filter_map(|(_, trak)| child(trak, b"mdia"))
        .find(|mdia| child(mdia, b"hdlr").and_then(|h| h.get(8..12)) == Some(handler))?;
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    // A full box: version and flags, the entry count, then the entries.
    let stsd = child(stbl, b"stsd")?.get(8..)?;
    boxes(stsd)
        .map(|(kind, body)| Some(boxed(kind.try_into().ok()?, body)))
        .collect()
}
