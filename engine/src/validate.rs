//! Output validation: every clip is probed; the checks themselves are pure ([`check`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::encode::Profile;
use crate::plan::Clip;
use crate::probe::{probe, MediaInfo};
use crate::tools::Tools;

/// The verdict on one output file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub valid: bool,
    /// Duration ffprobe reports for the output, seconds (0 when unreadable).
    pub duration: f64,
    pub has_video: bool,
    pub has_audio: bool,
    /// Largest allowed |duration - planned| (re-encoding profiles only).
    pub tolerance: Option<f64>,
    /// What is wrong, empty when valid.
    pub problems: Vec<String>,
}

/// Checks a probed output against its plan: video present, audio present when the source has
/// it, and for re-encoding profiles a duration within one video frame plus one audio frame of
/// the plan.
pub fn check(output: &MediaInfo, clip: &Clip, source: &MediaInfo, profile: Profile) -> Validation {
    let mut problems = Vec::new();
    let has_video = output.width > 0 && output.height > 0;
    if !has_video {
        problems.push("no decodable video stream".to_owned());
    }
    if source.has_audio && !output.has_audio {
        problems.push("audio missing (the source has audio)".to_owned());
    }
    // One frame of the source's video plus one AAC frame of the output's audio, plus 1 ms for
    // container timestamp rounding.
    // Stream copies are not held to it: even from a keyframe, a copy keeps the source's
    // composition offset (B-frames), which lengthens the container by a few frames.
    let tolerance = profile
        .reencodes()
        .then(|| source.frame_duration() + output.audio_frame_duration() + 0.001);
    if let Some(tolerance) = tolerance {
        let off = (output.duration - clip.duration()).abs();
        if off > tolerance {
            problems.push(format!(
                "duration {:.3} s differs from the planned {:.3} s by {off:.3} s (allowed {tolerance:.3} s)",
                output.duration,
                clip.duration()
            ));
        }
    } else if output.duration <= 0.0 {
        problems.push("empty output".to_owned());
    }
    Validation {
        valid: problems.is_empty(),
        duration: output.duration,
        has_video,
        has_audio: output.has_audio,
        tolerance,
        problems,
    }
}

/// Probes `path` and checks it; an unreadable file is invalid with ffprobe's reason.
pub fn validate_file(
    tools: &Tools,
    path: &Path,
    clip: &Clip,
    source: &MediaInfo,
    profile: Profile,
) -> Validation {
    match probe(tools, path) {
        Ok(output) => check(&output, clip, source, profile),
        Err(e) => Validation {
            valid: false,
            duration: 0.0,
            has_video: false,
            has_audio: false,
            tolerance: None,
            problems: vec![e.to_string()],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Priority;

    fn source() -> MediaInfo {
        MediaInfo {
            duration: 600.0,
            width: 1280,
            height: 720,
            fps: 25.0,
            has_audio: true,
            audio_sample_rate: Some(48000),
            ..Default::default()
        }
    }

    const CLIP: Clip = Clip {
        number: 1,
        start: 0.0,
        end: 30.0,
        priority: Priority::High,
    };

    fn output(duration: f64, audio: bool) -> MediaInfo {
        MediaInfo {
            duration,
            has_audio: audio,
            ..source()
        }
    }

    #[test]
    fn within_a_frame_and_an_audio_frame() {
        // Tolerance: 0.04 + 1024/48000 + 0.001 = 0.062 s.
        assert!(check(&output(30.05, true), &CLIP, &source(), Profile::Optimized).valid);
        assert!(check(&output(29.95, true), &CLIP, &source(), Profile::Optimized).valid);
        let v = check(&output(30.2, true), &CLIP, &source(), Profile::Optimized);
        assert!(!v.valid && v.problems[0].contains("differs"), "{v:?}");
    }

    #[test]
    fn missing_audio_or_video() {
        let v = check(&output(30.0, false), &CLIP, &source(), Profile::Optimized);
        assert!(!v.valid && v.problems[0].contains("audio"));
        let no_video = MediaInfo {
            width: 0,
            height: 0,
            ..output(30.0, true)
        };
        assert!(!check(&no_video, &CLIP, &source(), Profile::Optimized).valid);
    }

    #[test]
    fn copy_does_not_check_duration() {
        let v = check(&output(31.7, true), &CLIP, &source(), Profile::Copy);
        assert!(v.valid && v.tolerance.is_none());
    }
}
