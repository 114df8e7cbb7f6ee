//! The strict-decoder check: a clip must decode from the parameter sets of its sample entries
//! alone, as QuickTime, Safari and iOS decode an MP4 (they build the decoder from the
//! `avcC`/`hvcC` and take in-band parameter sets that contradict it badly). A copy of the clip
//! has every in-band parameter set turned into a filler-data NAL unit of the same size, so
//! that every size, offset and sample entry stays; it must decode with `-xerror` into the same
//! frames as the clip as written.

use std::path::Path;
use std::process::Command;

/// The boxes directly inside `data[start..end]`: `(type, payload start, end)`, up to the first
/// that does not fit.
fn boxes(data: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut found = Vec::new();
    let mut pos = start;
    while pos + 8 <= end {
        let word = |at: usize| u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        let (size, header) = match word(pos) {
            0 => (end - pos, 8),
            1 => (word(pos + 8) << 32 | word(pos + 12), 16),
            n => (n, 8),
        };
        if size < header || pos + size > end {
            break; // not a box tree (another container): nothing more to find
        }
        found.push((kind, pos + header, pos + size));
        pos += size;
    }
    found
}

fn child(data: &[u8], (start, end): (usize, usize), kind: &[u8; 4]) -> Option<(usize, usize)> {
    boxes(data, start, end)
        .into_iter()
        .find(|b| &b.0 == kind)
        .map(|b| (b.1, b.2))
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

/// The `stsd` of the video track: `(payload start, end)`, and the `stbl` around it.
fn video_tables(data: &[u8]) -> Option<((usize, usize), (usize, usize))> {
    let moov = child(data, (0, data.len()), b"moov")?;
    let stbl = boxes(data, moov.0, moov.1)
        .into_iter()
        .find_map(|(kind, s, e)| {
            let mdia = child(data, (s, e), b"mdia").filter(|_| &kind == b"trak")?;
            let hdlr = child(data, mdia, b"hdlr")?;
            (&data[hdlr.0 + 8..hdlr.0 + 12] == b"vide")
                .then(|| child(data, child(data, mdia, b"minf")?, b"stbl"))?
        })?;
    Some((child(data, stbl, b"stsd")?, stbl))
}

/// The codes (`avc1`, `hvc1`, …) of the video track's sample entries, in order.
pub fn sample_entries(clip: &Path) -> Vec<String> {
    let data = std::fs::read(clip).unwrap();
    let Some((stsd, _)) = video_tables(&data) else {
        return Vec::new();
    };
    // A full box: version and flags, the entry count, then the entries.
    (boxes(&data, stsd.0 + 8, stsd.1).into_iter())
        .map(|(kind, _, _)| String::from_utf8_lossy(&kind).into_owned())
        .collect()
}

/// A video track's samples as the sample tables place them.
struct VideoSamples {
    hevc: bool,
    length_size: usize,
    /// Each sample's first byte in the file and its length.
    spans: Vec<(usize, usize)>,
}

/// Where each sample of the video track's sample table starts and how long it is, with its
/// codec and NAL length size; `None` for a track that is not H.264 or HEVC.
fn video_samples(data: &[u8]) -> Option<VideoSamples> {
    let (stsd, stbl) = video_tables(data)?;
    let entries = &data[stsd.0..stsd.1];
    let find = |name: &[u8]| entries.windows(4).position(|w| w == name).map(|at| at + 4);
    // Every entry of one track has the same codec and NAL length size (the joiner's pieces
    // are one codec): the first record tells.
    let (hevc, length_size) = match (find(b"avcC"), find(b"hvcC")) {
        (Some(at), _) => (false, (entries[at + 4] & 3) as usize + 1),
        (None, Some(at)) => (true, (entries[at + 21] & 3) as usize + 1),
        (None, None) => return None,
    };
    let stsz = child(data, stbl, b"stsz")?;
    let (fixed, count) = (u32_at(data, stsz.0 + 4), u32_at(data, stsz.0 + 8) as usize);
    let sizes: Vec<usize> = (0..count)
        .map(|n| match fixed {
            0 => u32_at(data, stsz.0 + 12 + 4 * n) as usize,
            size => size as usize,
        })
        .collect();
    let (offsets, wide) = match child(data, stbl, b"stco") {
        Some(stco) => (stco, false),
        None => (child(data, stbl, b"co64")?, true),
    };
    let chunks = u32_at(data, offsets.0 + 4) as usize;
    let chunk_offsets: Vec<usize> = (0..chunks)
        .map(|n| match wide {
            false => u32_at(data, offsets.0 + 8 + 4 * n) as usize,
            true => {
                (u32_at(data, offsets.0 + 8 + 8 * n) as usize) << 32
                    | u32_at(data, offsets.0 + 12 + 8 * n) as usize
            }
        })
        .collect();
    let stsc = child(data, stbl, b"stsc")?;
    let runs: Vec<(usize, usize)> = (0..u32_at(data, stsc.0 + 4) as usize)
        .map(|n| {
            let at = stsc.0 + 8 + 12 * n;
            (u32_at(data, at) as usize, u32_at(data, at + 4) as usize)
        })
        .collect();
    let mut samples = Vec::with_capacity(count);
    for (chunk, &offset) in chunk_offsets.iter().enumerate() {
        let per_chunk = runs.iter().rev().find(|r| r.0 <= chunk + 1)?.1;
        let mut at = offset;
        for _ in 0..per_chunk {
            let size = *sizes.get(samples.len())?;
            samples.push((at, size));
            at += size;
        }
    }
    Some(VideoSamples {
        hevc,
        length_size,
        spans: samples,
    })
}

/// Writes `clip` to `blanked` with each in-band parameter set (H.264 SPS and PPS; HEVC VPS,
/// SPS and PPS) turned into a filler-data NAL unit of the same size; returns how many.
pub fn blank_parameter_sets(clip: &Path, blanked: &Path) -> usize {
    let mut data = std::fs::read(clip).unwrap();
    let mut count = 0;
    if let Some(VideoSamples {
        hevc,
        length_size,
        spans,
    }) = video_samples(&data)
    {
        for (start, size) in spans {
            let mut at = start;
            while at + length_size <= start + size {
                let length =
                    (data[at..at + length_size].iter()).fold(0, |n, b| n << 8 | *b as usize);
                let header = at + length_size;
                let end = header + length;
                assert!(
                    end <= start + size && length >= 2,
                    "a NAL unit past its sample"
                );
                let nal_type = match hevc {
                    true => (data[header] >> 1) & 0x3f,
                    false => data[header] & 0x1f,
                };
                let parameter_set = match hevc {
                    true => (32..=34).contains(&nal_type),
                    false => (7..=8).contains(&nal_type),
                };
                if parameter_set {
                    // Filler data: its header (H.264 type 12; HEVC type 38, layer 0,
                    // temporal id 0), 0xff bytes, the RBSP stop bit.
                    let body = match hevc {
                        true => {
                            data[header..header + 2].copy_from_slice(&[38 << 1, 1]);
                            header + 2
                        }
                        false => {
                            data[header] = 12;
                            header + 1
                        }
                    };
                    data[body..end].fill(0xff);
                    data[end - 1] = 0x80;
                    count += 1;
                }
                at = end;
            }
        }
    }
    std::fs::write(blanked, data).unwrap();
    count
}

/// The video's frames (`framemd5` lines without the header) decoded with `-xerror`, or what
/// ffmpeg said. Lines of ffmpeg's demuxer-side parser (`[NULL @ …]`: it has no context of its
/// own) do not count: it reads slice headers with the first sample entry's parameter sets
/// only, and says so even for a stream copy, which decodes nothing.
fn frames(path: &Path) -> Result<Vec<String>, String> {
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&decode.stderr);
    let errors: Vec<&str> = (said.lines())
        .filter(|l| !l.trim().is_empty() && !l.starts_with("[NULL @"))
        .collect();
    if !decode.status.success() || !errors.is_empty() {
        return Err(errors.join(" | "));
    }
    let lines = String::from_utf8_lossy(&decode.stdout);
    Ok(lines
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// Whether `clip` decodes from its sample entries alone into the frames it decodes to as
/// written; the reason when not.
pub fn strict_decode(clip: &Path) -> Result<(), String> {
    let written = frames(clip).map_err(|e| format!("as written: {e}"))?;
    let dir = tempfile::tempdir().unwrap();
    let blanked = dir.path().join("blanked.mp4");
    let count = blank_parameter_sets(clip, &blanked);
    if count == 0 {
        return Ok(());
    }
    let strict = frames(&blanked)
        .map_err(|e| format!("with its {count} in-band parameter sets blanked: {e}"))?;
    if strict != written {
        let differ = written.iter().zip(&strict).filter(|(a, b)| a != b).count();
        return Err(format!(
            "with its {count} in-band parameter sets blanked: {differ} of {} frames differ ({} decoded)",
            written.len(),
            strict.len()
        ));
    }
    Ok(())
}

/// Writes `clip` to `shared` with every chunk of its video pointed at the first sample entry
/// (`stsc`'s description index set to 1, in place): the one-entry shape of a join whose pieces'
/// parameter sets only travel in-band.
pub fn one_sample_entry(clip: &Path, shared: &Path) {
    let mut data = std::fs::read(clip).unwrap();
    let moov = child(&data, (0, data.len()), b"moov").unwrap();
    let tracks: Vec<(usize, usize)> = (boxes(&data, moov.0, moov.1).into_iter())
        .filter(|b| &b.0 == b"trak")
        .map(|b| (b.1, b.2))
        .collect();
    for trak in tracks {
        let mdia = child(&data, trak, b"mdia").unwrap();
        let stbl = child(&data, child(&data, mdia, b"minf").unwrap(), b"stbl").unwrap();
        let stsc = child(&data, stbl, b"stsc").unwrap();
        for n in 0..u32_at(&data, stsc.0 + 4) as usize {
            let at = stsc.0 + 8 + 12 * n + 8;
            data[at..at + 4].copy_from_slice(&1u32.to_be_bytes());
        }
    }
    std::fs::write(shared, data).unwrap();
}
