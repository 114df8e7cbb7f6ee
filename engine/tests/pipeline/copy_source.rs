//! A smart cut's copy read straight from the source ([`CopySource`]): the frames a copy holds,
//! the sources read so (an MP4 with one `avc1` or `hvc1` entry) and those whose copies ffmpeg
//! writes (Matroska, FLV, `hev1`), each cut exactly.

use std::path::Path;
use std::process::Command;

use clipbench_engine::mp4join::CopySource;
use clipbench_engine::task::TaskKind;
use clipbench_engine::Tools;

use super::smart::{psnr, smart_run, source};
use crate::common;

/// `input` remuxed (stream copy) into `output` with ffmpeg's `extra` options.
fn remux(input: &Path, output: &Path, extra: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-c", "copy"])
        .args(extra)
        .arg(output)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_copy_holds_the_frames_from_its_keyframe_to_its_cut_point() {
    let dir = tempfile::tempdir().unwrap();
    // Keyframes every 2 s, B-pyramids: frames decoded two before they are shown.
    let input = source(dir.path(), "closed.mp4", "b-pyramid=normal");
    let media = clipbench_engine::probe::probe_with_keyframes(&Tools::from_env(), &input).unwrap();
    let video = CopySource::read(&input).unwrap();
    // The last cut point by 9 s: every frame shown before it is decoded before it.
    let cut = (media.cut_points.as_ref().unwrap().iter())
        .rfind(|c| c.shown_from <= 9.0)
        .unwrap();
    let copy = video.copy(4.0, Some(cut.decode_time)).unwrap();
    let shown = ((cut.shown_from - 4.0) * 25.0).round() as usize;
    assert!(shown > 100, "{cut:?}");
    assert_eq!(copy.frames(), shown, "4 s to the cut point at {cut:?}");
    assert_eq!(
        video.copy(4.0, None).unwrap().frames(),
        225,
        "4 s to the end"
    );
    let error = video.copy(3.0, None).unwrap_err().to_string();
    assert_eq!(error, "no keyframe at 3.000 s in the source");
}

#[test]
fn sources_whose_copies_ffmpeg_writes_are_named_and_still_cut_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // With B-pyramids: ffmpeg seeks a Matroska file with B-frames 3/23 s early, which lands a
    // copy a keyframe early unless it makes up for it (else every clip falls back to
    // re-encoding). Its muxer puts the video 23 ms behind the audio (AAC's priming): each
    // clip opens on the keyframe then, with no head (a head of the frame before would show
    // one frame twice).
    let input = source(dir.path(), "closed.mp4", "b-pyramid=normal");
    let matroska = dir.path().join("closed.mkv");
    remux(&input, &matroska, &[]);
    let error = CopySource::read(&matroska).unwrap_err();
    assert_eq!(error, "not an MP4 file");
    let report = smart_run(&matroska, &dir.path().join("out"), "fixed:1:6:3");
    assert_eq!(report.metrics.clips_fallback, 0, "{:?}", report.clips);
    let kinds: Vec<TaskKind> = report.clips.iter().map(|c| c.kind).collect();
    use TaskKind::{Assemble, Copy};
    assert_eq!(kinds, vec![Copy, Assemble, Copy, Assemble]);
    for clip in &report.clips {
        // Matroska's copies are ffmpeg's.
        assert!(clip.kind != Copy || clip.peak_rss_bytes > 0, "{clip:?}");
        let path = clip.path.as_ref().unwrap();
        common::assert_decodes(path, "a clip of a Matroska source");
        let quality = psnr(path, &input, clip.clip.start, clip.clip.duration());
        assert!(quality > 35.0, "{:?}: PSNR {quality:.1} dB", clip.clip);
    }
    // FLV too is sought early (3/23 s) with B-frames; its announced duration counts from 0,
    // not from its start time (57 ms here: the last clip would be planned past its end).
    let flv = dir.path().join("closed.flv");
    remux(&input, &flv, &[]);
    let report = smart_run(&flv, &dir.path().join("out-flv"), "fixed:1:6:3");
    assert_eq!(report.clips.len(), 4, "{:?}", report.clips);
    assert_eq!(report.metrics.clips_fallback, 0, "{:?}", report.clips);
    for clip in &report.clips {
        let path = clip.path.as_ref().unwrap();
        common::assert_decodes(path, "a clip of an FLV source");
        let quality = psnr(path, &input, clip.clip.start, clip.clip.duration());
        assert!(quality > 35.0, "{:?}: PSNR {quality:.1} dB", clip.clip);
    }
    // An `hev1` entry is rewritten by ffmpeg's copy (`-tag:v hvc1`), so ffmpeg writes it.
    let hevc = dir.path().join("hevc.mp4");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90",
        ])
        .args([
            "-t",
            "1",
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
        ])
        .arg(&hevc)
        .status()
        .unwrap();
    assert!(status.success());
    let error = CopySource::read(&hevc).unwrap_err();
    assert_eq!(error, "a video sample entry \"hev1\"");
}

/// The first audio track of `args`' input decoded to 16-bit mono samples.
fn pcm(args: &[&str], input: &Path) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(args)
        .arg("-i")
        .arg(input)
        .args(["-map", "0:a:0", "-ac", "1", "-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    (out.stdout.chunks_exact(2))
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn every_clips_audio_is_the_sources_and_a_whole_copy_runs_no_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), "closed.mp4", "b-pyramid=normal");
    let report = smart_run(&input, &dir.path().join("out"), "fixed:1:6:3");
    // 0–6 s and 6–12 s are one copy each, joined from the source alone: no ffmpeg runs for
    // them. 3–9 s and 9–13 s are a head, then the copy. Every clip's audio is the source's.
    use TaskKind::{Assemble, Copy};
    let kinds: Vec<TaskKind> = report.clips.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec![Copy, Assemble, Copy, Assemble]);
    for clip in report.clips.iter().filter(|c| c.kind == Copy) {
        assert_eq!(clip.peak_rss_bytes, 0, "{clip:?}: an ffmpeg ran");
    }
    for clip in &report.clips {
        let made = pcm(&[], clip.path.as_ref().unwrap());
        let (start, length) = (
            clip.clip.start.to_string(),
            clip.clip.duration().to_string(),
        );
        let source = pcm(&["-ss", &start, "-t", &length], &input);
        // Within one AAC frame of the planned length, every sample the same but the last
        // two frames' (a decode cut by `-t` ends the stream differently there).
        assert!(
            made.len().abs_diff(source.len()) <= 1024,
            "{} against {}",
            made.len(),
            source.len()
        );
        let compared = made.len().min(source.len()) - 2048;
        let differ = (made[..compared].iter().zip(&source))
            .filter(|(a, b)| a.abs_diff(**b) > 2)
            .count();
        assert_eq!(differ, 0, "{:?}: {differ} samples differ", clip.clip);
    }
}
