//! One attempt of one task with real ffmpeg (the pool's [`TaskRunner`]): build ffmpeg's
//! arguments, run the child, check what it wrote and give it its final name, or say (typed) why
//! the attempt failed.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::child::{run_ffmpeg, ChildResult, End, Limits};
use super::events::Emitter;
use super::graph::{audio_part, Task};
use super::layout::{parse_segment_list, Layout};
use super::outcome::AttemptError;
use super::pool::{Attempt, TaskRunner, Written};
use super::ExecuteOptions;
use crate::allocate::ThreadSetting;
use crate::cancel::CancelToken;
use crate::encode::{
    assemble_args, audio_args, chunk_group_args, concat_list_line, ffmpeg_args, AssembleJob,
    ClipAudio, EncodeJob,
};
use crate::files::partial_path;
use crate::mp4join::CopySource;
use crate::probe::MediaInfo;
use crate::task::TaskKind;
use crate::validate::{read_mp4, validate_file};

/// What every task of one execution shares.
pub(super) struct TaskContext<'a> {
    pub media: &'a MediaInfo,
    pub options: &'a ExecuteOptions,
    pub cancel: &'a CancelToken,
    pub events: &'a Emitter<'a>,
    pub layout: &'a Layout,
    /// The source's video index, when a smart cut's join reads each copy from the source.
    pub copy_source: Option<&'a CopySource>,
}

/// Renames `from` to `to`, as an attempt error.
pub(super) fn rename(from: &Path, to: &Path) -> Result<u64, AttemptError> {
    std::fs::rename(from, to).map_err(|cause| AttemptError::Rename {
        path: from.to_owned(),
        cause,
    })?;
    Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
}

impl TaskRunner for TaskContext<'_> {
    /// Runs the task's ffmpeg and commits what it wrote; a smart cut's join (or a clip that is
    /// one copy read from the source) is joined in this thread instead, its joins decoded by
    /// one ffmpeg (their CPU time counted as a child's would be).
    fn attempt(&self, task: &Task, worker: usize, threads: ThreadSetting) -> Attempt {
        if self.joins_here(task) {
            let mut joined = self.join_together(std::slice::from_ref(task));
            if let Some(attempt) = joined.pop() {
                return attempt;
            }
        }
        let (child, error) = self.run_once(task, worker, threads);
        let result = match error {
            None => self.commit(task),
            Some(error) => Err(error),
        };
        Attempt {
            wall_s: child.wall_s,
            cpu_s: child.cpu_s,
            peak_rss_bytes: child.peak_rss_bytes,
            stderr_tail: child.stderr_tail,
            result,
        }
    }

    fn attempt_joins(&self, tasks: &[Task], _worker: usize) -> Vec<Attempt> {
        self.join_together(tasks)
    }

    fn clean_up(&self, task: &Task) {
        self.layout.clean_up(task);
    }
}

