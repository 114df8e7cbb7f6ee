//! A hung ffmpeg is killed by the per-clip timeout and reaped (no zombie). In a test binary of
//! its own (the others share one) so that no other test's children are counted.

mod common;

use std::path::Path;
use std::time::Duration;

use clipbench_engine::execute::{execute, ExecuteOptions, FailureKind};
use clipbench_engine::{CancelToken, Clip, ClipStatus, Priority, Tools};

/// Child processes of this test process, zombies included.
fn children() -> Vec<String> {
    let mut all = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        all.extend(text.split_whitespace().map(str::to_owned));
    }
    all
}

#[test]
fn a_hung_ffmpeg_is_killed_by_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let media = common::hanging_media(dir.path());
    let clip = Clip {
        number: 1,
        start: 0.0,
        end: 5.0,
        priority: Priority::High,
    };
    let options = ExecuteOptions {
        timeout: Duration::from_millis(500),
        ..ExecuteOptions::new(dir.path().join("out"), Tools::from_env())
    };
    let execution = execute(&media, &[clip], &options, &CancelToken::new(), &|_| {}).unwrap();
    let outcome = &execution.outcomes[0];
    assert_eq!(outcome.status, ClipStatus::Failed);
    assert_eq!(outcome.attempts, 2);
    let failure = outcome.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::TimedOut, "{failure:?}");
    assert!(
        children().is_empty(),
        "no child left behind: {:?}",
        children()
    );
    assert!(!Path::new(&dir.path().join("out/clip_001.mp4.partial")).exists());
}
