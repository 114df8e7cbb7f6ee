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

/// Everything that shapes a plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanOptions {
    pub policy: Policy,
    /// Upper bound on the number of clips (the backends use 100).
    pub max_clips: usize,
    /// How many of the first clips are high priority (the optimized backend uses 3).
    pub high_priority_clips: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            policy: Policy::ORIGINAL,
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

/// Plans the clips of a video.
pub fn plan(media: &MediaInfo, options: &PlanOptions) -> Vec<Clip> {
    let spans = match options.policy {
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn media(duration: f64) -> MediaInfo {
        MediaInfo {
            duration,
            ..Default::default()
        }
    }

    fn opts(policy: Policy) -> PlanOptions {
        PlanOptions {
            policy,
            ..Default::default()
        }
    }

    #[test]
    fn ten_minutes_fixed_matches_the_backends() {
        let clips = plan(&media(600.0), &opts(Policy::ORIGINAL));
        assert_eq!(clips.len(), 24);
        let total: f64 = clips.iter().map(Clip::duration).sum();
        assert_eq!(total, 715.0);
        assert_eq!((clips[23].start, clips[23].end), (575.0, 600.0));
        assert_eq!(clips[0].number, 1);
        let high: Vec<u32> = clips
            .iter()
            .filter(|c| c.priority == Priority::High)
            .map(|c| c.number)
            .collect();
        assert_eq!(high, vec![1, 2, 3]);
    }

    #[test]
    fn min_last_decides_the_tail() {
        // 70 s: clips at 0, 25 (30 s each), then 50..70 = 20 s.
        assert_eq!(plan(&media(70.0), &opts(Policy::ORIGINAL)).len(), 2);
        assert_eq!(plan(&media(70.0), &opts(Policy::OPTIMIZED)).len(), 3);
        // A video shorter than the minimum gets no clip under the original policy.
        assert!(plan(&media(20.0), &opts(Policy::ORIGINAL)).is_empty());
    }

    #[test]
    fn max_clips_caps_the_plan() {
        let clips = plan(&media(100_000.0), &opts(Policy::ORIGINAL));
        assert_eq!(clips.len(), 100);
        let clips = plan(&media(100_000.0), &opts(Policy::Adaptive));
        assert_eq!(clips.len(), 100);
    }

    #[test]
    fn adaptive_ten_minutes() {
        let clips = plan(&media(600.0), &opts(Policy::Adaptive));
        assert_eq!(clips.len(), 24);
        assert_eq!(clips.last().unwrap().end, 600.0);
        assert!((clips[0].duration() - (595.0 / 24.0 + 5.0)).abs() < 1e-9);
    }

    #[test]
    fn policy_parses_and_prints() {
        assert_eq!("fixed".parse::<Policy>(), Ok(Policy::ORIGINAL));
        assert_eq!("fixed:15".parse::<Policy>(), Ok(Policy::OPTIMIZED));
        assert_eq!("adaptive".parse::<Policy>(), Ok(Policy::Adaptive));
        assert!("fixed:x".parse::<Policy>().is_err());
        assert!("fixedly".parse::<Policy>().is_err());
        assert!("fixed:10:5:10".parse::<Policy>().is_err());
        for p in [
            Policy::ORIGINAL,
            Policy::OPTIMIZED,
            Policy::Adaptive,
            "fixed:5:20:15".parse().unwrap(),
        ] {
            assert_eq!(p.to_string().parse::<Policy>(), Ok(p));
        }
    }

    proptest! {
        #[test]
        fn keyframe_snapped_plans_are_sound(
            duration in 1.0f64..3000.0,
            gop in 0.5f64..12.0,
            jitter in proptest::collection::vec(0.0f64..1.0, 0..400),
            max in 1usize..120,
        ) {
            // Regular keyframes with some missing (jitter > 0.8 drops one): gaps of any size.
            let keyframes: Vec<f64> = (0..((duration / gop) as usize + 1))
                .map(|i| i as f64 * gop)
                .filter(|t| *t < duration)
                .enumerate()
                .filter(|(i, _)| jitter.get(*i).is_none_or(|j| *j <= 0.8) || *i == 0)
                .map(|(_, t)| t)
                .collect();
            let media = MediaInfo { duration, keyframes: Some(keyframes.clone()), ..Default::default() };
            let options = PlanOptions { policy: Policy::Adaptive, max_clips: max, high_priority_clips: 3 };
            let clips = plan(&media, &options);
            prop_assert!(!clips.is_empty() && clips.len() <= max);
            prop_assert_eq!(clips[0].start, 0.0);
            for c in &clips {
                prop_assert!(c.start >= 0.0 && c.end <= duration + 1e-9 && c.start < c.end);
                if duration >= ADAPTIVE_MIN_LEN {
                    prop_assert!(c.duration() >= ADAPTIVE_MIN_LEN - 1e-9 && c.duration() <= ADAPTIVE_MAX_LEN + 1e-9, "{:?}", c);
                }
            }
            for pair in clips.windows(2) {
                let overlap = pair[0].end - pair[1].start;
                prop_assert!((ADAPTIVE_OVERLAP.0 - 1e-9..=ADAPTIVE_OVERLAP.1 + 1e-9).contains(&overlap), "{:?}", pair);
                // The start is a keyframe whenever one lies in the allowed window.
                let low = pair[0].start + ADAPTIVE_MIN_LEN - ADAPTIVE_OVERLAP.1;
                let high = (pair[0].start + ADAPTIVE_MAX_LEN - ADAPTIVE_OVERLAP.0).min(duration - ADAPTIVE_MIN_LEN);
                if keyframes.iter().any(|k| (low..=high).contains(k)) {
                    prop_assert!(media.is_keyframe(pair[1].start), "{:?} not on a keyframe", pair[1]);
                }
            }
            if clips.len() < max {
                prop_assert_eq!(clips.last().unwrap().end, duration, "covers to the end");
            }
        }
    }

    fn policies() -> impl Strategy<Value = Policy> {
        prop_oneof![
            Just(Policy::ORIGINAL),
            Just(Policy::OPTIMIZED),
            Just(Policy::Adaptive),
            (1.0f64..60.0, 0.2f64..1.0, 0.0f64..1.0).prop_map(|(len, step, min)| Policy::Fixed {
                clip_len: len,
                step: len * step,
                min_last: len * min,
            }),
        ]
    }

    proptest! {
        #[test]
        fn clips_are_sound(duration in 0.1f64..20_000.0, policy in policies(), max in 1usize..150) {
            let options = PlanOptions { policy, max_clips: max, high_priority_clips: 3 };
            let clips = plan(&media(duration), &options);
            prop_assert!(clips.len() <= max);
            prop_assert_eq!(&clips, &plan(&media(duration), &options), "deterministic");
            for (i, c) in clips.iter().enumerate() {
                prop_assert_eq!(c.number as usize, i + 1);
                prop_assert!(c.start >= 0.0 && c.start < c.end && c.end <= duration + 1e-9);
                prop_assert_eq!(c.priority == Priority::High, i < 3);
            }
            for pair in clips.windows(2) {
                prop_assert!(pair[1].start > pair[0].start);
                prop_assert!(pair[1].start <= pair[0].end + 1e-9, "no gap between clips");
            }
            let covered = clips.last().map_or(0.0, |c| c.end);
            let capped = clips.len() == max;
            match policy {
                Policy::Fixed { clip_len, step, min_last } => {
                    for c in &clips[..clips.len().saturating_sub(1)] {
                        prop_assert!((c.duration() - clip_len).abs() < 1e-9);
                    }
                    if let Some(last) = clips.last() {
                        prop_assert!(last.duration() >= min_last - 1e-9);
                    }
                    for pair in clips.windows(2) {
                        prop_assert!((pair[1].start - pair[0].start - step).abs() < 1e-6);
                    }
                    if !capped {
                        // The documented tail: shorter than the minimum last clip.
                        prop_assert!(duration - covered < min_last + 1e-6);
                    }
                }
                Policy::Adaptive => {
                    if duration < ADAPTIVE_MIN_LEN {
                        prop_assert_eq!(clips.len(), 1);
                    } else {
                        for c in &clips {
                            prop_assert!(c.duration() >= ADAPTIVE_MIN_LEN - 1e-6);
                            prop_assert!(c.duration() <= ADAPTIVE_MAX_LEN + 1e-6);
                        }
                    }
                    for pair in clips.windows(2) {
                        let overlap = pair[0].end - pair[1].start;
                        prop_assert!(overlap >= ADAPTIVE_OVERLAP.0 - 1e-6);
                        prop_assert!(overlap <= ADAPTIVE_OVERLAP.1 + 1e-6);
                    }
                    if !capped {
                        prop_assert_eq!(covered, duration);
                    }
                }
            }
        }
    }
}
