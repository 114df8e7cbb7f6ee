//! Output validation: every clip is read back; the checks themselves are pure ([`check`]).
//!
//! An MP4 written by ffmpeg is read in-process (its `moov` box: duration, tracks, sizes, audio
//! sample rate) with the `mp4` crate, which costs microseconds instead of an ffprobe process
//! (about 60 ms of CPU, as much as a whole stream copy). Anything that crate cannot read is
//! probed with ffprobe as before.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::encode::Profile;
use crate::plan::Clip;
use crate::probe::{probe, MediaInfo};
use crate::tools::Tools;

/// The verdict on one output file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub valid: bool,
    /// Duration of the output, seconds (0 when unreadable).
    pub duration: f64,
    pub has_video: bool,
    pub has_audio: bool,
    /// Largest allowed |duration - planned| (`None` when the file could not be read).
    pub tolerance: Option<f64>,
    /// What is wrong, empty when valid.
    pub problems: Vec<Problem>,
}

/// What is wrong with an output file (its `Display` is the one-line reason reported).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    #[error("no decodable video stream")]
    NoVideo,
    #[error("audio missing (the source has audio)")]
    NoAudio,
    #[error("shows {} where the source shows {} (display rotation lost)", shape(*shown_portrait), shape(!shown_portrait))]
    RotationLost { shown_portrait: bool },
    #[error("duration {written:.3} s differs from the planned {planned:.3} s by {:.3} s (allowed {allowed:.3} s)", (written - planned).abs())]
    Duration {
        written: f64,
        planned: f64,
        allowed: f64,
    },
    /// The file could not be read at all (ffprobe's reason).
    #[error("{0}")]
    Unreadable(String),
}

fn shape(portrait: bool) -> &'static str {
    if portrait {
        "portrait"
    } else {
        "landscape"
    }
}

/// Checks a probed output against its plan: video present, audio present when the source has
/// it, and a duration within one video frame plus one audio frame of the plan. A stream copy
/// may also keep the frames the source's decoder reorders (B-frames) past its end: later frames
/// of the clip reference them, so they cannot be dropped without re-encoding.
pub fn check(output: &MediaInfo, clip: &Clip, source: &MediaInfo, profile: Profile) -> Validation {
    let mut problems = Vec::new();
    let has_video = output.width > 0 && output.height > 0;
    if !has_video {
        problems.push(Problem::NoVideo);
    }
    if source.has_audio && !output.has_audio {
        problems.push(Problem::NoAudio);
    }
    if has_video && source.width != source.height && output.is_portrait() != source.is_portrait() {
        problems.push(Problem::RotationLost {
            shown_portrait: output.is_portrait(),
        });
    }
    // One frame of the source's video, one AAC frame of the output's audio, 1 ms for container
    // timestamp rounding, and for a copy the frames decoded before they are shown: measured from
    // the packets (max pts − dts) when they were read, else the decoder's reorder depth.
    let frame = source.frame_duration();
    let reordered = match (profile.exact_cuts(), source.reorder_delay_s) {
        (true, _) => 0.0,
        (false, Some(delay)) => delay.max(0.0),
        (false, None) => f64::from(source.video_reorder_frames) * frame,
    };
    let tolerance = frame + reordered + output.audio_frame_duration() + 0.001;
    let off = (output.duration - clip.duration()).abs();
    if off > tolerance {
        problems.push(Problem::Duration {
            written: output.duration,
            planned: clip.duration(),
            allowed: tolerance,
        });
    }
    Validation {
        valid: problems.is_empty(),
        duration: output.duration,
        has_video,
        has_audio: output.has_audio,
        tolerance: Some(tolerance),
        problems,
    }
}

/// What the `moov` box of an MP4 file says, or `None` when the file cannot be read as MP4.
/// The duration is that of the longest track: for video its frame count × its usual frame
/// duration (a stream copy's last frame may carry a long timestamp gap), for audio its media
/// duration (`mdhd`).
pub fn read_mp4(path: &Path) -> Option<MediaInfo> {
    let file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mp4 = mp4::Mp4Reader::read_header(std::io::BufReader::new(file), size).ok()?;
    let mvhd = &mp4.moov.mvhd;
    if mvhd.timescale == 0 {
        return None;
    }
    let mut info = MediaInfo {
        path: path.to_owned(),
        size_bytes: size,
        ..Default::default()
    };
    for track in mp4.tracks().values() {
        let mdhd = &track.trak.mdia.mdhd;
        if mdhd.timescale == 0 {
            continue;
        }
        let timescale = f64::from(mdhd.timescale);
        let media_s = match track.track_type().ok()? {
            mp4::TrackType::Video => {
                let stts = &track.trak.mdia.minf.stbl.stts.entries;
                let usual_delta = stts
                    .iter()
                    .max_by_key(|e| e.sample_count)
                    .map_or(0, |e| e.sample_delta);
                f64::from(track.sample_count()) * f64::from(usual_delta) / timescale
            }
            // What the edit list shows (a copy's audio starts at the packet before its start;
            // the edit list skips what comes before it), else the media duration.
            _ => edited_duration(track, mvhd.timescale).unwrap_or(mdhd.duration as f64 / timescale),
        };
        info.duration = info.duration.max(media_s);
        match track.track_type().ok()? {
            mp4::TrackType::Video if info.width == 0 => {
                info.width = u32::from(track.width());
                info.height = u32::from(track.height());
                let matrix = &track.trak.tkhd.matrix;
                let degrees = f64::from(matrix.b).atan2(f64::from(matrix.a)).to_degrees();
                info.rotation = (degrees.round() as i32).rem_euclid(360);
            }
            mp4::TrackType::Audio if !info.has_audio => {
                info.has_audio = true;
                info.audio_sample_rate = track.sample_freq_index().ok().map(|f| f.freq());
            }
            _ => {}
        }
    }
    Some(info)
}

