//! The `/progress` state: one per server, describing the running job, fed by engine events,
//! and shown in the dialect of the backend the server stands in for ([`Compat`]).
//!
//! The real backends disagree on two things (`contract/peers/`): `current_clip` is the clip
//! being *started* on the original and the number of clips *finished* on the optimized, and an
//! error's text goes to `error` on the original and to `message` on the optimized. Both send
//! integers. The exact figures are always in the extra `clipbench` object.

use std::time::Instant;

use serde_json::{json, Value};

use crate::queue::records::JobState;
use clipbench_engine::execute::{Event, Subject};
use clipbench_engine::extras::Compat;
pub use clipbench_engine::extras::Phase;
use clipbench_engine::extras::ProgressExtras;

/// The running (or last) job's progress.
#[derive(Debug, Clone)]
pub struct ProgressState {
    pub phase: Phase,
    /// 0–100.
    pub percent: f64,
    /// What is happening, in our words (`clipbench.detail`).
    pub detail: String,
    pub error: Option<String>,
    pub total_clips: usize,
    pub clips_started: usize,
    pub clips_finished: usize,
    pub workers: usize,
    started: Option<Instant>,
    /// Elapsed seconds, frozen when the job ends.
    ended_s: Option<f64>,
    clip_seconds: Vec<f64>,
}

/// Share of the progress bar before encoding starts (download and analysis).
const BEFORE_ENCODING: f64 = 15.0;

impl ProgressState {
    pub fn idle() -> Self {
        ProgressState {
            phase: Phase::Idle,
            percent: 0.0,
            detail: String::new(),
            error: None,
            total_clips: 0,
            clips_started: 0,
            clips_finished: 0,
            workers: 0,
            started: None,
            ended_s: None,
            clip_seconds: Vec::new(),
        }
    }

    /// A new job begins (its download comes first).
    pub fn start(&mut self) {
        *self = ProgressState::idle();
        self.phase = Phase::Downloading;
        self.detail = "Starting".into();
        self.started = Some(Instant::now());
    }

    pub fn set(&mut self, phase: Phase, detail: impl Into<String>, percent: f64) {
        self.phase = phase;
        self.detail = detail.into();
        self.percent = percent;
        if matches!(phase, Phase::Complete | Phase::Error) {
            self.ended_s = Some(self.elapsed_s());
        }
    }

    /// A queued job's progress, from its state in the queue's store: processing counts
    /// finished tasks.
    pub fn of_queued(job: &JobState) -> Self {
        let mut progress = ProgressState::idle();
        progress.phase = match job.phase {
            Phase::Cancelled => Phase::Idle,
            phase => phase,
        };
        let share = job.tasks_done as f64 / job.tasks.max(1) as f64;
        progress.percent = match progress.phase {
            Phase::Downloading => 0.0,
            Phase::Analyzing => 10.0,
            Phase::Processing => BEFORE_ENCODING + (100.0 - BEFORE_ENCODING) * share,
            Phase::Complete => 100.0,
            Phase::Idle | Phase::Error | Phase::Cancelled => 0.0,
        };
        progress.detail = match progress.phase {
            Phase::Processing => format!("Finished {} of {} tasks", job.tasks_done, job.tasks),
            _ => job.detail.clone(),
        };
        progress.error = job.error.clone();
        progress.total_clips = job.clips;
        progress.clips_started = job.clips_done;
        progress.clips_finished = job.clips_done;
        progress.ended_s = Some(job.elapsed_s);
        progress
    }

    /// Download progress maps to 0–10 %, until the clips are planned (a run that cuts while
    /// the video downloads is processing from then on).
    pub fn downloading(&mut self, bytes: u64, total: Option<u64>) {
        if self.phase != Phase::Downloading {
            return;
        }
        let share = total
            .filter(|t| *t > 0)
            .map_or(0.0, |t| bytes as f64 / t as f64);
        let mib = bytes as f64 / 1048576.0;
        self.set(
            Phase::Downloading,
            format!("Downloading: {mib:.1} MiB"),
            10.0 * share.min(1.0),
        );
    }

