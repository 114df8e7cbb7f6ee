//! Every mode survives every video a user can download: the corpus of `common::corpus` through
//! the `clipbench-engine` binary in each mode (the original profile on the inputs that test an
//! encoder, the 2-hour input in the modes that plan or cut differently). A usable input ends with every clip valid and
//! playable everywhere (H.264 or HEVC 4:2:0, AAC, the source's orientation; a smart cut of
//! 10-bit HEVC stays 10-bit), exit 0; an input
//! without usable video exits 2 with one line and leaves nothing behind.
//!
//! Run with `--nocapture` to see the corpus × mode table (clips valid / fallbacks / exit).

use crate::common;

use std::path::Path;
use std::process::Command;

use clipbench_engine::{probe, MediaInfo, Tools};
use common::corpus::{corpus, Input};
use serde_json::Value;

/// Runs every input `taken` in the mode given by `args` and checks what it made.
fn every_input_in(mode: &str, args: &[&str], taken: impl Fn(&Input) -> bool) {
    let tools = Tools::from_env();
    for input in corpus().iter().filter(|i| taken(i)) {
        let dir = tempfile::tempdir().unwrap();
        let (out, report) = (dir.path().join("out"), dir.path().join("report.json"));
        let began = std::time::Instant::now();
        let run = Command::new(env!("CARGO_BIN_EXE_clipbench-engine"))
            .arg("run")
            .arg(&input.path)
            .arg("-o")
            .arg(&out)
            .args(args)
            .arg("--json")
            .arg(&report)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        let code = run.status.code();
        if !input.usable {
            assert_eq!(code, Some(2), "{} {mode}: {stderr}", input.name);
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "{} {mode}: one line: {stderr}", input.name);
            assert!(lines[0].starts_with("error: "), "{}", lines[0]);
            let left = std::fs::read_dir(&out).map_or(0, |d| d.count());
            assert_eq!(left, 0, "{} {mode}: nothing left behind", input.name);
            println!("{:<22} {mode:<9} exit 2: {}", input.name, lines[0]);
            continue;
        }
        assert_eq!(code, Some(0), "{} {mode}: {stderr}", input.name);
        let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let source = probe(&tools, &input.path).unwrap();
        check_clips(input, mode, &report, &source, &tools);
        // A copy the container allows is kept, not rejected and redone (a variable frame rate
        // may need a re-encode at a clip's end); a smart cut's joins all hold (what it cannot
        // join, it re-encodes whole, with a note).
        if mode == "smart" {
            assert_smart_note(input.name, &report);
        }
        if (mode == "copy" && input.name != "vfr.mp4") || mode == "smart" {
            assert_eq!(
                report["metrics"]["clips_fallback"], 0,
                "{}: {report}",
                input.name
            );
        }
        println!(
            "{:<22} {mode:<9} {:>5.1} s exit 0: {}/{} clips valid, {} re-encoded after a fast path failed{}",
            input.name,
            began.elapsed().as_secs_f64(),
            report["metrics"]["clips_done"],
            report["plan"].as_array().unwrap().len(),
            report["metrics"]["clips_fallback"],
            report["notes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| format!("; {}", n.as_str().unwrap()))
                .collect::<String>()
        );
        assert!(common::files_ending(&out, ".partial").is_empty());
        assert!(!out.join(".clipbench-chunks").exists());
    }
}

/// What a smart cut says of the corpus's other codecs: HEVC, with x265's default open GOPs or
/// closed ones, is smart-cut (no note); VP9 is re-encoded whole, with the reason.
fn assert_smart_note(name: &str, report: &Value) {
    let expected = match name {
        "hevc-10-bit.mp4" | "hevc.mp4" | "hevc-b-pyramid.mp4" => "",
        "vp9-opus.webm" => "vp9 video",
        _ => return,
    };
    let notes = report["notes"].as_array().unwrap();
    let first = notes.first().and_then(Value::as_str).unwrap_or("");
    assert!(
        first.starts_with(expected) && notes.is_empty() == expected.is_empty(),
        "{name}: {notes:?}"
    );
}

