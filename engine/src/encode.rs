//! Encoding profiles → ffmpeg argument vectors. Pure; ffmpeg is never run through a shell.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::allocate::ThreadSetting;

/// How clips are encoded (DESIGN.md, "Encoding profiles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The original backend: x264 fast CRF 18, AAC 192k with fades, filters and loudnorm.
    Original,
    /// The optimized backend: x264 ultrafast zerolatency CRF 28, one encoder thread, AAC 128k.
    Optimized,
    /// The seed prototype: x264 ultrafast CRF 28, one thread, AAC 96k at 22.05 kHz.
    Seed,
    /// Stream copy: no re-encoding, cuts land on keyframes.
    Copy,
    /// Smart cut: exact cuts at stream-copy speed. Only the frames from a clip's start to the
    /// next keyframe (and from the last keyframe to its end) are re-encoded, at the source's
    /// quality; the rest is stream-copied ([`crate::smart`]).
    Smart,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 5] = [
        Profile::Original,
        Profile::Optimized,
        Profile::Seed,
        Profile::Copy,
        Profile::Smart,
    ];

    /// Whether the profile decodes and re-encodes every frame.
    pub fn reencodes(self) -> bool {
        !matches!(self, Profile::Copy | Profile::Smart)
    }

    /// Whether clips start and end exactly where planned (every profile but `copy`, whose
    /// cuts land on keyframes).
    pub fn exact_cuts(self) -> bool {
        self != Profile::Copy
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Original => "original",
            Profile::Optimized => "optimized",
            Profile::Seed => "seed",
            Profile::Copy => "copy",
            Profile::Smart => "smart",
        })
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.to_string() == s)
            .ok_or_else(|| {
                format!("unknown profile {s:?}: use original, optimized, seed, copy or smart")
            })
    }
}

/// One ffmpeg invocation: cut `[start, start + duration)` of `input` into `output`.
#[derive(Debug, Clone, Copy)]
pub struct EncodeJob<'a> {
    pub input: &'a Path,
    pub output: &'a Path,
    pub start: f64,
    pub duration: f64,
    /// Whether to encode the source's audio (without it: `-an`, video only).
    pub has_audio: bool,
    pub threads: ThreadSetting,
    /// The source's width or height is odd: re-encoding scales it down to even (4:2:0 video
    /// has no odd sizes).
    pub odd_size: bool,
    /// A stream copy's sample entry, when not ffmpeg's default ([`crate::smart::sample_entry`]:
    /// HEVC as `hvc1`).
    pub sample_entry: Option<&'static str>,
    /// How early ffmpeg seeks in the source ([`crate::probe::MediaInfo::seek_lead_s`]): a
    /// stream copy makes up for it.
    pub seek_lead_s: f64,
}

/// Appends string arguments.
fn push(args: &mut Vec<OsString>, items: &[&str]) {
    args.extend(items.iter().map(OsString::from));
}

/// What every ffmpeg run starts with: quiet logging, no prompts, machine-readable progress on
/// stdout (`-progress pipe:1`).
fn preamble() -> Vec<OsString> {
    let mut args = Vec::new();
    push(
        &mut args,
        &["-hide_banner", "-nostdin", "-y", "-loglevel", "error"],
    );
    push(&mut args, &["-progress", "pipe:1", "-nostats"]);
    args
}

/// Pushes `-i path` for a media file, with [`crate::tools::SOURCE_INPUT_ARGS`].
pub(crate) fn push_source(args: &mut Vec<OsString>, path: &Path) {
    push(args, &crate::tools::SOURCE_INPUT_ARGS);
    args.push("-i".into());
    args.push(path.as_os_str().to_owned());
}

fn secs(value: f64) -> String {
    format!("{value:.3}")
}

fn micros(value: f64) -> String {
    format!("{value:.6}")
}

/// A keyframe's time as the seek target of a stream copy: 1 µs past its printed (rounded)
/// time, so that the seek lands on that keyframe, not the one before (1/30 s keyframes are not
/// whole milliseconds), and the copy's timestamps start at it. (Aiming further past it makes
/// the keyframe a frame before 0, which the MP4 edit list hides: the clip would start a frame
/// late.)
fn keyframe_seek(t: f64) -> f64 {
    t + 1e-6
}

/// Pushes the input seek of a stream copy from the keyframe at `t` (before its `-i`): `-ss`
/// at [`keyframe_seek`]; in a file ffmpeg seeks `lead_s` early
/// ([`crate::probe::seek_lead_s`]), `-ss` that much later, so that the seek lands on that
/// keyframe, and `-itsoffset` by as much, so that the copy's timestamps still start at it.
fn push_copy_seek(args: &mut Vec<OsString>, t: f64, lead_s: f64) {
    push(args, &["-ss", &micros(keyframe_seek(t) + lead_s)]);
    if lead_s > 0.0 {
        push(args, &["-itsoffset", &micros(lead_s)]);
    }
}

