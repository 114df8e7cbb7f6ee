//! ffprobe → [`MediaInfo`]. Parsing is pure ([`parse_ffprobe_json`]); [`probe`] runs ffprobe.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::tools::{output_within, spawn_error, Tools};

/// What the engine needs to know about a media file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub path: PathBuf,
    /// Container duration in seconds.
    pub duration: f64,
    pub width: u32,
    pub height: u32,
    /// Frames per second of the first video stream (0 when unknown).
    pub fps: f64,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub has_audio: bool,
    /// Sample rate of the first audio stream, when there is one.
    pub audio_sample_rate: Option<u32>,
    /// Where the first audio stream ends, seconds from `start_time`, when ffprobe says: a
    /// source's audio can end a few frames before its video, and the last clip's audio with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_end: Option<f64>,
    /// Container bit rate in bits per second, when ffprobe reports it.
    pub bit_rate: Option<u64>,
    pub size_bytes: u64,
    /// Frames the video decoder holds back for reordering (B-frames; ffprobe `has_b_frames`). A
    /// stream copy keeps that many frames past its end, which later frames depend on.
    #[serde(default)]
    pub video_reorder_frames: u32,
    /// Pixel format of the video (`yuv420p`, `yuv444p`, `yuv420p10le`, …; empty when unknown).
    #[serde(default)]
    pub pix_fmt: String,
    /// Display rotation of the video in degrees, 0–359, as ffprobe reports it (a phone's
    /// portrait video: 90 or 270).
    #[serde(default)]
    pub rotation: i32,
    /// The frame rate changes within the file (ffprobe's real and average rates differ).
    #[serde(default)]
    pub variable_frame_rate: bool,
    /// When the file's timeline starts (ffprobe `format.start_time`): `-ss` seeks are relative
    /// to it, so keyframe times are too.
    #[serde(default)]
    pub start_time: f64,
    /// The longest a video packet is decoded before it is shown (max pts − dts), seconds, when
    /// the packets were read: how far past its end a stream copy must keep frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_delay_s: Option<f64>,
    /// Presentation times of the video keyframes, in seconds from `start_time`, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyframes: Option<Vec<f64>>,
    /// Where a stream copy may end, in time order (listed with the keyframes): points in
    /// decoding order before which every frame is shown earlier than every frame after (at
    /// each closed-GOP keyframe, and between B-frame groups). Not written to reports.
    #[serde(default, skip_serializing)]
    pub cut_points: Option<Vec<CutPoint>>,
    /// Some keyframe is followed (in decoding order) by frames shown before it, which refer
    /// to the previous group of pictures (open GOP): a copy from it cannot stand alone.
    #[serde(default)]
    pub open_gop: bool,
    /// The video codec's profile as ffprobe names it (`High`, `Main`, `Constrained Baseline`, …).
    #[serde(default)]
    pub video_profile: String,
    /// The video codec's level as ffprobe reports it (H.264: 31 for 3.1; HEVC: 93 for 3.1,
    /// 30 times the level; 0 when unknown).
    #[serde(default)]
    pub video_level: i32,
    /// An HEVC stream of the high tier (from its `hvcC`; false when unknown or not HEVC).
    #[serde(default)]
    pub video_high_tier: bool,
    /// How far before an input `-ss` ffmpeg seeks in this file ([`seek_lead_s`]): a stream
    /// copy aims that much later to land on the keyframe it means.
    #[serde(default)]
    pub seek_lead_s: f64,
}

/// How far before an input `-ss` ffmpeg's seek lands in a container of `format_name` (as
/// ffprobe names it) whose video holds `reorder_frames` frames back. ffmpeg aims 3/23 s early
/// (`3 * AV_TIME_BASE / 23` µs, its DTS heuristic) in every container that does not seek by
/// presentation time when the video has B-frames; in Matroska (and WebM) and FLV that lands a
/// copy on the keyframe before the one meant, a whole GOP early (measured). MP4/MOV seeks by
/// presentation time, and MPEG-TS copies land right as they are (measured): 0 for them, and
/// for containers a smart cut does not take (AVI and ASF: no usable keyframe index here).
pub fn seek_lead_s(format_name: &str, reorder_frames: u32) -> f64 {
    let sought_early = (format_name.split(',')).any(|name| name == "matroska" || name == "flv");
    match sought_early && reorder_frames > 0 {
        true => 130_434e-6,
        false => 0.0,
    }
}

