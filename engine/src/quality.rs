//! How close a clip is to its source: ffmpeg's PSNR filter of the clip's video against the
//! source's segment (both decoded; the source scaled to the clip's size when they differ),
//! frame by frame while both last (a copy's extra frames past its end are not compared).
//! Parsing is pure ([`parse_psnr`]); [`clip_psnr`] runs ffmpeg.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{EngineError, Result};
use crate::tools::SOURCE_INPUT_ARGS;
use crate::tools::{spawn_error, Tools};

/// The mean PSNR (all planes, dB) in the last summary line of ffmpeg's `psnr` filter
/// (`… PSNR y:… average:41.23 min:… max:…`); `inf` for identical frames.
pub fn parse_psnr(stderr: &str) -> Option<f64> {
    let line = stderr.lines().rev().find(|l| l.contains("PSNR "))?;
    let value = line.split("average:").nth(1)?.split_whitespace().next()?;
    match value {
        "inf" => Some(f64::INFINITY),
        number => number.parse().ok(),
    }
}

/// The mean PSNR of `clip` against `[start, start + duration)` of `source`.
pub fn clip_psnr(
    tools: &Tools,
    clip: &Path,
    source: &Path,
    start: f64,
    duration: f64,
) -> Result<f64> {
    let output = Command::new(&tools.ffmpeg)
        .args(["-hide_banner", "-nostdin"])
        .args(SOURCE_INPUT_ARGS)
        .arg("-i")
        .arg(clip)
        .args([
            "-ss",
            &format!("{start:.6}"),
            "-t",
            &format!("{duration:.6}"),
        ])
        .args(SOURCE_INPUT_ARGS)
        .arg("-i")
        .arg(source)
        .args([
            "-lavfi",
            "[1:v][0:v]scale2ref[source][clip];[clip][source]psnr=shortest=1",
        ])
        .args(["-f", "null", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(|e| spawn_error("ffmpeg", e, &tools.ffmpeg))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    parse_psnr(&stderr).ok_or_else(|| EngineError::NotMedia {
        path: clip.to_owned(),
        detail: "ffmpeg's psnr filter gave no average".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_of_the_summary_line() {
        let stderr = "frame=  750 fps=0.0\n[Parsed_psnr_1 @ 0x55] PSNR y:57.826 u:54.141 v:53.848 average:56.145573 min:41.716981 max:inf\n";
        assert_eq!(parse_psnr(stderr), Some(56.145573));
        let identical = "[Parsed_psnr_1 @ 0x5] PSNR y:inf u:inf v:inf average:inf min:inf max:inf";
        assert_eq!(parse_psnr(identical), Some(f64::INFINITY));
        assert_eq!(parse_psnr("Conversion failed!"), None);
    }
}
