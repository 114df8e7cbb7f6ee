//! Videos shaped like real downloads, made with ffmpeg's lavfi sources at test time (160x90,
//! about 40 s, so two clips under the default plan): WebM VP9/Opus, HEVC (also with B-pyramids,
//! and 10-bit with closed GOPs),
//! a timeline that starts late (edit list), 29.97 fps with 10 s GOPs, no audio, odd-sized
//! 4:4:4, 10-bit, a rotated phone video, variable frame rate, moov at the front and at the end,
//! several audio tracks, a 10 s video, a 2-hour tiny video (the 100-clip cap), a hostile file
//! name — and two inputs without usable video (audio only, truncated).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One input of the corpus.
pub struct Input {
    pub name: &'static str,
    pub path: PathBuf,
    /// Whether it holds usable video (otherwise: exit 2 and nothing written).
    pub usable: bool,
}

const VIDEO: &str = "testsrc2=size=160x90:rate=25";
const AUDIO: &str = "sine=frequency=440:sample_rate=48000";

/// Runs ffmpeg quietly with `args`; panics when it fails.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg must be installed for these tests");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// `-f lavfi -i SOURCE` for each source, then `-t SECONDS`.
fn sources(list: &[&'static str], seconds: &str) -> Vec<String> {
    let mut args = Vec::new();
    for source in list {
        args.extend(["-f".into(), "lavfi".into(), "-i".into(), source.to_string()]);
    }
    args.extend(["-t".into(), seconds.into()]);
    args
}

/// Makes `name` in `dir` from the lavfi `inputs` with the encoding `options`.
fn make(dir: &Path, name: &str, inputs: &[&'static str], seconds: &str, options: &[&str]) {
    let mut args = sources(inputs, seconds);
    args.extend(options.iter().map(|o| o.to_string()));
    args.push(dir.join(name).to_string_lossy().into_owned());
    ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

const X264: [&str; 6] = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"];

/// Builds every input into `dir`.
fn build(dir: &Path) -> Vec<Input> {
    let both = [VIDEO, AUDIO];
    let h264_aac = [&X264[..], &["-c:a", "aac"]].concat();
    make(dir, "moov-at-end.mp4", &both, "40", &h264_aac);
    let vp9 = [
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-g",
        "50",
        "-c:a",
        "libopus",
    ];
    make(dir, "vp9-opus.webm", &both, "40", &vp9);
    let hevc = [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error",
        "-g",
        "50",
        "-c:a",
        "aac",
    ];
    make(dir, "hevc.mp4", &both, "40", &hevc);
    // B-pyramids: frames decoded up to 0.2 s before they are shown (ffprobe says 2 frames).
    let pyramid = [
        "-c:v",
        "libx265",
        "-preset",
        "medium",
        "-x265-params",
        "log-level=error:keyint=50",
        "-c:a",
        "aac",
    ];
    make(dir, "hevc-b-pyramid.mp4", &both, "40", &pyramid);
    // 10-bit HEVC with closed GOPs, as phones write it: a smart cut keeps it HEVC Main 10.
    let ten_bit_hevc = [
        "-pix_fmt",
        "yuv420p10le",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error:open-gop=0:keyint=50",
        "-c:a",
        "aac",
    ];
    make(dir, "hevc-10-bit.mp4", &both, "40", &ten_bit_hevc);
    // The timeline starts at 1.3 s (an edit list): seeks and keyframes are relative to it.
    let late = [
        &X264[..],
        &["-bf", "3", "-c:a", "aac", "-output_ts_offset", "1.3"],
    ]
    .concat();
    make(dir, "late-start.mp4", &both, "40", &late);
    let ntsc = [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-bf",
        "2",
        "-g",
        "300",
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
    ];
    let ntsc_video = "testsrc2=size=160x90:rate=30000/1001";
    make(dir, "ntsc-long-gop.mp4", &[ntsc_video, AUDIO], "40", &ntsc);
    make(dir, "no-audio.mp4", &[VIDEO], "40", &X264);
    make(dir, "audio-only.m4a", &[AUDIO], "40", &["-c:a", "aac"]);
    let odd = [
        &X264[..],
        &["-vf", "scale=161:91,format=yuv444p", "-c:a", "aac"],
    ]
    .concat();
    make(dir, "odd-444.mp4", &both, "40", &odd);
    let ten = [&X264[..], &["-pix_fmt", "yuv420p10le", "-c:a", "aac"]].concat();
    make(dir, "10-bit.mp4", &both, "40", &ten);
    let vfr = [
        &X264[..],
        &[
            "-vf",
            "setpts='if(lt(T,20),PTS,20/TB+(PTS-20/TB)*2)'",
            "-fps_mode",
            "vfr",
            "-c:a",
            "aac",
        ],
    ]
    .concat();
    make(dir, "vfr.mp4", &both, "40", &vfr);
    let faststart = [&h264_aac[..], &["-movflags", "+faststart"]].concat();
    make(dir, "moov-at-front.mp4", &both, "40", &faststart);
    make(dir, "10-seconds.mp4", &both, "10", &h264_aac);
    let second = "sine=frequency=880:sample_rate=44100";
    let tracks = [
        &X264[..],
        &["-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:a", "aac"],
    ]
    .concat();
    make(
        dir,
        "two-audio-tracks.mp4",
        &[VIDEO, AUDIO, second],
        "40",
        &tracks,
    );
    // Two hours at one frame a second: 100 clips (the cap), cheap to make and to cut.
    make(
        dir,
        "2-hours.mp4",
        &["testsrc2=size=160x90:rate=1"],
        "7200",
        &X264,
    );
    // A phone video: the pixels are landscape, the display matrix turns them.
    let phone = dir.join("moov-at-front.mp4").to_string_lossy().into_owned();
    let rotated = dir.join("rotated.mp4").to_string_lossy().into_owned();
    ffmpeg(&[
        "-i",
        &phone,
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        &rotated,
    ]);
    let hostile = dir.join("it's a \"test\" $(touch pwned) & é.mp4");
    std::fs::copy(dir.join("moov-at-front.mp4"), &hostile).unwrap();
    let whole = std::fs::read(dir.join("hevc.mp4")).unwrap();
    std::fs::write(dir.join("truncated.mp4"), &whole[..whole.len() / 50]).unwrap();
    let input = |name: &'static str, usable| Input {
        name,
        path: dir.join(name),
        usable,
    };
    vec![
        input("moov-at-end.mp4", true),
        input("moov-at-front.mp4", true),
        input("vp9-opus.webm", true),
        input("hevc.mp4", true),
        input("hevc-b-pyramid.mp4", true),
        input("hevc-10-bit.mp4", true),
        input("late-start.mp4", true),
        input("ntsc-long-gop.mp4", true),
        input("no-audio.mp4", true),
        input("odd-444.mp4", true),
        input("10-bit.mp4", true),
        input("rotated.mp4", true),
        input("vfr.mp4", true),
        input("two-audio-tracks.mp4", true),
        input("10-seconds.mp4", true),
        input("2-hours.mp4", true),
        Input {
            name: "hostile name",
            path: hostile,
            usable: true,
        },
        input("audio-only.m4a", false),
        input("truncated.mp4", false),
    ]
}

/// The corpus, built once per test binary (in a temporary folder kept until it exits).
pub fn corpus() -> &'static [Input] {
    static CORPUS: OnceLock<(tempfile::TempDir, Vec<Input>)> = OnceLock::new();
    &CORPUS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let inputs = build(dir.path());
            (dir, inputs)
        })
        .1
}