/// Every planned clip written, valid, decodable and playable everywhere.
fn check_clips(input: &Input, mode: &str, report: &Value, source: &MediaInfo, tools: &Tools) {
    let clips = report["clips"].as_array().unwrap();
    let expected = if input.name == "2-hours.mp4" {
        100
    } else {
        clips.len()
    };
    assert_eq!(clips.len(), expected, "{}: the 100-clip cap", input.name);
    assert!(!clips.is_empty());
    for (i, clip) in clips.iter().enumerate() {
        let what = format!("{} {mode} clip {}", input.name, clip["clip"]["number"]);
        assert_eq!(clip["status"], "done", "{what}: {clip}");
        // The engine validated every clip; of a long plan (the 2-hour video's 100 clips) every
        // tenth is probed again here, and the last.
        if clips.len() > 10 && i % 10 != 0 && i + 1 != clips.len() {
            continue;
        }
        let path = Path::new(clip["path"].as_str().unwrap());
        let made = probe(tools, path).unwrap();
        assert!(
            ["h264", "hevc"].contains(&made.video_codec.as_str()),
            "{what}: {} video",
            made.video_codec
        );
        if made.video_codec == "hevc" {
            // The sample entry Apple's players need (the others take it too).
            let tag = Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
                .args(["stream=codec_tag_string", "-of", "csv=p=0"])
                .arg(path)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&tag.stdout).trim(),
                "hvc1",
                "{what}"
            );
        }
        // A smart cut keeps what it copies: 10-bit HEVC stays 10-bit HEVC.
        let kept = mode == "smart" && made.video_codec == "hevc" && made.pix_fmt == source.pix_fmt;
        assert!(
            made.pix_fmt == "yuv420p" || kept,
            "{what}: {}",
            made.pix_fmt
        );
        if source.has_audio {
            let audio = made.audio_codec.as_deref();
            assert!(matches!(audio, Some("aac" | "mp3")), "{what}: {audio:?}");
        }
        assert_eq!(
            made.is_portrait(),
            source.is_portrait(),
            "{what}: orientation"
        );
        // Decoding every frame (as written and from the sample entries alone) is the slow
        // check: the first and the last clip, and every clip a smart cut joined.
        if mode != "smart" && i != 0 && i + 1 != clips.len() {
            continue;
        }
        common::assert_decodes(path, &what);
    }
}

/// Every input.
fn all(_: &Input) -> bool {
    true
}

/// The 100-clip cap is the plan's: the long input runs in the modes that plan or cut
/// differently (default, adaptive copies, smart cuts), not in every encoding of them.
fn but_the_long_one(input: &Input) -> bool {
    input.name != "2-hours.mp4"
}

#[test]
fn the_default_mode() {
    every_input_in("default", &[], all);
}

#[test]
fn reusing_overlaps() {
    every_input_in("reuse", &["--reuse-overlaps"], but_the_long_one);
}

#[test]
fn exact_stream_copies() {
    every_input_in("copy", &["--profile", "copy", "--policy", "adaptive"], all);
}

#[test]
fn smart_cuts() {
    every_input_in("smart", &["--profile", "smart"], all);
}

/// The original backend's encoder settings on the inputs that test an encoder (pixel formats,
/// codecs, rotation, frame rate, no audio) and the unusable ones; the container and timeline
/// shapes go through the same path in the default mode.
#[test]
fn the_original_profile() {
    let encoder_tests = [
        "odd-444.mp4",
        "10-bit.mp4",
        "vp9-opus.webm",
        "hevc-b-pyramid.mp4",
        "rotated.mp4",
        "vfr.mp4",
        "no-audio.mp4",
        "audio-only.m4a",
        "truncated.mp4",
    ];
    every_input_in("original", &["--profile", "original"], |i| {
        encoder_tests.contains(&i.name)
    });
}

/// The corpus through `serve`: clips for every usable input, a 4xx with a clear message for the
/// others, and the server alive after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_server() {
    use common::http::{engine_server, file_server, get_json, post};
    let inputs = corpus();
    let media = file_server(inputs[0].path.parent().unwrap()).await;
    let work = tempfile::tempdir().unwrap();
    let base = engine_server(work.path(), |c| {
        c.setup.plan.policy = clipbench_engine::Policy::OPTIMIZED;
    })
    .await;
    let served = [
        "vp9-opus.webm",
        "vfr.mp4",
        "rotated.mp4",
        "10-seconds.mp4",
        "hostile name",
        "audio-only.m4a",
        "truncated.mp4",
    ];
    for input in inputs.iter().filter(|i| served.contains(&i.name)) {
        let file = input.path.file_name().unwrap().to_str().unwrap();
        let url = reqwest::Url::parse(&format!("http://{media}/"))
            .unwrap()
            .join(file)
            .unwrap();
        let (status, body) = post(&base, serde_json::json!({ "url": url.as_str() })).await;
        if input.usable {
            assert_eq!(status, 200, "{}: {body}", input.name);
            assert!(!body["clip_details"].as_array().unwrap().is_empty());
        } else {
            assert_eq!(status, 422, "{}: {body}", input.name);
            let message = body["error"].as_str().unwrap();
            assert!(
                message.contains("no video stream") || message.contains("not a video file"),
                "{message}"
            );
        }
        assert_eq!(get_json(&base, "/health").await["status"], "ok");
    }
}
