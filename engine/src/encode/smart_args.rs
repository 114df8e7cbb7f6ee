//! The ffmpeg argument vectors of a smart cut (`--profile smart`, [`crate::smart`]): one
//! process writes a clip that is a single stream copy; otherwise one process writes the
//! clip's pieces (heads and feet re-encoded, the middle copied) and its audio, which the
//! engine then joins in-process ([`crate::mp4join`]).

use std::ffi::OsString;
use std::path::Path;

use super::{keyframe_seek, micros, preamble, push, push_copy_seek, push_source, secs};
use crate::allocate::ThreadSetting;
use crate::smart::{Copied, HeadCodec, HeadEncoder, Piece, SmartCut};

/// What every smart-cut process of one clip needs.
#[derive(Debug, Clone, Copy)]
pub struct SmartJob<'a> {
    pub input: &'a Path,
    /// The clip's start and duration (the audio's range).
    pub start: f64,
    pub duration: f64,
    pub has_audio: bool,
    /// The source's audio can be copied into MP4 (else it is encoded to AAC).
    pub copy_audio: bool,
    pub threads: ThreadSetting,
    /// How far past a re-encoded piece its input is read, so that the decoder has the frames
    /// it reorders ([`read_past_s`]).
    pub read_past_s: f64,
    /// The copied video's sample entry, when not ffmpeg's default
    /// ([`crate::smart::sample_entry`]).
    pub sample_entry: Option<&'static str>,
    /// The pieces' ffmpeg writes the copy too (else the join reads it from the source,
    /// [`crate::mp4join::CopySource`]).
    pub writes_copy: bool,
    /// The pieces' ffmpeg writes the clip's audio, when it has audio (else the join reads it
    /// from the source).
    pub writes_audio: bool,
    /// How early ffmpeg seeks in the source ([`crate::probe::MediaInfo::seek_lead_s`]): the
    /// copy makes up for it.
    pub seek_lead_s: f64,
}

impl SmartJob<'_> {
    /// The pieces of `cut` its pieces' ffmpeg writes, in order.
    pub fn written_pieces(&self, cut: &SmartCut) -> Vec<(Piece, f64, f64)> {
        (cut.pieces().into_iter())
            .filter(|(piece, _, _)| *piece != Piece::Copy || self.writes_copy)
            .collect()
    }
}

/// How far past a re-encoded piece of a source whose frames are shown up to `reorder_delay_s`
/// after they are decoded (unknown: half a second) its input must be read: that delay and two
/// frames. Every packet read is decoded, so reading no further saves a piece's decoding work.
pub fn read_past_s(reorder_delay_s: Option<f64>, frame_duration: f64) -> f64 {
    reorder_delay_s.unwrap_or(0.5) + 2.0 * frame_duration
}

/// A head of at least twice this many frames opens its last GOP (an IDR) this many frames
/// before its end: the check across the join after it ([`join_check_args`]) decodes from
/// there, not from the head's first frame.
const LAST_GOP_FRAMES: u64 = 4;

/// `-ss` (and `-t`) of a copy's input: reading stops before the decoding time of the cut point
/// that ends it (ffmpeg's input `-t` counts decoding times for copied streams), so the copy
/// holds exactly the frames shown before that point.
fn copy_input(args: &mut Vec<OsString>, copy: &Copied, job: &SmartJob) {
    push_copy_seek(args, copy.start, job.seek_lead_s);
    if let Some(decode_end) = copy.decode_end {
        let seek = keyframe_seek(copy.start);
        push(args, &["-t", &micros(decode_end - seek - 1e-3)]);
    }
    push_source(args, job.input);
}

/// The clip's audio as the second input (`-ss start -t duration`).
fn audio_input(args: &mut Vec<OsString>, job: &SmartJob) {
    push(args, &["-ss", &secs(job.start), "-t", &secs(job.duration)]);
    push_source(args, job.input);
}

/// The threads of a re-encoded piece's decoder and encoder: the worker's, else one (a piece
/// is short; ffmpeg's frame-threaded decoding would spend a quarter more CPU on it).
fn piece_threads(threads: ThreadSetting) -> String {
    match threads {
        ThreadSetting::Fixed(n) => n.to_string(),
        _ => "1".to_owned(),
    }
}

