//! Making the runs: each (target, sample) slot in order, under the system monitor, recorded
//! and appended to `runs.csv` at once, so an interruption or a crash loses no finished run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clipbench_engine::monitor::{Monitor, MonitorSummary};
use clipbench_engine::{CancelToken, MediaInfo, Tools};

use super::observer::{Progress, RunLabel};
use super::order::{eta_s, Slot};
use crate::config::TargetConfig;
use crate::export::csv::RunsCsv;
use crate::record::Stopped;
use crate::record::{JobShape, RunRecord, RunStatus, Timeline};
use crate::stopping::StopRule;
use crate::targets::{Job, Measured, Target};

/// A sample ready to run on: its name (with `@LINK` when it has its own), file and probe, and
/// where the harness's file server offers it (over its link, when it has one).
pub struct ReadySample {
    pub name: String,
    /// The sample's version in the manifest.
    pub version: u32,
    pub path: PathBuf,
    pub media: MediaInfo,
    pub server: Option<std::net::SocketAddr>,
    /// Delivered over a shaped link: targets that take a file download it first.
    pub shaped: bool,
}

/// What the runs share.
pub struct Bench<'a> {
    pub targets: &'a [&'a dyn Target],
    pub samples: &'a [ReadySample],
    pub warmup_rounds: usize,
    pub report_dir: &'a Path,
    pub poll_interval: std::time::Duration,
    pub monitor_interval: std::time::Duration,
    pub runtime: &'a tokio::runtime::Runtime,
    pub tools: &'a Tools,
    pub cancel: &'a CancelToken,
    pub observe: &'a dyn Fn(&Progress),
    /// Stops the runs early when it says the recorded ones are enough.
    pub enough: Option<super::Enough<'a>>,
    /// Stops each cell once its part of the answer is decided: the rule and the baseline.
    pub stop: Option<(&'a StopRule, Option<&'a str>)>,
}

/// The recorded runs (warm-ups are not recorded) and what was seen during them.
#[derive(Default)]
pub struct Recorded {
    pub runs: Vec<RunRecord>,
    pub timelines: Vec<Timeline>,
    pub shapes: Vec<JobShape>,
    pub interrupted: bool,
    /// Where each cell stopped, under a stopping rule.
    pub stopped: Vec<Stopped>,
}

impl Bench<'_> {
    /// Makes every run of `order`, stopping early when cancelled.
    pub fn measure(&self, order: &[Slot], csv: &mut RunsCsv) -> anyhow::Result<Recorded> {
        let began = Instant::now();
        let mut took: Vec<((usize, usize), f64)> = Vec::new();
        let mut recorded = Recorded::default();
        for (position, &(round, t, s)) in order.iter().enumerate() {
            if self.cancel.is_cancelled() {
                recorded.interrupted = true;
                break;
            }
            let (target, sample) = (self.targets[t], &self.samples[s]);
            if round >= self.warmup_rounds && self.cell_stopped(&mut recorded, target, sample) {
                continue;
            }
            let label = RunLabel {
                position,
                total: order.len(),
                target: target.config().name(),
                sample: &sample.name,
                warmup: round < self.warmup_rounds,
            };
            let eta = eta_s(&self.still_to_run(&order[position..], &recorded), &took);
            (self.observe)(&Progress::Started {
                run: &label,
                eta_s: eta,
            });
            let run_began = Instant::now();
            let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            let (measured, monitored) = self.run_once(target, sample, position)?;
            took.push(((t, s), run_began.elapsed().as_secs_f64()));
            (self.observe)(&Progress::Finished {
                run: &label,
                outcome: outcome_word(&measured),
                wall_s: measured.wall_s,
                elapsed_s: began.elapsed().as_secs_f64(),
                eta_s: eta_s(&self.still_to_run(&order[position + 1..], &recorded), &took),
            });
            if self.cancel.is_cancelled() {
                // The run was cut short: it is not a finished run.
                recorded.interrupted = true;
                break;
            }
            if label.warmup {
                continue;
            }
            let run_number = recorded
                .runs
                .iter()
                .filter(|r| r.target == label.target && r.sample == sample.name)
                .count()
                + 1;
            let at = Placed {
                run: run_number,
                order: position,
                started_at: started_at.to_string(),
            };
            let record = record(target.config(), sample, &at, &measured, &monitored);
            csv.append(&record)?;
            if record.status != RunStatus::Ok {
                (self.observe)(&Progress::Problem(format!(
                    "{} on {} run {run_number}: {:?}: {}",
                    record.target, record.sample, record.status, record.problems
                )));
            }
            recorded.keep(record, measured.shape, &monitored);
            if self.enough.is_some_and(|enough| enough(&recorded.runs)) {
                break;
            }
        }
        if self.stop.is_some() {
            for &(_, t, s) in order {
                self.cell_stopped(&mut recorded, self.targets[t], &self.samples[s]);
            }
        }
        Ok(recorded)
    }

    /// The slots of `order` whose cells the stopping rule has not stopped (the runs the ETA
    /// counts).
    fn still_to_run(&self, order: &[Slot], recorded: &Recorded) -> Vec<Slot> {
        let Some((rule, baseline)) = self.stop else {
            return order.to_vec();
        };
        let stopped = |&(_, t, s): &Slot| {
            let (target, sample) = (self.targets[t].config().name(), &self.samples[s].name);
            rule.stopped(&recorded.runs, target, sample, baseline)
                .is_some()
        };
        order
            .iter()
            .copied()
            .filter(|slot| !stopped(slot))
            .collect()
    }

    /// Whether the stopping rule says `target` on `sample` needs no more runs (noted once,
    /// with why, in `recorded.stopped`). A cell cut short by an interruption says so.
    fn cell_stopped(
        &self,
        recorded: &mut Recorded,
        target: &dyn Target,
        sample: &ReadySample,
    ) -> bool {
        let Some((rule, baseline)) = self.stop else {
            return false;
        };
        let name = target.config().name();
        let known = |s: &Stopped| s.target == name && s.sample == sample.name;
        if recorded.stopped.iter().any(known) {
            return true;
        }
        let stopped = rule.stopped(&recorded.runs, name, &sample.name, baseline);
        let stopped = match (stopped, recorded.interrupted) {
            (Some(stopped), _) => stopped,
            (None, true) => Stopped {
                target: name.to_owned(),
                sample: sample.name.clone(),
                runs: (recorded.runs.iter())
                    .filter(|r| r.target == name && r.sample == sample.name)
                    .count(),
                reason: "interrupted".to_owned(),
            },
            (None, false) => return false,
        };
        recorded.stopped.push(stopped);
        true
    }

    /// One run of `target` on `sample` in its own scratch folder, under the monitor.
    fn run_once(
        &self,
        target: &dyn Target,
        sample: &ReadySample,
        position: usize,
    ) -> anyhow::Result<(Measured, MonitorSummary)> {
        let scratch = self
            .report_dir
            .join("scratch")
            .join(format!("run-{position}"));
        std::fs::create_dir_all(&scratch)?;
        let url = sample.server.map(|address| {
            let file = sample
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            format!("http://{address}/{file}")
        });
        let job = Job {
            sample: &sample.name,
            input: &sample.path,
            url: url.as_deref(),
            over_link: sample.shaped,
            media: &sample.media,
            scratch: &scratch,
            poll_interval: self.poll_interval,
            cancel: self.cancel,
            runtime: self.runtime,
            tools: self.tools,
        };
        let monitor = Monitor::start(self.monitor_interval);
        let measured = target.run(&job);
        let monitored = monitor.stop();
        let _ = std::fs::remove_dir_all(&scratch);
        Ok((measured, monitored))
    }
}

