//! Clip planning: [`MediaInfo`] + [`PlanOptions`] → overlapping [`Clip`]s. Pure.
//!
//! Two policies:
//! - **fixed** — the existing backends: 30 s clips every 25 s from 0; a clip that reaches or would
//!   run past the end is cut at the end and kept only when at least `min_last` long (25 s in the
//!   original backend, 15 s in the optimized one), and planning stops there. The uncovered tail is
//!   therefore shorter than `min_last`.
//! - **adaptive** — a target length `L0 = clamp(duration / 20, 15, 30)` and overlap
//!   `O = clamp(L0 / 6, 3, 5)`; the clip count `n` is the integer nearest `(duration - O) /
//!   (L0 - O)` for which the clips tile the video exactly: length `L = (duration - O) / n + O`
//!   stays in 15–30 s. Clips then cover `[0, duration]` with no tail. Exceptions: a video shorter
//!   than 15 s gives one clip of the whole video; a video needing more than `max_clips` clips gets
//!   `max_clips` clips of `L0` and an uncovered tail.
//!
//! When the media's keyframe times are known (`MediaInfo::keyframes`, listed for the `copy`
//! profile), the adaptive policy instead walks the video placing each next start on the keyframe
//! nearest the ideal step inside the window that keeps both clips legal — next start in
//! `[start + 10, start + 27]` and at most `duration - 15` — and ends the clip `O` after it
//! (clamped to overlap 3–5 s and length 15–30 s); where no keyframe falls in the window the
//! ideal point is used and that clip is re-encoded by the executor. The last clip runs to the end
//! (15–30 s long), so stream-copied clips are exact and cover the whole video.
//!
//! Both policies mark the first `high_priority_clips` clips high priority (shortest time to first
//! clip) and never plan more than `max_clips` clips.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::probe::MediaInfo;

/// How clip boundaries are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Policy {
    /// Fixed length and step, as the existing backends do.
    Fixed {
        clip_len: f64,
        step: f64,
        min_last: f64,
    },
    /// Length and overlap chosen from the duration so that clips tile the video.
    Adaptive,
}

/// Shortest clip the adaptive policy makes (seconds).
pub const ADAPTIVE_MIN_LEN: f64 = 15.0;
/// Longest clip the adaptive policy makes (seconds).
pub const ADAPTIVE_MAX_LEN: f64 = 30.0;
/// Overlap bounds of the adaptive policy (seconds).
pub const ADAPTIVE_OVERLAP: (f64, f64) = (3.0, 5.0);

impl Policy {
    /// The original backend's plan: 30 s every 25 s, last clip at least 25 s.
    pub const ORIGINAL: Policy = Policy::Fixed {
        clip_len: 30.0,
        step: 25.0,
        min_last: 25.0,
    };
    /// The optimized backend's plan: 30 s every 25 s, last clip at least 15 s.
    pub const OPTIMIZED: Policy = Policy::Fixed {
        clip_len: 30.0,
        step: 25.0,
        min_last: 15.0,
    };
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Fixed {
                clip_len,
                step,
                min_last,
            } if *clip_len == 30.0 && *step == 25.0 => write!(f, "fixed:{min_last}"),
            Policy::Fixed {
                clip_len,
                step,
                min_last,
            } => write!(f, "fixed:{min_last}:{clip_len}:{step}"),
            Policy::Adaptive => f.write_str("adaptive"),
        }
    }
}

impl FromStr for Policy {
    type Err = String;

    /// `fixed` (= `fixed:25`, the original backend), `fixed:MIN_LAST` (e.g. `fixed:15` for the
    /// optimized backend), `fixed:MIN_LAST:LEN:STEP`, or `adaptive`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("unknown policy {s:?}: use fixed, fixed:MIN_LAST[:LEN:STEP] or adaptive");
        if s == "adaptive" {
            return Ok(Policy::Adaptive);
        }
        let rest = s.strip_prefix("fixed").ok_or_else(bad)?;
        let numbers: Vec<f64> = rest
            .split(':')
            .skip(1)
            .map(|n| n.parse::<f64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        if !rest.is_empty() && !rest.starts_with(':') {
            return Err(bad());
        }
        let (min_last, clip_len, step) = match numbers[..] {
            [] => (25.0, 30.0, 25.0),
            [m] => (m, 30.0, 25.0),
            [m, l, s] => (m, l, s),
            _ => return Err(bad()),
        };
        if !(clip_len > 0.0
            && step > 0.0
            && step <= clip_len
            && (0.0..=clip_len).contains(&min_last))
        {
            return Err(format!(
                "policy {s:?}: need 0 < STEP <= LEN and 0 <= MIN_LAST <= LEN"
            ));
        }
        Ok(Policy::Fixed {
            clip_len,
            step,
            min_last,
        })
    }
}

impl From<Policy> for String {
    fn from(p: Policy) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for Policy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Everything that shapes a plan (each key optional, with its default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanOptions {
    pub policy: Policy,
    /// Upper bound on the number of clips (the backends use 100).
    pub max_clips: usize,
    /// How many of the first clips are high priority (the optimized backend uses 3).
    pub high_priority_clips: usize,
}

impl Default for PlanOptions {
    /// The optimized backend's plan (fixed 30/25, last clip at least 15 s), at most 100 clips,
    /// the first 3 first.
    fn default() -> Self {
        PlanOptions {
            policy: Policy::OPTIMIZED,
            max_clips: 100,
            high_priority_clips: 3,
        }
    }
}

/// Scheduling priority of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    Normal,
}

/// One planned clip: `[start, end)` seconds of the source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    /// 1-based clip number.
    pub number: u32,
    pub start: f64,
    pub end: f64,
    pub priority: Priority,
}

