//! The executor's scheduling with real ffmpeg: `--reuse-overlaps` clips against the overlapping
//! encode, the tail thread boost and the memory hold-back.

use crate::common;

use std::path::Path;
use std::process::Command;

use clipbench_engine::execute::{execute, ExecuteOptions, MemoryGate, CHUNK_DIR};
use clipbench_engine::task::TaskKind;
use clipbench_engine::{
    probe, run, CancelToken, Clip, ClipStatus, PlanOptions, Priority, RunOptions, ThreadSetting,
    Tools,
};
use common::{files_ending, make_video};

/// Start times of the first video and audio streams of a file, from ffprobe.
fn stream_starts(path: &Path) -> (f64, f64) {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let start = |kind: &str| {
        text.lines()
            .find(|l| l.starts_with(kind))
            .and_then(|l| l.split(',').nth(1))
            .and_then(|t| t.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {kind} start time in {text:?}"))
    };
    (start("video"), start("audio"))
}

/// Decodes a whole file; returns ffmpeg's error output (empty when clean).
fn decode_errors(path: &Path) -> String {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{path:?} does not decode");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run_options(out: &Path, reuse_overlaps: bool) -> RunOptions {
    let mut options = RunOptions::new(out);
    options.setup.plan = PlanOptions {
        policy: "fixed:2:4:3".parse().unwrap(),
        ..Default::default()
    };
    options.setup.strategy = clipbench_engine::Strategy::Fixed(2);
    options.setup.reuse_overlaps = reuse_overlaps;
    options.memory_cache = None;
    options
}

#[test]
fn reused_overlaps_match_the_overlapping_encode_and_stay_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 13.0, true);
    let tools = Tools::from_env();
    let overlapping = run(
        &input,
        &run_options(&dir.path().join("twice"), false),
        &CancelToken::new(),
        &|_| {},
    )
    .unwrap();
    let out = dir.path().join("once");
    let reused = run(
        &input,
        &run_options(&out, true),
        &CancelToken::new(),
        &|_| {},
    )
    .unwrap();
    assert!(
        overlapping.all_valid() && reused.all_valid(),
        "{:?}",
        reused.failures
    );
    // 4 s clips every 3 s over 13 s: 4 clips, cut at 0, 3, 4, 6, 7, 9, 10, 13.
    assert_eq!(reused.clips.len(), overlapping.clips.len());
    assert_eq!(reused.clips.len(), 4);
    assert!(reused.chunks.len() >= 7, "{:?}", reused.chunks);
    // Chunk groups, plus the first clip's audio encoded alone in parallel with its video.
    let kinds: Vec<TaskKind> = reused.chunks.iter().map(|c| c.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == TaskKind::Audio).count(), 1);
    assert!(kinds
        .iter()
        .all(|k| matches!(k, TaskKind::Chunk | TaskKind::Audio)));
    assert!(reused.clips.iter().all(|c| c.kind == TaskKind::Assemble));
    let frame = 1.0 / 25.0;
    let audio_frame = 1024.0 / 44100.0;
    for (once, twice) in reused.clips.iter().zip(&overlapping.clips) {
        let path = once.path.as_ref().unwrap();
        let a = probe(&tools, path).unwrap();
        let b = probe(&tools, twice.path.as_ref().unwrap()).unwrap();
        assert!(
            (a.duration - b.duration).abs() <= frame + 1e-3,
            "clip {}: {} s joined vs {} s encoded",
            once.clip.number,
            a.duration,
            b.duration
        );
        assert!(a.has_audio && (a.width, a.height) == (160, 90));
        let (video, audio) = stream_starts(path);
        assert!(
            (video - audio).abs() <= audio_frame,
            "clip {}: video starts at {video}, audio at {audio}",
            once.clip.number
        );
        assert_eq!(decode_errors(path), "", "clip {}", once.clip.number);
    }
    // Chunks are work, measured like clips; their files are gone once the clips are joined.
    let chunk_cpu: f64 = reused.chunks.iter().map(|c| c.cpu_s).sum();
    assert!(chunk_cpu > 0.0 && reused.metrics.work_cpu_s > chunk_cpu);
    assert!(!out.join(CHUNK_DIR).exists());
    assert!(files_ending(&out, ".partial").is_empty());
    assert!(reused.workers.iter().any(|w| !w.chunks.is_empty()));
}

#[test]
fn reuse_overlaps_refuses_the_copy_profile() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 5.0, false);
    let mut options = run_options(&dir.path().join("out"), true);
    options.setup.profile = clipbench_engine::Profile::Copy;
    let error = run(&input, &options, &CancelToken::new(), &|_| {}).unwrap_err();
    assert!(error.to_string().contains("--reuse-overlaps"), "{error}");
}

