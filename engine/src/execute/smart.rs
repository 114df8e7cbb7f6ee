//! A smart cut's attempts (`--profile smart`, [`crate::smart`]): the ffmpeg of a clip that is
//! one copy, of a clip's pieces, or of their join with the clip's audio; and the check of the
//! pieces before they take their final names.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::attempt::{rename, AttemptError, TaskContext};
use super::graph::Task;
use crate::adapt::audio_copyable;
use crate::allocate::ThreadSetting;
use crate::encode::{smart_concat_list, smart_copy_args, smart_pieces_args, ClipAudio, SmartJob};
use crate::files::partial_path;
use crate::schedule::TaskKind;
use crate::smart::{head_encoder, SmartCut};
use crate::validate::read_mp4;

impl TaskContext<'_> {
    /// A smart cut's process: a whole copy, the pieces, or their join with the clip's audio.
    pub(super) fn smart_args(
        &self,
        task: &Task,
        cut: &SmartCut,
        threads: ThreadSetting,
    ) -> Result<Vec<OsString>, String> {
        let (media, span) = (self.media, &task.spec.span);
        let temp_path = partial_path(&self.layout.final_path(task));
        let copy_audio = audio_copyable(media);
        let job = SmartJob {
            input: &media.path,
            start: span.start,
            duration: span.duration(),
            has_audio: media.has_audio,
            copy_audio,
            threads,
        };
        let pieces = self.layout.piece_paths(task);
        Ok(match (task.spec.kind, cut.copy) {
            (TaskKind::Copy, Some(copy)) => smart_copy_args(&job, &copy, &temp_path),
            (TaskKind::Cut, _) => {
                let encoder = head_encoder(media)?;
                let partials: Vec<PathBuf> = pieces.iter().map(|p| partial_path(p)).collect();
                let outputs: Vec<&Path> = partials.iter().map(PathBuf::as_path).collect();
                smart_pieces_args(&job, cut, &encoder, &outputs)
            }
            _ => {
                let paths: Vec<&Path> = pieces.iter().map(PathBuf::as_path).collect();
                let audio = match (media.has_audio, copy_audio) {
                    (false, _) => ClipAudio::None,
                    (true, true) => ClipAudio::CopiedFromSource(&media.path),
                    (true, false) => ClipAudio::FromSource(&media.path),
                };
                self.join_args(task, &smart_concat_list(cut, &paths), audio)?
            }
        })
    }

    /// Checks each smart-cut piece's length (its frames) against its plan and renames it to
    /// its final name; returns the bytes.
    pub(super) fn commit_pieces(&self, task: &Task) -> Result<u64, AttemptError> {
        let clip = task.spec.span.number;
        let pieces = task.cut.map(|c| c.pieces()).unwrap_or_default();
        let paths = self.layout.piece_paths(task);
        let tolerance = self.media.frame_duration() / 2.0 + 0.001;
        for ((piece, start, end), path) in pieces.iter().zip(&paths) {
            let written = read_mp4(&partial_path(path)).map_or(0.0, |m| m.duration);
            if (written - (end - start)).abs() > tolerance {
                return Err(AttemptError::PieceLength {
                    clip,
                    piece: piece.name(),
                    written,
                    planned: end - start,
                });
            }
        }
        let mut bytes = 0;
        for path in &paths {
            bytes += rename(&partial_path(path), path)?;
        }
        Ok(bytes)
    }
}
