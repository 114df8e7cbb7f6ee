//! Worker allocation: [`SystemSnapshot`] + [`MediaInfo`] + clip count → [`Allocation`]. Pure.
//!
//! Each [`Strategy`] reproduces one way of choosing how many clips to encode at once and how
//! many threads each ffmpeg may use. `auto` is the engine's own choice: one single-threaded
//! ffmpeg per logical core (the least CPU work per clip, so the schedule approaches the floor
//! `W_ref / N`), fewer when available memory cannot hold that many encoders, and more threads
//! per ffmpeg when there are fewer clips than cores so that no core idles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::probe::MediaInfo;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The machine as strategies see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemSnapshot {
    pub logical_cpus: usize,
    pub physical_cpus: usize,
    pub total_memory_bytes: u64,
    pub available_memory_bytes: u64,
    /// Overall CPU use over a short sample, 0–100.
    pub cpu_usage_percent: f32,
    /// One-minute load average.
    pub load_average_1m: f64,
}

/// How many threads each ffmpeg child may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "threads")]
pub enum ThreadSetting {
    /// Whatever the encoding profile says (e.g. `-threads 1` for the encoder of `optimized`).
    Profile,
    /// No `-threads` at all: ffmpeg picks for decoder and encoder.
    Auto,
    /// `-threads N` for both the decoder and the encoder.
    Fixed(usize),
}

impl fmt::Display for ThreadSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadSetting::Profile => f.write_str("profile"),
            ThreadSetting::Auto => f.write_str("auto"),
            ThreadSetting::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for ThreadSetting {
    type Err = String;
    /// `profile`, `auto` or a thread count N >= 1.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "profile" => Ok(ThreadSetting::Profile),
            "auto" => Ok(ThreadSetting::Auto),
            n => match n.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(ThreadSetting::Fixed(n)),
                _ => Err(format!("threads {s:?}: use profile, auto or a count >= 1")),
            },
        }
    }
}

/// A way of choosing the worker count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Strategy {
    /// One clip after another (the original backend).
    Serial,
    /// Exactly N workers.
    Fixed(usize),
    /// One worker per logical CPU.
    Cores,
    /// One worker per logical CPU but one.
    CoresMinusOne,
    /// The real optimized backend's formula.
    PythonOptimized,
    /// The design summary's formula: cores, memory, load factor and complexity multiplier.
    Adaptive,
    /// One worker; ffmpeg chooses its own thread count.
    FfmpegThreads,
    /// The engine's own choice.
    Auto,
}

impl Strategy {
    /// How long the machine's CPU use must be sampled before allocating: only the optimized
    /// backend's formula reads it (over 0.1 s, as the backend does); the others wait for nothing.
    pub fn cpu_sample(self) -> std::time::Duration {
        match self {
            Strategy::PythonOptimized => std::time::Duration::from_millis(100),
            _ => std::time::Duration::ZERO,
        }
    }

    /// Every strategy with a fixed name (all but `fixed:N`).
    pub const NAMED: [Strategy; 7] = [
        Strategy::Serial,
        Strategy::Cores,
        Strategy::CoresMinusOne,
        Strategy::PythonOptimized,
        Strategy::Adaptive,
        Strategy::FfmpegThreads,
        Strategy::Auto,
    ];
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Serial => f.write_str("serial"),
            Strategy::Fixed(n) => write!(f, "fixed:{n}"),
            Strategy::Cores => f.write_str("cores"),
            Strategy::CoresMinusOne => f.write_str("cores-minus-one"),
            Strategy::PythonOptimized => f.write_str("python-optimized"),
            Strategy::Adaptive => f.write_str("adaptive"),
            Strategy::FfmpegThreads => f.write_str("ffmpeg-threads"),
            Strategy::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(n) = s.strip_prefix("fixed:") {
            return match n.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Strategy::Fixed(n)),
                _ => Err(format!("{s:?}: fixed:N needs a worker count N >= 1")),
            };
        }
        Strategy::NAMED
            .into_iter()
            .find(|strategy| strategy.to_string() == s)
            .ok_or_else(|| {
                format!(
                    "unknown strategy {s:?}: use serial, fixed:N, cores, cores-minus-one, \
                     python-optimized, adaptive, ffmpeg-threads or auto"
                )
            })
    }
}

impl From<Strategy> for String {
    fn from(s: Strategy) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Strategy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// What a strategy decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// ffmpeg children run at once.
    pub workers: usize,
    pub ffmpeg_threads: ThreadSetting,
    /// One line on how the numbers were reached.
    pub reason: String,
}

/// Memory one encoder instance is assumed to need at a resolution: a fixed 96 MiB for ffmpeg
/// itself plus 96 bytes per pixel for decoder and x264 frame buffers (≈ 180 MiB at 720p,
/// ≈ 290 MiB at 1080p). Conservative on purpose: it only caps the worker count.
pub fn encoder_memory_bytes(width: u32, height: u32) -> u64 {
    96 * 1024 * 1024 + 96 * u64::from(width) * u64::from(height)
}

/// The design summary's complexity multiplier, 0.5–2.0: light videos (low bit rate per second)
/// allow more workers, heavy ones fewer. The reference is 4 MB per minute of video.
pub fn complexity_multiplier(media: &MediaInfo) -> f64 {
    if media.duration <= 0.0 || media.size_bytes == 0 {
        return 1.0;
    }
    let mb_per_minute = media.size_bytes as f64 / 1e6 / (media.duration / 60.0);
    (4.0 / mb_per_minute).clamp(0.5, 2.0)
}

