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
    /// The video codec's level as ffprobe reports it (H.264: 31 for 3.1; 0 when unknown).
    #[serde(default)]
    pub video_level: i32,
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

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<StreamJson>,
    format: Option<FormatJson>,
}

#[derive(Deserialize)]
struct StreamJson {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    sample_rate: Option<String>,
    duration: Option<String>,
    start_time: Option<String>,
    has_b_frames: Option<u32>,
    pix_fmt: Option<String>,
    profile: Option<String>,
    level: Option<i32>,
    disposition: Option<Disposition>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct SideData {
    rotation: Option<f64>,
}

#[derive(Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Deserialize)]
struct FormatJson {
    duration: Option<String>,
    start_time: Option<String>,
    bit_rate: Option<String>,
    size: Option<String>,
}

/// Parses a rate such as `25/1` or `30000/1001`; `0/0` and garbage give `None`.
fn parse_rate(rate: &str) -> Option<f64> {
    let (num, den) = rate.split_once('/').unwrap_or((rate, "1"));
    let (num, den) = (
        num.trim().parse::<f64>().ok()?,
        den.trim().parse::<f64>().ok()?,
    );
    (num > 0.0 && den > 0.0).then(|| num / den)
}

/// Builds a [`MediaInfo`] from the JSON of `ffprobe -show_format -show_streams -of json`.
pub fn parse_ffprobe_json(path: &Path, json: &str) -> Result<MediaInfo> {
    let parsed: ProbeJson = serde_json::from_str(json).map_err(|e| EngineError::NotMedia {
        path: path.to_owned(),
        detail: format!("unreadable ffprobe output: {e}"),
    })?;
    let format = parsed.format.as_ref();
    let number = |s: Option<&String>| s.and_then(|v| v.parse::<f64>().ok());
    let start_time = number(format.and_then(|f| f.start_time.as_ref()))
        .filter(|t| t.is_finite())
        .unwrap_or(0.0);
    // Where the streams' content ends (when every stream says), from the timeline's start: a
    // container may announce more (an MP4 whose edit list starts late counts the empty start
    // twice).
    let content = parsed
        .streams
        .iter()
        .map(|s| {
            let begins = number(s.start_time.as_ref()).unwrap_or(start_time);
            Some(begins + number(s.duration.as_ref())? - start_time)
        })
        .collect::<Option<Vec<f64>>>()
        .and_then(|ends| ends.into_iter().reduce(f64::max))
        .filter(|d| d.is_finite() && *d > 0.0);
    let duration = number(format.and_then(|f| f.duration.as_ref()))
        .filter(|d| d.is_finite())
        .map_or(content, |announced| {
            Some(content.map_or(announced, |c| c.min(announced)))
        })
        .unwrap_or(0.0);
    if duration <= 0.0 {
        return Err(EngineError::ZeroDuration(path.to_owned()));
    }
    let video = parsed
        .streams
        .iter()
        .find(|s| {
            s.codec_type.as_deref() == Some("video")
                && s.disposition.as_ref().is_none_or(|d| d.attached_pic == 0)
        })
        .ok_or_else(|| EngineError::NoVideoStream(path.to_owned()))?;
    let audio = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    let average = video.avg_frame_rate.as_deref().and_then(parse_rate);
    let real = video.r_frame_rate.as_deref().and_then(parse_rate);
    let fps = average.or(real).unwrap_or(0.0);
    // A constant-rate file has the same real (base) and average rate.
    let variable_frame_rate = average
        .zip(real)
        .is_some_and(|(a, r)| (a - r).abs() > 0.01 * r);
    // The display matrix (ffprobe ≥ 5) or the older `rotate` tag.
    let rotation = video
        .side_data_list
        .iter()
        .find_map(|d| d.rotation)
        .or_else(|| video.tags.get("rotate")?.parse().ok())
        .map_or(0, |r: f64| (r.round() as i32).rem_euclid(360));
    Ok(MediaInfo {
        path: path.to_owned(),
        duration,
        width: video.width.unwrap_or(0),
        height: video.height.unwrap_or(0),
        fps,
        video_codec: video.codec_name.clone().unwrap_or_default(),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
        has_audio: audio.is_some(),
        audio_sample_rate: audio.and_then(|a| a.sample_rate.as_ref()?.parse().ok()),
        bit_rate: format.and_then(|f| f.bit_rate.as_ref()?.parse().ok()),
        size_bytes: format
            .and_then(|f| f.size.as_ref()?.parse().ok())
            .unwrap_or(0),
        video_reorder_frames: video.has_b_frames.unwrap_or(0),
        pix_fmt: video.pix_fmt.clone().unwrap_or_default(),
        rotation,
        variable_frame_rate,
        start_time,
        reorder_delay_s: None,
        keyframes: None,
        cut_points: None,
        open_gop: false,
        video_profile: video.profile.clone().unwrap_or_default(),
        video_level: video.level.unwrap_or(0),
    })
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
        ],
    )?;
    parse_ffprobe_json(path, &json)
}

/// Probes a file and also lists its video keyframe times (from packet flags, no decoding).
pub fn probe_with_keyframes(tools: &Tools, path: &Path) -> Result<MediaInfo> {
    let mut info = probe(tools, path)?;
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
    let packets = parse_packets_csv(&csv);
    let from_start = |times: &[f64]| times.iter().map(|t| t - info.start_time).collect();
    info.keyframes = Some(from_start(&packets.keyframes));
    let cut_points = packets.cut_points.iter().map(|c| CutPoint {
        shown_from: c.shown_from - info.start_time,
        decode_time: c.decode_time - info.start_time,
    });
    info.cut_points = Some(cut_points.collect());
    info.reorder_delay_s = Some(packets.reorder_delay_s);
    info.open_gop = packets.open_gop;
    Ok(info)
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
    let mut packets = Packets::default();
    // (pts, dts) in decoding order.
    let mut order: Vec<(f64, f64)> = Vec::new();
    let mut last_keyframe: Option<f64> = None;
    for line in csv.lines() {
        let mut fields = line.trim().splitn(3, ',');
        let (Some(pts), Some(dts), Some(flags)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(pts) = pts.parse::<f64>() else {
            continue;
        };
        let dts = dts.parse::<f64>().unwrap_or(pts);
        packets.reorder_delay_s = packets.reorder_delay_s.max(pts - dts);
        if flags.contains('K') {
            packets.keyframes.push(pts);
            last_keyframe = Some(pts);
        } else if last_keyframe.is_some_and(|k| pts < k - 1e-6) {
            packets.open_gop = true;
        }
        order.push((pts, dts));
    }
    packets.keyframes.sort_by(f64::total_cmp);
    packets.cut_points = cut_points(&order);
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

/// The first line of `ffmpeg -version`, e.g. `ffmpeg version 5.1.6-0+deb12u1 ...`.
pub fn ffmpeg_version(tools: &Tools) -> Result<String> {
    let output = Command::new(&tools.ffmpeg)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error("ffmpeg", e, &tools.ffmpeg))?;
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

#[cfg(test)]
mod tests;
