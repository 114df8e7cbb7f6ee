//! Chunk planning for `--reuse-overlaps`: overlapping clips → disjoint chunks that each moment
//! of the video falls in exactly once. Pure.
//!
//! The timeline is cut at every clip start and end, snapped to the video's frame grid so that
//! chunk frame counts add up exactly. Every chunk is encoded once (its first frame becomes a
//! keyframe of its own), and each clip is then joined from its chunks by stream copy. Runs of
//! consecutive chunks are encoded by one ffmpeg each ([`group_chunks`]): one process start and
//! one seek per group instead of per chunk. The first
//! clip is cut further into one equal share per worker, so it is encoded on every core at once
//! (time to first clip).

use crate::plan::{Clip, Priority};

/// Shortest chunk a split may leave, seconds.
const MIN_SPLIT_PIECE_S: f64 = 2.0;

/// `t` rounded to the nearest frame boundary of a `fps` video.
pub fn snap_to_frame(t: f64, fps: f64) -> f64 {
    let fps = if fps > 0.0 { fps } else { 25.0 };
    (t * fps).round() / fps
}

/// The disjoint chunks covering `clips` (numbered from 1 in time order). A chunk is high
/// priority when it lies in a high-priority clip; the first clip is also cut into `workers`
/// equal shares (see `first_clip_cuts`); `first_clip_audio_s` is the work of its separately
/// encoded audio in seconds of video (0 when it has none), which the last share makes room for.
pub fn plan_chunks(clips: &[Clip], fps: f64, workers: usize, first_clip_audio_s: f64) -> Vec<Clip> {
    let half_frame = 0.5 / if fps > 0.0 { fps } else { 25.0 };
    let mut cuts: Vec<f64> = clips
        .iter()
        .flat_map(|c| [c.start, c.end])
        .map(|t| snap_to_frame(t, fps))
        .collect();
    if let Some(first) = clips.iter().min_by(|a, b| a.start.total_cmp(&b.start)) {
        first_clip_cuts(first, fps, workers, first_clip_audio_s, &mut cuts);
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup_by(|a, b| (*a - *b).abs() < half_frame);
    let covered = |a: f64, b: f64| {
        clips
            .iter()
            .any(|c| a >= c.start - half_frame && b <= c.end + half_frame)
    };
    cuts.windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|&(a, b)| covered(a, b))
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

/// Extra cuts that split the first clip into `workers` equal shares of work (each cut skipped
/// when within [`MIN_SPLIT_PIECE_S`] of another), so its pieces pack evenly onto the workers:
/// 30 s on 2 workers gives 0–15, 15–25 and 25–30 (15 s per worker); with audio worth 5 s of
/// video, 0–17.5 | 17.5–25, 25–30 and the audio.
fn first_clip_cuts(first: &Clip, fps: f64, workers: usize, audio_s: f64, cuts: &mut Vec<f64>) {
    let share = (first.duration() + audio_s.max(0.0)) / workers.max(1) as f64;
    for k in 1..workers {
        let t = snap_to_frame(first.start + k as f64 * share, fps);
        if cuts.iter().all(|c| (c - t).abs() >= MIN_SPLIT_PIECE_S) {
            cuts.push(t);
        }
    }
}

/// Consecutive chunks that one ffmpeg encodes: `span` covers them all.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkGroup {
    /// Numbered from 1 in time order; high priority when its chunks are.
    pub span: Clip,
    /// The chunk numbers, in order.
    pub chunks: Vec<u32>,
}

