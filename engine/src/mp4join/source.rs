//! A smart cut's copied frames read straight from the source: its index read once per run,
//! each copy's samples read from their places in the file. No ffmpeg writes the copy, and no
//! copy is written to disk and read back.
//!
//! Only a source whose first video track has one `avc1` or `hvc1` sample entry is read so
//! (the entry a clip's copy keeps); any other (`hev1`, `avc3`, several entries, Matroska,
//! a fragmented MP4, an edit list that cuts) is copied by ffmpeg into a piece instead.

use std::fs::File;
use std::io::Cursor;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use mp4::{BoxHeader, MoovBox, ReadBox};

use super::read::{sample_entries, Read};
use super::{fail, JoinError, TrackSample, MAX_TICKS};
use crate::index::{Sample, Tables, MAX_INDEX_BYTES};
use crate::mp4box::well_formed;

/// Largest sample read from a source (a 4K keyframe is a few MiB).
const MAX_SAMPLE_BYTES: u64 = 64 * 1024 * 1024;
/// Most video samples a source read so may list (18 hours at 60 fps): its table is kept for
/// the run.
const MAX_VIDEO_SAMPLES: u64 = 4_000_000;
/// Top-level boxes looked at before the index (an MP4 has a handful).
const MAX_TOP_BOXES: usize = 1024;
/// Within this many seconds a sample is shown at a planned keyframe (times are printed to
/// the microsecond).
const SAME_TIME_S: f64 = 1e-3;

/// The source's first video track, as its index lists it.
#[derive(Debug)]
pub struct SourceVideo {
    path: PathBuf,
    file_len: u64,
    timescale: u32,
    entry: Vec<u8>,
    matrix: [i32; 9],
    width: u32,
    height: u32,
    samples: Vec<Sample>,
}

/// The samples of one copy: the source's samples `first..end` in decoding order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CopiedSamples {
    first: usize,
    end: usize,
}

impl CopiedSamples {
    /// How many frames the copy holds.
    pub fn frames(&self) -> usize {
        self.end - self.first
    }
}

