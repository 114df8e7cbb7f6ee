//! Writing the joined tracks as an MP4: `ftyp`, `moov` (its sample tables built from the
//! tracks), then the samples interleaved in chunks.

use std::io::Write;
use std::path::Path;

use super::{JoinError, Track, CHUNK_S, MOVIE_TIMESCALE};

/// A box of `kind` around `payload`.
pub(super) fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
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
/// of at most [`CHUNK_S`] interleaved by time; a chunk's samples share one sample entry.
pub(super) fn chunk_order(tracks: &[Track]) -> Vec<(usize, usize, usize)> {
    let mut chunks = Vec::new();
    for (t, track) in tracks.iter().enumerate() {
        let limit = (CHUNK_S * track.timescale as f64) as i64;
        let mut first = 0;
        for i in 1..=track.samples.len() {
            let ends = i == track.samples.len()
                || track.samples[i].dts - track.samples[first].dts >= limit
                || track.samples[i].entry != track.samples[first].entry;
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
pub(super) fn sample_tables(track: &Track, chunks: &[(usize, usize)], offsets: &[u64]) -> Vec<u8> {
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
    let mut stsd = u32s([track.entries.len() as u32]);
    stsd.extend(track.entries.concat());
    let mut out = full(b"stsd", 0, &stsd);
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
    // Runs of chunks of one size and one sample entry (numbered from 1).
    let mut stsc: Vec<[u32; 3]> = Vec::new();
    for (n, &(first, count)) in chunks.iter().enumerate() {
        let entry = samples[first].entry as u32 + 1;
        if stsc
            .last()
            .is_none_or(|last| last[1..] != [count as u32, entry])
        {
            stsc.push([n as u32 + 1, count as u32, entry]);
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
pub(super) fn write_mp4(tracks: &[Track], output: &Path) -> Result<u64, JoinError> {
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
