//! Tests of the `encode` module.

use super::*;
use crate::tools::{MEDIA_DEMUXERS, SOURCE_INPUT_ARGS};

fn job(threads: ThreadSetting) -> EncodeJob<'static> {
    EncodeJob {
        input: Path::new("in.mp4"),
        output: Path::new("out/clip_001.mp4.partial"),
        start: 25.0,
        duration: 30.0,
        has_audio: true,
        threads,
        odd_size: false,
        sample_entry: None,
        seek_lead_s: 0.0,
    }
}

fn line(profile: Profile, threads: ThreadSetting) -> String {
    joined(&ffmpeg_args(profile, &job(threads)))
}

/// The argument vector as one line, without the input guard (checked on its own in
/// `every_input_is_opened_only_as_media`).
pub(super) fn joined(args: &[std::ffi::OsString]) -> String {
    let line = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    line.replace(&format!("{} ", SOURCE_INPUT_ARGS.join(" ")), "")
        .replace("-protocol_whitelist file -format_whitelist concat,mov ", "")
}

/// Every `-i` of an argument vector comes right after a format whitelist.
pub(super) fn inputs_are_guarded(args: &[OsString]) -> bool {
    args.iter().enumerate().all(|(i, a)| {
        a != "-i"
            || (i >= 4
                && args[i - 2] == "-format_whitelist"
                && args[i - 4] == "-protocol_whitelist")
    })
}

#[test]
fn every_input_is_opened_only_as_media() {
    for profile in Profile::ALL {
        assert!(inputs_are_guarded(&ffmpeg_args(
            profile,
            &job(ThreadSetting::Profile)
        )));
    }
    let j = job(ThreadSetting::Fixed(1));
    assert!(inputs_are_guarded(&chunk_group_args(
        Profile::Optimized,
        &j,
        &[125],
        Path::new("g.csv")
    )));
    assert!(inputs_are_guarded(&audio_args(Profile::Optimized, &j)));
    for audio in [
        ClipAudio::None,
        ClipAudio::FromSource(Path::new("in.mp4")),
        ClipAudio::Encoded(Path::new("a.m4a")),
    ] {
        let assemble = AssembleJob {
            chunk_list: Path::new("c.txt"),
            audio,
            output: Path::new("o.mp4"),
            start: 0.0,
            duration: 30.0,
        };
        assert!(inputs_are_guarded(&assemble_args(
            Profile::Optimized,
            &assemble
        )));
    }
    assert!(!MEDIA_DEMUXERS
        .split(',')
        .any(|d| ["tty", "concat", "hls", "image2", "lavfi"].contains(&d)));
}

#[test]
fn optimized_limits_only_the_encoder() {
    let l = line(Profile::Optimized, ThreadSetting::Profile);
    assert!(l.contains("-ss 25.000 -i in.mp4 -t 30.000 -c:v libx264 -preset ultrafast -tune zerolatency -crf 28 -pix_fmt yuv420p"), "{l}");
    assert!(
        l.contains("-c:a aac -b:a 128k -ar 44100 -ac 2 -threads 1 -movflags +faststart"),
        "{l}"
    );
    assert_eq!(l.matches("-threads").count(), 1);
    assert!(l.find("-progress pipe:1").unwrap() < l.find("-i ").unwrap());
    assert!(l.ends_with("-f mp4 out/clip_001.mp4.partial"));
}

#[test]
fn original_has_the_audio_chain() {
    let l = line(Profile::Original, ThreadSetting::Profile);
    assert!(l.contains("-preset fast -crf 18 -profile:v high -level 4.0 -pix_fmt yuv420p"));
    assert!(l.contains("-b:a 192k -ar 44100 -ac 2"));
    assert!(l.contains("afade=t=in:st=0:d=0.2,afade=t=out:st=29.800:d=0.2,highpass=f=80,lowpass=f=12000,acompressor=threshold=0.1:ratio=3:attack=5:release=50,loudnorm=I=-16:LRA=11:TP=-1.5"), "{l}");
    assert!(!l.contains("-threads"));
}

#[test]
fn seed_and_copy() {
    let l = line(Profile::Seed, ThreadSetting::Profile);
    assert!(l.starts_with("-hide_banner") && l.contains("-threads 1 -ss 25.000"));
    assert!(l.contains(
        "-preset ultrafast -crf 28 -pix_fmt yuv420p -c:a aac -b:a 96k -ar 22050 -threads 1"
    ));
    let l = line(Profile::Copy, ThreadSetting::Fixed(4));
    assert!(l.contains("-t 30.000 -c copy") && !l.contains("-threads"));
}

#[test]
fn strategy_threads_override_the_profile() {
    let l = line(Profile::Optimized, ThreadSetting::Fixed(2));
    assert!(l.contains("-threads 2 -ss 25.000") && l.contains("-ac 2 -threads 2"));
    let l = line(Profile::Optimized, ThreadSetting::Auto);
    assert!(!l.contains("-threads"));
}

#[test]
fn no_audio_options_without_audio() {
    let j = EncodeJob {
        has_audio: false,
        ..job(ThreadSetting::Profile)
    };
    let l: Vec<_> = ffmpeg_args(Profile::Original, &j);
    assert!(!l.iter().any(|a| a == "-c:a" || a == "-af"));
    assert!(l.iter().any(|a| a == "-an"));
}

