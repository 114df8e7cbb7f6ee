//! Tests of a smart cut's argument vectors.

use std::path::Path;

use super::*;
use crate::encode::tests::{inputs_are_guarded, joined};

#[test]
fn a_smart_cut_encodes_its_head_and_foot_and_copies_to_the_cut_points_decoding_time() {
    use crate::smart::{Copied, Encoded, HeadCodec, HeadEncoder, SmartCut};
    let cut = SmartCut {
        head: Some(Encoded {
            start: 25.0,
            end: 26.0,
            frames: 25,
        }),
        copy: Some(Copied {
            start: 26.0,
            end: 54.96,
            decode_end: Some(54.88),
        }),
        foot: Some(Encoded {
            start: 54.96,
            end: 55.04,
            frames: 2,
        }),
    };
    let encoder = HeadEncoder {
        codec: HeadCodec::X264,
        profile: "high",
        level: Some("3.1".into()),
        high_tier: false,
        pix_fmt: "yuv420p",
        bframes: 3,
        pyramid: true,
    };
    let job = SmartJob {
        input: Path::new("in.mp4"),
        start: 25.0,
        duration: 30.04,
        has_audio: true,
        copy_audio: true,
        threads: ThreadSetting::Profile,
        read_past_s: read_past_s(Some(0.08), 0.04),
        sample_entry: None,
        writes_copy: true,
        writes_audio: true,
        seek_lead_s: 0.0,
    };
    let outputs = [Path::new("h.mp4"), Path::new("c.mp4"), Path::new("f.mp4")];
    let args = smart_pieces_args(&job, &cut, &encoder, &outputs, Path::new("a.mp4"));
    assert!(inputs_are_guarded(&args));
    let joined = joined(&args);
    // Head: decoded by one thread from just before its first frame, read the reordering delay
    // and two frames past it.
    assert!(
        joined.contains("-threads 1 -noautorotate -ss 24.999900 -t 1.160000 -i in.mp4"),
        "{joined}"
    );
    // Copy: lands on its keyframe, stops before the cut point's decoding time.
    assert!(
        joined.contains("-ss 26.000001 -t 28.878999 -i in.mp4"),
        "{joined}"
    );
    // The head's last GOP opens four frames before its end; the two-frame foot is one GOP.
    assert!(
        joined.contains(
            "-map 0:v:0 -frames:v 25 -force_key_frames:v expr:eq(n,21) -forced-idr 1 -c:v libx264"
        ),
        "{joined}"
    );
    assert!(
        joined.contains("-map 1:v:0 -c:v copy -f mp4 c.mp4"),
        "{joined}"
    );
    assert!(
        joined.contains("-map 2:v:0 -frames:v 2 -c:v libx264"),
        "{joined}"
    );
    assert!(joined.contains("-profile:v high -level 3.1 -pix_fmt yuv420p -bf 3 -b-pyramid normal"));
    // The clip's audio, copied, from its own input.
    assert!(
        joined.ends_with("-ss 25.000 -t 30.040 -i in.mp4 -map 3:a:0 -c:a copy -f mp4 a.mp4"),
        "{joined}"
    );
    // In a file ffmpeg seeks 3/23 s early (Matroska with B-frames), the copy aims that much
    // later and shifts its timestamps back by as much: it still starts at its keyframe.
    let matroska = SmartJob {
        seek_lead_s: crate::probe::seek_lead_s("matroska,webm", 2),
        ..job
    };
    let args = smart_pieces_args(&matroska, &cut, &encoder, &outputs, Path::new("a.mp4"));
    let sought = crate::encode::tests::joined(&args);
    assert!(
        sought.contains("-ss 26.130435 -itsoffset 0.130434 -t 28.878999 -i in.mp4"),
        "{sought}"
    );
    // When the join reads the copy from the source, no input or output is the copy's.
    let reads_copy = SmartJob {
        writes_copy: false,
        ..job
    };
    let reads_both = SmartJob {
        writes_audio: false,
        ..reads_copy
    };
    let outputs = [Path::new("h.mp4"), Path::new("f.mp4")];
    let args = smart_pieces_args(&reads_copy, &cut, &encoder, &outputs, Path::new("a.mp4"));
    let without = crate::encode::tests::joined(&args);
    assert!(!without.contains("copy -f mp4 c.mp4"), "{without}");
    assert!(!without.contains("-ss 26.000001"), "{without}");
    assert!(
        without.contains("-map 1:v:0 -frames:v 2 -c:v libx264") && without.contains("f.mp4"),
        "{without}"
    );
    assert!(
        without.ends_with("-map 2:a:0 -c:a copy -f mp4 a.mp4"),
        "{without}"
    );
    // And the audio too: the heads and feet alone.
    let args = smart_pieces_args(&reads_both, &cut, &encoder, &outputs, Path::new("a.mp4"));
    let video_only = crate::encode::tests::joined(&args);
    assert!(video_only.ends_with("-f mp4 f.mp4"), "{video_only}");
    assert!(!video_only.contains("a.mp4"), "{video_only}");
}