impl Recorded {
    fn keep(&mut self, record: RunRecord, shape: Option<JobShape>, monitored: &MonitorSummary) {
        self.timelines.push(Timeline {
            target: record.target.clone(),
            sample: record.sample.clone(),
            run: record.run,
            points: monitored
                .samples
                .iter()
                .map(|p| (p.at_s, p.cpu_percent))
                .collect(),
        });
        if let Some(mut shape) = shape {
            (shape.target, shape.run) = (record.target.clone(), record.run);
            self.shapes.push(shape);
        }
        self.runs.push(record);
    }
}

/// How a run ended, in one word.
fn outcome_word(measured: &Measured) -> &'static str {
    if measured.failed {
        "failed"
    } else if measured.problems.is_empty() {
        "ok"
    } else {
        "invalid"
    }
}

/// Where a run sits: its number within its cell, its place in the order, when it started.
struct Placed {
    run: usize,
    order: usize,
    started_at: String,
}

/// The record of one measured run.
fn record(
    target: &TargetConfig,
    sample: &ReadySample,
    at: &Placed,
    m: &Measured,
    monitored: &MonitorSummary,
) -> RunRecord {
    let status = if m.failed {
        RunStatus::Failed
    } else if !m.problems.is_empty() || m.clips == 0 || m.clips_valid < m.clips {
        RunStatus::Invalid
    } else {
        RunStatus::Ok
    };
    let duration = sample.media.duration;
    RunRecord {
        target: target.name().to_owned(),
        kind: target.kind().to_owned(),
        sample: sample.name.clone(),
        run: at.run,
        order: at.order,
        started_at: at.started_at.clone(),
        status,
        problems: m.problems.join("; "),
        wall_s: m.wall_s,
        download_s: m.download_s,
        analysis_s: m.analysis_s,
        encode_s: m.encode_s,
        time_to_first_clip_s: m.time_to_first_clip_s,
        phases_source: m.sources.phases.clone(),
        ttfc_source: m.sources.time_to_first_clip.clone(),
        clips: m.clips,
        clips_valid: m.clips_valid,
        output_bytes: m.output_bytes,
        source_duration_s: duration,
        // A failed or invalid run did not process the video: no rate is derived from it.
        realtime_factor: (status == RunStatus::Ok && m.wall_s > 0.0).then(|| duration / m.wall_s),
        work_cpu_s: m.work_cpu_s,
        workers: m.workers,
        workers_source: m.sources.workers.clone(),
        sweep_workers: target.sweep_workers(),
        cpu_mean_percent: monitored.cpu_mean_percent,
        cpu_peak_percent: monitored.cpu_peak_percent,
        memory_peak_bytes: monitored.memory_peak_bytes,
        sampler_cpu_s: monitored.sampler_cpu_s,
    }
}

#[cfg(test)]
mod tests;
