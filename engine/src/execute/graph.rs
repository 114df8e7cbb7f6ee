//! The task graph of a run (pure): one task per clip, or with `reuse_overlaps` one per chunk
//! group plus the first clip's audio (ready at once) and one assembly per clip (waiting for
//! its parts). A smart cut is one copy per clip that starts and ends on keyframes, else the
//! clip's pieces (ready) and their join (waiting).

use crate::chunks::{chunks_of, group_chunks, plan_chunks};
use crate::encode::Profile;
use crate::plan::{Clip, Priority};
use crate::probe::MediaInfo;
use crate::schedule::{CostModel, AUDIO_CPU_PER_SECOND, PROCESS_START_CPU_S};
use crate::smart::{split, SmartCut};
use crate::task::{TaskKind, TaskSpec};

use super::outcome::ClipOutcome;

/// One unit of work.
#[derive(Debug, Clone)]
pub(super) struct Task {
    pub spec: TaskSpec,
    /// Profile of its ffmpeg (a copy clip may fall back to a re-encode).
    pub profile: Profile,
    /// For a chunk group: the chunks it writes; for an assembly: the chunks it joins. In order.
    pub chunks: Vec<Clip>,
    /// What a chunk group or an audio task produces (chunk numbers, [`audio_part`]), or what
    /// an assembly waits for.
    pub parts: Vec<u32>,
    /// Why this clip is re-encoded: its fast path (a copy, a join of chunks) failed.
    pub fallback: Option<String>,
    /// A smart cut's pieces (its copy, its pieces task and its join).
    pub cut: Option<SmartCut>,
}

impl Task {
    /// Whether a failure of this task is redone by re-encoding the clip from the source (a
    /// copy or a join is deterministic: trying it again would fail again).
    pub fn falls_back(&self) -> bool {
        matches!(self.spec.kind, TaskKind::Copy | TaskKind::Assemble)
    }

    /// Whether this is a smart cut's join (which several can run together, their joins
    /// decoded by one check: [`super::board::Board::take_joins`]).
    pub fn joins_smart_cut(&self) -> bool {
        self.spec.kind == TaskKind::Assemble && self.cut.is_some()
    }

    /// The re-encode of `span` that replaces a failed fast path, with `profile`.
    pub fn fallback(span: Clip, pixel_frames: f64, profile: Profile, reason: String) -> Task {
        Task {
            spec: TaskSpec {
                kind: TaskKind::Encode,
                span,
                pixel_frames,
            },
            profile,
            chunks: Vec::new(),
            parts: Vec::new(),
            fallback: Some(reason),
            cut: None,
        }
    }
}

/// The part id of a clip's separately encoded audio (chunk numbers count up from 1).
pub(super) fn audio_part(clip: u32) -> u32 {
    u32::MAX - clip
}

/// The part id of a clip's smart-cut pieces.
pub(super) fn cut_part(clip: u32) -> u32 {
    (1 << 30) + clip
}

/// The profile one clip is encoded with: a stream copy that cannot start on a keyframe (known
/// keyframes, none at the clip's start) is re-encoded with `optimized` so that it is exact.
pub fn clip_profile(profile: Profile, media: &MediaInfo, clip: &Clip) -> Profile {
    if profile == Profile::Copy && media.keyframes.is_some() && !media.is_keyframe(clip.start) {
        Profile::Optimized
    } else {
        profile
    }
}

/// The tasks of a run, as (ready, waiting).
pub(super) fn plan_tasks(
    media: &MediaInfo,
    clips: &[Clip],
    profile: Profile,
    workers: usize,
    reuse_overlaps: bool,
) -> (Vec<Task>, Vec<Task>) {
    let pixel_frames =
        |seconds: f64| CostModel::pixel_frames(seconds, media.width, media.height, media.fps);
    let task = |kind, span: Clip, profile, chunks: Vec<Clip>, parts| Task {
        spec: TaskSpec {
            kind,
            span,
            pixel_frames: pixel_frames(span.duration()),
        },
        profile,
        chunks,
        parts,
        fallback: None,
        cut: None,
    };
    if profile == Profile::Smart {
        return smart_tasks(media, clips, &pixel_frames);
    }
    if !(reuse_overlaps && profile.reencodes()) {
        let tasks = clips
            .iter()
            .map(|clip| {
                let profile = clip_profile(profile, media, clip);
                let kind = match profile {
                    Profile::Copy => TaskKind::Copy,
                    _ => TaskKind::Encode,
                };
                task(kind, *clip, profile, Vec::new(), Vec::new())
            })
            .collect();
        return (tasks, Vec::new());
    }
    // The first clip's audio is encoded alone, in parallel with its video (time to first
    // clip); its video shares make room for that work and for the two extra process starts
    // (audio, last piece) of the worker that gets them.
    let first = clips
        .iter()
        .min_by(|a, b| a.start.total_cmp(&b.start))
        .filter(|_| media.has_audio);
    let video_cost_per_s = CostModel::default().estimate(TaskKind::Chunk, pixel_frames(1.0));
    let first_audio_s = first.map_or(0.0, |clip| {
        let audio_cpu_s = clip.duration() * AUDIO_CPU_PER_SECOND + 2.0 * PROCESS_START_CPU_S;
        audio_cpu_s / video_cost_per_s.max(1e-9)
    });
    let chunks = plan_chunks(clips, media.fps, workers, first_audio_s);
    let members = |numbers: &[u32]| numbers.iter().map(|n| chunks[*n as usize - 1]).collect();
    let mut ready: Vec<Task> = group_chunks(&chunks, workers)
        .iter()
        .map(|group| {
            let parts = group.chunks.clone();
            task(TaskKind::Chunk, group.span, profile, members(&parts), parts)
        })
        .collect();
    if let Some(first) = first {
        let span = Clip {
            priority: Priority::High,
            ..*first
        };
        let parts = vec![audio_part(first.number)];
        ready.push(task(TaskKind::Audio, span, profile, Vec::new(), parts));
    }
    let assemblies = clips
        .iter()
        .map(|clip| {
            let numbers = chunks_of(clip, &chunks, media.fps);
            let mut parts = numbers.clone();
            if first.is_some_and(|f| f.number == clip.number) {
                parts.push(audio_part(clip.number));
            }
            task(TaskKind::Assemble, *clip, profile, members(&numbers), parts)
        })
        .collect();
    (ready, assemblies)
}

