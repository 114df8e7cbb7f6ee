//! Smart cut (`--profile smart`) on real ffmpeg: every clip exact (frame count, the source's
//! frames, decodes with `-xerror` from its sample entries alone, monotonic timestamps, audio
//! and video start together), and a source it cannot smart-cut re-encoded instead. The
//! browsers that play a joined clip: `browsers.rs`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clipbench_engine::encode::{join_check_args, read_past_s};
use clipbench_engine::mp4join::{join_mp4, JoinPiece};
use clipbench_engine::task::TaskKind;
use clipbench_engine::{
    run, CancelToken, PlanOptions, Profile, RunOptions, RunReport, Setup, Strategy,
};

/// 13 s at 160x90 25 fps, a keyframe every 2 s (closed GOPs), B-pyramids (frames decoded two
/// before they are shown), AAC audio; `x264_params` on top.
pub(crate) fn source(dir: &Path, name: &str, x264_params: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=160x90:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", "13", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-g", "50", "-keyint_min", "50", "-sc_threshold", "0"])
        .args(["-bf", "3", "-x264-params", x264_params, "-c:a", "aac"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// 13 s at 160x90 25 fps in HEVC (`pix_fmt`: 8 or 10 bits), a keyframe every 2 s with closed
/// GOPs (as phones write), AAC audio; `x265_params` on top (the B-frames, open GOPs). x265's `medium`
/// preset: parameter sets other than the heads' (`ultrafast`), so that a head decoded with the
/// copy's sets fails. Written as `tag` (`hev1`, ffmpeg's default, whose copies ffmpeg writes; or
/// `hvc1`, as phones write, whose copies the join reads from the source).
fn hevc_source(dir: &Path, name: &str, pix_fmt: &str, x265_params: &str, tag: &str) -> PathBuf {
    let path = dir.join(name);
    let params =
        format!("log-level=error:open-gop=0:keyint=50:min-keyint=50:scenecut=0:{x265_params}");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=160x90:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", "13", "-pix_fmt", pix_fmt, "-c:v", "libx265"])
        .args(["-preset", "medium", "-x265-params", &params, "-c:a", "aac"])
        .args(["-tag:v", tag])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// A smart cut of `input` with `policy`, e.g. `fixed:1:6:3`: clips of 6 s every 3 s, 0–6 and
/// 6–12 (keyframe to keyframe: one copy each), 3–9 (head, copy), 9–13 (head, then a copy to
/// the end of the video).
pub(crate) fn smart_run(input: &Path, out: &Path, policy: &str) -> RunReport {
    run(
        input,
        &smart_options(out, policy),
        &CancelToken::new(),
        &|_| {},
    )
    .unwrap()
}

/// A smart cut into `out` with `policy`, on two workers.
pub(crate) fn smart_options(out: &Path, policy: &str) -> RunOptions {
    let setup = Setup {
        strategy: Strategy::Fixed(2),
        profile: Profile::Smart,
        plan: PlanOptions {
            policy: policy.parse().unwrap(),
            ..PlanOptions::default()
        },
        ..Setup::default()
    };
    RunOptions::with_setup(out, setup)
}

pub(crate) fn ffprobe(args: &[&str], path: &Path) -> String {
    let output = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// Frames decoded from the clip's video.
fn frame_count(path: &Path) -> u64 {
    let args = ["-select_streams", "v:0", "-count_frames"];
    let entries = ["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"];
    ffprobe(&[&args[..], &entries[..]].concat(), path)
        .trim()
        .parse()
        .unwrap()
}

/// The clip's video against the source's `[start, start + duration)`: mean PSNR in dB (a clip
/// off by one frame on this moving pattern scores about 20).
pub(crate) fn psnr(clip: &Path, source: &Path, start: f64, duration: f64) -> f64 {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(clip)
        .args(["-ss", &start.to_string(), "-t", &duration.to_string(), "-i"])
        .arg(source)
        .args(["-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"])
        .output()
        .unwrap();
    clipbench_engine::quality::parse_psnr(&String::from_utf8_lossy(&output.stderr))
        .expect("ffmpeg's psnr filter printed its average")
}

/// Decoding times of the clip's video packets, in file order.
fn decode_times(path: &Path) -> Vec<f64> {
    let args = ["-select_streams", "v:0", "-show_entries", "packet=dts_time"];
    ffprobe(&[&args[..], &["-of", "csv=p=0"][..]].concat(), path)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// Start times of the clip's video and audio streams.
fn stream_starts(path: &Path) -> Vec<f64> {
    let args = ["-show_entries", "stream=start_time", "-of", "csv=p=0"];
    ffprobe(&args, path)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// Every clip of `report`: its planned frame count within one, the source's frames (PSNR),
/// no decode error, monotonic decoding times, video and audio starting together.
pub(crate) fn assert_exact(report: &RunReport, input: &Path) {
    for clip in &report.clips {
        let path = clip.path.as_ref().unwrap();
        let what = format!(
            "clip {} ({}-{} s)",
            clip.clip.number, clip.clip.start, clip.clip.end
        );
        let planned = (clip.clip.duration() * 25.0).round() as u64;
        let frames = frame_count(path);
        assert!(
            frames.abs_diff(planned) <= 1,
            "{what}: {frames} frames, planned {planned}"
        );
        let quality = psnr(path, input, clip.clip.start, clip.clip.duration());
        assert!(
            quality > 35.0,
            "{what}: PSNR {quality:.1} dB against the source"
        );
        common::assert_decodes(path, &what);
        let dts = decode_times(path);
        assert!(dts.windows(2).all(|w| w[0] < w[1]), "{what}: {dts:?}");
        let starts = stream_starts(path);
        assert_eq!(starts.len(), 2, "{what}: video and audio");
        let audio_frame = 1024.0 / 44100.0;
        assert!(
            (starts[0] - starts[1]).abs() <= audio_frame,
            "{what}: {starts:?}"
        );
    }
}

#[test]
fn every_clip_is_exact_and_decodes_across_its_joins() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), "closed.mp4", "b-pyramid=normal");
    let report = smart_run(&input, &dir.path().join("out"), "fixed:1:6:3");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(report.metrics.clips_done, 4, "{:?}", report.clips);
    assert_eq!(report.metrics.clips_fallback, 0, "{:?}", report.clips);
    // Keyframe to keyframe (and to the end) is one copy; the others are pieces and a join.
    let kinds: Vec<TaskKind> = report.clips.iter().map(|c| c.kind).collect();
    use TaskKind::{Assemble, Copy};
    assert_eq!(kinds, vec![Copy, Assemble, Copy, Assemble]);
    let pieces = report.chunks.iter().filter(|c| c.kind == TaskKind::Cut);
    assert_eq!(pieces.count(), 2);
    assert_exact(&report, &input);
    assert_copied_frames_identical(&report, &input);
    assert!(!dir.path().join("out/.clipbench-chunks").exists());
    // 3–9 s: the head's 25 frames open a last GOP four frames before the copy's keyframe at
    // 1 s (the check across the join decodes from there), then the copy's every 2 s.
    let packets = ffprobe(
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,flags",
        ],
        report.clips[1].path.as_ref().unwrap(),
    );
    let keyframes: Vec<&str> = (packets.lines())
        .filter_map(|l| l.strip_prefix("pts_time="))
        .zip(packets.lines().filter_map(|l| l.strip_prefix("flags=")))
        .filter(|(_, flags)| flags.starts_with('K'))
        .map(|(time, _)| time)
        .collect();
    let expected = ["0.000000", "0.840000", "1.000000", "3.000000", "5.000000"];
    assert_eq!(keyframes, expected);
}

/// The decoded frames (their MD5s) of `path` from `start` for `duration` seconds.
fn frame_hashes(path: &Path, start: f64, duration: f64) -> Vec<String> {
    let output = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-ss",
            &start.to_string(),
            "-t",
            &duration.to_string(),
        ])
        .arg("-i")
        .arg(path)
        .args(["-map", "0:v:0", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}

/// The HEVC NAL unit types of a file's video, in order (ffmpeg's `trace_headers`).
fn nal_unit_types(path: &Path) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-bsf:v",
            "trace_headers",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains(" nal_unit_type "))
        .filter_map(|l| l.rsplit("= ").next()?.trim().parse().ok())
        .collect()
}