fn clip(number: u32, start: f64, end: f64) -> Clip {
    Clip {
        number,
        start,
        end,
        priority: Priority::Normal,
    }
}

#[test]
fn the_last_clips_get_the_spare_cores_as_threads() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 4.0, false);
    let media = probe(&Tools::from_env(), &input).unwrap();
    let options = |tail_boost| ExecuteOptions {
        threads: ThreadSetting::Fixed(1),
        workers: 4,
        cores: 4,
        tail_boost,
        ..ExecuteOptions::new(dir.path().join("out"), Tools::from_env())
    };
    // Two clips on four workers: each gets two threads.
    let clips = [clip(1, 0.0, 2.0), clip(2, 2.0, 4.0)];
    let boosted = execute(&media, &clips, &options(true), &CancelToken::new(), &|_| {}).unwrap();
    assert!(boosted
        .outcomes
        .iter()
        .all(|o| o.status == ClipStatus::Done && o.threads == Some(ThreadSetting::Fixed(2))));
    let plain = execute(
        &media,
        &clips,
        &options(false),
        &CancelToken::new(),
        &|_| {},
    )
    .unwrap();
    assert!(plain
        .outcomes
        .iter()
        .all(|o| o.status == ClipStatus::Done && o.threads == Some(ThreadSetting::Fixed(1))));
}

#[test]
fn short_memory_holds_clips_back_instead_of_running_them_together() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 6.0, false);
    let media = probe(&Tools::from_env(), &input).unwrap();
    fn almost_no_memory() -> u64 {
        1024 * 1024
    }
    let options = ExecuteOptions {
        workers: 3,
        memory: Some(MemoryGate {
            per_encoder_bytes: 100 * 1024 * 1024,
            available_bytes: almost_no_memory,
        }),
        ..ExecuteOptions::new(dir.path().join("out"), Tools::from_env())
    };
    let clips = [clip(1, 0.0, 2.0), clip(2, 2.0, 4.0), clip(3, 4.0, 6.0)];
    let execution = execute(&media, &clips, &options, &CancelToken::new(), &|_| {}).unwrap();
    assert!(execution
        .outcomes
        .iter()
        .all(|o| o.status == ClipStatus::Done));
    // Never two encoders at once: every clip starts after the one before it finished.
    let mut spans: Vec<(f64, f64)> = execution
        .outcomes
        .iter()
        .map(|o| (o.started_s.unwrap(), o.finished_s.unwrap()))
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(spans.windows(2).all(|w| w[1].0 >= w[0].1), "{spans:?}");
    assert!(execution.memory_hold_s > 0.0);
}

#[test]
fn later_smart_joins_are_checked_together_and_each_clip_still_decodes() {
    use clipbench_engine::schedule::JOINS_PER_CHECK;
    let dir = tempfile::tempdir().unwrap();
    let input = crate::smart::source(dir.path(), "closed.mp4", "b-pyramid=normal");
    // 3 s clips every half second (keyframes every 2 s): the first three of high priority,
    // joined and checked at once; the later ones that open off a keyframe (a head and a
    // copy), whose joins wait while pieces are cut, to be checked four at a time.
    let report = crate::smart::smart_run(&input, &dir.path().join("out"), "fixed:1:3:0.5");
    assert_eq!(report.clips.len(), 21);
    assert_eq!(report.metrics.clips_fallback, 0, "{:?}", report.clips);
    // Joins run together start together.
    let mut together: Vec<Vec<u32>> = Vec::new();
    for clip in report.clips.iter().filter(|c| c.kind == TaskKind::Assemble) {
        match together.iter_mut().find(|batch| {
            let first = &report.clips[batch[0] as usize - 1];
            first.started_s == clip.started_s
        }) {
            Some(batch) => batch.push(clip.clip.number),
            None => together.push(vec![clip.clip.number]),
        }
    }
    let high = report
        .clips
        .iter()
        .filter(|c| c.clip.priority == Priority::High);
    for clip in high.filter(|c| c.kind == TaskKind::Assemble) {
        assert!(together.contains(&vec![clip.clip.number]), "{together:?}");
    }
    // (Two cuts finishing at once can make a batch of five.)
    let largest = together.iter().map(Vec::len).max().unwrap();
    assert!(largest >= JOINS_PER_CHECK, "{together:?}");
    for clip in &report.clips {
        let path = clip.path.as_ref().unwrap();
        common::assert_decodes(path, &format!("clip {}", clip.clip.number));
    }
}
