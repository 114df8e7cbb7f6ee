//! Joins a smart cut's video pieces and the clip's audio into one MP4, in this process (no
//! ffmpeg start per clip): the pieces' samples are laid end to end on one timeline, each at
//! its planned start, and written with the sample tables, interleaved, `moov` first.
//!
//! The re-encoded heads and feet and the copied frames come from different encoders: each
//! keyframe carries its piece's parameter sets in-band, as after ffmpeg's concat demuxer. The sample descriptions (`stsd`) and the audio's edit list are
//! copied as they are, so nothing the sources say is lost.

use std::io::{Cursor, Write};
use std::path::Path;

/// One video piece: its file and how long it is planned to show (seconds).
#[derive(Debug, Clone, Copy)]
pub struct JoinPiece<'a> {
    pub path: &'a Path,
    pub planned_s: f64,
}

/// Why a join failed (one line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JoinError(String);

fn fail<T>(what: impl Into<String>) -> Result<T, JoinError> {
    Err(JoinError(what.into()))
}

/// The movie timescale of the output (milliseconds, as ffmpeg writes).
const MOVIE_TIMESCALE: u64 = 1000;
/// Largest sample time accepted, in ticks of the track's timescale (2^40: years at 90 kHz).
const MAX_TICKS: u64 = 1 << 40;
/// Samples of one track are written in chunks of at most this many seconds.
const CHUNK_S: f64 = 0.5;

/// One sample on the output timeline (media timescale of its track).
#[derive(Debug, Clone)]
struct Sample {
    dts: i64,
    cts_offset: i64,
    duration: i64,
    sync: bool,
    bytes: Vec<u8>,
}

/// One output track.
#[derive(Debug)]
struct Track {
    video: bool,
    timescale: u32,
    stsd: Vec<u8>,
    tkhd_matrix: [i32; 9],
    width: u32,
    height: u32,
    /// Edit list entries `(segment duration in movie units, media time)`.
    edits: Vec<(u64, i64)>,
    samples: Vec<Sample>,
}

/// A track read from a file: its samples in its own timescale.
struct Read {
    timescale: u32,
    stsd: Vec<u8>,
    matrix: [i32; 9],
    width: u32,
    height: u32,
    movie_timescale: u32,
    edits: Vec<(u64, i64)>,
    samples: Vec<Sample>,
}

