//! Chunk planning for `--reuse-overlaps`: overlapping clips → disjoint chunks that each moment
//! of the video falls in exactly once. Pure.
//!
//! The timeline is cut at every clip start and end, snapped to the video's frame grid so that
//! chunk frame counts add up exactly. Every chunk is encoded once (its first frame becomes a
//! keyframe of its own), and each clip is then joined from its chunks by stream copy. The first
//! clip's chunks are split further, until none is longer than the clip's share per worker, so
//! the first clip is encoded on every core at once (time to first clip).

use crate::plan::{Clip, Priority};

/// Shortest chunk a split may leave, seconds.
const MIN_SPLIT_PIECE_S: f64 = 2.0;

/// `t` rounded to the nearest frame boundary of a `fps` video.
pub fn snap_to_frame(t: f64, fps: f64) -> f64 {
    let fps = if fps > 0.0 { fps } else { 25.0 };
    (t * fps).round() / fps
}

/// The disjoint chunks covering `clips` (numbered from 1 in time order). A chunk is high
/// priority when it lies in a high-priority clip; the first clip's chunks are halved until none
/// is longer than its length / `workers` (and none shorter than 2 s).
pub fn plan_chunks(clips: &[Clip], fps: f64, workers: usize) -> Vec<Clip> {
    let half_frame = 0.5 / if fps > 0.0 { fps } else { 25.0 };
    let mut cuts: Vec<f64> = clips
        .iter()
        .flat_map(|c| [c.start, c.end])
        .map(|t| snap_to_frame(t, fps))
        .collect();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup_by(|a, b| (*a - *b).abs() < half_frame);
    let covered = |a: f64, b: f64| {
        clips
            .iter()
            .any(|c| a >= c.start - half_frame && b <= c.end + half_frame)
    };
    let mut spans: Vec<(f64, f64)> = cuts
        .windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|&(a, b)| covered(a, b))
        .collect();
    if let Some(first) = clips.iter().min_by(|a, b| a.start.total_cmp(&b.start)) {
        split_first_clip(&mut spans, first, fps, workers, half_frame);
    }
    spans
        .into_iter()
        .enumerate()
        .map(|(i, (start, end))| Clip {
            number: i as u32 + 1,
            start,
            end,
            priority: if clips.iter().any(|c| {
                c.priority == Priority::High
                    && start >= c.start - half_frame
                    && end <= c.end + half_frame
            }) {
                Priority::High
            } else {
                Priority::Normal
            },
        })
        .collect()
}

/// Halves the longest chunk of the first clip until none is longer than the clip's share per
/// worker (plus one frame) or halving would leave a piece under [`MIN_SPLIT_PIECE_S`].
fn split_first_clip(
    spans: &mut Vec<(f64, f64)>,
    first: &Clip,
    fps: f64,
    workers: usize,
    half_frame: f64,
) {
    let inside = |s: &(f64, f64)| s.0 >= first.start - half_frame && s.1 <= first.end + half_frame;
    let share = first.duration() / workers.max(1) as f64 + 2.0 * half_frame;
    loop {
        let Some(index) = spans
            .iter()
            .enumerate()
            .filter(|(_, s)| inside(s))
            .max_by(|a, b| (a.1 .1 - a.1 .0).total_cmp(&(b.1 .1 - b.1 .0)))
            .map(|(i, _)| i)
        else {
            return;
        };
        let (a, b) = spans[index];
        if b - a <= share {
            return;
        }
        let middle = snap_to_frame((a + b) / 2.0, fps);
        if middle - a < MIN_SPLIT_PIECE_S || b - middle < MIN_SPLIT_PIECE_S {
            return;
        }
        spans[index] = (a, middle);
        spans.insert(index + 1, (middle, b));
    }
}

