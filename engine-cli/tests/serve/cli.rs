//! The `clipbench-engine` binary: exit codes and one-line errors for each bad input.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::make_video;

fn engine(args: &[&str]) -> Output {
    engine_with_env(args, &[])
}

fn engine_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clipbench-engine"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Asserts exit code 2 and a single `error:` line containing `needle`.
fn assert_bad_input(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{stderr}"
    );
}

fn run_to(input: &str, out: &Path) -> Output {
    engine(&["run", input, "-o", out.to_str().unwrap()])
}

#[test]
fn bad_inputs_give_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_bad_input(&run_to("/no/such/video.mp4", &out), "does not exist");

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video").unwrap();
    assert_bad_input(&run_to(text.to_str().unwrap(), &out), "not a video file");

    let audio = dir.path().join("tone.m4a");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine", "-t", "1"])
        .arg(&audio)
        .status()
        .unwrap();
    assert!(made.success());
    assert_bad_input(&run_to(audio.to_str().unwrap(), &out), "no video stream");

    let empty = dir.path().join("empty.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x90",
            "-frames:v",
            "0",
        ])
        .arg(&empty)
        .status()
        .unwrap();
    assert!(made.success());
    assert_bad_input(&run_to(empty.to_str().unwrap(), &out), "zero duration");

    assert_bad_input(
        &run_to("ftp://example.org/v.mp4", &out),
        "only http:// and https://",
    );
    // Port 1 on loopback: nothing listens there.
    assert_bad_input(&run_to("http://127.0.0.1:1/v.mp4", &out), "cannot download");
    assert!(
        !out.join(".download").exists(),
        "scratch download folder removed"
    );
}

#[test]
fn missing_tools_say_how_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "in.mp4", 2.0, false);
    let out = dir.path().join("out");
    let missing = [("CLIPBENCH_FFPROBE", "/nonexistent/ffprobe")];
    let output = engine_with_env(
        &["run", video.to_str().unwrap(), "-o", out.to_str().unwrap()],
        &missing,
    );
    assert_bad_input(&output, "apt-get install -y ffmpeg");
    let missing = [("CLIPBENCH_FFMPEG", "/nonexistent/ffmpeg")];
    let output = engine_with_env(
        &["run", video.to_str().unwrap(), "-o", out.to_str().unwrap()],
        &missing,
    );
    assert_bad_input(&output, "ffmpeg not found");
}

#[test]
fn invalid_options_exit_2() {
    let output = engine(&["run", "x.mp4", "-o", "out", "--strategy", "fastest"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown strategy"));
}

#[test]
fn success_writes_clips_and_a_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "in.mp4", 5.0, true);
    let out = dir.path().join("out");
    let json = dir.path().join("report.json");
    let output = engine(&[
        "run",
        video.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--policy",
        "fixed:1:2:2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("3 valid, 0 failed"), "{summary}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["clips"].as_array().unwrap().len(), 3);
    assert!(report["metrics"]["work_cpu_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn failed_clips_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "in.mp4", 4.0, false);
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("clip_001.mp4.partial")).unwrap();
    let output = engine(&[
        "run",
        video.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--policy",
        "fixed:1:2:2",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains("1 valid, 1 failed") && summary.contains("failed     clip 1"),
        "{summary}"
    );
}

#[test]
fn probe_and_plan_print_tables_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "in.mp4", 3.0, true);
    let output = engine(&["probe", video.to_str().unwrap(), "--keyframes"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("160x90") && text.contains("keyframes  3 at 0.000, 1.000, 2.000"),
        "{text}"
    );
    let output = engine(&[
        "plan",
        video.to_str().unwrap(),
        "--policy",
        "fixed:0.5:2:1",
        "--json",
    ]);
    let clips: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(clips.as_array().unwrap().len(), 2);
}