/// Smart cut: a clip from keyframe to keyframe is one copy (of a source with open GOPs, a
/// copy piece joined alone); any other clip is its pieces (ready; costed by the frames they
/// re-encode) and their join (waiting for them).
fn smart_tasks(
    media: &MediaInfo,
    clips: &[Clip],
    pixel_frames: &dyn Fn(f64) -> f64,
) -> (Vec<Task>, Vec<Task>) {
    let (mut ready, mut waiting) = (Vec::new(), Vec::new());
    for clip in clips {
        let cut = split(clip, media);
        let task = |kind, seconds: f64, parts: Vec<u32>| Task {
            spec: TaskSpec {
                kind,
                span: *clip,
                pixel_frames: pixel_frames(seconds),
            },
            profile: Profile::Smart,
            chunks: Vec::new(),
            parts,
            fallback: None,
            cut: Some(cut),
        };
        // A copy that opens on an open GOP's keyframe also writes its leading pictures: only
        // the join drops them ([`crate::mp4join`]).
        if cut.is_pure_copy() && !media.open_gop {
            ready.push(task(TaskKind::Copy, clip.duration(), Vec::new()));
            continue;
        }
        let parts = vec![cut_part(clip.number)];
        ready.push(task(TaskKind::Cut, cut.encoded_s(), parts.clone()));
        waiting.push(task(TaskKind::Assemble, clip.duration(), parts));
    }
    (ready, waiting)
}

/// A pending outcome for each task of `kinds`, in time order.
pub(super) fn pending_outcomes(tasks: &[&Task], kinds: &[TaskKind]) -> Vec<ClipOutcome> {
    let mut outcomes: Vec<ClipOutcome> = tasks
        .iter()
        .filter(|t| kinds.contains(&t.spec.kind))
        .map(|t| ClipOutcome::pending_task(t.spec.span, t.spec.kind))
        .collect();
    outcomes.sort_by(|a, b| {
        a.clip
            .start
            .total_cmp(&b.clip.start)
            .then(a.clip.number.cmp(&b.clip.number))
    });
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(number: u32, start: f64, end: f64) -> Clip {
        Clip {
            number,
            start,
            end,
            priority: Priority::High,
        }
    }

    #[test]
    fn copies_that_miss_a_keyframe_are_reencoded() {
        let with_keyframes = MediaInfo {
            keyframes: Some(vec![0.0, 2.0, 4.0]),
            ..Default::default()
        };
        let (on, off) = (clip(1, 2.0, 20.0), clip(2, 3.0, 20.0));
        assert_eq!(
            clip_profile(Profile::Copy, &with_keyframes, &on),
            Profile::Copy
        );
        assert_eq!(
            clip_profile(Profile::Copy, &with_keyframes, &off),
            Profile::Optimized
        );
        assert_eq!(
            clip_profile(Profile::Copy, &MediaInfo::default(), &off),
            Profile::Copy
        );
        assert_eq!(
            clip_profile(Profile::Original, &with_keyframes, &off),
            Profile::Original
        );
    }

    #[test]
    fn reusing_overlaps_makes_parts_and_assemblies_that_wait_for_them() {
        let media = MediaInfo {
            width: 160,
            height: 90,
            fps: 25.0,
            has_audio: true,
            ..Default::default()
        };
        let clips = [clip(1, 0.0, 30.0), clip(2, 25.0, 55.0)];
        let (ready, waiting) = plan_tasks(&media, &clips, Profile::Optimized, 2, true);
        assert!(ready.iter().any(|t| t.spec.kind == TaskKind::Audio));
        assert_eq!(waiting.len(), 2);
        let produced: Vec<u32> = ready.iter().flat_map(|t| t.parts.clone()).collect();
        for assembly in &waiting {
            assert_eq!(assembly.spec.kind, TaskKind::Assemble);
            assert!(assembly.parts.iter().all(|p| produced.contains(p)));
        }
        assert!(waiting[0].parts.contains(&audio_part(1)));
        let (plain, none) = plan_tasks(&media, &clips, Profile::Optimized, 2, false);
        assert_eq!((plain.len(), none.len()), (2, 0));
    }
}