/// The design summary's load factor, 0.7–1.0: 1.0 while the one-minute load is under half the
/// CPUs, falling linearly to 0.7 when it reaches the CPU count.
pub fn load_factor(snapshot: &SystemSnapshot) -> f64 {
    let cpus = snapshot.logical_cpus.max(1) as f64;
    let relative = snapshot.load_average_1m / cpus;
    (1.0 - 0.6 * (relative - 0.5)).clamp(0.7, 1.0)
}

/// Chooses workers and threads for a run. `per_encoder_bytes` is the memory one encoder needs
/// at this media's resolution (measured by earlier runs, see `memory::per_encoder_bytes`); only
/// `auto` uses it.
pub fn allocate(
    strategy: Strategy,
    snapshot: &SystemSnapshot,
    media: &MediaInfo,
    clip_count: usize,
    per_encoder_bytes: u64,
) -> Allocation {
    let cpus = snapshot.logical_cpus.max(1);
    let clips = clip_count.max(1);
    let (workers, ffmpeg_threads, reason) = match strategy {
        Strategy::Serial => (1, ThreadSetting::Profile, "one clip at a time".to_owned()),
        Strategy::Fixed(n) => (n, ThreadSetting::Profile, format!("fixed at {n}")),
        Strategy::Cores => (cpus, ThreadSetting::Profile, format!("{cpus} logical CPUs")),
        Strategy::CoresMinusOne => (
            (cpus - 1).max(1),
            ThreadSetting::Profile,
            format!("{cpus} logical CPUs minus one"),
        ),
        Strategy::PythonOptimized => python_optimized(snapshot, clips),
        Strategy::Adaptive => adaptive(snapshot, media, clips),
        Strategy::FfmpegThreads => (1, ThreadSetting::Auto, "one ffmpeg, its own threads".into()),
        Strategy::Auto => auto(snapshot, per_encoder_bytes, clips),
    };
    Allocation {
        workers: workers.clamp(1, clips),
        ffmpeg_threads,
        reason,
    }
}

/// `cpu_based = max(1, cpus - 2)`, halved when a CPU sample is above 80 %;
/// `memory_based = int(max(1, total_gb - 2) / 0.5)`;
/// `workers = max(1, min(cpu_based, memory_based, min(16, cpus + 2), clips))`.
fn python_optimized(s: &SystemSnapshot, clips: usize) -> (usize, ThreadSetting, String) {
    let cpus = s.logical_cpus.max(1);
    let mut cpu_based = cpus.saturating_sub(2).max(1);
    if s.cpu_usage_percent > 80.0 {
        cpu_based = (cpu_based / 2).max(1);
    }
    let total_gb = s.total_memory_bytes as f64 / GIB;
    let memory_based = ((total_gb - 2.0).max(1.0) / 0.5) as usize;
    let workers = cpu_based
        .min(memory_based)
        .min(16.min(cpus + 2))
        .min(clips)
        .max(1);
    let reason = format!(
        "min(cpu {cpu_based}, memory {memory_based}, cap {}, clips {clips})",
        16.min(cpus + 2)
    );
    (workers, ThreadSetting::Profile, reason)
}

/// `cpu_based = max(1, cpus - 1)`; `memory_based = min(16, available_gb / 2)`;
/// `workers = round(min(cpu_based, memory_based) × load factor × complexity multiplier)`;
/// one ffmpeg thread per worker.
fn adaptive(s: &SystemSnapshot, media: &MediaInfo, clips: usize) -> (usize, ThreadSetting, String) {
    let cpu_based = s.logical_cpus.saturating_sub(1).max(1);
    let memory_based = ((s.available_memory_bytes as f64 / GIB / 2.0) as usize).clamp(1, 16);
    let load = load_factor(s);
    let complexity = complexity_multiplier(media);
    let raw = cpu_based.min(memory_based) as f64 * load * complexity;
    let workers = (raw.round() as usize).clamp(1, 16.min(clips));
    let reason = format!(
        "min(cpu {cpu_based}, memory {memory_based}) x load {load:.2} x complexity {complexity:.2}"
    );
    (workers, ThreadSetting::Fixed(1), reason)
}

/// One single-threaded ffmpeg per logical CPU, capped by available memory (90 % of it, at
/// `per_encoder` bytes each) and by the clip count; spare cores become threads.
fn auto(s: &SystemSnapshot, per_encoder: u64, clips: usize) -> (usize, ThreadSetting, String) {
    let cpus = s.logical_cpus.max(1);
    let per_encoder = per_encoder.max(1);
    let memory_based = ((s.available_memory_bytes as f64 * 0.9) / per_encoder as f64) as usize;
    let workers = cpus.min(memory_based.max(1)).min(clips);
    let threads = (cpus / workers).max(1);
    let reason = format!(
        "min(cpus {cpus}, memory {memory_based} at {} MiB each, clips {clips}), {threads} thread(s) each",
        per_encoder / (1024 * 1024)
    );
    (workers, ThreadSetting::Fixed(threads), reason)
}

#[cfg(test)]
mod tests;