/// Clip 2 of a `fixed:1:6:3` run (3–9 s) copies the source from its keyframe at 4 s: its frames
/// from 1 s to 5 s in are the source's from 4 s to 8 s, bit for bit.
fn assert_copied_frames_identical(report: &RunReport, input: &Path) {
    let clip = &report.clips[1];
    assert_eq!(clip.clip.start, 3.0);
    let copied = frame_hashes(clip.path.as_ref().unwrap(), 1.0, 4.0);
    assert_eq!(copied.len(), 100);
    assert_eq!(
        copied,
        frame_hashes(input, 4.0, 4.0),
        "clip 2's copied frames"
    );
}

#[test]
fn hevc_sources_8_and_10_bit_with_and_without_b_pyramids_are_smart_cut_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let tools = clipbench_engine::Tools::from_env();
    use TaskKind::{Assemble, Copy};
    let closed = vec![Copy, Assemble, Copy, Assemble];
    let sources = [
        ("hevc-no-b.mp4", "yuv420p", "bframes=0", 0, &closed, "hev1"),
        (
            "hevc-b-pyramid.mp4",
            "yuv420p",
            "bframes=3:b-pyramid=1",
            2,
            &closed,
            "hvc1",
        ),
        (
            "hevc-10-bit.mp4",
            "yuv420p10le",
            "bframes=3:b-pyramid=1",
            2,
            &closed,
            "hev1",
        ),
        // x265's default open GOPs: every copy opens on a CRA whose leading pictures refer to
        // the GOP before, so every clip is joined (the CRA as a broken link).
        (
            "hevc-open-gop.mp4",
            "yuv420p",
            "open-gop=1:bframes=3:b-pyramid=1",
            2,
            &vec![Assemble; 4],
            "hvc1",
        ),
    ];
    for (name, pix_fmt, params, reorder, expected, tag) in sources {
        let input = hevc_source(dir.path(), name, pix_fmt, params, tag);
        let source = clipbench_engine::probe(&tools, &input).unwrap();
        assert_eq!(source.video_reorder_frames, reorder, "{name}");
        let report = smart_run(
            &input,
            &dir.path().join(name).with_extension("out"),
            "fixed:1:6:3",
        );
        assert!(report.notes.is_empty(), "{name}: {:?}", report.notes);
        assert_eq!(
            report.metrics.clips_fallback, 0,
            "{name}: {:?}",
            report.clips
        );
        let kinds: Vec<TaskKind> = report.clips.iter().map(|c| c.kind).collect();
        assert_eq!(&kinds, expected, "{name}");
        assert_exact(&report, &input);
        assert_copied_frames_identical(&report, &input);
        if name == "hevc-open-gop.mp4" {
            // Clip 2's copy opens as a broken link (BLA_W_LP), no longer as a CRA: a new
            // sequence (the head's parameter sets differ) may start only there.
            // (Later CRAs inside the copy keep their leading pictures, which decode there.)
            // The head's keyframes are IDRs (its first, and the one opening its last GOP).
            let types = nal_unit_types(report.clips[1].path.as_ref().unwrap());
            let head = types.iter().position(|t| matches!(t, 19 | 20)).unwrap();
            let copy = (types[head + 1..].iter()).find(|t| matches!(t, 16..=18 | 21..=23));
            assert_eq!(copy, Some(&16), "{types:?}");
        }
        for clip in &report.clips {
            let path = clip.path.as_ref().unwrap();
            let made = clipbench_engine::probe(&tools, path).unwrap();
            let entry = ffprobe(
                &[
                    "-show_entries",
                    "stream=codec_tag_string",
                    "-select_streams",
                    "v:0",
                    "-of",
                    "csv=p=0",
                ],
                path,
            );
            assert_eq!(
                (
                    made.video_codec.as_str(),
                    made.pix_fmt.as_str(),
                    entry.trim()
                ),
                ("hevc", pix_fmt, "hvc1"),
                "{name} clip {}",
                clip.clip.number
            );
        }
    }
}

