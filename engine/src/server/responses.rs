//! Response bodies: errors, `/health`, `/system_info`, and the job's success body carrying both
//! existing backends' shapes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use reqwest::Url;
use serde_json::{json, Value};

use super::AppState;
use crate::allocate::allocate;
use crate::memory::{default_cache_dir, per_encoder_bytes, EncoderMemory};
use crate::monitor::snapshot;
use crate::plan::{plan, Clip};
use crate::probe::MediaInfo;
use crate::report::RunReport;

/// `{"error": message}` with a status.
pub fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `GET /health`
pub async fn health() -> Json<Value> {
    Json(
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "engine": "clipbench-engine"}),
    )
}

/// `GET /system_info`: the machine and the allocation the configured strategy would choose for
/// a typical job (a 10-minute 720p25 video under the configured plan).
pub async fn system_info(State(state): State<Arc<AppState>>) -> Json<Value> {
    let system = tokio::task::spawn_blocking(|| snapshot(Duration::from_millis(100)))
        .await
        .unwrap_or_else(|_| snapshot(Duration::ZERO));
    let typical = MediaInfo {
        duration: 600.0,
        width: 1280,
        height: 720,
        fps: 25.0,
        size_bytes: 120_000_000,
        ..Default::default()
    };
    let clips = plan(&typical, &state.config.plan).len();
    let measured = default_cache_dir()
        .map(|dir| EncoderMemory::load(&dir))
        .and_then(|m| m.measured(state.config.profile, typical.width, typical.height));
    let (per_encoder, _) = per_encoder_bytes(measured, typical.width, typical.height);
    let allocation = allocate(state.config.strategy, &system, &typical, clips, per_encoder);
    Json(json!({
        "cpu_count": system.logical_cpus,
        "logical_cores": system.logical_cpus,
        "physical_cores": system.physical_cpus,
        "memory_total_gb": system.total_memory_bytes as f64 / 1e9,
        "memory_available_gb": system.available_memory_bytes as f64 / 1e9,
        "cpu_percent": system.cpu_usage_percent,
        "load_average": system.load_average_1m,
        "strategy": state.config.strategy,
        "profile": state.config.profile,
        "policy": state.config.plan.policy,
        "allocation": {
            "for": "a 10-minute 720p25 video",
            "clips": clips,
            "workers": allocation.workers,
            "ffmpeg_threads": allocation.ffmpeg_threads,
            "reason": allocation.reason,
        },
    }))
}

/// Seconds of `[0, duration]` covered by at least one clip.
fn covered_seconds(clips: &[Clip]) -> f64 {
    let mut spans: Vec<(f64, f64)> = clips.iter().map(|c| (c.start, c.end)).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut covered = 0.0;
    let mut reach = f64::NEG_INFINITY;
    for (start, end) in spans {
        let from = start.max(reach);
        if end > from {
            covered += end - from;
        }
        reach = reach.max(end);
    }
    covered
}

/// The success body: `processing_summary` + `statistics` (original backend),
/// `processing_metrics` + `original_metadata` (optimized backend), `clip_details` (both).
pub fn success_body(report: &RunReport, outputs: &Path, url: &Url) -> Value {
    let done: Vec<_> = report
        .clips
        .iter()
        .filter(|c| c.status.is_written())
        .collect();
    let details: Vec<Value> = done
        .iter()
        .filter_map(|c| {
            let path = c.path.as_ref()?;
            let relative = path.strip_prefix(outputs).unwrap_or(path);
            let relative = relative.to_string_lossy().replace('\\', "/");
            Some(json!({
                "path": path,
                "filename": relative,
                "url": format!("/{relative}"),
                "duration": c.validation.as_ref().map_or(c.clip.duration(), |v| v.duration),
                "size_mb": c.bytes as f64 / 1048576.0,
                "clip_number": c.clip.number,
                "start_time": c.clip.start,
                "end_time": c.clip.end,
            }))
        })
        .collect();
    let m = &report.metrics;
    let media = &report.input;
    let generated: f64 = done.iter().map(|c| c.clip.duration()).sum();
    let done_clips: Vec<Clip> = done.iter().map(|c| c.clip).collect();
    let coverage = 100.0 * covered_seconds(&done_clips) / media.duration.max(1e-9);
    let total_time = report.analysis_s + m.wall_s;
    let title = crate::fetch::file_name_for(url);
    let title = title
        .rsplit_once('.')
        .map_or(title.as_str(), |(stem, _)| stem)
        .to_owned();
    let total_mb = m.output_bytes as f64 / 1048576.0;
    json!({
        "success": true,
        "processing_summary": {
            "total_clips_created": done.len(),
            "total_duration_generated": generated,
            "original_video_duration": media.duration,
            "video_coverage_percentage": coverage,
            "video_title": title,
            "clips_failed": m.clips_failed,
            "strategy": report.strategy,
            "workers": report.allocation.workers,
            "profile": report.profile,
            "policy": report.plan_options.policy,
        },
        "statistics": {
            "average_clip_duration": if done.is_empty() { 0.0 } else { generated / done.len() as f64 },
            "total_size_mb": total_mb,
            "processing_time": total_time,
            "time_to_first_clip": m.time_to_first_clip_s,
            "realtime_factor": m.realtime_factor,
            "work_cpu_seconds": m.work_cpu_s,
            "efficiency": m.efficiency,
            "utilisation": m.utilisation,
        },
        "processing_metrics": {
            "total_time": total_time,
            "clips_created": done.len(),
            "fps_processed": media.duration * media.fps / total_time.max(1e-9),
            "threads_used": report.allocation.workers,
        },
        "original_metadata": {
            "duration": media.duration,
            "width": media.width,
            "height": media.height,
            "fps": media.fps,
            "video_codec": media.video_codec,
            "audio_codec": media.audio_codec,
            "size_bytes": media.size_bytes,
            "bit_rate": media.bit_rate,
        },
        "clip_details": details,
        "failures": report.failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Priority;

    #[test]
    fn coverage_counts_overlaps_once() {
        let clip = |start, end| Clip {
            number: 1,
            start,
            end,
            priority: Priority::Normal,
        };
        assert_eq!(covered_seconds(&[clip(0.0, 30.0), clip(25.0, 55.0)]), 55.0);
        assert_eq!(covered_seconds(&[clip(10.0, 20.0), clip(0.0, 5.0)]), 15.0);
        assert_eq!(covered_seconds(&[]), 0.0);
    }
}
