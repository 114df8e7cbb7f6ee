//! Tests of the `dialect` module.

use super::*;
use clipbench_engine::extras::{Compat, Phase};

fn dialect(flavor: Option<Flavor>) -> ResolvedDialect {
    ResolvedDialect {
        flavor,
        compat: None,
        base_url: "http://127.0.0.1:5000".into(),
        generate_path: "/generate_shorts".into(),
        progress_path: Some("/progress".into()),
        health_path: None,
        cleanup_path: None,
        current_clip: flavor.map_or(ClipCounter::Finished, Flavor::clip_counter),
        body_template: r#"{"url": "{url}"}"#.into(),
        timeout_s: 60.0,
        api_key_env: None,
        evidence: Vec::new(),
    }
}

/// A recording from `contract/peers/`: its trace as readings, its wall time and response.
fn recording(name: &str, flavor: Flavor) -> (Vec<Reading>, f64, Value) {
    let path = format!("{}/../contract/peers/{name}", env!("CARGO_MANIFEST_DIR"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let readings = doc["progress_trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Reading::parse(Some(flavor), &r["p"], r["t"].as_f64().unwrap()))
        .collect();
    (
        readings,
        doc["wall_s"].as_f64().unwrap(),
        doc["response"].clone(),
    )
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn the_original_backends_recording() {
    let (readings, wall, response) = recording("original-generate.json", Flavor::Original);
    assert_eq!(response["clip_details"].as_array().unwrap().len(), 2);
    let t = interpret(&dialect(Some(Flavor::Original)), &readings, wall);
    // current_clip = 1 arrives at 1.13 s when clip 1 *starts*; clip 2 starts at 7.67 s.
    assert!(close(t.time_to_first_clip_s, 7.67), "{t:?}");
    assert!(close(t.download_s, 0.92), "{t:?}");
    assert!(close(t.analysis_s, 1.13 - 0.92), "{t:?}");
    assert!(close(t.encode_s, 13.08 - 1.13), "{t:?}");
    assert_eq!(t.workers, Some(1));
    assert!(t.ttfc_source.unwrap().contains("started"));
}

#[test]
fn the_optimized_backends_recording() {
    let (readings, wall, response) = recording("optimized-generate.json", Flavor::Optimized);
    assert_eq!(response["clip_details"].as_array().unwrap().len(), 3);
    let t = interpret(&dialect(Some(Flavor::Optimized)), &readings, wall);
    assert!(close(t.time_to_first_clip_s, 6.27), "{t:?}");
    assert!(close(t.download_s, 0.93), "{t:?}");
    assert!(close(t.analysis_s, 1.15 - 0.93), "{t:?}");
    assert!(close(t.encode_s, 11.3 - 1.15), "{t:?}");
    assert_eq!(t.workers, Some(1));
    assert_eq!(t.workers_source.as_deref(), Some("progress threads_used"));
}

#[test]
fn the_same_trace_read_with_the_wrong_meaning_is_wrong() {
    // What the harness did before dialects: the original's trace read as "clips finished".
    let (readings, wall, _) = recording("original-generate.json", Flavor::Original);
    let t = interpret(&dialect(None), &readings, wall);
    assert!(close(t.time_to_first_clip_s, 1.13), "{t:?}");
}

#[test]
fn clipbench_extras_win_over_the_compat_fields() {
    let extras = ProgressExtras {
        phase: Phase::Processing,
        detail: "Created clip 1/4".into(),
        progress: 36.25,
        clips_started: 3,
        clips_finished: 1,
        total_clips: 4,
        workers: 2,
        elapsed_s: 2.0,
        eta_s: 6.0,
        error: None,
    };
    let progress = serde_json::json!({
        "status": "processing", "current_clip": 3, "clipbench": extras
    });
    let r = Reading::parse(Some(Flavor::Clipbench), &progress, 2.0);
    assert_eq!((r.current_clip, r.workers), (1, Some(2)));
    let r = Reading::parse(Some(Flavor::Original), &progress, 2.0);
    assert_eq!(r.current_clip, 3);
}

#[test]
fn classification_from_health_and_progress() {
    let doc = |name: &str| -> Value {
        let path = format!("{}/../contract/peers/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let original = doc("original-generate.json")["progress_after"].clone();
    let optimized = doc("optimized-generate.json")["progress_after"].clone();
    let health = serde_json::json!({"status": "ok", "version": "4.5-cleanup"});
    assert_eq!(
        classify(None, Some(&original)),
        (Some(Flavor::Original), None)
    );
    assert_eq!(
        classify(Some(&health), Some(&optimized)),
        (Some(Flavor::Optimized), None)
    );
    let extras = HealthExtras {
        engine: ENGINE_NAME.into(),
        compat: Compat::Original,
        jobs: 0,
    };
    let ours = serde_json::json!({"status": "ok", "version": "0.1.0", "clipbench": extras});
    assert_eq!(
        classify(Some(&ours), Some(&original)),
        (Some(Flavor::Clipbench), Some(Flavor::Original))
    );
    assert_eq!(classify(None, None), (None, None));
}

#[test]
fn readings_of_the_previous_job_are_ignored() {
    let r = |at_s: f64, status: &str, current_clip: u64| Reading {
        at_s,
        status: Status::parse(status),
        current_clip,
        workers: None,
    };
    let readings = [
        r(0.1, "complete", 24),
        r(0.2, "starting", 0),
        r(1.0, "analyzing", 0),
        r(1.5, "processing", 0),
        r(4.0, "processing", 1),
        r(9.0, "complete", 3),
    ];
    let t = interpret(&dialect(Some(Flavor::Optimized)), &readings, 9.5);
    assert_eq!(
        (
            t.download_s,
            t.analysis_s,
            t.encode_s,
            t.time_to_first_clip_s
        ),
        (Some(1.0), Some(0.5), Some(8.0), Some(4.0))
    );
    let stale = interpret(
        &dialect(Some(Flavor::Optimized)),
        &[r(0.1, "complete", 3)],
        1.0,
    );
    assert_eq!(stale.time_to_first_clip_s, None);
}
