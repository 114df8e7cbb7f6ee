use std::collections::HashMap;

use super::series::{self, Metric, Order};
use super::store::{Filter, Stored};
use super::*;
use crate::changepoint::Settings;

mod postgres;

fn fixture() -> Results {
    serde_json::from_str(include_str!("../../tests/fixtures/two-targets.json")).unwrap()
}

#[test]
fn a_build_description_gives_its_commit() {
    assert_eq!(
        parse_commit("b761bdf997-dirty"),
        (Some("b761bdf997".into()), true)
    );
    assert_eq!(
        parse_commit("0123456789abcdef0123456789abcdef01234567"),
        (Some("0123456789".into()), false)
    );
    assert_eq!(parse_commit("built outside a git checkout"), (None, false));
    assert_eq!(parse_commit(""), (None, false));
}

#[test]
fn a_session_holds_every_run_with_its_build_and_settings() {
    let results = fixture();
    let session = session("run", &results, "reports/x", identify_by_build(&results));
    assert_eq!(session.measurements.len(), results.runs.len());
    let m = &session.measurements[0];
    assert_eq!(m.commit.as_deref(), Some("b761bdf997"));
    assert!(m.dirty);
    let record: RunRecord = serde_json::from_str(&m.figures).unwrap();
    assert_eq!(record, results.runs[0]);
    let hash_of = |target: &str| {
        session
            .measurements
            .iter()
            .find(|m| m.target == target)
            .unwrap()
            .config_hash
            .clone()
    };
    assert_ne!(hash_of("a"), hash_of("b"));
    assert_eq!(session.machine.id, MachineKey::of(&results.machine).id);
    // The same results read back from JSON are the same session.
    let again: Results = serde_json::from_str(&serde_json::to_string(&results).unwrap()).unwrap();
    assert_eq!(
        super::session("import", &again, "elsewhere", identify_by_build(&again)).id,
        session.id
    );
}

/// A stored run of `target` at `commit` (dirty when it ends in `+`).
fn stored(target: &str, commit: &str, at: usize, wall_s: f64, cpu_s: Option<f64>) -> Stored {
    let (commit, dirty) = match commit.strip_suffix('+') {
        Some(c) => (c, true),
        None => (commit, false),
    };
    Stored {
        measurement: Measurement {
            target: target.into(),
            sample: "s".into(),
            run: 1,
            commit: Some(commit.into()),
            dirty,
            config_hash: "c".into(),
            status: "ok".into(),
            measured_at: format!("2026-12-01T00:{:02}:{:02}Z", at / 60, at % 60),
            wall_s,
            work_cpu_s: cpu_s,
            figures: "{}".into(),
        },
        machine_id: "m".into(),
        machine: "a machine".into(),
        command: "run".into(),
    }
}

/// 30 commits c00..c29, three runs each, about 5 s (±1 %), 10 % slower from c20 on in wall
/// time and W.
fn stepped_history() -> Vec<Stored> {
    let mut rows = Vec::new();
    for c in 0..30 {
        for run in 0..3 {
            let jitter = 1.0 + 0.01 * ((c * 3 + run) % 5) as f64 / 4.0 - 0.005;
            let level = if c >= 20 { 1.1 } else { 1.0 };
            let wall = 5.0 * level * jitter;
            rows.push(stored(
                "auto",
                &format!("c{c:02}"),
                c * 3 + run,
                wall,
                Some(2.0 * wall),
            ));
        }
    }
    rows
}

#[test]
fn a_series_finds_its_step_with_its_commit_range_and_size() {
    let found = series::build(&stepped_history(), &HashMap::new(), &Settings::default());
    assert_eq!(found.len(), 1);
    let s = &found[0];
    assert_eq!(s.order, Order::Time);
    assert_eq!(s.points.len(), 30);
    assert_eq!(s.points[0].runs, 3);
    let wall: Vec<_> = s
        .changes
        .iter()
        .filter(|c| c.metric == Metric::Wall)
        .collect();
    assert_eq!(wall.len(), 1, "{:?}", s.changes);
    assert_eq!(
        (wall[0].last_before.as_str(), wall[0].first_after.as_str()),
        ("c19", "c20")
    );
    assert!((wall[0].change - 0.10).abs() < 0.01, "{}", wall[0].change);
    assert!(wall[0].confidence() >= 0.99);
    assert!(s
        .changes
        .iter()
        .any(|c| c.metric == Metric::Cpu && c.index == 20));
    assert_eq!(s.newest_regressions(0.05).len(), 2);
    assert!(s.newest_regressions(0.15).is_empty());
}

