//! ffprobe's JSON (`-show_format -show_streams -of json`) read into a [`MediaInfo`] (pure).

use std::path::Path;

use serde::Deserialize;

use super::{seek_lead_s, MediaInfo};
use crate::error::{EngineError, Result};

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
    /// The codec's configuration record as a hex dump (`-show_data`).
    extradata: Option<String>,
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
    format_name: Option<String>,
    duration: Option<String>,
    start_time: Option<String>,
    bit_rate: Option<String>,
    size: Option<String>,
}

/// Parses a rate such as `25/1` or `30000/1001`; `0/0` and garbage give `None`.
pub(super) fn parse_rate(rate: &str) -> Option<f64> {
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
    let start_time = number(format.and_then(|f| f.start_time.as_ref()))
        .filter(|t| t.is_finite())
        .unwrap_or(0.0);
    let duration = duration_of(&parsed, start_time);
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
        audio_end: audio.and_then(|a| stream_end(a, start_time)),
        bit_rate: format.and_then(|f| f.bit_rate.as_ref()?.parse().ok()),
        size_bytes: format
            .and_then(|f| f.size.as_ref()?.parse().ok())
            .unwrap_or(0),
        video_reorder_frames: video.has_b_frames.unwrap_or(0),
        pix_fmt: video.pix_fmt.clone().unwrap_or_default(),
        rotation: rotation_of(video),
        variable_frame_rate,
        start_time,
        reorder_delay_s: None,
        keyframes: None,
        cut_points: None,
        open_gop: false,
        video_profile: video.profile.clone().unwrap_or_default(),
        video_level: video.level.unwrap_or(0),
        video_high_tier: video.codec_name.as_deref() == Some("hevc")
            && video.extradata.as_deref().and_then(hevc_high_tier) == Some(true),
        seek_lead_s: seek_lead_s(
            format.and_then(|f| f.format_name.as_deref()).unwrap_or(""),
            video.has_b_frames.unwrap_or(0),
        ),
    })
}

/// Whether an `hvcC` record (ffprobe's hex dump of it: `00000000: 0101 6000 …`) says the
/// high tier: bit 5 of its second byte. `None` when the dump is no `hvcC` (version 1).
pub(super) fn hevc_high_tier(dump: &str) -> Option<bool> {
    let line = dump.lines().find(|l| !l.trim().is_empty())?;
    let (_, hex) = line.split_once(": ")?;
    let group = hex.split_whitespace().next()?;
    let bytes = u16::from_str_radix(group, 16).ok()?.to_be_bytes();
    (group.len() == 4 && bytes[0] == 1).then_some(bytes[1] & 0x20 != 0)
}

fn number(s: Option<&String>) -> Option<f64> {
    s.and_then(|v| v.parse::<f64>().ok())
}

/// How long the file plays, from the timeline's start: where the streams' content ends (when
/// every stream says), at most what the container announces (an MP4 whose edit list starts
/// late counts the empty start twice; an FLV counts from 0); 0 when nothing says.
fn duration_of(parsed: &ProbeJson, start_time: f64) -> f64 {
    let content = parsed
        .streams
        .iter()
        .map(|s| stream_end(s, start_time))
        .collect::<Option<Vec<f64>>>()
        .and_then(|ends| ends.into_iter().reduce(f64::max))
        .filter(|d| d.is_finite() && *d > 0.0);
    let format = parsed.format.as_ref();
    // FLV announces where its last tag ends, counted from 0, not from its start time.
    let flv = (format.and_then(|f| f.format_name.as_deref()))
        .is_some_and(|name| name.split(',').any(|n| n == "flv"));
    let from_zero = if flv { start_time } else { 0.0 };
    number(format.and_then(|f| f.duration.as_ref()))
        .filter(|d| d.is_finite())
        .map(|announced| announced - from_zero)
        .map_or(content, |announced| {
            Some(content.map_or(announced, |c| c.min(announced)))
        })
        .unwrap_or(0.0)
}

/// Where a stream's content ends, seconds from the timeline's start, when ffprobe says.
fn stream_end(stream: &StreamJson, start_time: f64) -> Option<f64> {
    let begins = number(stream.start_time.as_ref()).unwrap_or(start_time);
    Some(begins + number(stream.duration.as_ref())? - start_time).filter(|end| end.is_finite())
}

/// The video's display rotation in degrees: the display matrix (ffprobe ≥ 5) or the older
/// `rotate` tag.
fn rotation_of(video: &StreamJson) -> i32 {
    video
        .side_data_list
        .iter()
        .find_map(|d| d.rotation)
        .or_else(|| video.tags.get("rotate")?.parse().ok())
        .map_or(0, |r: f64| (r.round() as i32).rem_euclid(360))
}
