//! The stall watchdog kills an ffmpeg that reports no progress and retries it.

use crate::common;

use std::time::Duration;

use clipbench_engine::execute::{execute, ExecuteOptions, FailureKind};
use clipbench_engine::{CancelToken, Clip, ClipStatus, Priority, Tools};

#[test]
fn a_silent_ffmpeg_is_killed_by_the_watchdog_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let media = common::hanging_media(dir.path());
    let clip = Clip {
        number: 1,
        start: 0.0,
        end: 5.0,
        priority: Priority::High,
    };
    let options = ExecuteOptions {
        stall_timeout: Some(Duration::from_millis(400)),
        ..ExecuteOptions::new(dir.path().join("out"), Tools::from_env())
    };
    let execution = execute(&media, &[clip], &options, &CancelToken::new(), &|_| {}).unwrap();
    let outcome = &execution.outcomes[0];
    assert_eq!((outcome.status, outcome.attempts), (ClipStatus::Failed, 2));
    let failure = outcome.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Stalled, "{failure:?}");
}
