//! Tiny real inputs made with ffmpeg's lavfi sources at test time (the server crate's tests
//! include this file too).
#![allow(dead_code)] // each test binary uses a different subset

pub mod corpus;
pub mod strict;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Makes a `seconds`-long 160x90 25 fps H.264 video (keyframe every second), with a sine
/// track when `audio`.
pub fn make_video(dir: &Path, name: &str, seconds: f64, audio: bool) -> PathBuf {
    make_video_sized(dir, name, seconds, audio, "160x90")
}

/// Like [`make_video`] at another size.
pub fn make_video_sized(dir: &Path, name: &str, seconds: f64, audio: bool, size: &str) -> PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=25"));
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    }
    cmd.args([
        "-t",
        &seconds.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
    ])
    .args(["-g", "25", "-pix_fmt", "yuv420p"]);
    if audio {
        cmd.args(["-c:a", "aac", "-ac", "2"]);
    }
    let status = cmd
        .arg(&path)
        .status()
        .expect("ffmpeg must be installed for these tests");
    assert!(status.success(), "ffmpeg could not make {name}");
    path
}

/// Decodes every frame of `path`'s video with `ffmpeg -xerror`: it must succeed and print
/// nothing, and decode into the same frames from its sample entries alone
/// ([`strict::strict_decode`]).
pub fn assert_decodes(path: &Path, what: &str) {
    if let Err(why) = strict::strict_decode(path) {
        panic!("{what}: {why}");
    }
}

/// Files in `dir` whose names end with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

/// A 10 s "video" that is a FIFO nobody writes to: ffmpeg blocks for ever opening it and never
/// reports progress — a real hang, for the timeout and watchdog tests.
pub fn hanging_media(dir: &Path) -> clipbench_engine::MediaInfo {
    let fifo = dir.join("never.mp4");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    clipbench_engine::MediaInfo {
        path: fifo,
        duration: 10.0,
        width: 160,
        height: 90,
        fps: 25.0,
        ..Default::default()
    }
}