/// The seconds a track's edit list shows (its non-empty edits), when it has one.
fn edited_duration(track: &mp4::Mp4Track, movie_timescale: u32) -> Option<f64> {
    let elst = track.trak.edts.as_ref()?.elst.as_ref()?;
    let empty = |t: u64| t == u64::MAX || t == u64::from(u32::MAX);
    let shown: u64 = elst
        .entries
        .iter()
        .filter(|e| !empty(e.media_time))
        .map(|e| e.segment_duration)
        .sum();
    (shown > 0).then(|| shown as f64 / f64::from(movie_timescale))
}

/// Reads `path` back (in-process for MP4, else with ffprobe) and checks it; an unreadable file
/// is invalid with ffprobe's reason.
pub fn validate_file(
    tools: &Tools,
    path: &Path,
    clip: &Clip,
    source: &MediaInfo,
    profile: Profile,
) -> Validation {
    if let Some(output) = read_mp4(path) {
        return check(&output, clip, source, profile);
    }
    match probe(tools, path) {
        Ok(output) => check(&output, clip, source, profile),
        Err(e) => Validation {
            valid: false,
            duration: 0.0,
            has_video: false,
            has_audio: false,
            tolerance: None,
            problems: vec![Problem::Unreadable(e.to_string())],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Priority;

    fn source() -> MediaInfo {
        MediaInfo {
            duration: 600.0,
            width: 1280,
            height: 720,
            fps: 25.0,
            has_audio: true,
            audio_sample_rate: Some(48000),
            ..Default::default()
        }
    }

    const CLIP: Clip = Clip {
        number: 1,
        start: 0.0,
        end: 30.0,
        priority: Priority::High,
    };

    fn output(duration: f64, audio: bool) -> MediaInfo {
        MediaInfo {
            duration,
            has_audio: audio,
            ..source()
        }
    }

    #[test]
    fn within_a_frame_and_an_audio_frame() {
        // Tolerance: 0.04 + 1024/48000 + 0.001 = 0.062 s.
        assert!(check(&output(30.05, true), &CLIP, &source(), Profile::Optimized).valid);
        assert!(check(&output(29.95, true), &CLIP, &source(), Profile::Optimized).valid);
        let v = check(&output(30.2, true), &CLIP, &source(), Profile::Optimized);
        assert!(
            !v.valid && matches!(v.problems[..], [Problem::Duration { .. }]),
            "{v:?}"
        );
    }

    #[test]
    fn missing_audio_or_video() {
        let v = check(&output(30.0, false), &CLIP, &source(), Profile::Optimized);
        assert_eq!(v.problems, [Problem::NoAudio]);
        let no_video = MediaInfo {
            width: 0,
            height: 0,
            ..output(30.0, true)
        };
        assert!(!check(&no_video, &CLIP, &source(), Profile::Optimized).valid);
    }

    #[test]
    fn copies_may_keep_the_reordered_frames() {
        let b_frames = MediaInfo {
            video_reorder_frames: 2,
            ..source()
        };
        // Two reordered frames past the end (30.08 s) pass for a copy, not for a re-encode.
        assert!(check(&output(30.08, true), &CLIP, &b_frames, Profile::Copy).valid);
        assert!(!check(&output(30.08, true), &CLIP, &b_frames, Profile::Optimized).valid);
        // Without B-frames a copy is held to one frame like a re-encode.
        assert!(!check(&output(30.08, true), &CLIP, &source(), Profile::Copy).valid);
        let v = check(&output(31.7, true), &CLIP, &b_frames, Profile::Copy);
        assert!(!v.valid && v.tolerance.is_some());
        // A measured reorder delay (HEVC with B-pyramids: 0.2 s where ffprobe says 2 frames)
        // is what a copy keeps.
        let measured = MediaInfo {
            reorder_delay_s: Some(0.2),
            ..b_frames.clone()
        };
        assert!(check(&output(30.2, true), &CLIP, &measured, Profile::Copy).valid);
        assert!(!check(&output(30.2, true), &CLIP, &b_frames, Profile::Copy).valid);
        assert!(!check(&output(30.2, true), &CLIP, &measured, Profile::Optimized).valid);
    }

    #[test]
    fn the_display_orientation_is_kept() {
        let phone = MediaInfo {
            rotation: 90,
            ..source()
        };
        // A copy keeps the rotation; a re-encode turns the pixels (and drops the rotation).
        let copied = output(30.0, true);
        let copied = MediaInfo {
            rotation: 90,
            ..copied
        };
        let turned = MediaInfo {
            width: 720,
            height: 1280,
            ..output(30.0, true)
        };
        assert!(check(&copied, &CLIP, &phone, Profile::Copy).valid);
        assert!(check(&turned, &CLIP, &phone, Profile::Optimized).valid);
        let lost = check(&output(30.0, true), &CLIP, &phone, Profile::Optimized);
        assert!(!lost.valid);
        assert_eq!(
            lost.problems,
            [Problem::RotationLost {
                shown_portrait: false
            }]
        );
        assert_eq!(
            lost.problems[0].to_string(),
            "shows landscape where the source shows portrait (display rotation lost)"
        );
    }
}
