//! Smart cut (pure): each clip is re-encoded only where a stream copy cannot cut it exactly —
//! from its start to the first keyframe at or after it (the *head*), and, when no clean cut
//! point lies within a frame of its end, the few frames after the last one (the *foot*) — and
//! stream-copied in between. A copy stops at its cut point's decoding time, so it holds
//! exactly the frames shown before that point ([`crate::probe::CutPoint`]); the pieces are
//! joined by the concat demuxer, which carries each piece's parameter sets in-band.
//!
//! The heads and feet are encoded with the source's codec (libx264 for H.264, libx265 for
//! HEVC) at its profile, level, tier, pixel format and reordering depth ([`HeadEncoder`]), so
//! the copied frames and the re-encoded ones form one stream any decoder of that codec plays.
//! An HEVC copy that opens on an open GOP's keyframe is joined as a broken link
//! ([`crate::mp4join`]); H.264 open GOPs are not smart-cut. What a source must offer is checked by
//! [`smart_problem`]; a file that does not is re-encoded whole (see [`crate::adapt`]).

use crate::plan::Clip;
use crate::probe::MediaInfo;

/// Within this many seconds a clip boundary is on a keyframe.
const ON_KEYFRAME_S: f64 = 1e-3;

/// A re-encoded piece: `frames` frames from `start` (its first frame) to `end`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Encoded {
    pub start: f64,
    pub end: f64,
    pub frames: u64,
}

/// The stream-copied piece: from the keyframe at `start` to `end`, a cut point whose decoding
/// time is `decode_end`, or the end of the video (`decode_end` is `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Copied {
    pub start: f64,
    pub end: f64,
    pub decode_end: Option<f64>,
}

/// How one clip is made: its pieces in order (at least one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmartCut {
    pub head: Option<Encoded>,
    pub copy: Option<Copied>,
    pub foot: Option<Encoded>,
}

/// Which piece of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    Head,
    Copy,
    Foot,
}

impl Piece {
    /// The piece's name in file names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Piece::Head => "head",
            Piece::Copy => "copy",
            Piece::Foot => "foot",
        }
    }
}

impl SmartCut {
    /// Whether the clip is one stream copy (it starts on a keyframe and ends on one or at the
    /// end of the video): one ffmpeg writes it whole.
    pub fn is_pure_copy(&self) -> bool {
        self.head.is_none() && self.foot.is_none() && self.copy.is_some()
    }

    /// Seconds re-encoded.
    pub fn encoded_s(&self) -> f64 {
        [self.head, self.foot]
            .iter()
            .flatten()
            .map(|p| p.end - p.start)
            .sum()
    }

    /// The pieces in order, with their start and end.
    pub fn pieces(&self) -> Vec<(Piece, f64, f64)> {
        let mut pieces = Vec::new();
        if let Some(h) = self.head {
            pieces.push((Piece::Head, h.start, h.end));
        }
        if let Some(c) = self.copy {
            pieces.push((Piece::Copy, c.start, c.end));
        }
        if let Some(f) = self.foot {
            pieces.push((Piece::Foot, f.start, f.end));
        }
        pieces
    }
}