/// Joins `pieces` (video) and `audio` (a file whose audio track is the clip's) into `output`;
/// returns the bytes written.
pub fn join_mp4(
    pieces: &[JoinPiece],
    audio: Option<&Path>,
    output: &Path,
) -> Result<u64, JoinError> {
    let video = join_video(pieces)?;
    let mut tracks = vec![video];
    if let Some(path) = audio {
        let read = read_track(path, false)?;
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
            stsd: read.stsd,
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
    let reads = pieces
        .iter()
        .map(|p| read_track(p.path, true))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(longest) = reads.iter().max_by_key(|r| r.samples.len()) else {
        return fail("no pieces to join");
    };
    let timescale = longest.timescale;
    // Every keyframe carries its piece's parameter sets in-band: Chromium puts the track's
    // description's sets in front of a keyframe that has none, which breaks the pieces of the
    // other encoder (its browser test fails without this).
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
    let mut samples: Vec<Sample> = Vec::new();
    let mut planned = 0.0;
    for ((read, piece), (first_dts, shown)) in reads.iter().zip(pieces).zip(&starts) {
        let offset = (planned * timescale as f64).round() as i64;
        let sets = parameter_sets(&read.stsd)?;
        for s in &read.samples {
            let dts = offset + rescale(s.dts - first_dts, read.timescale, timescale);
            let shown_at = s.dts + s.cts_offset - shown;
            let pts = offset + delay + rescale(shown_at, read.timescale, timescale);
            if samples.last().is_some_and(|last| last.dts >= dts) || pts < dts {
                return fail(format!(
                    "the decoding times of {} overlap the piece before it",
                    piece.path.display()
                ));
            }
            let mut bytes = Vec::new();
            if s.sync {
                bytes = sets.in_band();
            }
            bytes.extend_from_slice(&s.bytes);
            samples.push(Sample {
                dts,
                cts_offset: pts - dts,
                duration: rescale(s.duration, read.timescale, timescale),
                sync: s.sync,
                bytes,
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
        stsd: longest.stsd.clone(),
        tkhd_matrix: longest.matrix,
        width: longest.width,
        height: longest.height,
        edits: vec![(movie_length, delay)],
        samples,
    })
}

/// An `avcC`'s SPS and PPS, and the length of its NAL size fields.
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

/// The parameter sets of the `avcC` inside an `stsd` box.
fn parameter_sets(stsd: &[u8]) -> Result<ParameterSets, JoinError> {
    let bad = || JoinError("the video's sample description has no readable avcC".into());
    let at = stsd.windows(4).position(|w| w == b"avcC").ok_or_else(bad)? + 4;
    let config = stsd.get(at..).ok_or_else(bad)?;
    let length_size = (*config.get(4).ok_or_else(bad)? as usize & 3) + 1;
    let mut pos = 5;
    let mut nals = Vec::new();
    for mask in [0x1f, 0xff] {
        let count = *config.get(pos).ok_or_else(bad)? as usize & mask;
        pos += 1;
        for _ in 0..count {
            let len = u16::from_be_bytes([
                *config.get(pos).ok_or_else(bad)?,
                *config.get(pos + 1).ok_or_else(bad)?,
            ]) as usize;
            nals.push(config.get(pos + 2..pos + 2 + len).ok_or_else(bad)?.to_vec());
            pos += 2 + len;
        }
    }
    Ok(ParameterSets { length_size, nals })
}

/// Whether every box of `data` (and, inside the boxes that hold boxes, every child) has a
/// size of at least its header that fits its parent; a size of 0 ("to the end") only at the
/// top. The mp4 crate loops for ever on a child box of size 0, so nothing reaches it unchecked.
fn well_formed(data: &[u8], top: bool, depth: usize) -> bool {
    let mut pos = 0usize;
    while pos < data.len() {
        let Some(header) = data.get(pos..pos + 8) else {
            return false;
        };
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        let (size, start) = match u32::from_be_bytes([header[0], header[1], header[2], header[3]]) {
            0 if top => (data.len() - pos, 8),
            1 => match data.get(pos + 8..pos + 16) {
                Some(large) => (
                    u64::from_be_bytes(large.try_into().unwrap_or_default()) as usize,
                    16,
                ),
                None => return false,
            },
            n => (n as usize, 8),
        };
        let Some(end) = pos
            .checked_add(size)
            .filter(|&end| size >= start && end <= data.len())
        else {
            return false;
        };
        let payload = &data[pos + start..end];
        let children = match &kind {
            b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"dinf" | b"edts" | b"mvex"
            | b"udta" | b"moof" | b"traf" | b"mfra" => Some(0),
            b"meta" => Some(4),
            b"stsd" => Some(8),
            b"avc1" | b"avc3" | b"hev1" | b"hvc1" | b"encv" => Some(78),
            b"mp4a" | b"enca" | b"Opus" => Some(28),
            _ => None,
        };
        if let Some(skip) = children {
            let inner = payload.get(skip..).unwrap_or_default();
            if depth > 16 || !well_formed(inner, false, depth + 1) {
                return false;
            }
        }
        pos = end;
    }
    true
}

/// The first video (or audio) track of the MP4 at `path`.
fn read_track(path: &Path, video: bool) -> Result<Read, JoinError> {
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
    let stsd = raw_stsd(&data, handler).ok_or_else(|| cannot(&"no sample description"))?;
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
        samples.push(Sample {
            dts: s.start_time as i64,
            cts_offset: s.rendering_offset as i64,
            duration: s.duration as i64,
            sync: s.is_sync,
            bytes: s.bytes.to_vec(),
        });
    }
    Ok(Read {
        timescale,
        stsd,
        matrix,
        width,
        height,
        movie_timescale,
        edits,
        samples,
    })
}

/// The boxes directly inside `data`: `(type, payload)`.
fn boxes(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
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

fn child<'a>(data: &'a [u8], kind: &[u8]) -> Option<&'a [u8]> {
    boxes(data).find(|(t, _)| *t == kind).map(|(_, p)| p)
}

/// The whole `stsd` box (header included) of the first track with `handler` (`vide`, `soun`).
fn raw_stsd(data: &[u8], handler: &[u8; 4]) -> Option<Vec<u8>> {
    let moov = child(data, b"moov")?;
    let mdia = boxes(moov)
        .filter(|(t, _)| *t == b"trak")
        .filter_map(|(_, trak)| child(trak, b"mdia"))
        .find(|mdia| child(mdia, b"hdlr").and_then(|h| h.get(8..12)) == Some(handler))?;
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    Some(boxed(b"stsd", child(stbl, b"stsd")?))
}

/// A box of `kind` around `payload`.
fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32 + 8).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// A full box (version 0, `flags`) of `kind` around `payload`.
fn full(kind: &[u8; 4], flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut body = flags.to_be_bytes().to_vec();
    body.extend_from_slice(payload);
    boxed(kind, &body)
}

