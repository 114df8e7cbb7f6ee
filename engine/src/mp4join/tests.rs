//! Tests of the MP4 join: hostile box trees never hang or panic the reader.

use super::read::{boxes, sample_entries};
use super::write::{boxed, chunk_order, sample_tables};
use super::*;
use crate::mp4box::well_formed;
use proptest::prelude::*;

/// Box headers with any size field (0, 1 with a 64-bit size, tiny, huge) around payloads
/// that are themselves boxes or noise: the shapes that break a box reader.
fn hostile_boxes() -> impl Strategy<Value = Vec<u8>> {
    let kinds = prop::sample::select(vec![
        *b"moov", *b"trak", *b"mdia", *b"minf", *b"stbl", *b"stsd", *b"hdlr", *b"avcC", *b"free",
    ]);
    let one = (
        kinds,
        prop::sample::select(vec![0u32, 1, 7, 8, 16, 0xffff_ffff]),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(kind, size, large, payload)| {
            let mut out = size.to_be_bytes().to_vec();
            out.extend_from_slice(&kind);
            if size == 1 {
                out.extend_from_slice(&large.to_be_bytes());
            }
            out.extend_from_slice(&payload);
            out
        });
    prop::collection::vec(one, 0..12).prop_map(|boxes| boxes.concat())
}

proptest! {
    // Fuzzing of the box reader: no input panics (CI runs the default cases; set
    // PROPTEST_CASES for a longer run).
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn fuzz_box_reader_never_panics(
        noise in prop::collection::vec(any::<u8>(), 0..512),
        shaped in hostile_boxes(),
    ) {
        for data in [&noise, &shaped] {
            let _ = well_formed(data, true, 0);
            let _ = boxes(data).count();
            let _ = sample_entries(data, b"vide");
            let _ = parameter_sets(data);
        }
    }
}

#[test]
fn rescaling_rounds_to_the_nearest_tick() {
    assert_eq!(rescale(1024, 12800, 90000), 7200);
    assert_eq!(rescale(-512, 12800, 1000), -40);
    assert_eq!(rescale(1, 3, 2), 1);
}

#[test]
fn parameter_sets_come_out_length_prefixed() {
    // avcC: version, profile, compat, level, 4-byte lengths, 1 SPS [0x67 0x64], 1 PPS [0x68].
    let avcc = [
        1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68,
    ];
    let stsd = [b"xxxxavcC".as_slice(), &avcc].concat();
    let sets = parameter_sets(&stsd).unwrap();
    assert_eq!(sets.length_size, 4);
    assert_eq!(
        sets.in_band(),
        vec![0, 0, 0, 2, 0x67, 0x64, 0, 0, 0, 1, 0x68]
    );
    assert!(parameter_sets(b"no config here").is_err());
}

#[test]
fn hevc_parameter_sets_are_the_vps_sps_and_pps_of_the_hvcc() {
    // hvcC: 21 header bytes, then 2-byte lengths (lengthSizeMinusOne 1), 4 arrays: VPS [0x40],
    // SPS [0x42 0x01], PPS [0x44], and a prefix SEI [0x4e] that is no parameter set.
    let mut hvcc = vec![
        1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93, 0xf0, 0, 0xfc, 0xfd,
    ];
    hvcc.extend([0xf8, 0xf8, 0, 0, 0x0d, 4]);
    for (nal_type, nal) in [
        (32u8, &[0x40][..]),
        (33, &[0x42, 0x01]),
        (34, &[0x44]),
        (39, &[0x4e]),
    ] {
        hvcc.extend([0x80 | nal_type, 0, 1, 0, nal.len() as u8]);
        hvcc.extend(nal);
    }
    let stsd = [b"xxxxhvcC".as_slice(), &hvcc].concat();
    let sets = parameter_sets(&stsd).unwrap();
    assert_eq!(sets.length_size, 2);
    assert_eq!(
        sets.in_band(),
        vec![0, 1, 0x40, 0, 2, 0x42, 0x01, 0, 1, 0x44]
    );
    // Cut short inside its arrays: unreadable, named.
    let short = [b"xxxxhvcC".as_slice(), &hvcc[..30]].concat();
    let error = parameter_sets(&short).unwrap_err().to_string();
    assert!(error.ends_with("no readable hvcC"), "{error}");
}

#[test]
fn a_piece_that_is_not_an_mp4_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let piece = dir.path().join("head.mp4");
    std::fs::write(&piece, b"not a video").unwrap();
    let output = dir.path().join("clip.mp4.partial");
    let pieces = [JoinPiece::file(&piece, 1.0)];
    let error = join_mp4(&pieces, None, &output).unwrap_err().to_string();
    assert!(
        error.starts_with("cannot read ") && error.contains("head.mp4"),
        "{error}"
    );
    assert!(!output.exists());
}

