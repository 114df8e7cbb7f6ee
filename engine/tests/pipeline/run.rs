//! The engine end to end with real ffmpeg on tiny generated inputs.

use crate::common;

use std::sync::Mutex;
use std::time::Duration;

use clipbench_engine::execute::{execute, ExecuteOptions, FailureKind, Subject};
use clipbench_engine::{
    plan, probe, run, CancelToken, Clip, ClipStatus, Event, PlanOptions, Policy, Priority, Profile,
    RunOptions, Strategy, ThreadSetting, TimedEvent, Tools,
};
use common::{files_ending, make_video, make_video_sized};

fn options(dir: &std::path::Path, policy: Policy, strategy: Strategy) -> RunOptions {
    let mut options = RunOptions::new(dir);
    options.setup.plan = PlanOptions {
        policy,
        ..Default::default()
    };
    options.setup.strategy = strategy;
    options
}

#[test]
fn fixed_policy_clips_have_planned_count_and_durations() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 12.0, true);
    let out = dir.path().join("out");
    let policy: Policy = "fixed:1:4:3".parse().unwrap();
    let report = run(
        &input,
        &options(&out, policy, Strategy::Auto),
        &CancelToken::new(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.plan.len(), 4);
    assert!(report.all_valid(), "{:?}", report.failures);
    for clip in &report.clips {
        let written = probe(&Tools::from_env(), clip.path.as_ref().unwrap()).unwrap();
        assert!(
            (written.duration - clip.clip.duration()).abs() < 0.07,
            "{written:?}"
        );
        assert!(written.has_audio);
    }
    assert_eq!(files_ending(&out, ".mp4").len(), 4);
    assert!(files_ending(&out, ".partial").is_empty());
    let m = &report.metrics;
    assert!(m.work_cpu_s > 0.0, "W is measured from wait4");
    assert!(
        m.encoder_peak_rss_bytes > 1 << 20,
        "peak RSS is measured from wait4"
    );
    assert!(m.time_to_first_clip_s.unwrap() <= m.wall_s);
    assert!(m.efficiency > 0.0 && m.efficiency <= 1.0 + 1e-9);
}

#[test]
fn adaptive_policy_tiles_the_video() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 40.0, false);
    let out = dir.path().join("out");
    let report = run(
        &input,
        &options(&out, Policy::Adaptive, Strategy::Fixed(2)),
        &CancelToken::new(),
        &|_| {},
    )
    .unwrap();
    // 40 s: target 15 s, overlap 3 s → 3 clips of 15.33 s.
    assert_eq!(report.plan.len(), 3);
    assert!(report.all_valid(), "{:?}", report.failures);
    assert_eq!(report.plan.last().unwrap().end, report.input.duration);
    assert!(!report.clips[0].validation.as_ref().unwrap().has_audio);
}

#[test]
fn high_priority_clips_start_first_then_longest() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 8.0, false);
    let media = probe(&Tools::from_env(), &input).unwrap();
    let clip = |number, start, end, priority| Clip {
        number,
        start,
        end,
        priority,
    };
    let clips = [
        clip(1, 0.0, 1.0, Priority::Normal),
        clip(2, 1.0, 4.0, Priority::Normal),
        clip(3, 5.0, 6.0, Priority::High),
        clip(4, 2.0, 3.0, Priority::High),
        clip(5, 6.0, 8.0, Priority::Normal),
    ];
    let started = Mutex::new(Vec::new());
    let options = ExecuteOptions {
        workers: 1,
        ..execute_options(&dir.path().join("out"))
    };
    let execution = execute(
        &media,
        &clips,
        &options,
        &CancelToken::new(),
        &|e: &TimedEvent| {
            if let Event::Started {
                subject: Subject::Clip(clip),
                ..
            } = e.event
            {
                started.lock().unwrap().push(clip);
            }
        },
    )
    .unwrap();
    assert!(execution
        .outcomes
        .iter()
        .all(|o| o.status == ClipStatus::Done));
    // High priority by start time (4 at 2 s, 3 at 5 s), then longest first (3 s, 2 s, 1 s).
    assert_eq!(started.into_inner().unwrap(), vec![4, 3, 2, 5, 1]);
}

fn execute_options(out: &std::path::Path) -> ExecuteOptions {
    ExecuteOptions {
        workers: 2,
        timeout: Duration::from_secs(60),
        ..ExecuteOptions::new(out, Tools::from_env())
    }
}