    pub fn fail(&mut self, error: String) {
        self.error = Some(error);
        self.set(Phase::Error, "Failed", self.percent);
    }

    /// Updates the processing fields from an engine event.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Planned { clips, workers } => {
                self.total_clips = *clips;
                self.workers = *workers;
                self.set(
                    Phase::Processing,
                    format!("Processing {clips} clips with {workers} workers"),
                    BEFORE_ENCODING,
                );
            }
            Event::Started {
                subject: Subject::Clip(_),
                attempt: 1,
                ..
            } => {
                self.clips_started = (self.clips_started + 1).min(self.total_clips);
            }
            Event::Finished {
                subject: Subject::Clip(_),
                wall_s,
                ..
            } => {
                self.clips_finished += 1;
                self.clip_seconds.push(*wall_s);
                let done = self.clips_finished as f64 / self.total_clips.max(1) as f64;
                let detail = format!("Created clip {}/{}", self.clips_finished, self.total_clips);
                self.set(
                    Phase::Processing,
                    detail,
                    BEFORE_ENCODING + (100.0 - BEFORE_ENCODING) * done,
                );
            }
            Event::Failed {
                subject,
                reason,
                will_retry,
                ..
            } => {
                let retry = if *will_retry { ", retrying" } else { "" };
                self.detail = format!("{subject} failed: {reason}{retry}");
            }
            _ => {}
        }
    }

    fn elapsed_s(&self) -> f64 {
        self.ended_s
            .or_else(|| self.started.map(|s| s.elapsed().as_secs_f64()))
            .unwrap_or(0.0)
    }

    /// Seconds left: mean measured clip time × clips left / workers.
    fn eta_s(&self) -> f64 {
        if self.clip_seconds.is_empty() || self.ended_s.is_some() {
            return 0.0;
        }
        let left = self.total_clips.saturating_sub(self.clips_finished) as f64;
        let mean = self.clip_seconds.iter().sum::<f64>() / self.clip_seconds.len() as f64;
        mean * left / self.workers.max(1) as f64
    }

    /// The clips begun so far, as the original backend counts them (never below those done).
    fn clips_begun(&self) -> usize {
        self.clips_started.max(self.clips_finished)
    }

    /// The backend's status word and message for this state.
    fn status_and_message(&self, compat: Compat) -> (&'static str, String) {
        let (total, begun, done) = (self.total_clips, self.clips_begun(), self.clips_finished);
        match (compat, self.phase) {
            (_, Phase::Idle | Phase::Cancelled) => ("idle", String::new()),
            (Compat::Original, Phase::Downloading) => {
                ("downloading", "Downloading video...".into())
            }
            (Compat::Original, Phase::Analyzing) => {
                ("processing", "Calculating clip segments...".into())
            }
            (Compat::Original, Phase::Processing) if begun == 0 => {
                ("processing", "Calculating clip segments...".into())
            }
            (Compat::Original, Phase::Processing) => {
                ("processing", format!("Generating clip {begun}/{total}..."))
            }
            (Compat::Original, Phase::Complete) => {
                ("complete", format!("Successfully generated {done} shorts!"))
            }
            (Compat::Original, Phase::Error) => ("error", "Processing failed".into()),
            (Compat::Optimized, Phase::Downloading) => ("starting", "Initializing...".into()),
            (Compat::Optimized, Phase::Analyzing) => {
                ("analyzing", "Calculating optimal segments...".into())
            }
            (Compat::Optimized, Phase::Processing) if done == 0 => {
                ("processing", "Starting parallel processing...".into())
            }
            (Compat::Optimized, Phase::Processing) => {
                ("processing", format!("Processing clip {done}/{total}"))
            }
            (Compat::Optimized, Phase::Complete) => ("complete", "Processing complete!".into()),
            (Compat::Optimized, Phase::Error) => ("error", self.error.clone().unwrap_or_default()),
        }
    }

    /// `/progress` in the backend's dialect: the same keys and JSON types as the recordings
    /// (integers), plus the exact figures under `clipbench`.
    pub fn view(&self, compat: Compat) -> Value {
        let (status, message) = self.status_and_message(compat);
        let extra = ProgressExtras {
            phase: self.phase,
            detail: self.detail.clone(),
            progress: self.percent,
            clips_started: self.clips_begun(),
            clips_finished: self.clips_finished,
            total_clips: self.total_clips,
            workers: self.workers,
            elapsed_s: self.elapsed_s(),
            eta_s: self.eta_s(),
            error: self.error.clone(),
        };
        // Python's int(): the backends truncate.
        let progress = self.percent as u64;
        match compat {
            Compat::Original => json!({
                "status": status,
                "message": message,
                "progress": progress,
                "error": self.error,
                "total_clips": self.total_clips,
                "current_clip": match self.phase {
                    Phase::Complete => self.clips_finished,
                    _ => self.clips_begun(),
                },
                "clipbench": extra,
            }),
            Compat::Optimized => json!({
                "status": status,
                "message": message,
                "progress": progress,
                "error": Value::Null,
                "total_clips": self.total_clips,
                "current_clip": self.clips_finished,
                "threads_used": self.workers,
                "elapsed_time": self.elapsed_s() as u64,
                "estimated_time_remaining": self.eta_s().ceil() as u64,
                "clipbench": extra,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(clip: u32) -> Event {
        Event::Started {
            subject: Subject::Clip(clip),
            worker: 0,
            attempt: 1,
        }
    }

    fn finished(clip: u32) -> Event {
        Event::Finished {
            subject: Subject::Clip(clip),
            worker: 0,
            wall_s: 2.0,
            cpu_s: 2.0,
            bytes: 1,
        }
    }

    #[test]
    fn current_clip_means_started_on_the_original_and_finished_on_the_optimized() {
        let mut p = ProgressState::idle();
        p.start();
        p.on_event(&Event::Planned {
            clips: 3,
            workers: 2,
        });
        p.on_event(&started(1));
        p.on_event(&started(2));
        p.on_event(&finished(1));
        let original = p.view(Compat::Original);
        let optimized = p.view(Compat::Optimized);
        assert_eq!(original["current_clip"], 2);
        assert_eq!(original["message"], "Generating clip 2/3...");
        assert_eq!(optimized["current_clip"], 1);
        assert_eq!(optimized["threads_used"], 2);
        assert!(original.get("threads_used").is_none());
        assert!(optimized["progress"].is_u64() && optimized["estimated_time_remaining"].is_u64());
        assert_eq!(optimized["clipbench"]["clips_finished"], 1);
    }

    #[test]
    fn errors_go_where_each_backend_puts_them() {
        let mut p = ProgressState::idle();
        p.start();
        p.fail("cannot download http://h/v.mp4: 404".into());
        let original = p.view(Compat::Original);
        let optimized = p.view(Compat::Optimized);
        assert_eq!(original["status"], "error");
        assert_eq!(original["error"], "cannot download http://h/v.mp4: 404");
        assert_eq!(optimized["error"], Value::Null);
        assert_eq!(optimized["message"], "cannot download http://h/v.mp4: 404");
    }

    #[test]
    fn statuses_follow_each_backend() {
        let mut p = ProgressState::idle();
        assert_eq!(p.view(Compat::Original)["status"], "idle");
        p.start();
        assert_eq!(p.view(Compat::Original)["status"], "downloading");
        assert_eq!(p.view(Compat::Optimized)["status"], "starting");
        p.set(Phase::Analyzing, "Analyzing", 10.0);
        assert_eq!(p.view(Compat::Original)["status"], "processing");
        assert_eq!(p.view(Compat::Optimized)["status"], "analyzing");
    }
}