/// The full ffmpeg argument vector (without the program name) for a job.
///
/// Layout: quiet logging, machine-readable progress on stdout (`-progress pipe:1`), decoder
/// threads, `-ss` before `-i` (fast seek), `-t`, the profile's codecs, encoder threads, then
/// `-f mp4` so the output may carry a temporary name.
pub fn ffmpeg_args(profile: Profile, job: &EncodeJob) -> Vec<OsString> {
    let mut args = input_and_codec_args(profile, job);
    if profile != Profile::Copy {
        push(&mut args, &["-movflags", "+faststart"]);
    }
    push(&mut args, &["-f", "mp4"]);
    args.push(job.output.as_os_str().to_owned());
    args
}

/// Video only, several consecutive chunks from one ffmpeg (`--reuse-overlaps`): the encoder
/// runs once over the job's range, a keyframe is forced at every cut (output frame numbers,
/// which unlike timestamps cannot drift by a frame against the muxer's) and the segment muxer
/// starts a new file there. `job.output` is the file pattern (with `%03d`); the muxer lists
/// every file it wrote, with its start and end, in `list` (CSV).
pub fn chunk_group_args(
    profile: Profile,
    job: &EncodeJob,
    cut_frames: &[u64],
    list: &Path,
) -> Vec<OsString> {
    let mut args = input_and_codec_args(
        profile,
        &EncodeJob {
            has_audio: false,
            ..*job
        },
    );
    let joined = |separator: &str, each: &dyn Fn(u64) -> String| {
        cut_frames
            .iter()
            .map(|n| each(*n))
            .collect::<Vec<_>>()
            .join(separator)
    };
    if !cut_frames.is_empty() {
        let expr = joined("+", &|n| format!("eq(n,{n})"));
        push(&mut args, &["-force_key_frames", &format!("expr:{expr}")]);
    }
    // Without cuts, a frame number past the end keeps the muxer from splitting at all.
    let segment_frames = match cut_frames {
        [] => (i32::MAX - 1).to_string(),
        _ => joined(",", &|n| n.to_string()),
    };
    push(&mut args, &["-f", "segment", "-segment_format", "mp4"]);
    push(&mut args, &["-segment_frames", &segment_frames]);
    push(
        &mut args,
        &["-reset_timestamps", "1", "-segment_list_type", "csv"],
    );
    args.push("-segment_list".into());
    args.push(list.as_os_str().to_owned());
    args.push(job.output.as_os_str().to_owned());
    args
}

/// Everything up to the output container: logging, progress, decoder threads, the seek, the
/// codecs and encoder threads.
fn input_and_codec_args(profile: Profile, job: &EncodeJob) -> Vec<OsString> {
    let mut args = preamble();
    let (decoder_threads, encoder_threads) = match (job.threads, profile) {
        (_, Profile::Copy) => (None, None),
        (ThreadSetting::Fixed(n), _) => (Some(n), Some(n)),
        (ThreadSetting::Auto, _) => (None, None),
        (ThreadSetting::Profile, Profile::Optimized | Profile::Smart) => (None, Some(1)),
        (ThreadSetting::Profile, Profile::Seed) => (Some(1), Some(1)),
        (ThreadSetting::Profile, Profile::Original) => (None, None),
    };
    if let Some(n) = decoder_threads {
        push(&mut args, &["-threads", &n.to_string()]);
    }
    match profile {
        Profile::Copy => push_copy_seek(&mut args, job.start, job.seek_lead_s),
        _ => push(&mut args, &["-ss", &secs(job.start)]),
    }
    push_source(&mut args, job.input);
    push(&mut args, &["-t", &secs(job.duration)]);
    match profile {
        Profile::Copy => {
            push(&mut args, &["-c", "copy"]);
            if let Some(tag) = job.sample_entry {
                push(&mut args, &["-tag:v", tag]);
            }
        }
        _ => {
            if job.odd_size {
                push(&mut args, &["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"]);
            }
            args.extend(video_codec_args(profile));
            if job.has_audio {
                args.extend(audio_codec_args(profile, job.duration));
            } else {
                args.push("-an".into());
            }
        }
    }
    if let Some(n) = encoder_threads {
        push(&mut args, &["-threads", &n.to_string()]);
    }
    args
}

/// The video codec options of a re-encoding profile (none for `copy`).
fn video_codec_args(profile: Profile) -> Vec<OsString> {
    let args: &[&str] = match profile {
        Profile::Original => &[
            "-c:v",
            "libx264",
            "-preset",
            "fast",
            "-crf",
            "18",
            "-profile:v",
            "high",
            "-level",
            "4.0",
            "-pix_fmt",
            "yuv420p",
        ],
        Profile::Optimized => &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
        ],
        // The seed prototype set no pixel format: 4:2:0 keeps its clips playable whatever
        // the source (a no-op on the 4:2:0 sources it was written for).
        Profile::Seed => &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
        ],
        // A smart cut's whole-clip re-encodes are its fallbacks: the optimized profile's.
        Profile::Smart => return video_codec_args(Profile::Optimized),
        Profile::Copy => &[],
    };
    args.iter().map(OsString::from).collect()
}

