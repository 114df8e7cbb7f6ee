//! The `/progress` state: one per server, describing the running job, fed by engine events.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::AppState;
use crate::execute::Event;

/// Progress fields of both existing backends.
#[derive(Debug, Clone, Serialize)]
pub struct ProgressState {
    /// idle, starting, downloading, analyzing, processing, complete or error.
    pub status: &'static str,
    pub message: String,
    /// 0–100.
    pub progress: f64,
    pub error: Option<String>,
    pub total_clips: usize,
    /// Clips finished so far.
    pub current_clip: usize,
    pub threads_used: usize,
    /// Seconds, from the measured clip times.
    pub estimated_time_remaining: f64,
    pub elapsed_time: f64,
    #[serde(skip)]
    started: Option<Instant>,
    #[serde(skip)]
    clip_seconds: Vec<f64>,
}

/// Share of the progress bar before encoding starts (download and analysis).
const BEFORE_ENCODING: f64 = 15.0;

impl ProgressState {
    pub fn idle() -> Self {
        ProgressState {
            status: "idle",
            message: "Ready".into(),
            progress: 0.0,
            error: None,
            total_clips: 0,
            current_clip: 0,
            threads_used: 0,
            estimated_time_remaining: 0.0,
            elapsed_time: 0.0,
            started: None,
            clip_seconds: Vec::new(),
        }
    }

    /// A new job begins.
    pub fn start(&mut self) {
        *self = ProgressState::idle();
        self.status = "starting";
        self.message = "Starting".into();
        self.started = Some(Instant::now());
    }

    pub fn set(&mut self, status: &'static str, message: impl Into<String>, progress: f64) {
        self.status = status;
        self.message = message.into();
        self.progress = progress;
        self.tick();
    }

    /// Download progress maps to 0–10 %.
    pub fn downloading(&mut self, bytes: u64, total: Option<u64>) {
        let share = total
            .filter(|t| *t > 0)
            .map_or(0.0, |t| bytes as f64 / t as f64);
        let mib = bytes as f64 / 1048576.0;
        self.set(
            "downloading",
            format!("Downloading: {mib:.1} MiB"),
            10.0 * share.min(1.0),
        );
    }

    pub fn fail(&mut self, error: String) {
        self.status = "error";
        self.message = "Failed".into();
        self.error = Some(error);
        self.tick();
    }

    /// Updates the processing fields from an engine event.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Planned { clips, workers } => {
                self.total_clips = *clips;
                self.threads_used = *workers;
                self.set(
                    "processing",
                    format!("Processing {clips} clips with {workers} workers"),
                    BEFORE_ENCODING,
                );
            }
            Event::Finished { wall_s, .. } => {
                self.current_clip += 1;
                self.clip_seconds.push(*wall_s);
                let done = self.current_clip as f64 / self.total_clips.max(1) as f64;
                let message = format!("Created clip {}/{}", self.current_clip, self.total_clips);
                self.set(
                    "processing",
                    message,
                    BEFORE_ENCODING + (100.0 - BEFORE_ENCODING) * done,
                );
            }
            Event::Failed {
                clip,
                reason,
                will_retry,
                ..
            } => {
                let retry = if *will_retry { ", retrying" } else { "" };
                self.message = format!("Clip {clip} failed: {reason}{retry}");
                self.tick();
            }
            _ => self.tick(),
        }
    }

    /// Refreshes the elapsed time and the ETA (mean measured clip time × clips left / workers).
    fn tick(&mut self) {
        self.elapsed_time = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let left = self.total_clips.saturating_sub(self.current_clip) as f64;
        self.estimated_time_remaining = if self.clip_seconds.is_empty() {
            0.0
        } else {
            let mean = self.clip_seconds.iter().sum::<f64>() / self.clip_seconds.len() as f64;
            mean * left / self.threads_used.max(1) as f64
        };
    }
}

/// `GET /progress`
pub async fn get_progress(State(state): State<Arc<AppState>>) -> Json<ProgressState> {
    let mut progress = state
        .progress
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if progress.status != "complete" && progress.status != "error" && progress.status != "idle" {
        progress.tick();
    }
    Json(progress)
}