/// Groups consecutive chunks for encoding. High-priority chunks stay alone (so the first clips
/// are encoded on every worker at once); the others are gathered into runs of about
/// `normal length / (6 × workers)` seconds (10–120 s), enough groups for the longest-first
/// schedule to even out the tail.
pub fn group_chunks(chunks: &[Clip], workers: usize) -> Vec<ChunkGroup> {
    let normal_total: f64 = chunks
        .iter()
        .filter(|c| c.priority == Priority::Normal)
        .map(Clip::duration)
        .sum();
    let target = (normal_total / (6 * workers.max(1)) as f64).clamp(10.0, 120.0);
    let mut groups: Vec<Vec<&Clip>> = Vec::new();
    let mut open = false;
    for chunk in chunks {
        let joins = open
            && chunk.priority == Priority::Normal
            && groups.last().is_some_and(|g| {
                let length: f64 = g.iter().map(|c| c.duration()).sum();
                length < target && (g[g.len() - 1].end - chunk.start).abs() < 1e-6
            });
        if joins {
            if let Some(group) = groups.last_mut() {
                group.push(chunk);
            }
        } else {
            groups.push(vec![chunk]);
        }
        open = chunk.priority == Priority::Normal;
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, members)| ChunkGroup {
            span: Clip {
                number: i as u32 + 1,
                start: members[0].start,
                end: members[members.len() - 1].end,
                priority: members[0].priority,
            },
            chunks: members.iter().map(|c| c.number).collect(),
        })
        .collect()
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
        let chunks = plan_chunks(&clips, 25.0, 1, 0.0);
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
            let chunks = plan_chunks(&clips, 25.0, workers, 0.0);
            let first: Vec<&Clip> = chunks_of(&clips[0], &chunks, 25.0)
                .iter()
                .map(|n| &chunks[*n as usize - 1])
                .collect();
            assert!(first.len() >= workers);
            assert_eq!((first[0].start, first.last().unwrap().end), (0.0, 30.0));
            assert!(first.windows(2).all(|w| w[0].end == w[1].start));
            let share = 30.0 / workers as f64 + 0.04;
            assert!(first.iter().all(|c| c.duration() <= share), "{first:?}");
            // The pieces pack onto the workers evenly: 15 | 10 + 5, or 7.5 | 7.5 | 7.5 | 2.5 + 5.
            assert_eq!(first.len(), workers + 1);
            assert!(first.iter().all(|c| c.priority == Priority::High));
        }
        // Only the first clip is split: the second clip's 25 s piece stays whole.
        let chunks = plan_chunks(&clips, 25.0, 2, 0.0);
        assert!(chunks.iter().any(|c| (c.start, c.end) == (30.0, 50.0)));
        // Audio worth 5 s of video moves the cut so the worker with the tail pieces has room.
        let chunks = plan_chunks(&clips, 25.0, 2, 5.0);
        assert_eq!((chunks[0].start, chunks[0].end), (0.0, 17.52));
    }

    #[test]
    fn a_short_video_is_not_split_below_two_seconds() {
        let clip = Clip {
            number: 1,
            start: 0.0,
            end: 5.0,
            priority: Priority::High,
        };
        let chunks = plan_chunks(&[clip], 25.0, 8, 0.0);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| c.duration() >= 2.0));
    }

    #[test]
    fn normal_chunks_are_grouped_high_ones_stay_alone() {
        let clips = fixed_plan(600.0);
        let chunks = plan_chunks(&clips, 25.0, 2, 0.0);
        let groups = group_chunks(&chunks, 2);
        let high: Vec<&ChunkGroup> = groups
            .iter()
            .filter(|g| g.span.priority == Priority::High)
            .collect();
        assert!(high.iter().all(|g| g.chunks.len() == 1));
        assert_eq!(
            high.len(),
            chunks
                .iter()
                .filter(|c| c.priority == Priority::High)
                .count()
        );
        // ~520 s of normal chunks on 2 workers: runs of ~43 s, so about a dozen groups.
        let normal = groups.len() - high.len();
        assert!((10..=14).contains(&normal), "{normal} groups");
        // Every chunk in exactly one group, in order.
        let all: Vec<u32> = groups.iter().flat_map(|g| g.chunks.clone()).collect();
        assert_eq!(all, (1..=chunks.len() as u32).collect::<Vec<_>>());
        for g in &groups {
            assert_eq!(g.span.start, chunks[g.chunks[0] as usize - 1].start);
            assert_eq!(
                g.span.end,
                chunks[*g.chunks.last().unwrap() as usize - 1].end
            );
        }
    }

    proptest! {
        /// Chunks are disjoint, frame-aligned, in order, and each clip is exactly the join of
        /// its chunks (within one frame).
        #[test]
        fn chunks_tile_every_clip(duration in 16.0f64..2000.0, fps in prop::sample::select(vec![24.0, 25.0, 29.97, 30.0, 60.0]), workers in 1usize..9) {
            let media = MediaInfo { duration, fps, ..Default::default() };
            for policy in [Policy::OPTIMIZED, Policy::ORIGINAL, Policy::Adaptive] {
                let clips = plan(&media, &PlanOptions { policy, ..Default::default() });
                let chunks = plan_chunks(&clips, fps, workers, 4.0);
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