/// A place a stream copy can end exactly: it keeps the packets decoded before `decode_time`,
/// which are the frames shown before `shown_from` (seconds from `start_time`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CutPoint {
    pub shown_from: f64,
    pub decode_time: f64,
}

impl MediaInfo {
    /// Duration of one video frame in seconds (1/25 s when the frame rate is unknown).
    pub fn frame_duration(&self) -> f64 {
        if self.fps > 0.0 {
            1.0 / self.fps
        } else {
            1.0 / 25.0
        }
    }

    /// Whether a video keyframe sits at `t` (within 1 ms); false when keyframes were not listed.
    pub fn is_keyframe(&self, t: f64) -> bool {
        self.keyframes
            .as_ref()
            .is_some_and(|k| k.iter().any(|k| (k - t).abs() < 1e-3))
    }

    /// Whether the frame shows taller than wide once rotated for display.
    pub fn is_portrait(&self) -> bool {
        let turned = self.rotation.rem_euclid(180) == 90;
        (self.height > self.width) != turned
    }

    /// Duration of one AAC audio frame (1024 samples) in seconds, 0 without audio.
    pub fn audio_frame_duration(&self) -> f64 {
        match self.audio_sample_rate {
            Some(rate) if self.has_audio && rate > 0 => 1024.0 / rate as f64,
            _ => 0.0,
        }
    }
}

