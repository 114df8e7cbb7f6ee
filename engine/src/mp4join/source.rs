//! A smart cut's copied frames and audio read straight from the source: its index read once
//! per run, each clip's samples read from their places in the file. No ffmpeg writes them,
//! and nothing is written to disk and read back.
//!
//! Only a source whose first video track has one `avc1` or `hvc1` sample entry is read so
//! (the entry a clip's copy keeps); any other (`hev1`, `avc3`, several entries, Matroska,
//! a fragmented MP4, an edit list that cuts) has its copies written by ffmpeg as pieces. Its
//! audio is read so when its first audio track has one entry; else ffmpeg writes it too.

use std::fs::File;
use std::io::Cursor;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use mp4::{BoxHeader, MoovBox, ReadBox};

use super::read::{sample_entries, Read};
use super::{fail, JoinError, TrackSample, MAX_TICKS, MOVIE_TIMESCALE};
use crate::index::{Sample, Tables, MAX_INDEX_BYTES};
use crate::mp4box::well_formed;

/// Largest sample read from a source (a 4K keyframe is a few MiB).
const MAX_SAMPLE_BYTES: u64 = 64 * 1024 * 1024;
/// Most samples a track read so may list (18 hours of video at 60 fps, 6 hours of 48 kHz
/// AAC): its table is kept for the run.
const MAX_TRACK_SAMPLES: u64 = 4_000_000;
/// Top-level boxes looked at before the index (an MP4 has a handful).
const MAX_TOP_BOXES: usize = 1024;
/// Within this many seconds a sample is shown at a planned time (times are printed to the
/// microsecond).
const SAME_TIME_S: f64 = 1e-3;
/// Audio frames read before a clip's start, shown to no one (the edit list skips them): an
/// AAC frame decodes whole only after the one before it (its transform overlaps it).
const AUDIO_PREROLL_FRAMES: usize = 2;

/// The source's first video track, and its first audio track, as its index lists them.
#[derive(Debug)]
pub struct CopySource {
    path: PathBuf,
    video: SourceTrack,
    audio: Option<SourceTrack>,
}

/// One track of the source.
#[derive(Debug)]
struct SourceTrack {
    timescale: u32,
    entry: Vec<u8>,
    matrix: [i32; 9],
    width: u32,
    height: u32,
    samples: Vec<Sample>,
}

/// Which samples of one track a clip holds: the source's samples `first..end` in decoding
/// order, the first `skip` ticks of them not shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CopiedSamples {
    first: usize,
    end: usize,
    skip: i64,
    /// Seconds shown (an audio copy: its edit list's length).
    shown_s: f64,
}

impl CopiedSamples {
    /// How many samples (video: frames) the copy holds.
    pub fn frames(&self) -> usize {
        self.end - self.first
    }

    /// Seconds of audio it shows.
    pub fn shown_s(&self) -> f64 {
        self.shown_s
    }
}