#[test]
fn a_join_check_decodes_from_the_keyframe_before_each_join_through_the_reordering_window() {
    // A source shown 0.08 s after it is decoded, at 25 fps: 0.16 s past each join.
    let after = read_past_s(Some(0.08), 0.04);
    let (one, two) = (Path::new("one.mp4"), Path::new("two.mp4"));
    let args = join_check_args(&[(one, 0.5), (one, 29.0), (two, 0.8)], after);
    let joined = joined(&args);
    let each = "-threads 1 -skip_loop_filter all";
    assert!(
        joined.contains(&format!("{each} -ss 0.499000 -t 0.161000 -i one.mp4")),
        "{joined}"
    );
    assert!(
        joined.contains(&format!("{each} -ss 28.999000 -t 0.161000 -i one.mp4")),
        "{joined}"
    );
    assert!(
        joined.contains(&format!("{each} -ss 0.799000 -t 0.161000 -i two.mp4")),
        "{joined}"
    );
    assert!(joined.contains("-xerror"), "{joined}");
    assert!(
        joined.ends_with("-map 0:v:0 -map 1:v:0 -map 2:v:0 -f null -"),
        "{joined}"
    );
}

#[test]
fn an_hevc_head_is_encoded_by_x265_matched_to_the_source_and_copies_are_written_as_hvc1() {
    use crate::smart::{Copied, Encoded, HeadCodec, HeadEncoder, SmartCut};
    let cut = SmartCut {
        head: Some(Encoded {
            start: 25.0,
            end: 26.0,
            frames: 25,
        }),
        copy: Some(Copied {
            start: 26.0,
            end: 55.0,
            decode_end: Some(54.92),
        }),
        foot: None,
    };
    let encoder = HeadEncoder {
        codec: HeadCodec::X265,
        profile: "main10",
        level: Some("4.1".into()),
        high_tier: true,
        pix_fmt: "yuv420p10le",
        bframes: 3,
        pyramid: false,
    };
    let job = SmartJob {
        input: Path::new("in.mp4"),
        start: 25.0,
        duration: 30.0,
        has_audio: false,
        copy_audio: false,
        threads: ThreadSetting::Fixed(1),
        read_past_s: 0.2,
        sample_entry: Some("hvc1"),
        writes_copy: true,
        writes_audio: true,
        seek_lead_s: 0.0,
    };
    let outputs = [Path::new("h.mp4"), Path::new("c.mp4")];
    let args = smart_pieces_args(&job, &cut, &encoder, &outputs, Path::new("a.mp4"));
    let whole = joined(&smart_copy_args(
        &job,
        &cut.copy.unwrap(),
        Path::new("o.mp4"),
    ));
    let joined = joined(&args);
    assert!(
        joined.contains("-c:v libx265 -preset ultrafast -crf 20 -profile:v main10 -pix_fmt yuv420p10le -tag:v hvc1"),
        "{joined}"
    );
    assert!(
        joined.contains("-x265-params log-level=error:info=0:open-gop=0:scenecut=0:bframes=3:b-pyramid=0:high-tier=1:pools=1:frame-threads=1:rd=1:no-wpp=1:level-idc=4.1 -f mp4 h.mp4"),
        "{joined}"
    );
    assert!(
        joined.contains("-map 1:v:0 -c:v copy -tag:v hvc1 -f mp4 c.mp4"),
        "{joined}"
    );
    assert!(whole.contains("-c:v copy -tag:v hvc1"), "{whole}");
}
