use super::*;
use crate::plan::Priority;

/// 60 s at 25 fps, a keyframe every 2 s, each decoded two frames before it is shown.
fn source() -> MediaInfo {
    let keyframes: Vec<f64> = (0..30).map(|i| f64::from(i) * 2.0).collect();
    MediaInfo {
        duration: 60.0,
        fps: 25.0,
        video_codec: "h264".into(),
        pix_fmt: "yuv420p".into(),
        video_profile: "High".into(),
        video_level: 31,
        video_reorder_frames: 2,
        keyframe_decode_times: Some(keyframes.iter().map(|k| k - 0.08).collect()),
        keyframes: Some(keyframes),
        ..Default::default()
    }
}

fn clip(start: f64, end: f64) -> Clip {
    Clip {
        number: 1,
        start,
        end,
        priority: Priority::Normal,
    }
}

#[test]
fn a_start_between_keyframes_gets_a_head_and_an_end_between_them_a_foot() {
    let cut = split(&clip(25.0, 55.0), &source());
    assert_eq!(
        cut.head,
        Some(Encoded {
            start: 25.0,
            end: 26.0,
            frames: 25
        })
    );
    assert_eq!(
        cut.copy,
        Some(Copied {
            start: 26.0,
            end: 54.0,
            decode_end: Some(53.92)
        })
    );
    assert_eq!(
        cut.foot,
        Some(Encoded {
            start: 54.0,
            end: 55.0,
            frames: 25
        })
    );
    assert!(!cut.is_pure_copy());
    assert!((cut.encoded_s() - 2.0).abs() < 1e-9);
    let pieces: Vec<Piece> = cut.pieces().iter().map(|p| p.0).collect();
    assert_eq!(pieces, vec![Piece::Head, Piece::Copy, Piece::Foot]);
}

#[test]
fn a_clip_from_keyframe_to_keyframe_is_one_copy() {
    let cut = split(&clip(20.0, 50.0), &source());
    assert!(cut.is_pure_copy(), "{cut:?}");
    assert_eq!(cut.copy.unwrap().decode_end, Some(49.92));
    assert_eq!(cut.encoded_s(), 0.0);
}

#[test]
fn a_clip_cut_at_the_end_of_the_video_copies_to_the_end() {
    let cut = split(&clip(45.0, 60.0), &source());
    assert_eq!(cut.head.unwrap().frames, 25);
    let copy = cut.copy.unwrap();
    assert_eq!((copy.start, copy.end, copy.decode_end), (46.0, 60.0, None));
    assert_eq!(cut.foot, None);
}

#[test]
fn a_clip_inside_one_gop_is_encoded_whole() {
    let mut long_gops = source();
    long_gops.keyframes = Some(vec![0.0, 40.0]);
    long_gops.keyframe_decode_times = Some(vec![-0.08, 39.92]);
    // No keyframe inside the clip at all.
    let cut = split(&clip(5.0, 35.0), &long_gops);
    assert_eq!(cut.head.unwrap().frames, 750);
    assert_eq!((cut.copy, cut.foot), (None, None));
    // A keyframe at its start but none before its end: nothing to copy either.
    let cut = split(&clip(0.0, 30.0), &long_gops);
    assert_eq!(cut.pieces().len(), 1);
    assert_eq!(cut.head.unwrap().end, 30.0);
}

#[test]
fn the_head_encoder_matches_the_source() {
    let encoder = head_encoder(&source()).unwrap();
    assert_eq!(
        encoder,
        HeadEncoder {
            profile: "high",
            level: Some("3.1".into()),
            bframes: 3,
            pyramid: true
        }
    );
    let mut baseline = source();
    baseline.video_profile = "Constrained Baseline".into();
    baseline.video_reorder_frames = 0;
    baseline.video_level = 0;
    let encoder = head_encoder(&baseline).unwrap();
    assert_eq!(
        (encoder.profile, encoder.bframes, encoder.level),
        ("baseline", 0, None)
    );
    baseline.video_reorder_frames = 1;
    assert!(head_encoder(&baseline).is_err());
    let mut main = source();
    main.video_profile = "Main".into();
    main.video_reorder_frames = 1;
    assert_eq!(head_encoder(&main).unwrap().bframes, 3);
    assert!(!head_encoder(&main).unwrap().pyramid);
}

#[test]
fn what_cannot_be_smart_cut_says_why() {
    assert_eq!(smart_problem(&source()), None);
    let with = |change: fn(&mut MediaInfo)| {
        let mut media = source();
        change(&mut media);
        smart_problem(&media).unwrap_or_default()
    };
    assert!(with(|m| m.video_codec = "vp9".into()).starts_with("vp9 video"));
    assert!(with(|m| m.video_codec = "hevc".into()).starts_with("hevc video"));
    assert!(with(|m| m.pix_fmt = "yuv444p".into()).starts_with("yuv444p"));
    assert!(with(|m| m.variable_frame_rate = true).contains("variable frame rate"));
    assert!(with(|m| m.open_gop = true).starts_with("open GOPs"));
    assert!(with(|m| m.keyframes = None).contains("keyframe"));
    assert!(with(|m| m.video_profile = "High 10".into()).contains("High 10"));
    assert!(with(|m| m.video_reorder_frames = 4).contains("reordering depth of 4"));
}