/// Whether `clip` decodes across `joins` with the engine's join check (the test sources' B-pyramids
/// show a frame two frames after it is decoded).
fn decodes_across(clip: &Path, joins: &[f64]) -> bool {
    let joins: Vec<(&Path, f64)> = joins.iter().map(|join| (clip, *join)).collect();
    Command::new("ffmpeg")
        .args(join_check_args(&joins, read_past_s(Some(0.08), 0.04)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn a_join_that_breaks_the_stream_is_caught_by_decoding_across_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), "closed.mp4", "b-pyramid=normal");
    // Clip 2 of the smart run (3–9 s) is a head and a copy from the keyframe at 4 s: it passes.
    let report = smart_run(&input, &dir.path().join("out"), "fixed:1:6:3");
    let joined = report.clips[1].path.clone().unwrap();
    assert!(decodes_across(&joined, &[1.0]));
    // A deliberately broken head (its media data overwritten, as a faulty encoder or disk
    // would leave it) before a good copy: streams and duration look right, and the join
    // itself succeeds; decoding across the join does not.
    let ffmpeg = |args: &[&str], out: &Path| {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args)
            .arg(out)
            .status()
            .unwrap();
        assert!(status.success());
    };
    let (head, copy) = (dir.path().join("head.mp4"), dir.path().join("copy.mp4"));
    let input_arg = input.to_str().unwrap();
    ffmpeg(
        &[
            "-ss", "3", "-t", "1", "-i", input_arg, "-an", "-c:v", "libx264",
        ],
        &head,
    );
    ffmpeg(
        &["-ss", "4", "-t", "4", "-i", input_arg, "-an", "-c", "copy"],
        &copy,
    );
    let mut bytes = std::fs::read(&head).unwrap();
    let media_data = (0..bytes.len() - 4)
        .find(|&i| &bytes[i..i + 4] == b"mdat")
        .unwrap();
    let middle = media_data + (bytes.len() - media_data) / 2;
    bytes[middle..middle + 600].fill(0xff);
    std::fs::write(&head, bytes).unwrap();
    let bad = dir.path().join("bad.mp4");
    let pieces = [JoinPiece::file(&head, 1.0), JoinPiece::file(&copy, 4.0)];
    join_mp4(&pieces, None, &bad).unwrap();
    assert!(!decodes_across(&bad, &[1.0]), "the broken join decoded");
    // A mismatched head: HEVC before the H.264 copy. The join refuses it (one track holds one
    // codec: a decoder changes its configuration between sample entries, not its codec).
    let hevc_head = dir.path().join("hevc-head.mp4");
    ffmpeg(
        &[
            "-ss",
            "3",
            "-t",
            "1",
            "-i",
            input_arg,
            "-an",
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
        ],
        &hevc_head,
    );
    let mismatched = dir.path().join("mismatched.mp4");
    let pieces = [
        JoinPiece::file(&hevc_head, 1.0),
        JoinPiece::file(&copy, 4.0),
    ];
    let refused = join_mp4(&pieces, None, &mismatched)
        .unwrap_err()
        .to_string();
    assert_eq!(refused, "the pieces' codecs differ (hev1 and avc1)");
    assert!(!mismatched.exists());
}