/// Runs ffprobe and returns its standard output, mapping failures to typed errors.
fn run_ffprobe(tools: &Tools, path: &Path, args: &[&str]) -> Result<String> {
    if !path.exists() {
        return Err(EngineError::FileMissing(path.to_owned()));
    }
    let mut command = Command::new(&tools.ffprobe);
    command
        .args(args)
        .args(crate::tools::SOURCE_INPUT_ARGS)
        .arg("-i")
        .arg(path);
    let output = output_within(&mut command, tools.probe_timeout)
        .map_err(|e| spawn_error("ffprobe", e, &tools.ffprobe))?
        .ok_or_else(|| EngineError::NotMedia {
            path: path.to_owned(),
            detail: format!(
                "ffprobe took longer than {} s",
                tools.probe_timeout.as_secs()
            ),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("ffprobe failed")
            .trim();
        let detail = if detail.contains("not on whitelist") {
            "its format is none of the video containers accepted".to_owned()
        } else {
            detail.to_owned()
        };
        return Err(EngineError::NotMedia {
            path: path.to_owned(),
            detail,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Probes a file with ffprobe.
pub fn probe(tools: &Tools, path: &Path) -> Result<MediaInfo> {
    let json = run_ffprobe(
        tools,
        path,
        &[
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-show_data",
        ],
    )?;
    parse_ffprobe_json(path, &json)
}

/// Probes a file and also lists its video keyframe times (from packet flags, no decoding).
pub fn probe_with_keyframes(tools: &Tools, path: &Path) -> Result<MediaInfo> {
    let info = probe(tools, path)?;
    let csv = run_ffprobe(
        tools,
        path,
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,dts_time,flags",
            "-of",
            "csv=p=0",
        ],
    )?;
    Ok(with_packets(info, &parse_packets_csv(&csv)))
}

/// `info` with what its video packets say: keyframes and cut points (from `start_time`),
/// reordering, open GOPs.
pub fn with_packets(mut info: MediaInfo, packets: &Packets) -> MediaInfo {
    let from_start = |times: &[f64]| times.iter().map(|t| t - info.start_time).collect();
    info.keyframes = Some(from_start(&packets.keyframes));
    let cut_points = packets.cut_points.iter().map(|c| CutPoint {
        shown_from: c.shown_from - info.start_time,
        decode_time: c.decode_time - info.start_time,
    });
    info.cut_points = Some(cut_points.collect());
    info.reorder_delay_s = Some(packets.reorder_delay_s);
    info.open_gop = packets.open_gop;
    info
}

/// What the video packets say.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Packets {
    /// Sorted presentation times of the keyframes (absolute, not from `start_time`).
    pub keyframes: Vec<f64>,
    /// Where a copy may end (absolute times), in order.
    pub cut_points: Vec<CutPoint>,
    /// The largest pts − dts of any packet.
    pub reorder_delay_s: f64,
    /// A packet after a keyframe (in file order, which is decoding order) is shown before it.
    pub open_gop: bool,
}

/// Parses `pts_time,dts_time,flags` lines, in the file's (decoding) order; packets without a
/// time are skipped.
pub fn parse_packets_csv(csv: &str) -> Packets {
    packets_of(csv.lines().filter_map(|line| {
        let mut fields = line.trim().splitn(3, ',');
        let (pts, dts, flags) = (fields.next()?, fields.next()?, fields.next()?);
        let pts = pts.parse::<f64>().ok()?;
        Some((pts, dts.parse::<f64>().unwrap_or(pts), flags.contains('K')))
    }))
}

/// What video packets `(pts, dts, keyframe)` in decoding order say (seconds).
pub fn packets_of(order: impl IntoIterator<Item = (f64, f64, bool)>) -> Packets {
    let mut packets = Packets::default();
    let mut times: Vec<(f64, f64)> = Vec::new();
    let mut last_keyframe: Option<f64> = None;
    for (pts, dts, key) in order {
        packets.reorder_delay_s = packets.reorder_delay_s.max(pts - dts);
        if key {
            packets.keyframes.push(pts);
            last_keyframe = Some(pts);
        } else if last_keyframe.is_some_and(|k| pts < k - 1e-6) {
            packets.open_gop = true;
        }
        times.push((pts, dts));
    }
    packets.keyframes.sort_by(f64::total_cmp);
    packets.cut_points = cut_points(&times);
    packets
}

/// The clean cut points of packets in decoding order: before packet `i` when every packet
/// before it is shown earlier than every packet from it on.
fn cut_points(order: &[(f64, f64)]) -> Vec<CutPoint> {
    let mut suffix_min = vec![f64::INFINITY; order.len() + 1];
    for i in (0..order.len()).rev() {
        suffix_min[i] = suffix_min[i + 1].min(order[i].0);
    }
    let mut prefix_max = f64::NEG_INFINITY;
    let mut points = Vec::new();
    for (i, (pts, dts)) in order.iter().enumerate() {
        if i > 0 && prefix_max < suffix_min[i] {
            points.push(CutPoint {
                shown_from: suffix_min[i],
                decode_time: *dts,
            });
        }
        prefix_max = prefix_max.max(*pts);
    }
    points
}

/// The first line of `ffmpeg -version`, e.g. `ffmpeg version 5.1.6-0+deb12u1 ...`; an ffmpeg
/// that does not answer within the probe timeout is killed and named.
pub fn ffmpeg_version(tools: &Tools) -> Result<String> {
    let mut command = Command::new(&tools.ffmpeg);
    command.arg("-version").stdin(Stdio::null());
    let output = output_within(&mut command, tools.probe_timeout)
        .map_err(|e| spawn_error("ffmpeg", e, &tools.ffmpeg))?
        .ok_or(EngineError::ToolHangs {
            tool: "ffmpeg",
            env_var: "CLIPBENCH_FFMPEG",
            limit_s: tools.probe_timeout.as_secs(),
        })?;
    let banner = String::from_utf8_lossy(&output.stdout);
    Ok(version_of_banner(banner.lines().next().unwrap_or_default()))
}

/// The version in ffmpeg's first `-version` line, without the banner around it:
/// `ffmpeg version 5.1.9-0+deb12u1 Copyright (c) …` → `5.1.9-0+deb12u1` (pure).
pub fn version_of_banner(line: &str) -> String {
    line.strip_prefix("ffmpeg version ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or(line)
        .to_owned()
}

mod json;

pub use json::parse_ffprobe_json;

#[cfg(test)]
mod tests;
