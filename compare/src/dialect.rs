//! HTTP dialects: what an HTTP backend's answers mean, so that every target's numbers mean the
//! same thing. Pure: no network here (detection's requests live in `targets/http.rs`).
//!
//! The three servers the harness knows (`contract/peers/` holds recordings of the first two):
//! - the **original** backend: `current_clip` is the clip being *started*; statuses
//!   `downloading → processing → complete | error`; no worker count (one clip at a time);
//! - the **optimized** backend: `current_clip` counts clips *finished*; statuses
//!   `starting → analyzing → processing → complete | error`; `threads_used` in `/progress`;
//! - **clipbench-engine serve**: either of the above (`--compat`), plus an exact `clipbench`
//!   object in `/progress` (phase, clips finished, workers) that the harness reads instead.

use clipbench_engine::extras::{HealthExtras, ProgressExtras, ENGINE_NAME};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which server a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Original,
    Optimized,
    Clipbench,
}

impl Flavor {
    /// Parses a preset name.
    pub fn from_preset(name: &str) -> Result<Flavor, String> {
        match name {
            "original" => Ok(Flavor::Original),
            "optimized" => Ok(Flavor::Optimized),
            "clipbench" => Ok(Flavor::Clipbench),
            other => Err(format!(
                "unknown HTTP preset {other:?}: use original, optimized or clipbench (or no preset to detect it)"
            )),
        }
    }

    /// The preset name.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Original => "original",
            Flavor::Optimized => "optimized",
            Flavor::Clipbench => "clipbench",
        }
    }

    /// Where a preset looks when no base URL is given: the ports its users run it on.
    pub fn candidate_base_urls(self) -> &'static [&'static str] {
        match self {
            Flavor::Original => &["http://127.0.0.1:5000", "http://127.0.0.1:5001"],
            Flavor::Optimized | Flavor::Clipbench => {
                &["http://127.0.0.1:5001", "http://127.0.0.1:5000"]
            }
        }
    }

    /// What `current_clip` counts on this server.
    pub fn clip_counter(self) -> ClipCounter {
        match self {
            Flavor::Original => ClipCounter::Started,
            Flavor::Optimized | Flavor::Clipbench => ClipCounter::Finished,
        }
    }
}

/// The meaning of `/progress`'s `current_clip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipCounter {
    /// N while clip N is being made (the original backend, one clip at a time).
    Started,
    /// The number of clips finished.
    Finished,
}

/// A dialect with every field decided, and the evidence it was detected from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedDialect {
    /// `None`: a server that is none of the three (configured by hand).
    pub flavor: Option<Flavor>,
    /// For clipbench-engine serve: the backend it imitates.
    pub compat: Option<Flavor>,
    pub base_url: String,
    pub generate_path: String,
    pub progress_path: Option<String>,
    pub health_path: Option<String>,
    pub cleanup_path: Option<String>,
    pub current_clip: ClipCounter,
    pub body_template: String,
    pub timeout_s: f64,
    /// The environment variable holding the API key, when the server needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// What the server answered during detection, one line per probe.
    pub evidence: Vec<String>,
}

/// A `/progress` status word (the backends' and our server's phases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Idle,
    Starting,
    Downloading,
    Analyzing,
    Processing,
    Complete,
    Error,
    /// A word no known backend writes.
    Other(String),
}

impl Status {
    /// Reads a status word (case as the backends write it: lower case).
    pub fn parse(word: &str) -> Status {
        match word {
            "idle" => Status::Idle,
            "starting" => Status::Starting,
            "downloading" => Status::Downloading,
            "analyzing" => Status::Analyzing,
            "processing" => Status::Processing,
            "complete" => Status::Complete,
            "error" => Status::Error,
            other => Status::Other(other.to_owned()),
        }
    }

    /// Whether a job is under way (a reading of this job, not the previous one's end).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            Status::Starting | Status::Downloading | Status::Analyzing | Status::Processing
        )
    }
}

/// One `/progress` reading, normalised: for clipbench-engine the exact `clipbench` object is
/// read instead of the compat fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub at_s: f64,
    pub status: Status,
    pub current_clip: u64,
    pub workers: Option<u64>,
}

impl Reading {
    /// Reads the fields the dialect gives meaning to (our server's [`ProgressExtras`] when it
    /// sends them whole).
    pub fn parse(flavor: Option<Flavor>, progress: &Value, at_s: f64) -> Reading {
        let extras = (flavor == Some(Flavor::Clipbench))
            .then(|| ProgressExtras::deserialize(&progress["clipbench"]).ok())
            .flatten();
        if let Some(extras) = extras {
            return Reading {
                at_s,
                status: Status::parse(extras.phase.as_str()),
                current_clip: extras.clips_finished as u64,
                workers: Some(extras.workers as u64),
            };
        }
        Reading {
            at_s,
            status: Status::parse(progress["status"].as_str().unwrap_or_default()),
            current_clip: progress["current_clip"].as_u64().unwrap_or(0),
            workers: progress["threads_used"].as_u64(),
        }
    }
}