impl Clip {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.end - self.start
    }

    /// The output file name of this clip.
    pub fn file_name(&self) -> String {
        format!("clip_{:03}.mp4", self.number)
    }
}

/// Plans the clips of a video. A video shorter than the policy's shortest clip (e.g. 10 s under
/// `fixed:15`, for which the backends make nothing) becomes one clip of its whole length: the
/// user asked for clips of a video that has frames.
pub fn plan(media: &MediaInfo, options: &PlanOptions) -> Vec<Clip> {
    let mut spans = match options.policy {
        Policy::Fixed {
            clip_len,
            step,
            min_last,
        } => fixed_spans(media.duration, clip_len, step, min_last, options.max_clips),
        Policy::Adaptive => match &media.keyframes {
            Some(keyframes) => snapped_spans(media.duration, keyframes, options.max_clips),
            None => adaptive_spans(media.duration, options.max_clips),
        },
    };
    if spans.is_empty() && media.duration > 0.0 && options.max_clips > 0 {
        spans.push((0.0, media.duration));
    }
    spans
        .into_iter()
        .enumerate()
        .map(|(i, (start, end))| Clip {
            number: i as u32 + 1,
            start,
            end,
            priority: if i < options.high_priority_clips {
                Priority::High
            } else {
                Priority::Normal
            },
        })
        .collect()
}

fn fixed_spans(duration: f64, len: f64, step: f64, min_last: f64, max: usize) -> Vec<(f64, f64)> {
    let mut spans = Vec::new();
    let mut index = 0usize;
    while spans.len() < max {
        // Multiply rather than accumulate so long videos do not drift.
        let start = index as f64 * step;
        if start >= duration {
            break;
        }
        let end = (start + len).min(duration);
        if end - start < min_last {
            break;
        }
        spans.push((start, end));
        if end >= duration {
            break;
        }
        index += 1;
    }
    spans
}

fn adaptive_spans(duration: f64, max: usize) -> Vec<(f64, f64)> {
    if duration <= 0.0 || max == 0 {
        return Vec::new();
    }
    if duration <= ADAPTIVE_MAX_LEN {
        return vec![(0.0, duration)];
    }
    let (target_len, overlap) = adaptive_targets(duration);
    let span = duration - overlap;
    // Counts for which the tiled length stays within [MIN_LEN, MAX_LEN].
    let fewest = (span / (ADAPTIVE_MAX_LEN - overlap)).ceil().max(1.0);
    let most = (span / (ADAPTIVE_MIN_LEN - overlap)).floor().max(fewest);
    let count = (span / (target_len - overlap)).round().clamp(fewest, most) as usize;
    let tiles = count <= max;
    let (count, len) = if tiles {
        (count, span / count as f64 + overlap)
    } else {
        (max, target_len)
    };
    let step = len - overlap;
    (0..count)
        .map(|i| {
            let start = i as f64 * step;
            // The last tile ends exactly at the end, whatever the rounding.
            let end = if tiles && i + 1 == count {
                duration
            } else {
                start + len
            };
            (start, end)
        })
        .collect()
}

/// The adaptive target length and overlap for a duration.
fn adaptive_targets(duration: f64) -> (f64, f64) {
    let len = (duration / 20.0).clamp(ADAPTIVE_MIN_LEN, ADAPTIVE_MAX_LEN);
    (
        len,
        (len / 6.0).clamp(ADAPTIVE_OVERLAP.0, ADAPTIVE_OVERLAP.1),
    )
}

fn snapped_spans(duration: f64, keyframes: &[f64], max: usize) -> Vec<(f64, f64)> {
    if duration <= 0.0 || max == 0 {
        return Vec::new();
    }
    let (target_len, overlap) = adaptive_targets(duration);
    let (min_overlap, max_overlap) = ADAPTIVE_OVERLAP;
    let mut spans = Vec::new();
    let mut start = 0.0;
    while spans.len() < max {
        if duration - start <= ADAPTIVE_MAX_LEN {
            spans.push((start, duration));
            break;
        }
        // Where the next clip may start so that this clip and the rest stay within bounds.
        let low = start + ADAPTIVE_MIN_LEN - max_overlap;
        let high = (start + ADAPTIVE_MAX_LEN - min_overlap).min(duration - ADAPTIVE_MIN_LEN);
        let ideal = (start + target_len - overlap).clamp(low, high);
        let next = keyframes
            .iter()
            .copied()
            .filter(|k| (low..=high).contains(k))
            .min_by(|a, b| (a - ideal).abs().total_cmp(&(b - ideal).abs()))
            .unwrap_or(ideal);
        let end = (next + overlap).clamp(
            (next + min_overlap).max(start + ADAPTIVE_MIN_LEN),
            (next + max_overlap).min(start + ADAPTIVE_MAX_LEN),
        );
        spans.push((start, end));
        start = next;
    }
    spans
}

#[cfg(test)]
mod tests;