fn u32s(values: impl IntoIterator<Item = u32>) -> Vec<u8> {
    values.into_iter().flat_map(u32::to_be_bytes).collect()
}

/// Where each track's chunks go: `(track, first sample, sample count)` in file order, chunks
/// of at most [`CHUNK_S`] interleaved by time.
fn chunk_order(tracks: &[Track]) -> Vec<(usize, usize, usize)> {
    let mut chunks = Vec::new();
    for (t, track) in tracks.iter().enumerate() {
        let limit = (CHUNK_S * track.timescale as f64) as i64;
        let mut first = 0;
        for i in 1..=track.samples.len() {
            let ends = i == track.samples.len()
                || track.samples[i].dts - track.samples[first].dts >= limit;
            if ends {
                let at = track.samples[first].dts as f64 / track.timescale as f64;
                chunks.push((at, t, first, i - first));
                first = i;
            }
        }
    }
    chunks.sort_by(|a, b| a.0.total_cmp(&b.0));
    chunks.into_iter().map(|(_, t, f, n)| (t, f, n)).collect()
}

/// The `trak` of `track` (number `id`), its chunks at `offsets`.
fn trak(track: &Track, id: u32, chunks: &[(usize, usize)], offsets: &[u64]) -> Vec<u8> {
    let media_duration: i64 = track.samples.iter().map(|s| s.duration).sum();
    let movie_duration: u64 = track.edits.iter().map(|e| e.0).sum();
    let mut tkhd = u32s([0, 0, id, 0, movie_duration as u32, 0, 0]);
    let (group, volume) = if track.video {
        (0u32, 0u32)
    } else {
        (1, 0x0100)
    };
    tkhd.extend_from_slice(&u32s([group, volume << 16]));
    tkhd.extend(track.tkhd_matrix.iter().flat_map(|v| v.to_be_bytes()));
    tkhd.extend_from_slice(&u32s([track.width, track.height]));
    let mut elst = u32s([track.edits.len() as u32]);
    for &(duration, media_time) in &track.edits {
        elst.extend_from_slice(&u32s([
            duration as u32,
            media_time as i32 as u32,
            0x0001_0000,
        ]));
    }
    let edts = boxed(b"edts", &full(b"elst", 0, &elst));
    let mdhd = full(
        b"mdhd",
        0,
        &[
            u32s([0, 0, track.timescale, media_duration as u32]),
            vec![0x55, 0xc4, 0, 0],
        ]
        .concat(),
    );
    let (handler, name, header) = if track.video {
        (b"vide", "VideoHandler", full(b"vmhd", 1, &[0; 8]))
    } else {
        (b"soun", "SoundHandler", full(b"smhd", 0, &[0; 4]))
    };
    let mut hdlr = u32s([0]);
    hdlr.extend_from_slice(handler);
    hdlr.extend_from_slice(&[0; 12]);
    hdlr.extend_from_slice(name.as_bytes());
    hdlr.push(0);
    let dref = full(b"dref", 0, &[u32s([1]), full(b"url ", 1, &[])].concat());
    let stbl = boxed(b"stbl", &sample_tables(track, chunks, offsets));
    let minf = boxed(b"minf", &[header, boxed(b"dinf", &dref), stbl].concat());
    let mdia = boxed(b"mdia", &[mdhd, full(b"hdlr", 0, &hdlr), minf].concat());
    boxed(b"trak", &[full(b"tkhd", 3, &tkhd), edts, mdia].concat())
}

