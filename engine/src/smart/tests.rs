use super::*;
use crate::plan::Priority;
use crate::probe::CutPoint;

/// 60 s at 25 fps, a keyframe every 2 s, each frame decoded two frames before it is shown;
/// clean cut points at each keyframe and every 4 frames after it (groups of B-frames).
fn source() -> MediaInfo {
    let keyframes: Vec<f64> = (0..30).map(|i| f64::from(i) * 2.0).collect();
    let cut_points = keyframes
        .iter()
        .flat_map(|k| (0..13).map(move |j| k + f64::from(j) * 0.16))
        .filter(|t| *t > 0.0)
        .map(|t| CutPoint {
            shown_from: t,
            decode_time: t - 0.08,
        })
        .collect();
    MediaInfo {
        duration: 60.0,
        fps: 25.0,
        video_codec: "h264".into(),
        pix_fmt: "yuv420p".into(),
        video_profile: "High".into(),
        video_level: 31,
        video_reorder_frames: 2,
        cut_points: Some(cut_points),
        keyframes: Some(keyframes),
        ..Default::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
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
fn a_start_between_keyframes_gets_a_head_and_the_copy_ends_within_a_frame_of_the_end() {
    let cut = split(&clip(25.0, 55.0), &source());
    assert_eq!(
        cut.head,
        Some(Encoded {
            start: 25.0,
            end: 26.0,
            frames: 25
        })
    );
    // The nearest cut point to 55 s is 54.96 s, one frame short: no foot.
    let copy = cut.copy.unwrap();
    assert_eq!(copy.start, 26.0);
    assert!(close(copy.end, 54.96) && close(copy.decode_end.unwrap(), 54.88));
    assert_eq!(cut.foot, None);
    assert!(!cut.is_pure_copy());
    assert!(close(cut.encoded_s(), 1.0));
}

#[test]
fn an_end_two_frames_from_every_cut_point_gets_a_foot() {
    let cut = split(&clip(25.0, 55.04), &source());
    let copy = cut.copy.unwrap();
    assert!(close(copy.end, 54.96));
    let foot = cut.foot.unwrap();
    assert!(
        close(foot.start, 54.96) && close(foot.end, 55.04),
        "{foot:?}"
    );
    assert_eq!(foot.frames, 2);
    let pieces: Vec<Piece> = cut.pieces().iter().map(|p| p.0).collect();
    assert_eq!(pieces, vec![Piece::Head, Piece::Copy, Piece::Foot]);
}

#[test]
fn a_clip_from_keyframe_to_keyframe_is_one_copy() {
    let cut = split(&clip(20.0, 50.0), &source());
    assert!(cut.is_pure_copy(), "{cut:?}");
    let copy = cut.copy.unwrap();
    assert!(close(copy.end, 50.0) && close(copy.decode_end.unwrap(), 49.92));
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
    long_gops.cut_points = Some(vec![CutPoint {
        shown_from: 40.0,
        decode_time: 39.92,
    }]);
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
            codec: HeadCodec::X264,
            profile: "high",
            level: Some("3.1".into()),
            high_tier: false,
            pix_fmt: "yuv420p",
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
    assert!(with(|m| m.video_codec = "av1".into()).starts_with("av1 video"));
    assert!(with(|m| m.pix_fmt = "yuv444p".into()).starts_with("yuv444p"));
    assert!(with(|m| m.variable_frame_rate = true).contains("variable frame rate"));
    assert!(with(|m| m.open_gop = true).starts_with("open GOPs"));
    assert!(with(|m| m.keyframes = None).contains("keyframe"));
    assert!(with(|m| m.cut_points = None).contains("keyframe"));
    assert!(with(|m| m.video_profile = "High 10".into()).contains("High 10"));
    assert!(with(|m| m.video_reorder_frames = 4).contains("reordering depth of 4"));
}

#[test]
fn an_hevc_head_encoder_matches_profile_tier_level_bit_depth_and_reordering() {
    let mut hevc = source();
    hevc.video_codec = "hevc".into();
    hevc.video_profile = "Main".into();
    hevc.video_level = 93;
    let encoder = head_encoder(&hevc).unwrap();
    assert_eq!(
        encoder,
        HeadEncoder {
            codec: HeadCodec::X265,
            profile: "main",
            level: Some("3.1".into()),
            high_tier: false,
            pix_fmt: "yuv420p",
            bframes: 3,
            pyramid: true
        }
    );
    let mut ten = hevc.clone();
    ten.video_profile = "Main 10".into();
    ten.pix_fmt = "yuv420p10le".into();
    ten.video_level = 120;
    ten.video_high_tier = true;
    ten.video_reorder_frames = 0;
    let encoder = head_encoder(&ten).unwrap();
    assert_eq!(
        (encoder.profile, encoder.pix_fmt, encoder.level.as_deref()),
        ("main10", "yuv420p10le", Some("4"))
    );
    assert!(encoder.high_tier && encoder.bframes == 0);
    assert_eq!(sample_entry("hevc"), Some("hvc1"));
    assert_eq!(sample_entry("h264"), None);
    // What x265 is not asked to match: 10 bits in Main, 4:2:2, a range-extension profile.
    let mut wrong = hevc.clone();
    wrong.pix_fmt = "yuv420p10le".into();
    assert_eq!(
        head_encoder(&wrong),
        Err(NoHeadEncoder::Pixels("yuv420p10le".into()))
    );
    wrong.video_profile = "Rext".into();
    assert_eq!(
        smart_problem(&wrong).as_deref(),
        Some("HEVC profile \"Rext\"")
    );
    assert_eq!(smart_problem(&hevc), None);
    assert_eq!(smart_problem(&ten), None);
    // x265's open GOPs are joined as broken links; H.264's are not.
    let mut open = hevc.clone();
    open.open_gop = true;
    assert_eq!(smart_problem(&open), None);
}

#[test]
fn a_keyframe_less_than_a_frame_after_the_start_opens_the_clip_with_no_head() {
    // Video shown 22 ms after the timeline starts (Matroska behind AAC's priming, an MP4 whose
    // edit list starts late): no frame is shown between a clip's start and that keyframe.
    let mut late = source();
    let shift = |t: &mut f64| *t += 0.022;
    late.keyframes.as_mut().unwrap().iter_mut().for_each(shift);
    for point in late.cut_points.as_mut().unwrap() {
        point.shown_from += 0.022;
        point.decode_time += 0.022;
    }
    for start in [0.0, 26.0] {
        let cut = split(&clip(start, start + 30.0), &late);
        assert_eq!(cut.head, None, "{start}");
        assert!(close(cut.copy.unwrap().start, start + 0.022), "{start}");
    }
    // A keyframe a second and 22 ms after the start: the 25 frames before it, all shown from
    // the start on.
    let head = split(&clip(25.0, 55.0), &late).head.unwrap();
    assert_eq!(head.frames, 25);
    assert!(close(head.start, 25.022) && close(head.end, 26.022));
}
