//! Tests of the `probe` module.

use super::json::{hevc_high_tier, parse_rate};
use super::*;

#[test]
fn ffmpeg_version_without_its_banner() {
    let line = "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2025 the FFmpeg developers";
    assert_eq!(version_of_banner(line), "5.1.9-0+deb12u1");
    assert_eq!(version_of_banner("something else"), "something else");
}

const BBB: &str = r#"{"streams":[
  {"codec_type":"video","codec_name":"h264","width":1280,"height":720,
   "avg_frame_rate":"25/1","r_frame_rate":"25/1","duration":"5.280000"},
  {"codec_type":"audio","codec_name":"aac","sample_rate":"48000"}],
 "format":{"duration":"5.312000","bit_rate":"1322173","size":"877936"}}"#;

#[test]
fn parses_video_and_audio() {
    let info = parse_ffprobe_json(Path::new("a.mp4"), BBB).unwrap();
    assert_eq!((info.width, info.height), (1280, 720));
    assert_eq!(info.fps, 25.0);
    assert_eq!(info.duration, 5.312);
    assert_eq!(info.video_codec, "h264");
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!(info.audio_sample_rate, Some(48000));
    assert_eq!(info.size_bytes, 877936);
    assert!(info.has_audio);
}

#[test]
fn rotation_pixel_format_and_variable_rate() {
    let phone = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1920,
      "height":1080,"pix_fmt":"yuv420p10le","avg_frame_rate":"6250/333","r_frame_rate":"25/1",
      "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],
      "format":{"duration":"40"}}"#;
    let info = parse_ffprobe_json(Path::new("p.mp4"), phone).unwrap();
    assert_eq!((info.rotation, info.pix_fmt.as_str()), (270, "yuv420p10le"));
    assert!(info.variable_frame_rate && info.is_portrait());
    let tagged = phone
        .replace(
            r#""side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]"#,
            r#""tags":{"rotate":"180"}"#,
        )
        .replace("6250/333", "25/1");
    let info = parse_ffprobe_json(Path::new("p.mp4"), &tagged).unwrap();
    assert_eq!(info.rotation, 180);
    assert!(!info.variable_frame_rate && !info.is_portrait());
    let plain = parse_ffprobe_json(Path::new("a.mp4"), BBB).unwrap();
    assert_eq!((plain.rotation, plain.variable_frame_rate), (0, false));
}