/// `stsd`, `stts`, `ctts`, `stss`, `stsz`, `stsc` and `stco`/`co64` of `track`.
fn sample_tables(track: &Track, chunks: &[(usize, usize)], offsets: &[u64]) -> Vec<u8> {
    let samples = &track.samples;
    let mut runs: Vec<(u32, i64)> = Vec::new();
    let mut offsets_run: Vec<(u32, i64)> = Vec::new();
    for s in samples {
        for (list, value) in [(&mut runs, s.duration), (&mut offsets_run, s.cts_offset)] {
            match list.last_mut() {
                Some((count, v)) if *v == value => *count += 1,
                _ => list.push((1, value)),
            }
        }
    }
    let table = |kind: &[u8; 4], runs: &[(u32, i64)]| {
        let mut body = u32s([runs.len() as u32]);
        for &(count, value) in runs {
            body.extend_from_slice(&u32s([count, value as u32]));
        }
        full(kind, 0, &body)
    };
    let mut out = track.stsd.clone();
    out.extend(table(b"stts", &runs));
    if offsets_run.iter().any(|r| r.1 != 0) {
        out.extend(table(b"ctts", &offsets_run));
    }
    let syncs: Vec<u32> = (1..=samples.len() as u32)
        .filter(|&n| samples[n as usize - 1].sync)
        .collect();
    if track.video && syncs.len() < samples.len() {
        out.extend(full(
            b"stss",
            0,
            &[u32s([syncs.len() as u32]), u32s(syncs)].concat(),
        ));
    }
    let sizes = u32s(samples.iter().map(|s| s.bytes.len() as u32));
    out.extend(full(
        b"stsz",
        0,
        &[u32s([0, samples.len() as u32]), sizes].concat(),
    ));
    let mut stsc: Vec<[u32; 3]> = Vec::new();
    for (n, &(_, count)) in chunks.iter().enumerate() {
        if stsc.last().is_none_or(|last| last[1] != count as u32) {
            stsc.push([n as u32 + 1, count as u32, 1]);
        }
    }
    let stsc_body: Vec<u8> = [u32s([stsc.len() as u32]), u32s(stsc.concat())].concat();
    out.extend(full(b"stsc", 0, &stsc_body));
    if offsets.last().is_some_and(|&o| o > u32::MAX as u64) {
        let body: Vec<u8> = offsets.iter().flat_map(|o| o.to_be_bytes()).collect();
        out.extend(full(
            b"co64",
            0,
            &[u32s([offsets.len() as u32]), body].concat(),
        ));
    } else {
        let body = u32s(offsets.iter().map(|&o| o as u32));
        out.extend(full(
            b"stco",
            0,
            &[u32s([offsets.len() as u32]), body].concat(),
        ));
    }
    out
}

/// One track's chunks (`(first sample, count)`) and where each starts in the file.
type TrackChunks = (Vec<(usize, usize)>, Vec<u64>);

/// The `moov` of `tracks` whose media data starts at byte `data_start`.
fn moov(tracks: &[Track], order: &[(usize, usize, usize)], data_start: u64) -> Vec<u8> {
    let mut per_track: Vec<TrackChunks> = vec![Default::default(); tracks.len()];
    let mut at = data_start;
    for &(t, first, count) in order {
        per_track[t].0.push((first, count));
        per_track[t].1.push(at);
        at += tracks[t].samples[first..first + count]
            .iter()
            .map(|s| s.bytes.len() as u64)
            .sum::<u64>();
    }
    let duration = tracks
        .iter()
        .map(|t| t.edits.iter().map(|e| e.0).sum::<u64>())
        .max()
        .unwrap_or(0);
    let mut mvhd = u32s([0, 0, MOVIE_TIMESCALE as u32, duration as u32, 0x0001_0000]);
    mvhd.extend_from_slice(&[0x01, 0x00, 0, 0]);
    mvhd.extend_from_slice(&[0; 8]);
    mvhd.extend(u32s([
        0x0001_0000,
        0,
        0,
        0,
        0x0001_0000,
        0,
        0,
        0,
        0x4000_0000,
    ]));
    mvhd.extend_from_slice(&[0; 24]);
    mvhd.extend(u32s([tracks.len() as u32 + 1]));
    let mut body = full(b"mvhd", 0, &mvhd);
    for (n, (track, (chunks, offsets))) in tracks.iter().zip(&per_track).enumerate() {
        body.extend(trak(track, n as u32 + 1, chunks, offsets));
    }
    boxed(b"moov", &body)
}

