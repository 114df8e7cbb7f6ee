//! A smart cut's attempts (`--profile smart`, [`crate::smart`]): the ffmpeg of a clip that is
//! one copy or of a clip's pieces and audio; the check of the pieces before they take their
//! final names; their join, in this process ([`crate::mp4join`]); and the joined clip decoded
//! across each join before it is committed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::attempt::{rename, TaskContext};
use super::child::{run_ffmpeg, End, Limits};
use super::graph::Task;
use super::outcome::AttemptError;
use crate::adapt::audio_copyable;
use crate::allocate::ThreadSetting;
use crate::encode::{join_check_args, read_past_s, smart_copy_args, smart_pieces_args, SmartJob};
use crate::files::partial_path;
use crate::mp4join::{join_mp4, JoinPiece, PieceFrom};
use crate::smart::{head_encoder, sample_entry, Piece, SmartCut};
use crate::task::TaskKind;
use crate::validate::read_mp4;

impl TaskContext<'_> {
    /// A smart cut's process: a whole copy, or the pieces with the clip's audio.
    pub(super) fn smart_args(
        &self,
        task: &Task,
        cut: &SmartCut,
        threads: ThreadSetting,
    ) -> Result<Vec<OsString>, AttemptError> {
        let span = &task.spec.span;
        let job = self.smart_job(task, threads);
        match (task.spec.kind, cut.copy) {
            (TaskKind::Copy, Some(copy)) => Ok(smart_copy_args(
                &job,
                &copy,
                &partial_path(&self.layout.final_path(task)),
            )),
            (TaskKind::Cut, _) => {
                let encoder = head_encoder(self.media)?;
                let partials: Vec<PathBuf> = (self.written_pieces(task).iter())
                    .map(|(_, path)| partial_path(path))
                    .collect();
                let outputs: Vec<&Path> = partials.iter().map(PathBuf::as_path).collect();
                let audio = partial_path(&self.layout.audio_path(span.number));
                Ok(smart_pieces_args(&job, cut, &encoder, &outputs, &audio))
            }
            _ => Err(AttemptError::NoSmartProcess(span.number)),
        }
    }

    /// What every smart-cut process of the task's clip needs.
    fn smart_job(&self, task: &Task, threads: ThreadSetting) -> SmartJob<'_> {
        let (media, span) = (self.media, &task.spec.span);
        SmartJob {
            input: &media.path,
            start: span.start,
            duration: span.duration(),
            has_audio: media.has_audio,
            copy_audio: audio_copyable(media),
            threads,
            read_past_s: read_past_s(media.reorder_delay_s, media.frame_duration()),
            sample_entry: sample_entry(&media.video_codec),
            writes_copy: self.copy_source.is_none(),
            writes_audio: !self.reads_audio(),
            seek_lead_s: media.seek_lead_s,
        }
    }

    /// Whether a smart cut's pieces task has anything for ffmpeg to write.
    pub(super) fn writes_pieces(&self, task: &Task) -> bool {
        let writes_audio = self.media.has_audio && !self.reads_audio();
        writes_audio || !self.written_pieces(task).is_empty()
    }

    /// Whether the join reads the clip's audio from the source (a copy of it that needs no
    /// encoding, from a source whose audio is read so).
    fn reads_audio(&self) -> bool {
        let readable = self.copy_source.is_some_and(|s| s.has_audio());
        self.media.has_audio && audio_copyable(self.media) && readable
    }

    /// The pieces the task's ffmpeg writes, with their final paths.
    fn written_pieces(&self, task: &Task) -> Vec<((Piece, f64, f64), PathBuf)> {
        let Some(cut) = task.cut else {
            return Vec::new();
        };
        let job = self.smart_job(task, ThreadSetting::Auto);
        (job.written_pieces(&cut).into_iter())
            .map(|piece| {
                (
                    piece,
                    self.layout.piece_path(task.spec.span.number, piece.0),
                )
            })
            .collect()
    }

    /// Checks a piece's length (`written` seconds of frames) against its plan.
    fn check_piece_length(
        &self,
        task: &Task,
        (piece, start, end): (Piece, f64, f64),
        written: f64,
    ) -> Result<(), AttemptError> {
        let tolerance = self.media.frame_duration() / 2.0 + 0.001;
        // A copy opening on an open GOP's keyframe also holds its leading pictures, shown
        // before it (the join drops them): longer by up to the source's reordering delay.
        let leading = match self.media.open_gop {
            true => self.media.reorder_delay_s.unwrap_or(0.0),
            false => 0.0,
        };
        let longer = written - (end - start);
        let allowed = match piece {
            Piece::Copy => tolerance + leading,
            _ => tolerance,
        };
        if longer > allowed || longer < -tolerance {
            return Err(AttemptError::PieceLength {
                clip: task.spec.span.number,
                piece: piece.name(),
                written,
                planned: end - start,
            });
        }
        Ok(())
    }

    /// Checks each smart-cut piece's length (its frames) against its plan, and the clip's
    /// audio, and renames them to their final names; returns the bytes.
    pub(super) fn commit_pieces(&self, task: &Task) -> Result<u64, AttemptError> {
        let clip = task.spec.span.number;
        let written = self.written_pieces(task);
        for (piece, path) in &written {
            let length = read_mp4(&partial_path(path)).map_or(0.0, |m| m.duration);
            self.check_piece_length(task, *piece, length)?;
        }
        let mut paths: Vec<PathBuf> = written.into_iter().map(|(_, path)| path).collect();
        if self.media.has_audio && !self.reads_audio() {
            let audio = self.layout.audio_path(clip);
            self.check_audio(task, &partial_path(&audio))?;
            paths.push(audio);
        }
        let mut bytes = 0;
        for path in &paths {
            bytes += rename(&partial_path(path), path)?;
        }
        Ok(bytes)
    }

    /// Decodes the joined clip (its partial file) across each join with one ffmpeg
    /// ([`join_check_args`]): a join that breaks the stream fails the clip, which is then
    /// re-encoded from the source. Returns the check's CPU seconds with its result.
    pub(super) fn check_joins(&self, task: &Task) -> (f64, Result<(), AttemptError>) {
        let pieces = task.cut.map(|c| c.pieces()).unwrap_or_default();
        let span = &task.spec.span;
        let joins: Vec<f64> = (pieces.iter().skip(1))
            .map(|(_, start, _)| start - span.start)
            .collect();
        if joins.is_empty() {
            return (0.0, Ok(()));
        }
        let clip = partial_path(&self.layout.final_path(task));
        let after_s = read_past_s(self.media.reorder_delay_s, self.media.frame_duration());
        let args = join_check_args(&clip, &joins, after_s);
        let limits = Limits {
            timeout: self.options.tools.probe_timeout,
            stall: None,
        };
        let checked = run_ffmpeg(
            &self.options.tools.ffmpeg,
            &args,
            limits,
            self.cancel,
            &|_| {},
        );
        // Errors only are logged: any line is a decoding error, even one ffmpeg survived.
        let said = checked
            .stderr_tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty());
        let result = match (&checked.end, said) {
            (End::Exited(0), None) => Ok(()),
            (End::Cancelled, _) => Err(AttemptError::Cancelled),
            (_, said) => {
                let why = said.unwrap_or("ffmpeg failed").trim();
                Err(AttemptError::JoinDecode(format!("at {joins:.2?} s: {why}")))
            }
        };
        (checked.cpu_s, result)
    }

    /// Joins a clip's committed pieces (the copy read from the source when it is not one of
    /// them) and audio into the clip's partial file.
    pub(super) fn join_pieces(&self, task: &Task) -> Result<(), AttemptError> {
        let pieces = task.cut.map(|c| c.pieces()).unwrap_or_default();
        let paths: Vec<PathBuf> = (pieces.iter())
            .map(|(piece, _, _)| self.layout.piece_path(task.spec.span.number, *piece))
            .collect();
        let mut listed = Vec::new();
        for (&(piece, start, end), path) in pieces.iter().zip(&paths) {
            let from = match (piece, self.copy_source, task.cut.and_then(|c| c.copy)) {
                (Piece::Copy, Some(source), Some(copy)) => {
                    // The plan's times are from the file's start time, the index's absolute.
                    let at = |t: f64| t + self.media.start_time;
                    let copied = (source.copy(at(copy.start), copy.decode_end.map(at)))
                        .map_err(AttemptError::Join)?;
                    let length = copied.frames() as f64 * self.media.frame_duration();
                    self.check_piece_length(task, (piece, start, end), length)?;
                    PieceFrom::Source(source, copied)
                }
                _ => PieceFrom::File(path),
            };
            listed.push(JoinPiece {
                from,
                planned_s: end - start,
            });
        }
        let audio_path = self.layout.audio_path(task.spec.span.number);
        let audio = match self.copy_source {
            Some(source) if self.reads_audio() => {
                let span = &task.spec.span;
                let at = |t: f64| t + self.media.start_time;
                let copied = (source.audio(at(span.start), at(self.audio_end(task))))
                    .map_err(AttemptError::Join)?;
                let frame_s = self.media.audio_frame_duration();
                self.check_audio_length(task, copied.shown_s(), frame_s)?;
                Some(PieceFrom::Source(source, copied))
            }
            _ => self.media.has_audio.then_some(PieceFrom::File(&audio_path)),
        };
        let output = partial_path(&self.layout.final_path(task));
        join_mp4(&listed, audio, &output).map_err(AttemptError::Join)?;
        Ok(())
    }
}