/// The audio codec options (and filters) of a profile for a clip of `duration` seconds.
fn audio_codec_args(profile: Profile, duration: f64) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    match profile {
        Profile::Original => {
            let fade_out = (duration - 0.2).max(0.0);
            let filters = format!(
                "afade=t=in:st=0:d=0.2,afade=t=out:st={fade_out:.3}:d=0.2,highpass=f=80,\
                 lowpass=f=12000,acompressor=threshold=0.1:ratio=3:attack=5:release=50,\
                 loudnorm=I=-16:LRA=11:TP=-1.5"
            );
            push(
                &mut args,
                &["-c:a", "aac", "-b:a", "192k", "-ar", "44100", "-ac", "2"],
            );
            push(&mut args, &["-af", &filters]);
        }
        // Smart cut copies the audio where MP4 can hold it ([`ClipAudio::CopiedFromSource`]),
        // else encodes it as the optimized profile does.
        Profile::Optimized | Profile::Smart => push(
            &mut args,
            &["-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2"],
        ),
        Profile::Seed => push(&mut args, &["-c:a", "aac", "-b:a", "96k", "-ar", "22050"]),
        Profile::Copy => push(&mut args, &["-c:a", "copy"]),
    }
    args
}

/// Where a joined clip's audio comes from.
#[derive(Debug, Clone, Copy)]
pub enum ClipAudio<'a> {
    /// The source has none.
    None,
    /// Encoded during the join from the source (`-ss start -t duration`).
    FromSource(&'a Path),
    /// Stream-copied during the join from the source (`-ss start -t duration`; smart cut).
    CopiedFromSource(&'a Path),
    /// Encoded beforehand ([`audio_args`]); copied.
    Encoded(&'a Path),
}

/// A clip joined from encoded video chunks (`--reuse-overlaps`).
#[derive(Debug, Clone, Copy)]
pub struct AssembleJob<'a> {
    /// ffmpeg concat-demuxer list of the clip's chunk files, in order.
    pub chunk_list: &'a Path,
    pub audio: ClipAudio<'a>,
    pub output: &'a Path,
    pub start: f64,
    pub duration: f64,
}

/// The ffmpeg argument vector that joins a clip's chunks by stream copy and adds the clip's
/// audio, encoded from the source with the profile's audio options (so joins have no audio
/// gap) or copied from a file encoded beforehand.
pub fn assemble_args(profile: Profile, job: &AssembleJob) -> Vec<OsString> {
    let mut args = preamble();
    // The list is ours and names our own chunk files: absolute paths (`-safe 0`), MP4 only.
    push(&mut args, &["-f", "concat", "-safe", "0"]);
    push(&mut args, &["-protocol_whitelist", "file"]);
    push(&mut args, &["-format_whitelist", "concat,mov", "-i"]);
    args.push(job.chunk_list.as_os_str().to_owned());
    match job.audio {
        ClipAudio::None => {}
        ClipAudio::FromSource(input) | ClipAudio::CopiedFromSource(input) => {
            push(
                &mut args,
                &["-ss", &secs(job.start), "-t", &secs(job.duration)],
            );
            push_source(&mut args, input);
        }
        ClipAudio::Encoded(file) => push_source(&mut args, file),
    }
    push(&mut args, &["-map", "0:v:0"]);
    if !matches!(job.audio, ClipAudio::None) {
        push(&mut args, &["-map", "1:a:0"]);
    }
    push(&mut args, &["-c:v", "copy"]);
    match job.audio {
        ClipAudio::None => {}
        ClipAudio::FromSource(_) => args.extend(audio_codec_args(profile, job.duration)),
        ClipAudio::Encoded(_) | ClipAudio::CopiedFromSource(_) => {
            push(&mut args, &["-c:a", "copy"])
        }
    }
    push(
        &mut args,
        &[
            "-t",
            &secs(job.duration),
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ],
    );
    args.push(job.output.as_os_str().to_owned());
    args
}

/// Audio only: `[start, start + duration)` of the source's audio with the profile's audio
/// options, into an MP4 (`--reuse-overlaps`, the first clip's audio in parallel with its video).
pub fn audio_args(profile: Profile, job: &EncodeJob) -> Vec<OsString> {
    let mut args = preamble();
    push(
        &mut args,
        &["-ss", &secs(job.start), "-t", &secs(job.duration)],
    );
    push_source(&mut args, job.input);
    push(&mut args, &["-vn"]);
    args.extend(audio_codec_args(profile, job.duration));
    push(&mut args, &["-f", "mp4"]);
    args.push(job.output.as_os_str().to_owned());
    args
}

/// One line of an ffmpeg concat-demuxer list naming `path`, quoted (a single quote written
/// `'\''`); `None` for a path that is not UTF-8 or holds a control character (a line break
/// would start a new directive: the list format cannot carry one).
pub fn concat_list_line(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    if text.chars().any(char::is_control) {
        return None;
    }
    Some(format!("file '{}'\n", text.replace('\'', "'\\''")))
}

mod smart_args;
pub use smart_args::{join_check_args, read_past_s, smart_copy_args, smart_pieces_args, SmartJob};

#[cfg(test)]
mod tests;