#[test]
fn chunk_groups_force_keyframes_at_the_cuts() {
    let j = EncodeJob {
        output: Path::new("chunks/g001_%03d.mp4"),
        ..job(ThreadSetting::Fixed(1))
    };
    let l = ffmpeg_args_line(chunk_group_args(
        Profile::Optimized,
        &j,
        &[125, 500],
        Path::new("g.csv"),
    ));
    assert!(
        l.contains("-ss 25.000 -i in.mp4 -t 30.000 -c:v libx264"),
        "{l}"
    );
    assert!(l.contains("-an") && !l.contains("-c:a"), "{l}");
    assert!(l.contains("-force_key_frames expr:eq(n,125)+eq(n,500) -f segment -segment_format mp4 -segment_frames 125,500 -reset_timestamps 1"), "{l}");
    assert!(
        l.ends_with("-segment_list g.csv chunks/g001_%03d.mp4"),
        "{l}"
    );
    let one = ffmpeg_args_line(chunk_group_args(
        Profile::Optimized,
        &j,
        &[],
        Path::new("g.csv"),
    ));
    assert!(
        !one.contains("-force_key_frames") && one.contains("-segment_frames 2147483646"),
        "{one}"
    );
}

#[test]
fn assembly_copies_video_and_encodes_audio() {
    let l = ffmpeg_args_line(assemble_args(
        Profile::Optimized,
        &AssembleJob {
            chunk_list: Path::new("c.txt"),
            audio: ClipAudio::FromSource(Path::new("in.mp4")),
            output: Path::new("clip_001.mp4.partial"),
            start: 25.0,
            duration: 30.0,
        },
    ));
    assert!(l.contains("-f concat -safe 0 -i c.txt -ss 25.000 -t 30.000 -i in.mp4 -map 0:v:0 -map 1:a:0 -c:v copy -c:a aac -b:a 128k"), "{l}");
    assert!(
        l.ends_with("-t 30.000 -movflags +faststart -f mp4 clip_001.mp4.partial"),
        "{l}"
    );
    assert_eq!(
        concat_list_line(Path::new("/o/it's.mp4")).as_deref(),
        Some("file '/o/it'\\''s.mp4'\n")
    );
    for hostile in [
        "/o/a\nfile '/etc/passwd'.mp4",
        "/o/a\rb.mp4",
        "/o/\u{7}.mp4",
    ] {
        assert_eq!(concat_list_line(Path::new(hostile)), None, "{hostile:?}");
    }
    let copied = ffmpeg_args_line(assemble_args(
        Profile::Optimized,
        &AssembleJob {
            chunk_list: Path::new("c.txt"),
            audio: ClipAudio::Encoded(Path::new("a.m4a")),
            output: Path::new("o.mp4"),
            start: 0.0,
            duration: 30.0,
        },
    ));
    assert!(
        copied.contains("-i c.txt -i a.m4a -map 0:v:0 -map 1:a:0 -c:v copy -c:a copy -t 30.000"),
        "{copied}"
    );
    let audio = ffmpeg_args_line(audio_args(Profile::Optimized, &job(ThreadSetting::Profile)));
    assert!(
        audio.contains("-ss 25.000 -t 30.000 -i in.mp4 -vn -c:a aac -b:a 128k"),
        "{audio}"
    );
}

fn ffmpeg_args_line(args: Vec<OsString>) -> String {
    joined(&args)
}

#[test]
fn profile_names() {
    for p in Profile::ALL {
        assert_eq!(p.to_string().parse::<Profile>(), Ok(p));
    }
    assert!("fast".parse::<Profile>().is_err());
}

#[test]
fn reencoded_clips_are_4_2_0_at_an_even_size() {
    for profile in [Profile::Original, Profile::Optimized, Profile::Seed] {
        let l = line(profile, ThreadSetting::Profile);
        assert!(l.contains("-pix_fmt yuv420p"), "{profile}: {l}");
        assert!(
            !l.contains("-vf"),
            "{profile}: no filter for an even source: {l}"
        );
        let odd = EncodeJob {
            odd_size: true,
            ..job(ThreadSetting::Profile)
        };
        let l = joined(&ffmpeg_args(profile, &odd));
        assert!(
            l.contains("-vf scale=trunc(iw/2)*2:trunc(ih/2)*2 -c:v libx264"),
            "{profile}: {l}"
        );
    }
    let copy = EncodeJob {
        odd_size: true,
        ..job(ThreadSetting::Profile)
    };
    assert!(!joined(&ffmpeg_args(Profile::Copy, &copy)).contains("-vf"));
}

#[test]
fn a_copy_makes_up_for_a_seek_that_lands_early() {
    let plain = line(Profile::Copy, ThreadSetting::Profile);
    assert!(plain.contains("-ss 25.000001 -i in.mp4"), "{plain}");
    let matroska = EncodeJob {
        seek_lead_s: crate::probe::seek_lead_s("matroska,webm", 3),
        ..job(ThreadSetting::Profile)
    };
    let l = joined(&ffmpeg_args(Profile::Copy, &matroska));
    assert!(
        l.contains("-ss 25.130435 -itsoffset 0.130434 -i in.mp4"),
        "{l}"
    );
    // A re-encode decodes from wherever the seek lands and keeps the frames from its start.
    assert!(!joined(&ffmpeg_args(Profile::Optimized, &matroska)).contains("-itsoffset"));
}

#[test]
fn a_copy_of_hevc_is_written_as_hvc1_and_of_h264_as_ffmpeg_writes_it() {
    let hevc = EncodeJob {
        sample_entry: crate::smart::sample_entry("hevc"),
        ..job(ThreadSetting::Profile)
    };
    let l = joined(&ffmpeg_args(Profile::Copy, &hevc));
    assert!(l.contains("-c copy -tag:v hvc1 -f mp4"), "{l}");
    assert!(!line(Profile::Copy, ThreadSetting::Profile).contains("-tag:v"));
}
