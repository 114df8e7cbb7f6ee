//! Tests of the queue's tasks: checks of what a task may name, splitting, keys.

use super::*;
use clipbench_engine::encode::Profile;
use clipbench_engine::plan::Priority;
use proptest::prelude::*;

fn task() -> ClipTask {
    ClipTask {
        job: "j1".into(),
        index: 0,
        source: "sources/0123abcd.mp4".into(),
        media: MediaInfo {
            duration: 60.0,
            ..Default::default()
        },
        cut_points: None,
        clips: clips(2),
        keys: vec![
            "clips/v_j1_clip_001.mp4".into(),
            "clips/v_j1_clip_002.mp4".into(),
        ],
        setup: Setup::default(),
        timeout_s: 60.0,
        stall_timeout_s: 60.0,
        deadline_s: 600.0,
        retries: 1,
    }
}

#[test]
fn hostile_tasks_are_refused_with_their_reason() {
    assert_eq!(task().validate(), Ok(()));
    type Spoil = fn(&mut ClipTask);
    let cases: Vec<(Spoil, InvalidTask)> = vec![
        (|t| t.job = "../../etc".into(), InvalidTask::JobId),
        (|t| t.job = "/abs".into(), InvalidTask::JobId),
        (|t| t.source = "sources/../../x".into(), InvalidTask::Source),
        (|t| t.source = "/etc/passwd".into(), InvalidTask::Source),
        (|t| t.keys[0] = "clips/../../x.mp4".into(), InvalidTask::Key),
        (
            |t| t.keys.pop().map(drop).unwrap_or(()),
            InvalidTask::Clips { clips: 2, keys: 1 },
        ),
        (|t| t.timeout_s = 1e300, InvalidTask::Timeout),
        (|t| t.timeout_s = f64::NAN, InvalidTask::Timeout),
        (|t| t.stall_timeout_s = 0.0, InvalidTask::Timeout),
        (|t| t.stall_timeout_s = f64::INFINITY, InvalidTask::Timeout),
        (|t| t.deadline_s = -1.0, InvalidTask::Timeout),
        (|t| t.retries = u32::MAX, InvalidTask::Retries),
        (|t| t.clips[0].end = f64::INFINITY, InvalidTask::Times),
        (|t| t.media.duration = -1.0, InvalidTask::Times),
    ];
    for (spoil, expected) in cases {
        let mut t = task();
        spoil(&mut t);
        assert_eq!(t.validate(), Err(expected));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    // Fuzzing of the task parser: any bytes, and tasks with any numbers and names. A task
    // that passes can be turned into durations and paths without a panic.
    #[test]
    fn fuzz_task_parser_never_panics(
        noise in prop::collection::vec(any::<u8>(), 0..256),
        job in ".{0,20}",
        timeout in any::<f64>(),
        stall in any::<f64>(),
        start in any::<f64>(),
        end in any::<f64>(),
        duration in any::<f64>(),
    ) {
        if let Ok(t) = serde_json::from_slice::<ClipTask>(&noise) {
            let _ = t.validate();
        }
        let mut t = task();
        t.job = job;
        t.timeout_s = timeout;
        t.stall_timeout_s = stall;
        t.clips[0].start = start;
        t.clips[0].end = end;
        t.media.duration = duration;
        if t.validate().is_ok() {
            let _ = Duration::from_secs_f64(t.timeout_s);
            let _ = Duration::from_secs_f64(t.stall_timeout_s);
            prop_assert!(std::path::Path::new(&t.job).components().count() == 1);
        }
    }
}

fn clips(n: u32) -> Vec<Clip> {
    (1..=n)
        .map(|number| Clip {
            number,
            start: (number - 1) as f64 * 25.0,
            end: (number - 1) as f64 * 25.0 + 30.0,
            priority: Priority::Normal,
        })
        .collect()
}

#[test]
fn tasks_cover_every_clip_once_in_order() {
    for (reuse, sizes) in [(false, vec![1; 10]), (true, vec![4, 4, 2])] {
        let tasks = split(&clips(10), reuse);
        assert_eq!(tasks.iter().map(Vec::len).collect::<Vec<_>>(), sizes);
        let numbers: Vec<u32> = tasks.iter().flatten().map(|c| c.number).collect();
        assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    }
    assert!(split(&[], false).is_empty());
}

#[test]
fn a_task_survives_the_queue_with_its_cut_points() {
    let media = MediaInfo {
        duration: 60.0,
        cut_points: Some(vec![CutPoint {
            shown_from: 2.0,
            decode_time: 1.9,
        }]),
        ..Default::default()
    };
    let task = ClipTask {
        job: "j1".into(),
        index: 0,
        source: "sources/x.mp4".into(),
        cut_points: media.cut_points.clone(),
        media,
        clips: clips(2),
        keys: vec!["clips/a.mp4".into(), "clips/b.mp4".into()],
        setup: Setup {
            profile: Profile::Smart,
            ..Setup::default()
        },
        timeout_s: 60.0,
        stall_timeout_s: 60.0,
        deadline_s: 600.0,
        retries: 1,
    };
    let back: ClipTask = serde_json::from_str(&serde_json::to_string(&task).unwrap()).unwrap();
    assert_eq!(back.cut_points, task.cut_points);
    assert_eq!(back.clips, task.clips);
}