#[test]
fn git_order_wins_over_the_time_measured_and_dirty_or_failed_runs_are_left_out() {
    let mut rows = stepped_history();
    // Measured in reverse: by time the step would be a speed-up.
    let last = rows.len();
    for (i, row) in rows.iter_mut().enumerate() {
        row.measurement.measured_at = format!("2026-12-01T{:02}:00:00Z", (last - i) / 4);
    }
    rows.push(stored("auto", "c05+", 999, 50.0, None));
    let mut failed = stored("auto", "c06", 999, 50.0, None);
    failed.measurement.status = "failed".into();
    rows.push(failed);
    let order: HashMap<String, usize> = (0..30).map(|c| (format!("c{c:02}"), c)).collect();
    let s = &series::build(&rows, &order, &Settings::default())[0];
    assert_eq!(s.order, Order::Git);
    assert_eq!(s.left_out.dirty, 1);
    assert_eq!(s.left_out.not_valid, 1);
    let wall = s.changes.iter().find(|c| c.metric == Metric::Wall).unwrap();
    assert_eq!(wall.first_after, "c20");
    assert!(wall.change > 0.05);
}

#[test]
fn a_file_history_keeps_every_session_once() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("nested/history.sqlite");
    let store = Store::open(location.to_str().unwrap()).unwrap();
    let results = fixture();
    let session = session("run", &results, "reports/x", identify_by_build(&results));
    assert!(store.append(&session).unwrap());
    assert!(!store.append(&session).unwrap(), "the same session twice");
    let read = store.read(&Filter::default()).unwrap();
    assert_eq!(read.len(), results.runs.len());
    let mut got: Vec<Measurement> = read.into_iter().map(|r| r.measurement).collect();
    let mut want = session.measurements.clone();
    let by_key = |m: &Measurement| (m.target.clone(), m.run);
    got.sort_by_key(by_key);
    want.sort_by_key(by_key);
    assert_eq!(got, want);
    let only_b = Filter {
        target: Some("b".into()),
        ..Filter::default()
    };
    assert!(store
        .read(&only_b)
        .unwrap()
        .iter()
        .all(|r| r.measurement.target == "b"));
}

/// Sessions `0..n` of one target on distinct commits, each from the fixture.
fn numbered_session(i: usize) -> Session {
    let mut results = fixture();
    results.created_at = format!("2026-12-01T10:00:{i:02}Z");
    results.machine.git_commit = Some(format!("{i:010x}"));
    session("run", &results, "reports/x", identify_by_build(&results))
}

/// Writers in parallel processes' stead: threads, each with its own connection, onto a
/// history none of them created.
pub(super) fn concurrent_writers_lose_nothing(location: &str) {
    let writers = 6;
    std::thread::scope(|scope| {
        for i in 0..writers {
            scope.spawn(move || {
                let store = Store::open(location).unwrap();
                assert!(store.append(&numbered_session(i)).unwrap());
            });
        }
    });
    let store = Store::open(location).unwrap();
    let rows = store.read(&Filter::default()).unwrap();
    assert_eq!(rows.len(), writers * fixture().runs.len());
}

#[test]
fn concurrent_writers_to_a_new_file_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("history.sqlite");
    concurrent_writers_lose_nothing(location.to_str().unwrap());
}

#[test]
fn a_bad_location_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let message = |location: &str| Store::open(location).err().unwrap().to_string();
    assert!(message("http://example.invalid/h").contains("write a file path"));
    let folder = message(dir.path().to_str().unwrap());
    assert!(folder.starts_with("cannot open the history at"), "{folder}");
    let secret = message("postgres://me:hunter2@127.0.0.1:port/db");
    assert!(!secret.contains("hunter2"), "{secret}");
}
