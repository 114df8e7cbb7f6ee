use super::*;

/// A box of `kind` with `payload`.
fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut data = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    data.extend_from_slice(kind);
    data.extend_from_slice(payload);
    data
}

#[test]
fn an_index_at_the_front_is_found_once_all_of_it_arrived() {
    let ftyp = boxed(b"ftyp", &[0; 16]);
    let moov = boxed(b"moov", &[7; 100]);
    let mdat = boxed(b"mdat", &[1; 1000]);
    let file = [ftyp.clone(), moov.clone(), mdat].concat();
    let (from, to) = (ftyp.len() as u64, (ftyp.len() + moov.len()) as u64);
    assert_eq!(locate(&file[..4], 0), Located::NeedMore);
    assert_eq!(locate(&file[..50], 0), Located::NeedMore);
    assert_eq!(locate(&file[..to as usize - 1], 0), Located::NeedMore);
    assert_eq!(locate(&file[..to as usize], 0), Located::At(from..to));
    assert_eq!(locate(&file, 0), Located::At(from..to));
}

#[test]
fn an_index_after_the_media_data_is_fetched_from_its_end() {
    let ftyp = boxed(b"ftyp", &[0; 16]);
    let mdat = boxed(b"mdat", &[1; 1000]);
    let free = boxed(b"free", &[0; 8]);
    let moov = boxed(b"moov", &[7; 100]);
    let end = (ftyp.len() + mdat.len()) as u64;
    let head = [ftyp.clone(), mdat.clone()].concat();
    assert_eq!(locate(&head[..40], 0), Located::After(end));
    // The tail, read from there: a `free` box, then the index.
    let tail = [free.clone(), moov.clone()].concat();
    let at = end + free.len() as u64;
    assert_eq!(locate(&tail, end), Located::At(at..at + moov.len() as u64));
    assert_eq!(locate(&tail[..20], end), Located::NeedMore);
    assert_eq!(
        locate(&[mdat.clone(), moov].concat(), end),
        Located::Unmapped("two media data boxes".into())
    );
}

#[test]
fn files_it_cannot_map_say_why() {
    let unmapped = |data: &[u8]| match locate(data, 0) {
        Located::Unmapped(reason) => reason,
        other => panic!("{other:?}"),
    };
    // A WebM (EBML header), a fragmented MP4, a box running to the end, impossible sizes.
    assert!(unmapped(&[0x1a, 0x45, 0xdf, 0xa3, 0, 0, 0, 0]).contains("not an MP4"));
    let ftyp = boxed(b"ftyp", &[0; 16]);
    assert!(unmapped(&[ftyp.clone(), boxed(b"moof", &[0; 8])].concat()).contains("fragmented"));
    let mut open = 0u32.to_be_bytes().to_vec();
    open.extend_from_slice(b"mdat");
    assert!(unmapped(&[ftyp.clone(), open].concat()).contains("end of the file"));
    let mut tiny = 4u32.to_be_bytes().to_vec();
    tiny.extend_from_slice(b"free");
    assert!(unmapped(&[ftyp.clone(), tiny].concat()).contains("impossible size"));
    let mut huge = 1u32.to_be_bytes().to_vec();
    huge.extend_from_slice(b"moov");
    huge.extend_from_slice(&(MAX_INDEX_BYTES + 1).to_be_bytes());
    assert!(unmapped(&[ftyp, huge].concat()).contains("too large"));
}

#[test]
fn a_hostile_index_is_an_error_not_a_hang() {
    // A child box of size 0 inside the index, a truncated index, garbage.
    let zero = boxed(b"moov", &[0, 0, 0, 0, b't', b'r', b'a', b'k']);
    assert!(SourceIndex::parse(&zero).is_err());
    assert!(SourceIndex::parse(&boxed(b"moov", &[9; 64])).is_err());
    assert!(SourceIndex::parse(b"moov").is_err());
}

#[test]
fn spans_read_from_their_keyframe_to_past_their_end_and_ranges_merge() {
    // One video track: 1 s samples of 1 MB from byte 100, a keyframe every 2 s.
    const MB: u64 = 1_000_000;
    let reach = Reach {
        times: (0..10).map(f64::from).collect(),
        ends: (1..=10).map(|n| 100 + n * MB).collect(),
        starts: (0..10).map(|n| 100 + n * MB).collect(),
    };
    let video = (0..10)
        .map(|n| (f64::from(n), f64::from(n), n % 2 == 0))
        .collect();
    let index = SourceIndex {
        reach: vec![reach],
        video,
        first_byte: MB + 100,
        last_byte: 10 * MB + 100,
        digest: 0,
        frame: (7680, 4320),
    };
    // Ten frames a second apart: 1 fps over 10 s, its frame size as declared.
    let shape = index.shape();
    assert_eq!((shape.width, shape.height), (7680, 4320));
    assert_eq!((shape.fps, shape.duration_s), (1.0, 10.0));
    assert_eq!(index.bytes_through(2.5), 3 * MB + 100);
    assert_eq!(index.bytes_from(2.5), 3 * MB + 100);
    assert_eq!(index.probe_bytes(), 3 * MB + 100);
    // 5.5–6.5: decoding starts at the keyframe at 4 s, reads from 3 s (a second before), and
    // to 8.5 s, plus the read-ahead.
    let ahead = READ_AHEAD_BYTES;
    assert_eq!(
        index.span_bytes(5.5, 6.5),
        3 * MB + 100..9 * MB + 100 + ahead
    );
    // Never past the last byte.
    assert_eq!(index.span_bytes(8.5, 9.0).end, 10 * MB + 100);
    // The first bytes and a span far apart stay two ranges; overlapping ones merge.
    assert_eq!(
        index.ranges_for([(8.5, 9.0)]),
        vec![0..3 * MB + 100, 7 * MB + 100..10 * MB + 100]
    );
    assert_eq!(
        index.ranges_for([(0.0, 1.0), (0.5, 2.0)]),
        vec![0..5 * MB + 100 + ahead]
    );
}