/// Writes `tracks` to `output` (`ftyp`, `moov`, `mdat`); returns the bytes.
fn write_mp4(tracks: &[Track], output: &Path) -> Result<u64, JoinError> {
    let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    let order = chunk_order(tracks);
    let data_len: u64 = tracks
        .iter()
        .flat_map(|t| &t.samples)
        .map(|s| s.bytes.len() as u64)
        .sum();
    let mdat_header = 16u64;
    let probe = moov(tracks, &order, 0);
    let start = ftyp.len() as u64 + probe.len() as u64 + mdat_header;
    let moov = moov(tracks, &order, start);
    let cannot = |e: std::io::Error| JoinError(format!("cannot write {}: {e}", output.display()));
    let file = std::fs::File::create(output).map_err(cannot)?;
    let mut out = std::io::BufWriter::new(file);
    out.write_all(&ftyp).map_err(cannot)?;
    out.write_all(&moov).map_err(cannot)?;
    // A 64-bit `mdat` header, whatever the size.
    out.write_all(&1u32.to_be_bytes()).map_err(cannot)?;
    out.write_all(b"mdat").map_err(cannot)?;
    out.write_all(&(data_len + mdat_header).to_be_bytes())
        .map_err(cannot)?;
    for &(t, first, count) in &order {
        for s in &tracks[t].samples[first..first + count] {
            out.write_all(&s.bytes).map_err(cannot)?;
        }
    }
    out.flush().map_err(cannot)?;
    out.into_inner()
        .map_err(|e| cannot(e.into_error()))?
        .sync_all()
        .map_err(cannot)?;
    Ok(start + data_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Box headers with any size field (0, 1 with a 64-bit size, tiny, huge) around payloads
    /// that are themselves boxes or noise: the shapes that break a box reader.
    fn hostile_boxes() -> impl Strategy<Value = Vec<u8>> {
        let kinds = prop::sample::select(vec![
            *b"moov", *b"trak", *b"mdia", *b"minf", *b"stbl", *b"stsd", *b"hdlr", *b"avcC",
            *b"free",
        ]);
        let one = (
            kinds,
            prop::sample::select(vec![0u32, 1, 7, 8, 16, 0xffff_ffff]),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(kind, size, large, payload)| {
                let mut out = size.to_be_bytes().to_vec();
                out.extend_from_slice(&kind);
                if size == 1 {
                    out.extend_from_slice(&large.to_be_bytes());
                }
                out.extend_from_slice(&payload);
                out
            });
        prop::collection::vec(one, 0..12).prop_map(|boxes| boxes.concat())
    }

    proptest! {
        // Fuzzing of the box reader: no input panics (CI runs the default cases; set
        // PROPTEST_CASES for a longer run).
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fuzz_box_reader_never_panics(
            noise in prop::collection::vec(any::<u8>(), 0..512),
            shaped in hostile_boxes(),
        ) {
            for data in [&noise, &shaped] {
                let _ = well_formed(data, true, 0);
                let _ = boxes(data).count();
                let _ = raw_stsd(data, b"vide");
                let _ = parameter_sets(data);
            }
        }
    }

    #[test]
    fn rescaling_rounds_to_the_nearest_tick() {
        assert_eq!(rescale(1024, 12800, 90000), 7200);
        assert_eq!(rescale(-512, 12800, 1000), -40);
        assert_eq!(rescale(1, 3, 2), 1);
    }

    #[test]
    fn parameter_sets_come_out_length_prefixed() {
        // avcC: version, profile, compat, level, 4-byte lengths, 1 SPS [0x67 0x64], 1 PPS [0x68].
        let avcc = [
            1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68,
        ];
        let stsd = [b"xxxxavcC".as_slice(), &avcc].concat();
        let sets = parameter_sets(&stsd).unwrap();
        assert_eq!(sets.length_size, 4);
        assert_eq!(
            sets.in_band(),
            vec![0, 0, 0, 2, 0x67, 0x64, 0, 0, 0, 1, 0x68]
        );
        assert!(parameter_sets(b"no config here").is_err());
    }

    #[test]
    fn a_piece_that_is_not_an_mp4_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let piece = dir.path().join("head.mp4");
        std::fs::write(&piece, b"not a video").unwrap();
        let output = dir.path().join("clip.mp4.partial");
        let pieces = [JoinPiece {
            path: &piece,
            planned_s: 1.0,
        }];
        let error = join_mp4(&pieces, None, &output).unwrap_err().to_string();
        assert!(
            error.starts_with("cannot read ") && error.contains("head.mp4"),
            "{error}"
        );
        assert!(!output.exists());
    }

    #[test]
    fn chunks_interleave_by_time() {
        let sample = |dts| Sample {
            dts,
            cts_offset: 0,
            duration: 1,
            sync: true,
            bytes: vec![0],
        };
        let track = |video, timescale, n: i64, step| Track {
            video,
            timescale,
            stsd: Vec::new(),
            tkhd_matrix: [0; 9],
            width: 0,
            height: 0,
            edits: Vec::new(),
            samples: (0..n).map(|i| sample(i * step)).collect(),
        };
        // Video at 10 ticks/s, a sample each 0.1 s; audio at 100 ticks/s, each 0.25 s.
        let tracks = [track(true, 10, 10, 1), track(false, 100, 4, 25)];
        let order = chunk_order(&tracks);
        assert_eq!(order, vec![(0, 0, 5), (1, 0, 2), (0, 5, 5), (1, 2, 2)]);
    }
}
