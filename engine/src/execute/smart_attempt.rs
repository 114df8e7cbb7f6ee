//! A smart cut's attempts (`--profile smart`, [`crate::smart`]): the ffmpeg of a clip that is
//! one copy or of a clip's pieces and audio; the check of the pieces before they take their
//! final names; their join, in this process ([`crate::mp4join`]); and the joined clips
//! decoded across each join (several clips' joins by one ffmpeg) before they are committed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::attempt::{rename, thread_cpu_s, TaskContext};
use super::child::{run_ffmpeg, End, Limits};
use super::graph::Task;
use super::outcome::AttemptError;
use super::pool::Attempt;
use crate::adapt::audio_copyable;
use crate::allocate::ThreadSetting;
use crate::encode::{join_check_args, read_past_s, smart_copy_args, smart_pieces_args, SmartJob};
use crate::files::partial_path;
use crate::mp4join::{join_mp4, JoinPiece, PieceFrom};
use crate::smart::{head_encoder, sample_entry, Piece, SmartCut};
use crate::task::TaskKind;
use crate::validate::read_mp4;

/// Checks `count` joined clips with `check` (given the clips' indices) in one go; when that
/// fails (not cancelled), each of them alone, so that a broken join fails its own clip only.
/// Per clip: its CPU seconds (the shared check's split evenly) and its result.
fn check_together(count: usize, check: &CheckJoins) -> Vec<(f64, Result<(), AttemptError>)> {
    let all: Vec<usize> = (0..count).collect();
    if all.is_empty() {
        return Vec::new();
    }
    let (cpu_s, together) = check(&all);
    let share = cpu_s / count as f64;
    match together {
        Ok(()) => all.iter().map(|_| (share, Ok(()))).collect(),
        Err(AttemptError::Cancelled) => (all.iter())
            .map(|_| (share, Err(AttemptError::Cancelled)))
            .collect(),
        Err(error) if count == 1 => vec![(share, Err(error))],
        Err(_) => (all.iter())
            .map(|&i| {
                let (cpu_s, alone) = check(&[i]);
                (share + cpu_s, alone)
            })
            .collect(),
    }
}

/// A check of some joined clips (by index): its CPU seconds and whether every join decoded.
type CheckJoins<'a> = dyn Fn(&[usize]) -> (f64, Result<(), AttemptError>) + 'a;

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

    /// Joins each clip of `tasks` (smart cuts' joins and whole copies) in this thread and
    /// decodes every join among them with one ffmpeg ([`join_check_args`]); each clip that
    /// passes is then committed. The check's CPU time is shared evenly by the clips it
    /// decoded, and the wall time by all. When a shared check fails, each of its clips is checked alone, so that a
    /// broken join fails its own clip only (which is then re-encoded from the source).
    pub(super) fn join_together(&self, tasks: &[Task]) -> Vec<Attempt> {
        let began = Instant::now();
        let mut tried: Vec<(f64, Result<(), AttemptError>)> = (tasks.iter())
            .map(|task| {
                let cpu = thread_cpu_s();
                let joined = self.join_pieces(task);
                (thread_cpu_s() - cpu, joined)
            })
            .collect();
        let joined: Vec<&Task> = (tasks.iter().zip(&tried))
            .filter(|(_, (_, result))| result.is_ok())
            .map(|(task, _)| task)
            .collect();
        let mut checked = check_together(joined.len(), &|clips: &[usize]| {
            let some: Vec<&Task> = clips.iter().map(|&i| joined[i]).collect();
            self.check_joins(&some)
        })
        .into_iter();
        for (cpu_s, result) in tried.iter_mut().filter(|(_, result)| result.is_ok()) {
            if let Some((check_cpu_s, checked)) = checked.next() {
                *cpu_s += check_cpu_s;
                *result = checked;
            }
        }
        // Each clip's share of the time they took together (their sum is that time).
        let wall_s = began.elapsed().as_secs_f64() / tasks.len().max(1) as f64;
        (tasks.iter().zip(tried))
            .map(|(task, (cpu_s, result))| Attempt {
                wall_s,
                cpu_s,
                peak_rss_bytes: 0,
                stderr_tail: String::new(),
                result: result.and_then(|()| self.commit(task)),
            })
            .collect()
    }

    /// Decodes the joined clips of `tasks` (their partial files) across each of their joins
    /// with one ffmpeg ([`join_check_args`]): its CPU seconds, and whether every join decoded.
    fn check_joins(&self, tasks: &[&Task]) -> (f64, Result<(), AttemptError>) {
        let clips: Vec<PathBuf> = (tasks.iter())
            .map(|task| partial_path(&self.layout.final_path(task)))
            .collect();
        let mut joins: Vec<(&Path, f64)> = Vec::new();
        for (task, clip) in tasks.iter().zip(&clips) {
            let pieces = task.cut.map(|c| c.pieces()).unwrap_or_default();
            let span = &task.spec.span;
            let starts = pieces
                .iter()
                .skip(1)
                .map(|(_, start, _)| start - span.start);
            joins.extend(starts.map(|join| (clip.as_path(), join)));
        }
        if joins.is_empty() {
            return (0.0, Ok(()));
        }
        let after_s = read_past_s(self.media.reorder_delay_s, self.media.frame_duration());
        let args = join_check_args(&joins, after_s);
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
                let at: Vec<f64> = joins.iter().map(|(_, join)| *join).collect();
                Err(AttemptError::JoinDecode(format!("at {at:.2?} s: {why}")))
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// `check_together` over `count` clips where the clips in `broken` fail: each clip's
    /// result (its CPU seconds, whether it passed) and the checks run.
    fn checked(count: usize, broken: &[usize]) -> (Vec<(f64, bool)>, Vec<Vec<usize>>) {
        let runs = Mutex::new(Vec::new());
        let check = |clips: &[usize]| {
            runs.lock().unwrap().push(clips.to_vec());
            match clips.iter().any(|i| broken.contains(i)) {
                true => (
                    1.0,
                    Err(AttemptError::JoinDecode("at [1.00] s: broken".into())),
                ),
                false => (1.0, Ok(())),
            }
        };
        let results = check_together(count, &check);
        let results = (results.into_iter())
            .map(|(cpu_s, result)| (cpu_s, result.is_ok()))
            .collect();
        (results, runs.into_inner().unwrap())
    }

    #[test]
    fn joins_pass_together_in_one_check_whose_cost_they_share() {
        let (results, runs) = checked(4, &[]);
        assert_eq!(runs, vec![vec![0, 1, 2, 3]]);
        assert_eq!(results, vec![(0.25, true); 4]);
        assert!(checked(0, &[]).1.is_empty(), "nothing to check, no ffmpeg");
    }

    #[test]
    fn a_broken_join_fails_its_own_clip_only() {
        let (results, runs) = checked(3, &[1]);
        assert_eq!(runs, vec![vec![0, 1, 2], vec![0], vec![1], vec![2]]);
        let third = 1.0 / 3.0;
        let passed: Vec<bool> = results.iter().map(|r| r.1).collect();
        assert_eq!(passed, vec![true, false, true]);
        assert!(results.iter().all(|r| (r.0 - (third + 1.0)).abs() < 1e-9));
        // A clip checked alone is not checked again.
        let (results, runs) = checked(1, &[0]);
        assert_eq!((results, runs), (vec![(1.0, false)], vec![vec![0]]));
    }
}
