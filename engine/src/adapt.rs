//! What a file allows (pure): the requested mode, made sound for this input before any clip
//! starts, with one line saying why when it changes. Clips that still fail a fast path are
//! redone one by one by the executor (its fallback); this is for what would fail every clip.

use crate::encode::Profile;
use crate::probe::MediaInfo;
use crate::smart::smart_problem;

/// The profile the copy profile falls back to when a file cannot be copied.
pub const FALLBACK_PROFILE: Profile = Profile::Optimized;

/// The mode a file is run in.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMode {
    pub profile: Profile,
    pub reuse_overlaps: bool,
    /// One line per change made, saying what and why.
    pub notes: Vec<String>,
}

/// Video codecs and pixel formats an MP4 clip can carry by copy and common players play.
const COPYABLE_VIDEO: [&str; 2] = ["h264", "hevc"];
const COPYABLE_PIXELS: [&str; 2] = ["yuv420p", "yuvj420p"];
/// Audio codecs an MP4 clip can carry by copy and common players play.
const COPYABLE_AUDIO: [&str; 2] = ["aac", "mp3"];

/// Whether `media`'s audio can be stream-copied into an MP4 clip that plays everywhere.
pub fn audio_copyable(media: &MediaInfo) -> bool {
    media
        .audio_codec
        .as_deref()
        .is_some_and(|a| COPYABLE_AUDIO.contains(&a))
}

/// Why `media` cannot be stream-copied into MP4 clips that play everywhere, if it cannot.
fn copy_problem(media: &MediaInfo) -> Option<String> {
    if !COPYABLE_VIDEO.contains(&media.video_codec.as_str()) {
        return Some(format!("{} video", media.video_codec));
    }
    if !media.pix_fmt.is_empty() && !COPYABLE_PIXELS.contains(&media.pix_fmt.as_str()) {
        return Some(format!("{} pixels", media.pix_fmt));
    }
    match &media.audio_codec {
        Some(audio) if !COPYABLE_AUDIO.contains(&audio.as_str()) => Some(format!("{audio} audio")),
        _ => None,
    }
}

/// The sound mode for `media`: a copy of what MP4 players refuse is re-encoded, and so is a
/// smart cut of what it cannot join; chunks cut by frame number need a constant frame rate.
pub fn adapt(profile: Profile, reuse_overlaps: bool, media: &MediaInfo) -> FileMode {
    let mut mode = FileMode {
        profile,
        reuse_overlaps,
        notes: Vec::new(),
    };
    if profile == Profile::Copy {
        if let Some(problem) = copy_problem(media) {
            mode.profile = FALLBACK_PROFILE;
            mode.notes.push(format!(
                "{problem} cannot be copied into MP4 clips every player plays: re-encoding this file with the {FALLBACK_PROFILE} profile"
            ));
        }
    }
    if profile == Profile::Smart {
        if let Some(problem) = smart_problem(media) {
            mode.profile = FALLBACK_PROFILE;
            mode.notes.push(format!(
                "{problem}: a smart cut cannot join re-encoded and copied frames here: re-encoding this file with the {FALLBACK_PROFILE} profile"
            ));
        } else if media.has_audio && !audio_copyable(media) {
            let audio = media.audio_codec.as_deref().unwrap_or("this");
            mode.notes.push(format!(
                "{audio} audio cannot be copied into MP4 clips every player plays: encoding each clip's audio to AAC"
            ));
        }
    }
    if reuse_overlaps && media.variable_frame_rate {
        mode.reuse_overlaps = false;
        mode.notes.push(
            "variable frame rate: chunks are cut at frame numbers, which do not map to times here: encoding each clip on its own (no --reuse-overlaps)"
                .to_owned(),
        );
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(video: &str, pixels: &str, audio: Option<&str>) -> MediaInfo {
        MediaInfo {
            video_codec: video.into(),
            pix_fmt: pixels.into(),
            audio_codec: audio.map(Into::into),
            has_audio: audio.is_some(),
            ..Default::default()
        }
    }

    #[test]
    fn copies_only_what_mp4_players_play() {
        let plain = media("h264", "yuv420p", Some("aac"));
        assert_eq!(adapt(Profile::Copy, false, &plain).profile, Profile::Copy);
        assert!(adapt(Profile::Copy, false, &plain).notes.is_empty());
        let hevc = media("hevc", "yuv420p", None);
        assert_eq!(adapt(Profile::Copy, false, &hevc).profile, Profile::Copy);
        for (input, why) in [
            (media("vp9", "yuv420p", Some("opus")), "vp9 video"),
            (media("h264", "yuv444p", Some("aac")), "yuv444p pixels"),
            (media("h264", "yuv420p10le", None), "yuv420p10le pixels"),
            (media("h264", "yuv420p", Some("opus")), "opus audio"),
        ] {
            let mode = adapt(Profile::Copy, false, &input);
            assert_eq!(mode.profile, Profile::Optimized, "{why}");
            assert!(mode.notes[0].starts_with(why), "{:?}", mode.notes);
        }
        // Re-encoding profiles take anything.
        let vp9 = media("vp9", "yuv444p", Some("opus"));
        assert_eq!(
            adapt(Profile::Original, false, &vp9).profile,
            Profile::Original
        );
    }

    #[test]
    fn frame_numbered_chunks_need_a_constant_frame_rate() {
        let mut vfr = media("h264", "yuv420p", Some("aac"));
        vfr.variable_frame_rate = true;
        let mode = adapt(Profile::Optimized, true, &vfr);
        assert!(!mode.reuse_overlaps);
        assert!(mode.notes[0].starts_with("variable frame rate"));
        vfr.variable_frame_rate = false;
        assert!(adapt(Profile::Optimized, true, &vfr).reuse_overlaps);
    }
}