/// Encoder options that match the source ([`HeadEncoder`]), at the source's quality, with
/// the `ultrafast` preset (x264: CRF 18, on a 720p head within 0.1 dB of `superfast` at 0.6x
/// its CPU time; the pieces are short, so their extra bytes are few).
fn head_codec_args(encoder: &HeadEncoder, threads: ThreadSetting) -> Vec<OsString> {
    match encoder.codec {
        HeadCodec::X264 => x264_args(encoder, threads),
        HeadCodec::X265 => x265_args(encoder, threads),
    }
}

fn x264_args(encoder: &HeadEncoder, threads: ThreadSetting) -> Vec<OsString> {
    let mut args = Vec::new();
    push(
        &mut args,
        &["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"],
    );
    push(&mut args, &["-profile:v", encoder.profile]);
    if let Some(level) = &encoder.level {
        push(&mut args, &["-level", level]);
    }
    push(&mut args, &["-pix_fmt", encoder.pix_fmt]);
    push(&mut args, &["-bf", &encoder.bframes.to_string()]);
    if encoder.bframes > 0 {
        let pyramid = if encoder.pyramid { "normal" } else { "none" };
        push(&mut args, &["-b-pyramid", pyramid]);
    }
    push(&mut args, &["-threads", &piece_threads(threads)]);
    args
}

/// libx265 at CRF 20 (x265's scale sits lower than x264's: it scores like x264's 18), closed
/// GOPs, no keyframe of its own in a head (`scenecut=0`), no encoder banner in the stream
/// (`info=0`), the worker's threads (`pools`, one frame thread; on one thread no wavefronts,
/// which only cost there), the quickest mode decision (`rd=1`: on a 720p head 16 % less CPU
/// than `ultrafast`'s own for 0.5 dB); written as `hvc1` ([`crate::smart::sample_entry`]).
fn x265_args(encoder: &HeadEncoder, threads: ThreadSetting) -> Vec<OsString> {
    let mut args = Vec::new();
    push(
        &mut args,
        &["-c:v", "libx265", "-preset", "ultrafast", "-crf", "20"],
    );
    push(&mut args, &["-profile:v", encoder.profile]);
    push(&mut args, &["-pix_fmt", encoder.pix_fmt, "-tag:v", "hvc1"]);
    let mut params = vec![
        "log-level=error".to_owned(),
        "info=0".to_owned(),
        "open-gop=0".to_owned(),
        "scenecut=0".to_owned(),
        format!("bframes={}", encoder.bframes),
        format!("b-pyramid={}", u8::from(encoder.pyramid)),
        format!("high-tier={}", u8::from(encoder.high_tier)),
        format!("pools={}", piece_threads(threads)),
        "frame-threads=1".to_owned(),
        "rd=1".to_owned(),
    ];
    if piece_threads(threads) == "1" {
        params.push("no-wpp=1".to_owned());
    }
    if let Some(level) = &encoder.level {
        params.push(format!("level-idc={level}"));
    }
    push(&mut args, &["-x265-params", &params.join(":")]);
    args
}

/// A clip that is one stream copy, video and audio, written by one ffmpeg.
pub fn smart_copy_args(job: &SmartJob, copy: &Copied, output: &Path) -> Vec<OsString> {
    let mut args = preamble();
    copy_input(&mut args, copy, job);
    if job.has_audio {
        audio_input(&mut args, job);
    }
    push(&mut args, &["-map", "0:v:0"]);
    if job.has_audio {
        push(&mut args, &["-map", "1:a:0"]);
    }
    copy_video(&mut args, job);
    if job.has_audio {
        args.extend(audio_codec(job));
    }
    push(&mut args, &["-movflags", "+faststart", "-f", "mp4"]);
    args.push(output.as_os_str().to_owned());
    args
}

