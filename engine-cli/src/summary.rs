//! Readable text for the terminal: media info, plan tables and the end-of-run summary.

use std::fmt::Write;
use std::path::Path;

use clipbench_engine::{Clip, ClipStatus, MediaInfo, PlanOptions, RunReport};

const MIB: f64 = 1024.0 * 1024.0;

/// A few lines describing a media file.
pub fn media(info: &MediaInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "file       {}", info.path.display());
    let _ = writeln!(out, "duration   {:.3} s", info.duration);
    let _ = writeln!(
        out,
        "video      {} {}x{} @ {:.3} fps",
        info.video_codec, info.width, info.height, info.fps
    );
    let audio = match (&info.audio_codec, info.audio_sample_rate) {
        (Some(codec), Some(rate)) => format!("{codec} {rate} Hz"),
        (Some(codec), None) => codec.clone(),
        _ => "none".to_owned(),
    };
    let _ = writeln!(out, "audio      {audio}");
    let rate = info.bit_rate.map_or("unknown".to_owned(), |b| {
        format!("{:.0} kbit/s", b as f64 / 1000.0)
    });
    let _ = writeln!(
        out,
        "size       {:.1} MiB, {rate}",
        info.size_bytes as f64 / MIB
    );
    out
}

/// The plan as a table.
pub fn plan_table(info: &MediaInfo, options: &PlanOptions, clips: &[Clip]) -> String {
    let mut out = String::new();
    let total: f64 = clips.iter().map(Clip::duration).sum();
    let _ = writeln!(
        out,
        "{} clips, {total:.1} s of output from {:.1} s ({} policy)",
        clips.len(),
        info.duration,
        options.policy
    );
    let _ = writeln!(
        out,
        "{:>4}  {:>9}  {:>9}  {:>8}  priority",
        "clip", "start", "end", "length"
    );
    for c in clips {
        let _ = writeln!(
            out,
            "{:>4}  {:>9.3}  {:>9.3}  {:>8.3}  {:?}",
            c.number,
            c.start,
            c.end,
            c.duration(),
            c.priority
        );
    }
    out
}

/// How some valid clips were made: reused by `--resume`, re-encoded after a fast path failed.
fn how_made(report: &RunReport) -> String {
    let reused = report
        .clips
        .iter()
        .filter(|c| c.status == ClipStatus::Resumed)
        .count();
    let mut how = String::new();
    if reused > 0 {
        how += &format!(" ({reused} reused by --resume)");
    }
    let fallback = report.metrics.clips_fallback;
    if fallback > 0 {
        how += &format!(" ({fallback} re-encoded after a fast path failed)");
    }
    how
}

/// The one-screen summary after a run.
pub fn run(report: &RunReport, output_dir: &Path) -> String {
    let m = &report.metrics;
    let mut out = String::new();
    let i = &report.input;
    let _ = writeln!(
        out,
        "input      {} ({:.1} s, {}x{} @ {:.2} fps)",
        i.path.display(),
        i.duration,
        i.width,
        i.height,
        i.fps
    );
    let planned: f64 = report.plan.iter().map(Clip::duration).sum();
    let _ = writeln!(
        out,
        "plan       {} clips, {planned:.1} s of output ({} policy), profile {}",
        report.plan.len(),
        report.plan_options.policy,
        report.profile
    );
    for note in &report.notes {
        let _ = writeln!(out, "note       {note}");
    }
    let _ = writeln!(
        out,
        "strategy   {} → {} worker(s), ffmpeg threads {} ({})",
        report.strategy,
        report.allocation.workers,
        report.allocation.ffmpeg_threads,
        report.allocation.reason
    );
    let reused = how_made(report);
    let _ = writeln!(
        out,
        "clips      {} valid{reused}, {} failed{} → {}",
        m.clips_done,
        m.clips_failed,
        if report.cancelled {
            ", run interrupted"
        } else {
            ""
        },
        output_dir.display()
    );
    let ttfc = m
        .time_to_first_clip_s
        .map_or("-".to_owned(), |t| format!("{t:.2} s"));
    let _ = writeln!(
        out,
        "time       wall {:.2} s, first clip {ttfc}, analysis {:.2} s, {:.1}x realtime",
        m.wall_s, report.analysis_s, m.realtime_factor
    );
    let _ = writeln!(
        out,
        "work       W {:.1} CPU-s on {} CPUs, floor {:.2} s, efficiency {:.2}, utilisation {:.2}, tail idle {:.2} s",
        m.work_cpu_s, report.system.logical_cpus, m.floor_s, m.efficiency, m.utilisation, m.tail_idle_s
    );
    let _ = writeln!(
        out,
        "machine    CPU mean {:.0} %, peak {:.0} %, peak memory {:.0} MiB (one ffmpeg: {:.0} MiB), output {:.1} MiB",
        report.monitor.cpu_mean_percent,
        report.monitor.cpu_peak_percent,
        report.monitor.memory_peak_bytes as f64 / MIB,
        m.encoder_peak_rss_bytes as f64 / MIB,
        m.output_bytes as f64 / MIB
    );
    out + &where_time_went(report)
}

/// The workers' loads, memory holds and failures of a run (one line each, when there are).
fn where_time_went(report: &RunReport) -> String {
    let mut out = String::new();
    let workers: Vec<String> = report
        .workers
        .iter()
        .map(|w| {
            let chunks = match w.chunks.len() {
                0 => String::new(),
                n => format!(" + {n} chunk encodes"),
            };
            format!(
                "#{} {} clips{chunks}, busy {:.1} s, idle {:.2} s at the end",
                w.worker + 1,
                w.clips.len(),
                w.busy_s,
                w.tail_idle_s
            )
        })
        .collect();
    if !workers.is_empty() {
        let _ = writeln!(out, "workers    {}", workers.join(" | "));
    }
    let hold = report.metrics.memory_hold_s;
    if hold > 0.0 {
        let _ = writeln!(
            out,
            "memory     clips held back {hold:.1} worker-s while available memory was short"
        );
    }
    for clip in &report.clips {
        if let Some(why) = &clip.fallback {
            let _ = writeln!(out, "fallback   clip {}: {why}", clip.clip.number);
        }
    }
    for failure in &report.failures {
        let last = failure.stderr_tail.lines().last().unwrap_or("");
        let _ = writeln!(
            out,
            "failed     clip {}: {} {last}",
            failure.clip, failure.reason
        );
    }
    out
}