#[test]
fn one_failing_clip_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 6.0, true);
    let out = dir.path().join("out");
    // A folder where clip 2's temporary file should go makes ffmpeg fail on that clip only.
    std::fs::create_dir_all(out.join("clip_002.mp4.partial")).unwrap();
    let policy: Policy = "fixed:1:2:2".parse().unwrap();
    let report = run(
        &input,
        &options(&out, policy, Strategy::Auto),
        &CancelToken::new(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.plan.len(), 3);
    let status: Vec<ClipStatus> = report.clips.iter().map(|c| c.status).collect();
    assert_eq!(
        status,
        vec![ClipStatus::Done, ClipStatus::Failed, ClipStatus::Done]
    );
    assert_eq!(report.clips[1].attempts, 2, "one retry");
    assert_eq!(report.failures.len(), 1);
    assert!(
        report.failures[0].kind == FailureKind::Exited,
        "{:?}",
        report.failures
    );
    assert!(
        !report.failures[0].stderr_tail.is_empty(),
        "stderr tail kept"
    );
    assert!(out.join("clip_001.mp4").exists() && out.join("clip_003.mp4").exists());
    assert!(!out.join("clip_002.mp4").exists());
    assert!(!report.all_valid());
}

#[test]
fn cancellation_kills_children_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video_sized(dir.path(), "in.mp4", 8.0, true, "640x360");
    let out = dir.path().join("out");
    let mut opts = options(&out, "fixed:1:4:2".parse().unwrap(), Strategy::Fixed(2));
    opts.setup.profile = Profile::Original;
    let cancel = CancelToken::new();
    let report = run(&input, &opts, &cancel, &|e: &TimedEvent| {
        if matches!(e.event, Event::Started { .. }) {
            cancel.cancel();
        }
    })
    .unwrap();
    assert!(report.cancelled);
    assert!(files_ending(&out, ".partial").is_empty());
    let count = |status| report.clips.iter().filter(|c| c.status == status).count();
    // Both running encodes (seconds of work each) were killed, not let finish; the rest never
    // started. A cancel that only drained would report them done.
    assert_eq!(count(ClipStatus::Done), 0, "{:?}", report.clips);
    assert!(count(ClipStatus::Cancelled) >= 1, "{:?}", report.clips);
    assert_eq!(
        count(ClipStatus::Cancelled) + count(ClipStatus::NotStarted),
        report.plan.len()
    );
    for clip in report
        .clips
        .iter()
        .filter(|c| c.status == ClipStatus::Cancelled)
    {
        assert_eq!(clip.failure.as_ref().unwrap().kind, FailureKind::Cancelled);
    }
    // No ffmpeg of this run is left: none has the output folder on its command line.
    let ours = out.to_string_lossy().into_owned();
    let survivors: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("ffmpeg") && c.contains(&ours))
        .collect();
    assert!(survivors.is_empty(), "{survivors:?}");
}

#[test]
fn copy_profile_and_thread_override() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 6.0, true);
    let out = dir.path().join("out");
    let mut opts = options(&out, "fixed:1:3:3".parse().unwrap(), Strategy::Serial);
    opts.setup.profile = Profile::Copy;
    let report = run(&input, &opts, &CancelToken::new(), &|_| {}).unwrap();
    assert!(report.all_valid(), "{:?}", report.failures);
    let mut opts = options(
        &dir.path().join("out2"),
        "fixed:1:3:3".parse().unwrap(),
        Strategy::Serial,
    );
    opts.setup.threads = Some(ThreadSetting::Fixed(1));
    let report = run(&input, &opts, &CancelToken::new(), &|_| {}).unwrap();
    assert_eq!(report.allocation.ffmpeg_threads, ThreadSetting::Fixed(1));
    assert!(report.all_valid());
}

#[test]
fn execute_reports_every_event_kind() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 4.0, false);
    let media = probe(&Tools::from_env(), &input).unwrap();
    let clips = plan(
        &media,
        &PlanOptions {
            policy: "fixed:1:2:2".parse().unwrap(),
            ..Default::default()
        },
    );
    let events = Mutex::new(Vec::new());
    let options = execute_options(&dir.path().join("out"));
    let execution = execute(&media, &clips, &options, &CancelToken::new(), &|e| {
        events.lock().unwrap().push(e.event.clone())
    })
    .unwrap();
    assert!(!execution.cancelled);
    let events = events.into_inner().unwrap();
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Event::Queued { .. })), 2);
    assert_eq!(count(|e| matches!(e, Event::Started { .. })), 2);
    assert_eq!(count(|e| matches!(e, Event::Finished { .. })), 2);
    assert!(count(|e| matches!(e, Event::Progress { .. })) >= 2);
}