#[test]
fn ends_two_frames_from_any_cut_point_get_an_exact_foot() {
    let dir = tempfile::tempdir().unwrap();
    // B-frames in fixed groups of four: clean cut points one frame after each keyframe and
    // every fourth frame after that (…, 6.04, 6.20, …, 12.04, 12.20 s), so ends at 6.12 s and
    // 12.12 s are two frames from any and get a foot; 12–13 s is one copy to the end.
    let input = source(dir.path(), "groups.mp4", "b-pyramid=normal:b-adapt=0");
    let report = smart_run(&input, &dir.path().join("out"), "fixed:1:6.12:6");
    assert_eq!(report.metrics.clips_done, 3, "{:?}", report.clips);
    assert_eq!(report.metrics.clips_fallback, 0, "{:?}", report.clips);
    let kinds: Vec<TaskKind> = report.clips.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![TaskKind::Assemble, TaskKind::Assemble, TaskKind::Copy]
    );
    assert_exact(&report, &input);
}

#[test]
fn a_source_with_open_gops_is_re_encoded_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), "open.mp4", "open-gop=1:b-pyramid=normal");
    let report = smart_run(&input, &dir.path().join("out"), "fixed:1:6:3");
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(
        report.notes[0].starts_with("open GOPs"),
        "{:?}",
        report.notes
    );
    assert_eq!(report.metrics.clips_done, 4);
    assert!(report.clips.iter().all(|c| c.kind == TaskKind::Encode));
}

#[test]
fn a_phone_video_keeps_its_pixels_and_its_turn_across_the_join() {
    let dir = tempfile::tempdir().unwrap();
    let flat = source(dir.path(), "flat.mp4", "b-pyramid=normal");
    let phone = dir.path().join("phone.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&flat)
        .args(["-c", "copy", "-metadata:s:v:0", "rotate=90"])
        .arg(&phone)
        .status()
        .unwrap();
    assert!(status.success());
    let report = smart_run(&phone, &dir.path().join("out"), "fixed:1:6:3");
    let joined = &report.clips[1];
    assert_eq!((joined.kind, &joined.fallback), (TaskKind::Assemble, &None));
    let tools = clipbench_engine::Tools::from_env();
    let made = clipbench_engine::probe(&tools, joined.path.as_ref().unwrap()).unwrap();
    let turned = clipbench_engine::probe(&tools, &phone).unwrap();
    // Stored as the source stores them (160x90), shown turned as the source (portrait).
    assert_eq!((made.width, made.height), (160, 90));
    assert_eq!(made.rotation, turned.rotation);
    assert!(made.is_portrait());
}

#[test]
fn a_source_whose_audio_ends_first_keeps_its_last_clip_smart() {
    let dir = tempfile::tempdir().unwrap();
    // Video 13 s, audio 12.7 s: the last clip (9–13) can only hold 3.7 s of audio.
    let input = dir.path().join("short-audio.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=160x90:rate=25")
        .args(["-f", "lavfi", "-t", "12.7", "-i", "sine=sample_rate=44100"])
        .args(["-t", "13", "-c:v", "libx264", "-preset", "veryfast"])
        .args([
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-c:a",
            "aac",
        ])
        .arg(&input)
        .status()
        .unwrap();
    assert!(status.success());
    let report = smart_run(&input, &dir.path().join("out"), "fixed:1:6:3");
    assert_eq!(report.metrics.clips_fallback, 0, "{:?}", report.clips);
    let last = report.clips.last().unwrap();
    assert_eq!(last.kind, TaskKind::Assemble, "{last:?}");
    common::assert_decodes(last.path.as_ref().unwrap(), "the last clip");
}