#[test]
fn ffmpeg_seeks_early_in_matroska_and_flv_with_b_frames() {
    let with = |format: &str, b_frames: u32| {
        let json = BBB
            .replace(
                r#""r_frame_rate":"25/1","#,
                &format!(r#""r_frame_rate":"25/1","has_b_frames":{b_frames},"#),
            )
            .replace(
                r#""format":{"#,
                &format!(r#""format":{{"format_name":"{format}","#),
            );
        parse_ffprobe_json(Path::new("a"), &json)
            .unwrap()
            .seek_lead_s
    };
    assert_eq!(with("matroska,webm", 2), 0.130434);
    assert_eq!(with("flv", 2), 0.130434);
    assert_eq!(with("mpegts", 1), 0.0);
    assert_eq!(with("matroska,webm", 0), 0.0);
    assert_eq!(with("mov,mp4,m4a,3gp,3g2,mj2", 2), 0.0);
    assert_eq!(
        parse_ffprobe_json(Path::new("a"), BBB).unwrap().seek_lead_s,
        0.0
    );
}

#[test]
fn an_flv_announces_its_duration_counted_from_zero() {
    let flv = r#"{"streams":[
      {"codec_type":"video","codec_name":"h264","width":160,"height":90,
       "avg_frame_rate":"25/1","r_frame_rate":"25/1","start_time":"0.080000"},
      {"codec_type":"audio","codec_name":"aac","start_time":"0.057000"}],
     "format":{"format_name":"flv","start_time":"0.057000","duration":"13.080000"}}"#;
    let info = parse_ffprobe_json(Path::new("a.flv"), flv).unwrap();
    assert!((info.duration - 13.023).abs() < 1e-9, "{}", info.duration);
    let mkv = flv.replace(r#""format_name":"flv""#, r#""format_name":"matroska,webm""#);
    let info = parse_ffprobe_json(Path::new("a.mkv"), &mkv).unwrap();
    assert_eq!(info.duration, 13.08);
}

#[test]
fn ntsc_rate_and_missing_rates() {
    assert!((parse_rate("30000/1001").unwrap() - 29.97).abs() < 0.01);
    assert_eq!(parse_rate("0/0"), None);
    assert_eq!(parse_rate("x"), None);
}

#[test]
fn audio_only_is_no_video() {
    let json =
        r#"{"streams":[{"codec_type":"audio","codec_name":"mp3"}],"format":{"duration":"3"}}"#;
    assert!(matches!(
        parse_ffprobe_json(Path::new("a.mp3"), json),
        Err(EngineError::NoVideoStream(_))
    ));
}

#[test]
fn zero_or_missing_duration_is_an_error() {
    for format in [r#"{"duration":"0.000000"}"#, r#"{}"#] {
        let json = format!(
            r#"{{"streams":[{{"codec_type":"video","codec_name":"h264"}}],"format":{format}}}"#
        );
        assert!(matches!(
            parse_ffprobe_json(Path::new("z.mp4"), &json),
            Err(EngineError::ZeroDuration(_))
        ));
    }
}

#[test]
fn keyframes_and_reorder_delay_from_packets() {
    // Decoding order: I0 P4 B2 b1 b3 P5 … I50 (frames of 0.04 s; one packet without times).
    let csv = "0.000000,-0.080000,K__\n0.160000,-0.040000,___\n0.080000,0.000000,___\n\
               0.040000,0.040000,___\n0.120000,N/A,___\n0.200000,0.120000,___\n\
               N/A,N/A,K_\n2.000000,1.920000,K__\n";
    let packets = parse_packets_csv(csv);
    assert_eq!(packets.keyframes, vec![0.0, 2.0]);
    // Cut points (in decoding order): after I0 alone, after the B-frame group, at I50.
    let cuts: Vec<(f64, f64)> = packets
        .cut_points
        .iter()
        .map(|c| (c.shown_from, c.decode_time))
        .collect();
    assert_eq!(cuts, vec![(0.04, -0.04), (0.2, 0.12), (2.0, 1.92)]);
    assert!((packets.reorder_delay_s - 0.2).abs() < 1e-9);
    assert!(!packets.open_gop);
}

#[test]
fn frames_shown_before_their_keyframe_make_an_open_gop() {
    // Closed: every packet after the keyframe is shown after it.
    let closed = "0.000000,-0.080000,K_\n0.160000,-0.040000,__\n0.080000,0.000000,__\n";
    assert!(!parse_packets_csv(closed).open_gop);
    // Open: the keyframe at 2 s is followed by B-frames shown before it.
    let open = "0.000000,-0.080000,K_\n2.000000,1.920000,K_\n1.920000,1.960000,__\n";
    assert!(parse_packets_csv(open).open_gop);
}

#[test]
fn the_timeline_start_is_read() {
    let offset = BBB.replace(
        r#""duration":"5.312000""#,
        r#""duration":"5.312000","start_time":"1.278000""#,
    );
    let info = parse_ffprobe_json(Path::new("a.mp4"), &offset).unwrap();
    assert_eq!(info.start_time, 1.278);
    // An edit list that starts late: the container says 61.3 s, the streams hold 60.
    let late = r#"{"streams":[
      {"codec_type":"video","codec_name":"h264","width":320,"height":180,
       "avg_frame_rate":"30/1","r_frame_rate":"30/1","start_time":"1.300000","duration":"60.000000"},
      {"codec_type":"audio","codec_name":"aac","sample_rate":"48000","start_time":"1.278000",
       "duration":"60.021333"}],
     "format":{"duration":"61.300000","start_time":"1.278000"}}"#;
    let info = parse_ffprobe_json(Path::new("a.mp4"), late).unwrap();
    assert!((info.duration - 60.022).abs() < 1e-9, "{}", info.duration);
    assert_eq!(
        parse_ffprobe_json(Path::new("a.mp4"), BBB)
            .unwrap()
            .start_time,
        0.0
    );
}

#[test]
fn an_hevc_streams_tier_is_read_from_its_configuration_record() {
    // ffprobe's dump of x265's hvcC: version 1, then profile space, tier and profile.
    let main = "\n00000000: 0101 6000 0000 9000 0000 0000 1ef0 00fc  ..`.............\n";
    assert_eq!(hevc_high_tier(main), Some(false));
    assert_eq!(hevc_high_tier("00000000: 0121 6000 0000"), Some(true));
    // An avcC (H.264, version 1 too but never asked), Annex B start codes, garbage: unknown.
    assert_eq!(hevc_high_tier("00000000: 0000 0001 4001"), None);
    assert_eq!(hevc_high_tier("nonsense"), None);
    assert_eq!(hevc_high_tier(""), None);
    let json = r#"{"streams":[{"codec_type":"video","codec_name":"hevc","width":160,
        "height":90,"avg_frame_rate":"25/1","r_frame_rate":"25/1","duration":"4.0",
        "profile":"Main 10","level":153,"extradata":"\n00000000: 0122 2000 0000"}],
        "format":{"duration":"4.0"}}"#;
    let info = parse_ffprobe_json(Path::new("x.mp4"), json).unwrap();
    assert!(info.video_high_tier);
    assert_eq!(
        (info.video_profile.as_str(), info.video_level),
        ("Main 10", 153)
    );
}