/// Figures derived from one job's `/progress` readings, each with where it came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    pub download_s: Option<f64>,
    pub analysis_s: Option<f64>,
    pub encode_s: Option<f64>,
    pub phases_source: Option<String>,
    pub time_to_first_clip_s: Option<f64>,
    pub ttfc_source: Option<String>,
    pub workers: Option<usize>,
    pub workers_source: Option<String>,
}

/// Phases, time to first clip and worker count of one job from its readings, under the
/// dialect's meaning of each field. Readings before the first active status are ignored
/// (`/progress` may still show the previous job).
pub fn interpret(dialect: &ResolvedDialect, readings: &[Reading], wall_s: f64) -> Timings {
    let mut timings = Timings::default();
    if dialect.flavor == Some(Flavor::Original) {
        timings.workers = Some(1);
        timings.workers_source =
            Some("the original backend makes one clip at a time (no worker count reported)".into());
    }
    let Some(first_active) = readings.iter().position(|r| r.status.is_active()) else {
        return timings;
    };
    let ours = &readings[first_active..];
    let first = |test: &dyn Fn(&Reading) -> bool| ours.iter().find(|r| test(r)).map(|r| r.at_s);
    let processing = |r: &Reading| r.status == Status::Processing;
    // Analysis starts when the download is over; encoding when the first clip is under way.
    let (analysis_mark, encode_mark, phases_source) = if dialect.flavor == Some(Flavor::Original) {
        (
            first(&processing),
            first(&|r| processing(r) && r.current_clip >= 1),
            "progress statuses (original: downloading, processing; encoding from current_clip 1)",
        )
    } else {
        (
            first(&|r| r.status == Status::Analyzing).or(first(&processing)),
            first(&processing),
            "progress statuses (analyzing, processing)",
        )
    };
    timings.download_s = analysis_mark;
    timings.analysis_s = analysis_mark.zip(encode_mark).map(|(a, e)| e - a);
    timings.encode_s = encode_mark.map(|e| wall_s - e);
    timings.phases_source = Some(format!("{phases_source}, polled"));

    if let Some((at_s, source)) = first_clip(dialect, ours) {
        timings.time_to_first_clip_s = Some(at_s);
        timings.ttfc_source = Some(source);
    }
    if dialect.flavor != Some(Flavor::Original) {
        if let Some(workers) = ours
            .iter()
            .filter_map(|r| r.workers)
            .filter(|w| *w > 0)
            .max()
        {
            timings.workers = Some(workers as usize);
            timings.workers_source = Some(match dialect.flavor {
                Some(Flavor::Clipbench) => "progress clipbench.workers".into(),
                _ => "progress threads_used".into(),
            });
        }
    }
    timings
}

/// Decides a server's flavor from what it answered (pure; the requests are made elsewhere).
/// `health`: the JSON of `GET /health` when it answered 2xx; `progress`: the JSON of
/// `GET /progress` when it answered 2xx.
pub fn classify(
    health: Option<&Value>,
    progress: Option<&Value>,
) -> (Option<Flavor>, Option<Flavor>) {
    let ours = health.and_then(|h| HealthExtras::deserialize(&h["clipbench"]).ok());
    if let Some(ours) = ours.filter(|o| o.engine == ENGINE_NAME) {
        let compat = Flavor::from_preset(ours.compat.as_str()).ok();
        return (Some(Flavor::Clipbench), compat);
    }
    let progress_has = |key: &str| progress.is_some_and(|p| p.get(key).is_some());
    if progress_has("clipbench") {
        return (Some(Flavor::Clipbench), None);
    }
    if health.is_some() || progress_has("threads_used") {
        return (Some(Flavor::Optimized), None);
    }
    if progress_has("current_clip") {
        return (Some(Flavor::Original), None);
    }
    (None, None)
}

/// When the first clip was written, from a job's readings, and where that figure comes from.
fn first_clip(dialect: &ResolvedDialect, ours: &[Reading]) -> Option<(f64, String)> {
    let processing = |r: &Reading| r.status == Status::Processing;
    // Our server's exact count of clips finished is read instead of its compat `current_clip`.
    let exact = dialect.flavor == Some(Flavor::Clipbench);
    let counter = if exact {
        ClipCounter::Finished
    } else {
        dialect.current_clip
    };
    let (found, source) = match counter {
        ClipCounter::Finished if exact => (
            ours.iter().position(|r| r.current_clip >= 1),
            "progress: first reading with clipbench.clips_finished >= 1",
        ),
        ClipCounter::Finished => (
            ours.iter()
                .position(|r| r.current_clip >= 1 && r.status != Status::Starting),
            "progress: first reading with current_clip >= 1 (clips finished)",
        ),
        ClipCounter::Started => (
            ours.iter().position(|r| {
                (processing(r) && r.current_clip >= 2)
                    || (r.status == Status::Complete && r.current_clip >= 1)
            }),
            "progress: first reading with clip 2 started or the job complete (current_clip counts clips started, one at a time)",
        ),
    };
    let i = found?;
    let gap = if i > 0 {
        ours[i].at_s - ours[i - 1].at_s
    } else {
        ours[i].at_s
    };
    Some((ours[i].at_s, format!("{source}; at most {gap:.2} s late")))
}

#[cfg(test)]
mod tests;