#[test]
fn draining_lets_running_clips_finish_and_starts_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 8.0, true);
    let out = dir.path().join("out");
    let mut opts = options(&out, "fixed:1:2:2".parse().unwrap(), Strategy::Fixed(2));
    opts.setup.plan.high_priority_clips = 0;
    let cancel = CancelToken::new();
    let report = run(&input, &opts, &cancel, &|e: &TimedEvent| {
        if matches!(e.event, Event::Started { .. }) {
            cancel.drain();
        }
    })
    .unwrap();
    assert!(report.cancelled);
    let done = report
        .clips
        .iter()
        .filter(|c| c.status == ClipStatus::Done)
        .count();
    let not_started = report
        .clips
        .iter()
        .filter(|c| c.status == ClipStatus::NotStarted)
        .count();
    assert!(
        (1..=2).contains(&done),
        "running clips finish: {:?}",
        report.clips
    );
    assert_eq!(done + not_started, 4);
    assert!(files_ending(&out, ".partial").is_empty());
}

#[test]
fn keyframe_snapped_copies_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    // 70 s with a keyframe every second: the adaptive plan (15 s clips, 3 s overlap) snaps
    // every start to a keyframe and every clip is a stream copy of exactly its planned length.
    let input = make_video(dir.path(), "in.mp4", 70.0, true);
    let out = dir.path().join("out");
    let mut opts = options(&out, Policy::Adaptive, Strategy::Auto);
    opts.setup.profile = Profile::Copy;
    let report = run(&input, &opts, &CancelToken::new(), &|_| {}).unwrap();
    assert!(report.all_valid(), "{:?}", report.failures);
    assert!(report
        .input
        .keyframes
        .as_ref()
        .is_some_and(|k| k.len() >= 70));
    for clip in &report.clips {
        assert!(report.input.is_keyframe(clip.clip.start), "{:?}", clip.clip);
        // This input has no B-frames: its copies match the plan within a frame and an audio frame.
        let v = clip.validation.as_ref().unwrap();
        assert!(
            (v.duration - clip.clip.duration()).abs() <= 0.04 + 1024.0 / 44100.0 + 0.001,
            "{v:?}"
        );
    }
    // The copies are the source's frames from the planned start on, the keyframe first (a
    // seek past it would hide it behind the edit list and shift every frame by one).
    let tools = clipbench_engine::Tools::from_env();
    for clip in report.clips.iter().skip(1).take(2) {
        let (path, span) = (clip.path.as_ref().unwrap(), &clip.clip);
        let psnr = clipbench_engine::quality::clip_psnr(&tools, path, &input, span.start, 2.0);
        assert_eq!(psnr.unwrap(), f64::INFINITY, "clip {}", span.number);
    }
}

#[test]
fn resume_skips_valid_clips_and_redoes_a_truncated_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_video(dir.path(), "in.mp4", 8.0, true);
    let out = dir.path().join("out");
    let mut opts = options(&out, "fixed:1:2:2".parse().unwrap(), Strategy::Fixed(2));
    let first = run(&input, &opts, &CancelToken::new(), &|_| {}).unwrap();
    assert!(first.all_valid());
    assert!(out.join("clipbench-ledger.json").exists());
    // Truncate clip 2 as a crash mid-copy would.
    let clip2 = out.join("clip_002.mp4");
    let bytes = std::fs::read(&clip2).unwrap();
    std::fs::write(&clip2, &bytes[..bytes.len() / 3]).unwrap();
    opts.resume = true;
    let started = Mutex::new(Vec::new());
    let second = run(&input, &opts, &CancelToken::new(), &|e: &TimedEvent| {
        if let Event::Started {
            subject: Subject::Clip(clip),
            ..
        } = e.event
        {
            started.lock().unwrap().push(clip);
        }
    })
    .unwrap();
    assert!(second.all_valid(), "{:?}", second.failures);
    assert_eq!(
        started.into_inner().unwrap(),
        vec![2],
        "only the broken clip is encoded again"
    );
    let statuses: Vec<ClipStatus> = second.clips.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        vec![
            ClipStatus::Resumed,
            ClipStatus::Done,
            ClipStatus::Resumed,
            ClipStatus::Resumed
        ]
    );
    // Other settings make another key: nothing is reused.
    opts.setup.profile = Profile::Seed;
    let third = run(&input, &opts, &CancelToken::new(), &|_| {}).unwrap();
    assert!(third.clips.iter().all(|c| c.status == ClipStatus::Done));
}