impl SourceVideo {
    /// Reads the index of the MP4 at `path`. `Err` (one line) when its copies are to be made
    /// by ffmpeg instead: not an MP4 this reads, or a video sample entry other than one
    /// `avc1` or `hvc1`.
    pub fn read(path: &Path) -> Result<SourceVideo, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let file_len = file.metadata().map_err(|e| e.to_string())?.len();
        let moov = read_moov(&file, file_len)?;
        if !well_formed(&moov, true, 0) {
            return Err("its index's boxes do not nest".into());
        }
        let mut cursor = Cursor::new(&moov[..]);
        let header = BoxHeader::read(&mut cursor).map_err(|e| e.to_string())?;
        let moov_box = MoovBox::read_box(&mut cursor, header.size).map_err(|e| e.to_string())?;
        let n = (moov_box.traks.iter())
            .position(|t| &t.mdia.hdlr.handler_type.value == b"vide")
            .ok_or("no video track")?;
        let entry = match sample_entries(&moov, b"vide").as_deref() {
            Some([entry]) if matches!(entry.get(4..8), Some(b"avc1" | b"hvc1")) => entry.clone(),
            Some([entry]) => {
                let kind = String::from_utf8_lossy(entry.get(4..8).unwrap_or_default());
                return Err(format!("a video sample entry {kind:?}"));
            }
            _ => return Err("not one video sample entry".into()),
        };
        let tables = Tables::of(&moov_box, n)?;
        if tables.count > MAX_VIDEO_SAMPLES {
            return Err(format!("{} video samples", tables.count));
        }
        let timescale = u32::try_from(tables.timescale).map_err(|e| e.to_string())?;
        let movie_timescale = u64::from(moov_box.mvhd.timescale.max(1));
        let samples = tables.samples(movie_timescale)?;
        let tkhd = &moov_box.traks[n].tkhd;
        let m = &tkhd.matrix;
        Ok(SourceVideo {
            path: path.to_owned(),
            file_len,
            timescale,
            entry,
            matrix: [m.a, m.b, m.u, m.c, m.d, m.v, m.x, m.y, m.w],
            width: tkhd.width.raw_value(),
            height: tkhd.height.raw_value(),
            samples,
        })
    }

    /// The copy that starts at the keyframe shown at `from_s` and holds every sample decoded
    /// before `decode_end_s` (to the end of the video when `None`), seconds on the file's
    /// timeline.
    pub fn copy(&self, from_s: f64, decode_end_s: Option<f64>) -> Result<CopiedSamples, JoinError> {
        let first = (self.samples.iter())
            .position(|s| s.key && (s.pts - from_s).abs() < SAME_TIME_S)
            .ok_or_else(|| JoinError(format!("no keyframe at {from_s:.3} s in the source")))?;
        let end = match decode_end_s {
            Some(end_s) => {
                let after =
                    (self.samples[first..].iter()).position(|s| s.dts >= end_s - SAME_TIME_S);
                first + after.unwrap_or(self.samples.len() - first)
            }
            None => self.samples.len(),
        };
        if end <= first {
            return fail(format!("no frames to copy from {from_s:.3} s"));
        }
        Ok(CopiedSamples { first, end })
    }

    /// The copy's samples, read from the file, as a piece.
    pub(super) fn read_copy(&self, copy: CopiedSamples) -> Result<Read, JoinError> {
        let cannot = |e: &dyn std::fmt::Display| {
            JoinError(format!(
                "cannot read the copy from {}: {e}",
                self.path.display()
            ))
        };
        let file = File::open(&self.path).map_err(|e| cannot(&e))?;
        let chosen = self.samples.get(copy.first..copy.end).unwrap_or_default();
        let mut samples = Vec::with_capacity(chosen.len());
        for s in chosen {
            let size = s.end.saturating_sub(s.start);
            if size > MAX_SAMPLE_BYTES || s.end > self.file_len {
                return fail(format!(
                    "a sample of {size} bytes at byte {} of {}",
                    s.start,
                    self.path.display()
                ));
            }
            if s.dts_ticks as u64 > MAX_TICKS || s.cts_offset.unsigned_abs() > MAX_TICKS {
                return Err(cannot(&"a sample with an implausible time"));
            }
            let mut bytes = vec![0; size as usize];
            file.read_exact_at(&mut bytes, s.start)
                .map_err(|e| cannot(&e))?;
            samples.push(TrackSample {
                dts: s.dts_ticks,
                cts_offset: s.cts_offset,
                duration: s.duration,
                sync: s.key,
                bytes,
                entry: 0,
            });
        }
        Ok(Read {
            timescale: self.timescale,
            entry: self.entry.clone(),
            matrix: self.matrix,
            width: self.width,
            height: self.height,
            movie_timescale: super::MOVIE_TIMESCALE as u32,
            edits: Vec::new(),
            samples,
        })
    }
}

/// The `moov` box of the MP4 `file` (header included), found among its top-level boxes.
fn read_moov(file: &File, file_len: u64) -> Result<Vec<u8>, String> {
    let mut pos = 0u64;
    for _ in 0..MAX_TOP_BOXES {
        let mut header = [0u8; 16];
        let got = file.read_at(&mut header, pos).map_err(|e| e.to_string())?;
        if got < 8 {
            break;
        }
        let size = match u32::from_be_bytes([header[0], header[1], header[2], header[3]]) {
            0 => file_len - pos,
            1 if got == 16 => u64::from_be_bytes(header[8..16].try_into().unwrap_or_default()),
            1 => return Err("a box header cut short".into()),
            n => u64::from(n),
        };
        if size < 8 || pos.saturating_add(size) > file_len {
            return Err(match pos {
                0 => "not an MP4 file".into(),
                _ => "a top-level box with an impossible size".into(),
            });
        }
        if &header[4..8] == b"moov" {
            if size > MAX_INDEX_BYTES {
                return Err(format!("an index of {size} bytes"));
            }
            let mut moov = vec![0; size as usize];
            file.read_exact_at(&mut moov, pos)
                .map_err(|e| e.to_string())?;
            return Ok(moov);
        }
        pos += size;
    }
    Err("no index (moov) at the top of the file".into())
}