/// One ffmpeg that writes the video pieces of a clip, each to its path in `outputs` (in the
/// order of [`SmartJob::written_pieces`]): heads and feet re-encoded frame-exact, the middle
/// copied unless the join reads it from the source; and, when the source has audio the join
/// does not read from it, the clip's audio to `audio_output`.
pub fn smart_pieces_args(
    job: &SmartJob,
    cut: &SmartCut,
    encoder: &HeadEncoder,
    outputs: &[&Path],
    audio_output: &Path,
) -> Vec<OsString> {
    let mut args = preamble();
    let pieces = job.written_pieces(cut);
    for (piece, start, end) in &pieces {
        match (piece, cut.copy) {
            (Piece::Copy, Some(copy)) => copy_input(&mut args, &copy, job),
            _ => {
                // Decoded from the keyframe before; frames from `start` on are kept.
                let seek = start - 1e-4;
                // The pixels as stored, as in the copied frames: the display matrix (kept on
                // the output) turns them, not the encoder. Reading stops `read_past_s` past
                // the piece (`-frames:v` cuts it exactly): without a limit ffmpeg would decode
                // the input to its end while the copy output still runs.
                push(&mut args, &["-threads", &piece_threads(job.threads)]);
                push(&mut args, &["-noautorotate", "-ss", &micros(seek)]);
                push(&mut args, &["-t", &micros(end - start + job.read_past_s)]);
                push_source(&mut args, job.input);
            }
        }
    }
    for (index, ((piece, _, _), output)) in pieces.iter().zip(outputs).enumerate() {
        push(&mut args, &["-map", &format!("{index}:v:0")]);
        let frames = match piece {
            Piece::Head => cut.head.map(|h| h.frames),
            Piece::Foot => cut.foot.map(|f| f.frames),
            Piece::Copy => None,
        };
        match frames {
            Some(frames) => {
                push(&mut args, &["-frames:v", &frames.to_string()]);
                if *piece == Piece::Head && frames >= 2 * LAST_GOP_FRAMES {
                    let at = frames - LAST_GOP_FRAMES;
                    push(
                        &mut args,
                        &["-force_key_frames:v", &format!("expr:eq(n,{at})")],
                    );
                    push(&mut args, &["-forced-idr", "1"]);
                }
                args.extend(head_codec_args(encoder, job.threads));
            }
            None => copy_video(&mut args, job),
        }
        push(&mut args, &["-f", "mp4"]);
        args.push(output.as_os_str().to_owned());
    }
    if job.has_audio && job.writes_audio {
        audio_input(&mut args, job);
        push(&mut args, &["-map", &format!("{}:a:0", pieces.len())]);
        args.extend(audio_codec(job));
        push(&mut args, &["-f", "mp4"]);
        args.push(audio_output.as_os_str().to_owned());
    }
    args
}

/// The video stream-copied, written with the job's sample entry.
fn copy_video(args: &mut Vec<OsString>, job: &SmartJob) {
    push(args, &["-c:v", "copy"]);
    if let Some(tag) = job.sample_entry {
        push(args, &["-tag:v", tag]);
    }
}

/// The clip's audio: copied when the source's can be, else encoded.
fn audio_codec(job: &SmartJob) -> Vec<OsString> {
    match job.copy_audio {
        true => vec!["-c:a".into(), "copy".into()],
        false => super::audio_codec_args(super::Profile::Smart, job.duration),
    }
}

/// The ffmpeg that checks joined clips: each clip's video decoded across each of its joins
/// (`joins`: a clip and the seconds from its start of one join), one input per join,
/// stopping at the first decoding error (`-xerror`), writing nothing. Each input is decoded
/// from the keyframe before its join — where the decoder's state at the join begins: nothing
/// earlier can change whether the join decodes; a head's last GOP opens `LAST_GOP_FRAMES`
/// before it — through `after_s` past it: the piece after the join's reordering window
/// ([`read_past_s`]), the frames whose decoding or output still depends on what came before
/// the join (its first keyframe starts decoding afresh). On one thread, skipping the
/// deblocking filter (a quarter of the decoding work): the filter smooths pixels but finds no
/// error, while parsing, references, parameter sets and the sample entries, where joins
/// break, are all decoded. Several clips in one ffmpeg cost one process start, half of a
/// one-join check's work.
pub fn join_check_args(joins: &[(&Path, f64)], after_s: f64) -> Vec<OsString> {
    let mut args = preamble();
    push(&mut args, &["-xerror"]);
    for (clip, join) in joins {
        // Just before the join: the seek lands on the keyframe before it.
        let from = (join - 1e-3).max(0.0);
        push(&mut args, &["-threads", "1", "-skip_loop_filter", "all"]);
        push(
            &mut args,
            &["-ss", &micros(from), "-t", &micros(join - from + after_s)],
        );
        push_source(&mut args, clip);
    }
    for n in 0..joins.len() {
        push(&mut args, &["-map", &format!("{n}:v:0")]);
    }
    push(&mut args, &["-f", "null", "-"]);
    args
}

#[cfg(test)]
mod tests;
