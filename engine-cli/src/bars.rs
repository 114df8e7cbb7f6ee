//! Progress display with indicatif, driven by engine events: one overall bar (seconds of clips
//! written) and one line per worker. Hidden when stderr is not a terminal.

use std::collections::HashMap;
use std::sync::Mutex;

use clipbench_engine::{Event, TimedEvent};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one run, created when the plan is known.
pub struct RunProgress {
    multi: MultiProgress,
    state: Mutex<Option<Bars>>,
}

struct Bars {
    overall: ProgressBar,
    workers: Vec<ProgressBar>,
    /// Seconds written so far of each running clip, to advance the overall bar.
    running: HashMap<u32, f64>,
    finished_s: f64,
    clips_total: usize,
    clips_done: usize,
}

impl RunProgress {
    pub fn new() -> Self {
        RunProgress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            state: Mutex::new(None),
        }
    }

    /// Updates the display for one event.
    pub fn on_event(&self, timed: &TimedEvent) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &timed.event {
            Event::Planned { clips, workers } => {
                let overall = self.multi.add(ProgressBar::new(*clips as u64 * 1000));
                overall.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg} (eta {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                let workers = (0..*workers)
                    .map(|w| {
                        let bar = self.multi.add(ProgressBar::new_spinner());
                        bar.set_message(format!("worker {}: idle", w + 1));
                        bar
                    })
                    .collect();
                *state = Some(Bars {
                    overall,
                    workers,
                    running: HashMap::new(),
                    finished_s: 0.0,
                    clips_total: *clips,
                    clips_done: 0,
                });
            }
            event => {
                if let Some(bars) = state.as_mut() {
                    bars.update(event);
                }
            }
        }
    }

    /// Removes the bars.
    pub fn finish(&self) {
        if let Some(bars) = self.state.lock().unwrap_or_else(|e| e.into_inner()).take() {
            for bar in bars.workers {
                bar.finish_and_clear();
            }
            bars.overall.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

impl Bars {
    fn update(&mut self, event: &Event) {
        match event {
            Event::Started {
                subject,
                worker,
                attempt,
            } => {
                if let Some(clip) = subject.clip() {
                    self.running.insert(clip, 0.0);
                }
                let retry = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                self.worker(*worker, format!("{subject}{retry}: starting"));
            }
            Event::Progress {
                subject,
                worker,
                done_s,
                total_s,
            } => {
                if let Some(clip) = subject.clip() {
                    let share = done_s.min(*total_s) / total_s.max(1e-9);
                    self.running.insert(clip, share);
                }
                self.worker(*worker, format!("{subject}: {done_s:.1}/{total_s:.1} s"));
            }
            Event::Finished {
                subject,
                worker,
                wall_s,
                ..
            } => {
                if let Some(clip) = subject.clip() {
                    self.running.remove(&clip);
                    self.finished_s += 1.0;
                    self.clips_done += 1;
                }
                self.worker(*worker, format!("{subject}: done in {wall_s:.1} s"));
            }
            Event::Failed {
                subject,
                worker,
                reason,
                will_retry,
                ..
            } => {
                if let Some(clip) = subject.clip() {
                    self.running.remove(&clip);
                    if !will_retry {
                        self.finished_s += 1.0;
                    }
                }
                self.worker(*worker, format!("{subject}: {reason}"));
            }
            Event::Planned { .. } | Event::Queued { .. } => {}
        }
        let partial: f64 = self.running.values().sum();
        self.overall
            .set_position(((self.finished_s + partial) * 1000.0) as u64);
        self.overall
            .set_message(format!("{}/{} clips", self.clips_done, self.clips_total));
    }

    fn worker(&self, worker: usize, message: String) {
        if let Some(bar) = self.workers.get(worker) {
            bar.set_message(format!("worker {}: {message}", worker + 1));
            bar.tick();
        }
    }
}

/// A byte progress bar for a download.
pub fn download_bar(url: &impl std::fmt::Display) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("downloading {msg} {bytes}/{total_bytes} ({bytes_per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(url.to_string());
    bar
}
