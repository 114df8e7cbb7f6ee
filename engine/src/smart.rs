//! Smart cut (pure): each clip is re-encoded only where a stream copy cannot cut it exactly —
//! from its start to the first keyframe at or after it (the *head*) and from the last keyframe
//! before its end to its end (the *foot*) — and stream-copied in between. A copy that ends just
//! before a keyframe stops at that keyframe's decoding time, so it holds exactly the frames
//! shown before it (closed GOPs); the pieces are joined by the concat demuxer, which carries
//! each piece's parameter sets in-band.
//!
//! The heads and feet are encoded with libx264 at the source's profile, level, pixel format
//! and reordering depth ([`HeadEncoder`]), so the copied frames and the re-encoded ones form
//! one stream any H.264 decoder plays. What a source must offer is checked by
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

/// The stream-copied piece: from the keyframe at `start` to `end`, which is a keyframe whose
/// decoding time is `decode_end`, or the end of the video (`decode_end` is `None`).
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

/// Splits `clip` of `media` (keyframes listed) into its head, copy and foot. Without a usable
/// keyframe inside the clip the whole clip is one re-encoded head.
pub fn split(clip: &Clip, media: &MediaInfo) -> SmartCut {
    let (s, e) = (clip.start, clip.end);
    let fps = if media.fps > 0.0 { media.fps } else { 25.0 };
    // Frames sit on the keyframes' grid: a head holds those before its keyframe from `s` on,
    // a foot those from its keyframe to before `e`.
    let frames = |seconds: f64, count: fn(f64) -> f64| count(seconds * fps).max(1.0) as u64;
    let head_to = |k: f64| {
        let n = frames(k - s, |f| (f + 1e-3).floor());
        Encoded {
            start: k - n as f64 / fps,
            end: k,
            frames: n,
        }
    };
    let foot_from = |k: f64| {
        let n = frames(e - k, |f| (f - 1e-3).ceil());
        Encoded {
            start: k,
            end: k + n as f64 / fps,
            frames: n,
        }
    };
    let n = frames(e - s, f64::round);
    let whole = SmartCut {
        head: Some(Encoded {
            start: s,
            end: s + n as f64 / fps,
            frames: n,
        }),
        copy: None,
        foot: None,
    };
    let times = media.keyframes.as_deref().unwrap_or_default();
    let decode = media.keyframe_decode_times.as_deref().unwrap_or_default();
    let keys: Vec<(f64, f64)> = times.iter().copied().zip(decode.iter().copied()).collect();
    let Some(&(k1, _)) = keys
        .iter()
        .find(|(k, _)| *k >= s - ON_KEYFRAME_S && *k < e - ON_KEYFRAME_S)
    else {
        return whole;
    };
    let head = (k1 - s > ON_KEYFRAME_S).then(|| head_to(k1));
    if e >= media.duration - ON_KEYFRAME_S {
        let copy = Copied {
            start: k1,
            end: e,
            decode_end: None,
        };
        return SmartCut {
            head,
            copy: Some(copy),
            foot: None,
        };
    }
    let Some(&(k2, k2_decode)) = keys
        .iter()
        .rev()
        .find(|(k, _)| *k <= e + ON_KEYFRAME_S && *k > k1 + ON_KEYFRAME_S)
    else {
        return whole;
    };
    let copy = Copied {
        start: k1,
        end: k2,
        decode_end: Some(k2_decode),
    };
    SmartCut {
        head,
        copy: Some(copy),
        foot: (e - k2 > ON_KEYFRAME_S).then(|| foot_from(k2)),
    }
}

/// How heads and feet are encoded so that they join the copied frames: libx264 at the
/// source's profile and level, 4:2:0, with the B-frame setting that gives the source's
/// reordering depth (and so the same decoding delay on both sides of a join).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadEncoder {
    /// x264's profile name (`baseline`, `main`, `high`).
    pub profile: &'static str,
    /// The level as x264 takes it (`3.1`), when the source names one.
    pub level: Option<String>,
    pub bframes: u32,
    /// B-frames used as references (a reordering depth of 2).
    pub pyramid: bool,
}

/// The encoder for `media`'s heads, or why there is none.
pub fn head_encoder(media: &MediaInfo) -> Result<HeadEncoder, String> {
    let profile = match media.video_profile.as_str() {
        "High" => "high",
        "Main" => "main",
        "Baseline" | "Constrained Baseline" => "baseline",
        other => return Err(format!("H.264 profile {other:?}")),
    };
    let (bframes, pyramid) = match (media.video_reorder_frames, profile) {
        (0, _) => (0, false),
        (1, "main" | "high") => (3, false),
        (2, "main" | "high") => (3, true),
        (depth, _) => return Err(format!("a reordering depth of {depth} frames")),
    };
    let level = match media.video_level {
        level if level <= 0 => None,
        9 => Some("1b".to_owned()),
        level => Some(format!("{}.{}", level / 10, level % 10)),
    };
    Ok(HeadEncoder {
        profile,
        level,
        bframes,
        pyramid,
    })
}

/// Why `media` cannot be smart-cut, if it cannot.
pub fn smart_problem(media: &MediaInfo) -> Option<String> {
    if media.video_codec != "h264" {
        return Some(format!("{} video", media.video_codec));
    }
    if !matches!(media.pix_fmt.as_str(), "yuv420p" | "yuvj420p") {
        return Some(format!("{} pixels", media.pix_fmt));
    }
    if media.variable_frame_rate || media.fps <= 0.0 {
        return Some("a variable frame rate".to_owned());
    }
    if media.open_gop {
        return Some("open GOPs (frames before a keyframe refer to the GOP before it)".to_owned());
    }
    if media.keyframes.as_ref().is_none_or(Vec::is_empty) {
        return Some("no keyframe index".to_owned());
    }
    head_encoder(media).err()
}

#[cfg(test)]
mod tests;