/// Splits `clip` of `media` (keyframes and cut points listed) into its head, copy and foot.
/// The copy ends at the cut point nearest the clip's end when that is within one frame of it
/// (no foot), else at the last cut point before it, with the few frames after re-encoded.
/// Without a usable keyframe inside the clip the whole clip is one re-encoded head.
pub fn split(clip: &Clip, media: &MediaInfo) -> SmartCut {
    let (s, e) = (clip.start, clip.end);
    let fps = if media.fps > 0.0 { media.fps } else { 25.0 };
    let frame = 1.0 / fps;
    // Frames sit on the keyframes' grid: a head holds those before its keyframe from `s` on,
    // a foot those from its cut point to before `e`.
    let frames = |seconds: f64, count: fn(f64) -> f64| count(seconds * fps).max(1.0) as u64;
    let whole = {
        let n = frames(e - s, f64::round);
        SmartCut {
            head: Some(Encoded {
                start: s,
                end: s + n as f64 * frame,
                frames: n,
            }),
            copy: None,
            foot: None,
        }
    };
    let keyframes = media.keyframes.as_deref().unwrap_or_default();
    let Some(&k1) = keyframes
        .iter()
        .find(|k| **k >= s - ON_KEYFRAME_S && **k < e - ON_KEYFRAME_S)
    else {
        return whole;
    };
    // The frames shown from `s` on before the keyframe; none when it comes less than a frame
    // after `s` (the video starts late on the timeline): then the copy opens the clip.
    let before = ((k1 - s) * fps + 1e-3).floor().max(0.0) as u64;
    let head = (before > 0).then_some(Encoded {
        start: k1 - before as f64 * frame,
        end: k1,
        frames: before,
    });
    let copy = |end: f64, decode_end| Copied {
        start: k1,
        end,
        decode_end,
    };
    if e >= media.duration - ON_KEYFRAME_S {
        return SmartCut {
            head,
            copy: Some(copy(e, None)),
            foot: None,
        };
    }
    let points = media.cut_points.as_deref().unwrap_or_default();
    let after_start = || points.iter().filter(|p| p.shown_from > k1 + ON_KEYFRAME_S);
    let nearest = after_start().min_by(|a, b| {
        (a.shown_from - e)
            .abs()
            .total_cmp(&(b.shown_from - e).abs())
    });
    if let Some(p) = nearest.filter(|p| (p.shown_from - e).abs() <= frame + ON_KEYFRAME_S) {
        return SmartCut {
            head,
            copy: Some(copy(p.shown_from, Some(p.decode_time))),
            foot: None,
        };
    }
    let Some(last) = after_start()
        .rev()
        .find(|p| p.shown_from <= e + ON_KEYFRAME_S)
    else {
        return whole;
    };
    let n = frames(e - last.shown_from, |f| (f - 1e-3).ceil());
    let foot = Encoded {
        start: last.shown_from,
        end: last.shown_from + n as f64 * frame,
        frames: n,
    };
    SmartCut {
        head,
        copy: Some(copy(last.shown_from, Some(last.decode_time))),
        foot: Some(foot),
    }
}

/// Which encoder writes a source's heads and feet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadCodec {
    /// libx264, for H.264 sources.
    X264,
    /// libx265, for HEVC sources.
    X265,
}

/// How heads and feet are encoded so that they join the copied frames: the source's codec
/// at its profile, level (and HEVC tier), chroma and bit depth (`pix_fmt`), with the B-frame
/// setting that gives the source's reordering depth (and so the same decoding delay on both
/// sides of a join), closed GOPs.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadEncoder {
    pub codec: HeadCodec,
    /// The encoder's profile name (x264: `baseline`, `main`, `high`; x265: `main`, `main10`).
    pub profile: &'static str,
    /// The level as the encoder takes it (`3.1`), when the source names one.
    pub level: Option<String>,
    /// HEVC's high tier (false for H.264).
    pub high_tier: bool,
    /// The pixel format encoded (4:2:0, 8 or 10 bits).
    pub pix_fmt: &'static str,
    pub bframes: u32,
    /// B-frames used as references (a reordering depth of 2).
    pub pyramid: bool,
}

/// Why a source's heads cannot be encoded to join its copied frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoHeadEncoder {
    #[error("{0} video")]
    Codec(String),
    #[error("{codec} profile {profile:?}")]
    Profile {
        codec: &'static str,
        profile: String,
    },
    #[error("{0} pixels")]
    Pixels(String),
    #[error("a reordering depth of {0} frames")]
    ReorderDepth(u32),
}