/// The numbers of the chunks a clip is joined from, in order.
pub fn chunks_of(clip: &Clip, chunks: &[Clip], fps: f64) -> Vec<u32> {
    let half_frame = 0.5 / if fps > 0.0 { fps } else { 25.0 };
    chunks
        .iter()
        .filter(|c| c.start >= clip.start - half_frame && c.end <= clip.end + half_frame)
        .map(|c| c.number)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, PlanOptions, Policy};
    use crate::probe::MediaInfo;
    use proptest::prelude::*;

    fn fixed_plan(duration: f64) -> Vec<Clip> {
        let media = MediaInfo {
            duration,
            fps: 25.0,
            ..Default::default()
        };
        plan(
            &media,
            &PlanOptions {
                policy: Policy::OPTIMIZED,
                ..Default::default()
            },
        )
    }

    #[test]
    fn ten_minutes_encodes_each_second_once() {
        let clips = fixed_plan(600.0);
        let chunks = plan_chunks(&clips, 25.0, 1);
        let total: f64 = chunks.iter().map(Clip::duration).sum();
        assert!((total - 600.0).abs() < 1e-9, "{total}");
        // Cuts at 0, 25, 30, 50, 55, ...: 25 s and 5 s pieces alternate.
        assert_eq!((chunks[0].start, chunks[0].end), (0.0, 25.0));
        assert_eq!((chunks[1].start, chunks[1].end), (25.0, 30.0));
        assert_eq!(chunks_of(&clips[0], &chunks, 25.0), vec![1, 2]);
        assert_eq!(chunks_of(&clips[1], &chunks, 25.0), vec![2, 3, 4]);
    }

    #[test]
    fn first_clip_is_split_for_every_worker() {
        let clips = fixed_plan(600.0);
        for workers in [2, 4] {
            let chunks = plan_chunks(&clips, 25.0, workers);
            let first: Vec<&Clip> = chunks_of(&clips[0], &chunks, 25.0)
                .iter()
                .map(|n| &chunks[*n as usize - 1])
                .collect();
            assert!(first.len() >= workers);
            assert_eq!((first[0].start, first.last().unwrap().end), (0.0, 30.0));
            assert!(first.windows(2).all(|w| w[0].end == w[1].start));
            let share = 30.0 / workers as f64 + 0.04;
            assert!(first.iter().all(|c| c.duration() <= share), "{first:?}");
            assert!(first.iter().all(|c| c.priority == Priority::High));
        }
        // Only the first clip is split: the second clip's 25 s piece stays whole.
        let chunks = plan_chunks(&clips, 25.0, 2);
        assert!(chunks.iter().any(|c| (c.start, c.end) == (30.0, 50.0)));
    }

    #[test]
    fn a_short_video_is_not_split_below_two_seconds() {
        let clip = Clip {
            number: 1,
            start: 0.0,
            end: 5.0,
            priority: Priority::High,
        };
        let chunks = plan_chunks(&[clip], 25.0, 8);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| c.duration() >= 2.0));
    }

    proptest! {
        /// Chunks are disjoint, frame-aligned, in order, and each clip is exactly the join of
        /// its chunks (within one frame).
        #[test]
        fn chunks_tile_every_clip(duration in 16.0f64..2000.0, fps in prop::sample::select(vec![24.0, 25.0, 29.97, 30.0, 60.0]), workers in 1usize..9) {
            let media = MediaInfo { duration, fps, ..Default::default() };
            for policy in [Policy::OPTIMIZED, Policy::ORIGINAL, Policy::Adaptive] {
                let clips = plan(&media, &PlanOptions { policy, ..Default::default() });
                let chunks = plan_chunks(&clips, fps, workers);
                for pair in chunks.windows(2) {
                    prop_assert!(pair[0].end <= pair[1].start + 1e-9);
                }
                for c in &chunks {
                    prop_assert!(c.duration() > 0.5 / fps);
                    prop_assert!((c.start * fps - (c.start * fps).round()).abs() < 1e-6);
                }
                for clip in &clips {
                    let parts = chunks_of(clip, &chunks, fps);
                    prop_assert!(!parts.is_empty());
                    let joined: f64 = parts.iter().map(|n| chunks[*n as usize - 1].duration()).sum();
                    prop_assert!((joined - clip.duration()).abs() <= 1.0 / fps + 1e-9,
                        "clip {:?} joined {joined}", clip);
                    let first = &chunks[parts[0] as usize - 1];
                    prop_assert!((first.start - clip.start).abs() <= 0.5 / fps + 1e-9);
                }
            }
        }
    }
}
