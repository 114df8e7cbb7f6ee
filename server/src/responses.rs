//! Response bodies: errors, and the job's success body carrying both existing backends' shapes;
//! no server path in any of them ([`scrub`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use clipbench_engine::extras::Compat;
use clipbench_engine::extras::JobExtras;
use clipbench_engine::plan::Clip;
use clipbench_engine::probe::MediaInfo;

/// `{"error": message}` with a status.
pub fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A failure as an answer: its status and a message that names no server path or
/// internal address ([`JobError`]'s).
pub fn server_error(e: crate::error::ServerError) -> Response {
    let e = crate::request::JobError::from(e);
    error(e.status, e.message)
}

/// A written clip as the client sees it.
#[derive(Debug, Clone)]
pub struct Published {
    pub clip: Clip,
    /// The bare file name, fetched as `GET /<filename>`.
    pub filename: String,
    pub bytes: u64,
}

/// A planned time as the backends send it: a value that came from the video's duration (a cut
/// last clip) is a float, as Python computes it; other whole values are integers.
fn planned(value: f64, from_duration: bool) -> Value {
    if !from_duration && value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// What a job's answer is made from.
pub struct JobSummary<'a> {
    pub compat: Compat,
    /// The video's name: the URL's file name without its extension.
    pub title: &'a str,
    pub media: &'a MediaInfo,
    pub clips: &'a [Published],
    /// Request received to answer, seconds.
    pub total_time: f64,
    /// Our own figures, sent under `clipbench`.
    pub extra: JobExtras,
}

/// `clip_details`: one object per published clip, as both backends write them.
fn clip_details(job: &JobSummary) -> Vec<Value> {
    let cut = |c: &Clip| c.end >= job.media.duration - 1e-6;
    job.clips
        .iter()
        .map(|p| {
            json!({
                "clip_number": p.clip.number,
                "duration": planned(p.clip.duration(), cut(&p.clip)),
                "end_time": planned(p.clip.end, cut(&p.clip)),
                "filename": p.filename,
                "path": format!("outputs/{}", p.filename),
                "size_mb": p.bytes as f64 / 1048576.0,
                "start_time": planned(p.clip.start, false),
            })
        })
        .collect()
}

/// The success body in the backend's shape: `processing_summary`, `statistics` and
/// `clip_details` (original) or `processing_metrics`, `original_metadata` and `clip_details`
/// (optimized), every key and JSON type as in the recordings, plus `clipbench`.
pub fn job_body(job: &JobSummary) -> Value {
    let cut = |c: &Clip| c.end >= job.media.duration - 1e-6;
    let details = clip_details(job);
    let count = job.clips.len();
    match job.compat {
        Compat::Original => {
            let generated: f64 = job.clips.iter().map(|p| p.clip.duration()).sum();
            let total_mb: f64 = job.clips.iter().map(|p| p.bytes as f64 / 1048576.0).sum();
            // The longest (shortest) clip's planned duration, typed as in its clip detail.
            let extreme = |longest: bool| {
                let by_duration = |a: &&Clip, b: &&Clip| a.duration().total_cmp(&b.duration());
                let clips = job.clips.iter().map(|p| &p.clip);
                let clip = if longest {
                    clips.max_by(by_duration)
                } else {
                    clips.min_by(by_duration)
                };
                clip.map_or(json!(0), |c| planned(c.duration(), cut(c)))
            };
            let average = |total: f64| {
                if count == 0 {
                    0.0
                } else {
                    total / count as f64
                }
            };
            json!({
                "processing_summary": {
                    "total_clips_created": count,
                    "total_duration_generated": planned(generated, job.clips.iter().any(|p| cut(&p.clip))),
                    "original_video_duration": job.media.duration.round() as i64,
                    "video_coverage_percentage": 100.0 * generated / job.media.duration.max(1e-9),
                    "video_title": job.title,
                    "video_uploader": "Unknown",
                    "processing_timestamp": timestamp(),
                },
                "statistics": {
                    "average_clip_duration": average(generated),
                    "average_file_size_mb": average(total_mb),
                    "longest_clip": extreme(true),
                    "shortest_clip": extreme(false),
                    "total_output_size_mb": total_mb,
                },
                "clip_details": details,
                "clipbench": job.extra,
            })
        }
        Compat::Optimized => json!({
            "processing_metrics": {
                "total_time": job.total_time,
                "clips_created": count,
                // Clips per minute, as the optimized backend computes it.
                "fps_processed": count as f64 * 60.0 / job.total_time.max(1e-9),
            },
            "original_metadata": {
                "duration": job.media.duration,
                "fps": job.media.fps,
                "id": job.title,
                "title": job.title,
                "uploader": "Unknown",
                "resolution": [job.media.width, job.media.height],
            },
            "clip_details": details,
            "clipbench": job.extra,
        }),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), as the original backend stamps its answers.
fn timestamp() -> String {
    let rfc3339 = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    rfc3339.trim_end_matches('Z').replacen('T', " ", 1)
}

/// Replaces every server-side path in the strings of `value` (e.g. the downloaded file's path
/// by the URL the client sent, the work folder by nothing), so no answer shows the server's
/// file system.
pub fn scrub(value: &mut Value, replacements: &[(String, String)]) {
    match value {
        Value::String(text) => *text = scrub_text(text, replacements),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, replacements)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub(v, replacements)),
        _ => {}
    }
}

/// [`scrub`] for one string.
pub fn scrub_text(text: &str, replacements: &[(String, String)]) -> String {
    replacements
        .iter()
        .filter(|(from, _)| !from.is_empty())
        .fold(text.to_owned(), |t, (from, to)| {
            t.replace(from.as_str(), to)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipbench_engine::plan::Priority;

    fn published(number: u32, start: f64, end: f64) -> Published {
        Published {
            clip: Clip {
                number,
                start,
                end,
                priority: Priority::Normal,
            },
            filename: format!("in70_clip_{number:03}.mp4"),
            bytes: 1048576,
        }
    }

    #[test]
    fn planned_times_are_integers_unless_cut_at_the_end() {
        let media = MediaInfo {
            duration: 70.0,
            fps: 25.0,
            width: 640,
            height: 360,
            ..Default::default()
        };
        let clips = [published(1, 0.0, 30.0), published(3, 50.0, 70.0)];
        let body = job_body(&JobSummary {
            compat: Compat::Optimized,
            title: "in70",
            media: &media,
            clips: &clips,
            total_time: 12.0,
            extra: JobExtras::default(),
        });
        let first = &body["clip_details"][0];
        assert!(first["duration"].is_u64() && first["end_time"].is_u64());
        let last = &body["clip_details"][1];
        assert!(last["duration"].is_f64() && last["end_time"].is_f64());
        assert!(last["start_time"].is_u64());
        assert_eq!(body["processing_metrics"]["fps_processed"], 10.0);
        assert_eq!(body["original_metadata"]["resolution"], json!([640, 360]));
    }

    #[test]
    fn scrubbing_removes_server_paths() {
        let mut body =
            json!({"error": "/srv/work/downloads/job-1/v.mp4 is not a media file", "n": 1});
        scrub(
            &mut body,
            &[
                (
                    "/srv/work/downloads/job-1/v.mp4".into(),
                    "http://h/v.mp4".into(),
                ),
                ("/srv/work".into(), String::new()),
            ],
        );
        assert_eq!(body["error"], "http://h/v.mp4 is not a media file");
    }
}