impl CopySource {
    /// Reads the index of the MP4 at `path`. `Err` (one line) when its copies are to be made
    /// by ffmpeg instead: not an MP4 this reads, or a video sample entry other than one
    /// `avc1` or `hvc1`. A source whose audio cannot be read so has `None` for it.
    pub fn read(path: &Path) -> Result<CopySource, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let file_len = file.metadata().map_err(|e| e.to_string())?.len();
        let moov = read_moov(&file, file_len)?;
        if !well_formed(&moov, true, 0) {
            return Err("its index's boxes do not nest".into());
        }
        let mut cursor = Cursor::new(&moov[..]);
        let header = BoxHeader::read(&mut cursor).map_err(|e| e.to_string())?;
        let moov_box = MoovBox::read_box(&mut cursor, header.size).map_err(|e| e.to_string())?;
        let video = SourceTrack::read(&moov, &moov_box, b"vide")?.ok_or("no video track")?;
        match video.entry.get(4..8) {
            Some(b"avc1" | b"hvc1") => {}
            kind => {
                let kind = String::from_utf8_lossy(kind.unwrap_or_default());
                return Err(format!("a video sample entry {kind:?}"));
            }
        }
        let audio = SourceTrack::read(&moov, &moov_box, b"soun")
            .inspect_err(|why| tracing::debug!("audio written by ffmpeg: the source has {why}"))
            .ok()
            .flatten();
        Ok(CopySource {
            path: path.to_owned(),
            video,
            audio,
        })
    }

    /// Whether the source's audio is read from it.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// The video copy that starts at the keyframe shown at `from_s` and holds every sample
    /// decoded before `decode_end_s` (to the end of the video when `None`), seconds on the
    /// file's timeline.
    pub fn copy(&self, from_s: f64, decode_end_s: Option<f64>) -> Result<CopiedSamples, JoinError> {
        let samples = &self.video.samples;
        let first = (samples.iter())
            .position(|s| s.key && (s.pts - from_s).abs() < SAME_TIME_S)
            .ok_or_else(|| JoinError(format!("no keyframe at {from_s:.3} s in the source")))?;
        let end = match decode_end_s {
            Some(end_s) => {
                let after = (samples[first..].iter()).position(|s| s.dts >= end_s - SAME_TIME_S);
                first + after.unwrap_or(samples.len() - first)
            }
            None => samples.len(),
        };
        if end <= first {
            return fail(format!("no frames to copy from {from_s:.3} s"));
        }
        Ok(CopiedSamples {
            first,
            end,
            skip: 0,
            shown_s: 0.0,
        })
    }

    /// The audio shown from `start_s` to `end_s` (seconds on the file's timeline): the frames
    /// that cover it and `AUDIO_PREROLL_FRAMES` before, the time before `start_s` skipped.
    pub fn audio(&self, start_s: f64, end_s: f64) -> Result<CopiedSamples, JoinError> {
        let Some(audio) = &self.audio else {
            return fail("the source's audio is not read from it");
        };
        let samples = &audio.samples;
        let covering = samples.partition_point(|s| s.pts <= start_s + SAME_TIME_S);
        let Some(at_start) = covering.checked_sub(1) else {
            return fail(format!("no audio at {start_s:.3} s in the source"));
        };
        let first = at_start.saturating_sub(AUDIO_PREROLL_FRAMES);
        let end = samples.partition_point(|s| s.pts < end_s - SAME_TIME_S);
        let last = &samples[end.max(at_start + 1) - 1];
        let ends_s = (last.pts + last.duration as f64 / f64::from(audio.timescale)).min(end_s);
        let skip_s = start_s - samples[first].pts;
        Ok(CopiedSamples {
            first,
            end: end.max(at_start + 1),
            skip: (skip_s * f64::from(audio.timescale)).round() as i64,
            shown_s: (ends_s - start_s).max(0.0),
        })
    }

    /// The video copy's samples, read from the file, as a piece.
    pub(super) fn read_copy(&self, copy: CopiedSamples) -> Result<Read, JoinError> {
        self.read_samples(&self.video, copy, Vec::new())
    }

    /// The audio's samples, read from the file, as the clip's audio track.
    pub(super) fn read_audio(&self, copy: CopiedSamples) -> Result<Read, JoinError> {
        let Some(audio) = &self.audio else {
            return fail("the source's audio is not read from it");
        };
        let shown = (copy.shown_s * MOVIE_TIMESCALE as f64).round() as u64;
        self.read_samples(audio, copy, vec![(shown, copy.skip)])
    }

    /// `copy`'s samples of `track`, their decoding times from 0, with `edits`.
    fn read_samples(
        &self,
        track: &SourceTrack,
        copy: CopiedSamples,
        edits: Vec<(u64, i64)>,
    ) -> Result<Read, JoinError> {
        let cannot = |e: &dyn std::fmt::Display| {
            JoinError(format!("cannot read {}: {e}", self.path.display()))
        };
        let file = File::open(&self.path).map_err(|e| cannot(&e))?;
        let chosen = track.samples.get(copy.first..copy.end).unwrap_or_default();
        let origin = chosen.first().map_or(0, |s| s.dts_ticks);
        let mut samples = Vec::with_capacity(chosen.len());
        for s in chosen {
            let size = s.end.saturating_sub(s.start);
            // A sample past the file's end fails to read (a file still arriving grows: its
            // length when the run began says nothing).
            if size > MAX_SAMPLE_BYTES {
                return Err(cannot(&format!("a sample of {size} bytes at {}", s.start)));
            }
            let dts = s.dts_ticks - origin;
            if dts as u64 > MAX_TICKS || s.cts_offset.unsigned_abs() > MAX_TICKS {
                return Err(cannot(&"a sample with an implausible time"));
            }
            let mut bytes = vec![0; size as usize];
            file.read_exact_at(&mut bytes, s.start)
                .map_err(|e| cannot(&e))?;
            samples.push(TrackSample {
                dts,
                cts_offset: s.cts_offset,
                duration: s.duration,
                sync: s.key,
                bytes,
                entry: 0,
            });
        }
        Ok(Read {
            timescale: track.timescale,
            entry: track.entry.clone(),
            matrix: track.matrix,
            width: track.width,
            height: track.height,
            movie_timescale: MOVIE_TIMESCALE as u32,
            edits,
            samples,
        })
    }
}

impl SourceTrack {
    /// The first track with `handler` (`vide`, `soun`) of `moov` (its bytes and its boxes),
    /// when it has one sample entry.
    fn read(moov: &[u8], moov_box: &MoovBox, handler: &[u8; 4]) -> Result<Option<Self>, String> {
        let Some(n) =
            (moov_box.traks.iter()).position(|t| &t.mdia.hdlr.handler_type.value == handler)
        else {
            return Ok(None);
        };
        let entry = match sample_entries(moov, handler).as_deref() {
            Some([entry]) => entry.clone(),
            _ => return Err("not one sample entry in a track".into()),
        };
        let tables = Tables::of(moov_box, n)?;
        if tables.count > MAX_TRACK_SAMPLES {
            return Err(format!("a track of {} samples", tables.count));
        }
        let timescale = u32::try_from(tables.timescale).map_err(|e| e.to_string())?;
        let movie_timescale = u64::from(moov_box.mvhd.timescale.max(1));
        let samples = tables.samples(movie_timescale)?;
        let tkhd = &moov_box.traks[n].tkhd;
        let m = &tkhd.matrix;
        Ok(Some(SourceTrack {
            timescale,
            entry,
            matrix: [m.a, m.b, m.u, m.c, m.d, m.v, m.x, m.y, m.w],
            width: tkhd.width.raw_value(),
            height: tkhd.height.raw_value(),
            samples,
        }))
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
