//! The runner's rules with fake targets: warm-ups, run numbers, statuses, interruptions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::runner::order::schedule;

/// A target that answers from `answer(call)` without running anything; it cancels `cancel`
/// during call number `cancel_at` (counting from 0).
struct Fake {
    config: TargetConfig,
    answer: fn(usize) -> Measured,
    calls: AtomicUsize,
    cancel_at: Option<(usize, CancelToken)>,
}

impl Fake {
    fn new(spec: &str, answer: fn(usize) -> Measured) -> Fake {
        Fake {
            config: TargetConfig::from_spec(spec).unwrap().unwrap(),
            answer,
            calls: AtomicUsize::new(0),
            cancel_at: None,
        }
    }
}

impl Target for Fake {
    fn config(&self) -> &TargetConfig {
        &self.config
    }

    fn run(&self, job: &Job) -> Measured {
        assert!(job.scratch.is_dir(), "each run gets its scratch folder");
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some((_, token)) = self.cancel_at.as_ref().filter(|(at, _)| *at == call) {
            token.cancel();
        }
        (self.answer)(call)
    }
}

fn valid(_: usize) -> Measured {
    Measured {
        wall_s: 2.0,
        clips: 2,
        clips_valid: 2,
        ..Default::default()
    }
}

fn sample() -> ReadySample {
    ReadySample {
        version: 1,
        name: "tiny".into(),
        path: PathBuf::from("tiny.mp4"),
        media: MediaInfo {
            duration: 60.0,
            ..Default::default()
        },
        server: None,
        shaped: false,
    }
}

/// Measures `order` of `targets` on one sample with `warmup_rounds`; the recorded runs and the
/// rows `runs.csv` got.
fn measure(
    targets: &[&dyn Target],
    order: &[Slot],
    warmup_rounds: usize,
    cancel: &CancelToken,
) -> (Recorded, usize) {
    measure_until(targets, order, warmup_rounds, cancel, None)
}

/// [`measure`] under a stopping rule (with its baseline).
fn measure_until(
    targets: &[&dyn Target],
    order: &[Slot],
    warmup_rounds: usize,
    cancel: &CancelToken,
    stop: Option<(&StopRule, Option<&str>)>,
) -> (Recorded, usize) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let samples = [sample()];
    let bench = Bench {
        targets,
        samples: &samples,
        warmup_rounds,
        report_dir: dir.path(),
        poll_interval: Duration::from_millis(10),
        monitor_interval: Duration::from_millis(50),
        runtime: &runtime,
        tools: &Tools::default(),
        cancel,
        observe: &|_| {},
        enough: None,
        stop,
    };
    let csv_path = dir.path().join("runs.csv");
    let mut csv = RunsCsv::create(&csv_path).unwrap();
    let recorded = bench.measure(order, &mut csv).unwrap();
    let rows = csv::Reader::from_path(&csv_path).unwrap().records().count();
    (recorded, rows)
}

#[test]
fn warm_ups_run_but_are_not_recorded_and_runs_are_numbered_per_target() {
    let (a, b) = (
        Fake::new("engine:serial", valid),
        Fake::new("engine:auto", valid),
    );
    let order = schedule(2, 1, 3, 7);
    let (recorded, rows) = measure(&[&a, &b], &order, 1, &CancelToken::new());
    assert_eq!(
        a.calls.load(Ordering::SeqCst) + b.calls.load(Ordering::SeqCst),
        6
    );
    assert_eq!((recorded.runs.len(), rows), (4, 4));
    assert!(!recorded.interrupted);
    for name in ["engine:serial", "engine:auto"] {
        let runs: Vec<usize> = recorded
            .runs
            .iter()
            .filter(|r| r.target == name)
            .map(|r| r.run)
            .collect();
        assert_eq!(runs, [1, 2], "{name}");
    }
    assert!(recorded.runs.iter().all(|r| r.status == RunStatus::Ok));
    assert_eq!(recorded.runs[0].realtime_factor, Some(30.0));
}

#[test]
fn a_failed_or_invalid_run_is_recorded_with_its_status_and_problem() {
    let failing = Fake::new("engine:serial", |call| match call {
        0 => Measured::failure(0.5, "answered 500"),
        _ => Measured {
            clips_valid: 1,
            ..valid(call)
        },
    });
    let order = schedule(1, 1, 2, 7);
    let (recorded, rows) = measure(&[&failing], &order, 0, &CancelToken::new());
    assert_eq!(rows, 2);
    let statuses: Vec<RunStatus> = recorded.runs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [RunStatus::Failed, RunStatus::Invalid]);
    assert_eq!(recorded.runs[0].problems, "answered 500");
}

#[test]
fn an_interruption_keeps_every_finished_run_and_drops_the_cut_one() {
    let cancel = CancelToken::new();
    let mut target = Fake::new("engine:serial", valid);
    target.cancel_at = Some((1, cancel.clone()));
    let order = schedule(1, 1, 4, 7);
    let (recorded, rows) = measure(&[&target], &order, 0, &cancel);
    assert!(recorded.interrupted);
    assert_eq!(
        target.calls.load(Ordering::SeqCst),
        2,
        "nothing starts after"
    );
    assert_eq!((recorded.runs.len(), rows), (1, 1));
}

#[test]
fn no_rate_is_derived_from_a_failed_or_invalid_run() {
    let target = TargetConfig::from_spec("engine:serial").unwrap().unwrap();
    let sample = ReadySample {
        version: 1,
        name: "s".into(),
        path: PathBuf::new(),
        media: MediaInfo {
            duration: 60.0,
            ..Default::default()
        },
        server: None,
        shaped: false,
    };
    let at = Placed {
        run: 1,
        order: 0,
        started_at: String::new(),
    };
    let monitored = MonitorSummary::default();
    let rate = |m: &Measured| record(&target, &sample, &at, m, &monitored).realtime_factor;
    let ok = Measured {
        wall_s: 2.0,
        clips: 2,
        clips_valid: 2,
        ..Default::default()
    };
    assert_eq!(rate(&ok), Some(30.0));
    let invalid = Measured {
        clips_valid: 1,
        ..ok.clone()
    };
    assert_eq!(rate(&invalid), None);
    assert_eq!(rate(&Measured::failure(0.003, "answered 500")), None);
}

#[test]
fn under_a_stopping_rule_decided_cells_run_no_more_and_say_why() {
    let base = Fake::new("engine:serial", |call| Measured {
        wall_s: 2.0 + 0.01 * call as f64,
        ..valid(call)
    });
    let fast = Fake::new("engine:auto", |call| Measured {
        wall_s: 0.2 + 0.001 * call as f64,
        ..valid(call)
    });
    let rule = StopRule::default();
    let order = schedule(2, 1, rule.max_runs, 7);
    let stop = Some((&rule, Some("engine:serial")));
    let (recorded, rows) = measure_until(&[&base, &fast], &order, 0, &CancelToken::new(), stop);
    // Ten slots scheduled, four made: each cell stopped at the minimum.
    assert_eq!((recorded.runs.len(), rows), (4, 4));
    assert_eq!(fast.calls.load(Ordering::SeqCst), 2);
    let mut reasons: Vec<(String, String)> = (recorded.stopped.iter())
        .map(|s| (s.target.clone(), s.reason.clone()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("engine:auto".to_owned(), "decided after 2 runs".to_owned()),
            (
                "engine:serial".to_owned(),
                "decided after 2 runs".to_owned()
            ),
        ]
    );
}