fn track(video: bool, timescale: u32, n: i64, step: i64) -> Track {
    let sample = |dts| TrackSample {
        dts,
        cts_offset: 0,
        duration: 1,
        sync: true,
        bytes: vec![0],
        entry: 0,
    };
    Track {
        video,
        timescale,
        entries: vec![boxed(b"avc1", &[])],
        tkhd_matrix: [0; 9],
        width: 0,
        height: 0,
        edits: Vec::new(),
        samples: (0..n).map(|i| sample(i * step)).collect(),
    }
}

#[test]
fn chunks_interleave_by_time() {
    // Video at 10 ticks/s, a sample each 0.1 s; audio at 100 ticks/s, each 0.25 s.
    let tracks = [track(true, 10, 10, 1), track(false, 100, 4, 25)];
    let order = chunk_order(&tracks);
    assert_eq!(order, vec![(0, 0, 5), (1, 0, 2), (0, 5, 5), (1, 2, 2)]);
}

#[test]
fn a_chunk_holds_samples_of_one_sample_entry_and_stsc_points_at_it() {
    // Head (entry 1), copy (entry 2), foot (entry 1 again): 2, 5 and 3 samples.
    let mut video = track(true, 10, 10, 1);
    video.entries.push(boxed(b"avc1", &[1]));
    for s in &mut video.samples[2..7] {
        s.entry = 1;
    }
    let order = chunk_order(std::slice::from_ref(&video));
    assert_eq!(order, vec![(0, 0, 2), (0, 2, 5), (0, 7, 3)]);
    let chunks: Vec<(usize, usize)> = order.iter().map(|&(_, f, n)| (f, n)).collect();
    let tables = sample_tables(&video, &chunks, &[100, 102, 107]);
    let stsd = boxes(&tables).find(|(t, _)| *t == b"stsd").unwrap().1;
    assert_eq!(stsd[4..8], 2u32.to_be_bytes(), "two entries");
    assert_eq!(boxes(&stsd[8..]).count(), 2);
    let stsc = boxes(&tables).find(|(t, _)| *t == b"stsc").unwrap().1;
    let rows: Vec<u32> = (stsc[8..].chunks(4))
        .map(|w| u32::from_be_bytes(w.try_into().unwrap()))
        .collect();
    // (first chunk, samples per chunk, sample entry), one row per change.
    assert_eq!(rows, [1, 2, 1, 2, 5, 2, 3, 3, 1]);
}

#[test]
fn an_hevc_piece_opening_on_a_cra_opens_as_a_broken_link_without_its_leading_pictures() {
    // 4-byte lengths; NAL headers: PPS (34), then the picture's slice (CRA 21, IDR 19, TRAIL 1).
    let nal = |nal_type: u8| [0, 0, 0, 2, nal_type << 1, 1];
    let sample = |dts: i64, shown: i64, first: &[u8]| TrackSample {
        dts,
        cts_offset: shown - dts,
        duration: 1,
        sync: false,
        bytes: first.to_vec(),
        entry: 0,
    };
    let cra = [nal(34), nal(21)].concat();
    // Decoding order: the CRA (shown at 3), two leading pictures (shown at 1, 2), a trailing one.
    let mut samples = vec![
        sample(0, 3, &cra),
        sample(1, 1, &nal(8)),
        sample(2, 2, &nal(8)),
        sample(3, 4, &nal(1)),
    ];
    open_as_broken_link(&mut samples, 4);
    let shown: Vec<i64> = samples.iter().map(|s| s.dts + s.cts_offset).collect();
    assert_eq!(shown, vec![3, 4]);
    assert_eq!(
        samples[0].bytes[10..],
        [16 << 1, 1],
        "the CRA is a BLA_W_LP"
    );
    assert_eq!(
        samples[0].bytes[..6],
        nal(34),
        "the parameter set is untouched"
    );
    // An IDR opening a piece, and a sample cut short, change nothing.
    let idr = vec![sample(0, 1, &nal(19)), sample(1, 0, &nal(1))];
    let mut same = idr.clone();
    open_as_broken_link(&mut same, 4);
    assert_eq!(same.len(), 2);
    assert_eq!(same[0].bytes, idr[0].bytes);
    let mut short = vec![sample(0, 1, &[0, 0, 0, 9])];
    open_as_broken_link(&mut short, 4);
    assert_eq!(short[0].bytes, [0, 0, 0, 9]);
}
