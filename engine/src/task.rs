//! What a task of the task graph is (`execute/graph.rs` builds the graph): its [`TaskKind`] and
//! its [`TaskSpec`], the words the graph, the scheduler, the outcomes and the reports share.

use serde::{Deserialize, Serialize};

use crate::plan::Clip;

/// What a task does; each kind has its own cost per pixel-frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Decode and re-encode a clip (video and audio).
    #[default]
    Encode,
    /// Stream-copy a clip.
    Copy,
    /// Re-encode one disjoint chunk of video (`--reuse-overlaps`).
    Chunk,
    /// Join a clip's encoded chunks by stream copy and encode its audio (`--reuse-overlaps`).
    Assemble,
    /// Encode the first clip's audio alone, in parallel with its video (`--reuse-overlaps`).
    Audio,
    /// Write a clip's smart-cut pieces: head and foot re-encoded, the middle copied
    /// (`--profile smart`); its join is an [`TaskKind::Assemble`].
    Cut,
}

impl TaskKind {
    pub(crate) const ALL: [TaskKind; 6] = [
        TaskKind::Encode,
        TaskKind::Copy,
        TaskKind::Chunk,
        TaskKind::Assemble,
        TaskKind::Audio,
        TaskKind::Cut,
    ];

    /// CPU seconds per pixel-frame assumed before any task of this kind has finished, from
    /// the `optimized` profile on the 2-core development VM (a 30 s 720p25 clip ≈ 3.2 CPU-s of
    /// which 0.45 are its audio; a stream copy ≈ 0.07; a join with its audio ≈ 0.5). A smart
    /// cut's pieces count their re-encoded frames only, at x264 `ultrafast` with the decode
    /// from the keyframe before.
    pub(crate) fn prior_cpu_per_pixel_frame(self) -> f64 {
        match self {
            TaskKind::Cut => 1.2e-8,
            TaskKind::Encode => 4.6e-9,
            TaskKind::Chunk => 4.1e-9,
            TaskKind::Copy => 1.0e-10,
            TaskKind::Assemble | TaskKind::Audio => 7.0e-10,
        }
    }

    pub(crate) fn index(self) -> usize {
        TaskKind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// Whether the task runs an encoder whose thread count matters.
    pub fn encodes_video(self) -> bool {
        matches!(self, TaskKind::Encode | TaskKind::Chunk | TaskKind::Cut)
    }

    /// Whether the task writes a part that a join waits for, not a clip.
    pub fn makes_part(self) -> bool {
        matches!(self, TaskKind::Chunk | TaskKind::Audio | TaskKind::Cut)
    }
}

/// A task as the scheduler sees it: its kind, its interval and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskSpec {
    pub kind: TaskKind,
    /// The clip, or the chunk's interval.
    pub span: Clip,
    pub pixel_frames: f64,
}