impl TaskContext<'_> {
    /// Runs the task's ffmpeg once. A smart cut whose pieces and audio are all read from the
    /// source runs none: its pieces task does nothing.
    fn run_once(
        &self,
        task: &Task,
        worker: usize,
        threads: ThreadSetting,
    ) -> (ChildResult, Option<AttemptError>) {
        if task.spec.kind == TaskKind::Cut && task.cut.is_some() && !self.writes_pieces(task) {
            return (ChildResult::in_process(0.0, 0.0), None);
        }
        self.spawn(task, worker, threads)
    }

    /// Whether the task is joined in this process ([`TaskContext::join_together`]): a smart
    /// cut's join, or a clip that is one copy read from the source.
    fn joins_here(&self, task: &Task) -> bool {
        let copy_from_source = task.spec.kind == TaskKind::Copy && task.cut.is_some();
        task.joins_smart_cut() || (copy_from_source && !self.writes_pieces(task))
    }

    /// Runs the task's ffmpeg once (not at all when its arguments cannot be made).
    fn spawn(
        &self,
        task: &Task,
        worker: usize,
        threads: ThreadSetting,
    ) -> (ChildResult, Option<AttemptError>) {
        let args = match self.ffmpeg_args(task, threads) {
            Ok(args) => args,
            Err(e) => return (ChildResult::not_started(String::new()), Some(e)),
        };
        tracing::debug!(
            "clip {} {:?}: ffmpeg {}",
            task.spec.span.number,
            task.spec.kind,
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let limits = Limits {
            timeout: self.options.timeout,
            stall: self.options.stall_timeout,
        };
        let on_progress = |done_s: f64| self.events.progress(task, worker, done_s);
        let result = run_ffmpeg(
            &self.options.tools.ffmpeg,
            &args,
            limits,
            self.cancel,
            &on_progress,
        );
        let error = failure_of_child(&result.end, self.options.timeout);
        (result, error)
    }

    /// The ffmpeg arguments of one attempt (writing the concat list of an assembly first), or
    /// why there are none.
    fn ffmpeg_args(
        &self,
        task: &Task,
        threads: ThreadSetting,
    ) -> Result<Vec<OsString>, AttemptError> {
        if let Some(cut) = &task.cut {
            return self.smart_args(task, cut, threads);
        }
        let span = &task.spec.span;
        let temp_path = partial_path(&self.layout.final_path(task));
        let job = EncodeJob {
            input: &self.media.path,
            output: &temp_path,
            start: span.start,
            duration: span.duration(),
            has_audio: self.media.has_audio,
            threads,
            odd_size: self.media.width % 2 == 1 || self.media.height % 2 == 1,
            sample_entry: crate::smart::sample_entry(&self.media.video_codec),
            seek_lead_s: self.media.seek_lead_s,
        };
        Ok(match task.spec.kind {
            TaskKind::Encode | TaskKind::Copy | TaskKind::Cut => ffmpeg_args(task.profile, &job),
            TaskKind::Audio => audio_args(task.profile, &job),
            TaskKind::Chunk => {
                let (pattern, list) = self.layout.group_outputs(task);
                // Cut at the output frame where every chunk but the first starts.
                let frame = self.media.frame_duration();
                let cuts: Vec<u64> = task.chunks[1..]
                    .iter()
                    .map(|c| ((c.start - span.start) / frame).round() as u64)
                    .collect();
                let job = EncodeJob {
                    output: &pattern,
                    ..job
                };
                chunk_group_args(task.profile, &job, &cuts, &list)
            }
            TaskKind::Assemble => {
                let list: String = task
                    .chunks
                    .iter()
                    .map(|c| {
                        let path = self.layout.chunk_path(c);
                        concat_list_line(&path).ok_or(AttemptError::ConcatListName(path))
                    })
                    .collect::<Result<_, _>>()?;
                let audio_file = self.layout.audio_path(span.number);
                let audio = if task.parts.contains(&audio_part(span.number)) {
                    ClipAudio::Encoded(&audio_file)
                } else if self.media.has_audio {
                    ClipAudio::FromSource(&self.media.path)
                } else {
                    ClipAudio::None
                };
                self.join_args(task, &list, audio)?
            }
        })
    }

    /// The ffmpeg arguments of a join: writes its concat `list`, then joins the listed files
    /// by stream copy with the clip's `audio`.
    pub(super) fn join_args(
        &self,
        task: &Task,
        list: &str,
        audio: ClipAudio,
    ) -> Result<Vec<OsString>, AttemptError> {
        let span = &task.spec.span;
        let list_path = self.layout.concat_list_path(span.number);
        write_concat_list(&list_path, list)?;
        let temp_path = partial_path(&self.layout.final_path(task));
        let job = AssembleJob {
            chunk_list: &list_path,
            audio,
            output: &temp_path,
            start: span.start,
            duration: span.duration(),
        };
        Ok(assemble_args(task.profile, &job))
    }

    /// Checks what an attempt wrote and gives it its final name: a clip is probed against its
    /// plan; a separate audio checked for length; a chunk group's pieces are checked against
    /// the muxer's list (count and durations; the joined clips are probed later).
    pub(super) fn commit(&self, task: &Task) -> Result<Written, AttemptError> {
        let final_path = self.layout.final_path(task);
        let temp_path = partial_path(&final_path);
        let (path, validation) = match task.spec.kind {
            TaskKind::Cut | TaskKind::Chunk => {
                let bytes = match task.spec.kind {
                    TaskKind::Cut => self.commit_pieces(task)?,
                    _ => self.commit_group(task)?,
                };
                return Ok(Written {
                    bytes,
                    path: None,
                    validation: None,
                });
            }
            TaskKind::Audio => {
                self.check_audio(task, &temp_path)?;
                (None, None)
            }
            _ => {
                let validation = validate_file(
                    &self.options.tools,
                    &temp_path,
                    &task.spec.span,
                    self.media,
                    task.profile,
                );
                if !validation.valid {
                    return Err(AttemptError::InvalidOutput(validation.problems));
                }
                (Some(final_path.clone()), Some(validation))
            }
        };
        let bytes = rename(&temp_path, &final_path)?;
        Ok(Written {
            bytes,
            path,
            validation,
        })
    }

    /// A separate audio file: audio present, as long as the clip within two audio frames.
    pub(super) fn check_audio(&self, task: &Task, path: &Path) -> Result<(), AttemptError> {
        let audio = read_mp4(path).ok_or_else(|| AttemptError::UnreadableAudio(path.into()))?;
        let written = if audio.has_audio { audio.duration } else { 0.0 };
        self.check_audio_length(task, written, audio.audio_frame_duration())
    }

    /// Where a clip's audio ends: at its end, or where the source's audio ends before.
    pub(super) fn audio_end(&self, task: &Task) -> f64 {
        let span = &task.spec.span;
        self.media
            .audio_end
            .map_or(span.end, |end| end.min(span.end))
    }

    /// A clip's audio of `written` seconds is as long as planned within two audio frames
    /// (of `frame_s`).
    pub(super) fn check_audio_length(
        &self,
        task: &Task,
        written: f64,
        frame_s: f64,
    ) -> Result<(), AttemptError> {
        let tolerance = 2.0 * frame_s + 0.001;
        let planned = (self.audio_end(task) - task.spec.span.start).max(0.0);
        if written <= 0.0 || (written - planned).abs() > tolerance {
            return Err(AttemptError::AudioLength {
                clip: task.spec.span.number,
                written,
                planned,
            });
        }
        Ok(())
    }

    /// Checks a chunk group's pieces and renames each to its chunk's name; returns the bytes.
    fn commit_group(&self, task: &Task) -> Result<u64, AttemptError> {
        let (_, list) = self.layout.group_outputs(task);
        let listed = std::fs::read_to_string(&list)
            .map_err(|cause| AttemptError::NoSegmentList { path: list, cause })?;
        let pieces = parse_segment_list(&listed);
        if pieces.len() != task.chunks.len() {
            return Err(AttemptError::PieceCount {
                written: pieces.len(),
                planned: task.chunks.len(),
            });
        }
        let tolerance = self.media.frame_duration() + 0.001;
        for ((_, written), chunk) in pieces.iter().zip(&task.chunks) {
            if (written - chunk.duration()).abs() > tolerance {
                return Err(AttemptError::ChunkLength {
                    chunk: chunk.number,
                    written: *written,
                    planned: chunk.duration(),
                });
            }
        }
        let mut bytes = 0;
        for ((name, _), chunk) in pieces.iter().zip(&task.chunks) {
            let written = self.layout.chunk_dir.join(name);
            bytes += rename(&written, &self.layout.chunk_path(chunk))?;
        }
        Ok(bytes)
    }
}

/// CPU seconds this thread has used.
pub(super) fn thread_cpu_s() -> f64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

/// Writes an ffmpeg concat list, as the reason an attempt could not start.
fn write_concat_list(path: &Path, list: &str) -> Result<(), AttemptError> {
    std::fs::write(path, list).map_err(AttemptError::ConcatList)
}

/// Why a child that did not exit cleanly failed (`None` for a clean exit).
fn failure_of_child(end: &End, timeout: Duration) -> Option<AttemptError> {
    Some(match end {
        End::Exited(0) => return None,
        End::Exited(code) => AttemptError::Exited(*code),
        End::Signaled(signal) => AttemptError::Signaled(*signal),
        End::Stalled(after) => AttemptError::Stalled(*after),
        End::TimedOut => AttemptError::TimedOut(timeout),
        End::Cancelled => AttemptError::Cancelled,
        End::SpawnFailed(e) => AttemptError::SpawnFailed(e.clone()),
    })
}