/// The encoder for `media`'s heads, or why there is none.
pub fn head_encoder(media: &MediaInfo) -> Result<HeadEncoder, NoHeadEncoder> {
    let pixels = || NoHeadEncoder::Pixels(media.pix_fmt.clone());
    let eight_bit = matches!(media.pix_fmt.as_str(), "yuv420p" | "yuvj420p");
    let (codec, profile, pix_fmt) = match (media.video_codec.as_str(), media.video_profile.as_str())
    {
        ("h264", _) if !eight_bit => return Err(pixels()),
        ("h264", "High") => (HeadCodec::X264, "high", "yuv420p"),
        ("h264", "Main") => (HeadCodec::X264, "main", "yuv420p"),
        ("h264", "Baseline" | "Constrained Baseline") => (HeadCodec::X264, "baseline", "yuv420p"),
        ("hevc", "Main") if eight_bit => (HeadCodec::X265, "main", "yuv420p"),
        ("hevc", "Main 10") if media.pix_fmt == "yuv420p10le" => {
            (HeadCodec::X265, "main10", "yuv420p10le")
        }
        ("hevc", "Main" | "Main 10") => return Err(pixels()),
        (codec @ ("h264" | "hevc"), other) => {
            return Err(NoHeadEncoder::Profile {
                codec: if codec == "h264" { "H.264" } else { "HEVC" },
                profile: other.to_owned(),
            })
        }
        (other, _) => return Err(NoHeadEncoder::Codec(other.to_owned())),
    };
    let (bframes, pyramid) = match (media.video_reorder_frames, profile) {
        (0, _) => (0, false),
        (1, "main" | "high" | "main10") => (3, false),
        (2, "main" | "high" | "main10") => (3, true),
        (depth, _) => return Err(NoHeadEncoder::ReorderDepth(depth)),
    };
    let level = match (codec, media.video_level) {
        (_, level) if level <= 0 => None,
        (HeadCodec::X264, 9) => Some("1b".to_owned()),
        (HeadCodec::X264, level) => Some(format!("{}.{}", level / 10, level % 10)),
        // HEVC's general_level_idc is 30 times the level: 93 is 3.1, 120 is 4.
        (HeadCodec::X265, level) if level % 30 == 0 => Some((level / 30).to_string()),
        (HeadCodec::X265, level) => Some(format!("{}.{}", level / 30, level % 30 / 3)),
    };
    Ok(HeadEncoder {
        codec,
        profile,
        level,
        high_tier: codec == HeadCodec::X265 && media.video_high_tier,
        pix_fmt,
        bframes,
        pyramid,
    })
}

/// The sample entry the clips of a `video_codec` source are written with, when it is not
/// ffmpeg's default: HEVC as `hvc1`, the one Apple's players accept (Chromium, Firefox and
/// ffmpeg take both it and `hev1`).
pub fn sample_entry(video_codec: &str) -> Option<&'static str> {
    (video_codec == "hevc").then_some("hvc1")
}

/// Why `media` cannot be smart-cut, if it cannot.
pub fn smart_problem(media: &MediaInfo) -> Option<String> {
    // What the codec or pixels rule out is said first; the profile and reordering last.
    let encoder = head_encoder(media);
    if let Err(problem @ (NoHeadEncoder::Codec(_) | NoHeadEncoder::Pixels(_))) = &encoder {
        return Some(problem.to_string());
    }
    if media.variable_frame_rate || media.fps <= 0.0 {
        return Some("a variable frame rate".to_owned());
    }
    // An HEVC copy opening on an open GOP's keyframe is joined as a broken link (its leading
    // pictures dropped, [`crate::mp4join`]); H.264 has no such splice.
    if media.open_gop && media.video_codec != "hevc" {
        return Some("open GOPs (frames before a keyframe refer to the GOP before it)".to_owned());
    }
    if media.keyframes.as_ref().is_none_or(Vec::is_empty) || media.cut_points.is_none() {
        return Some("no keyframe index".to_owned());
    }
    encoder.err().map(|e| e.to_string())
}

#[cfg(test)]
mod tests;
