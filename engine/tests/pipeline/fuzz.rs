//! Fuzzing of what parses untrusted bytes, with real inputs mutated at random (proptest on
//! stable Rust; bounded case counts from a fixed seed so CI runs the same inputs every time):
//! the MP4 join's reader on corrupted MP4 pieces, the index reader of a source that is still
//! arriving on corrupted files (and every prefix of them), and the ffprobe JSON reader on
//! corrupted ffprobe output. The property: an error or a result, never a panic.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clipbench_engine::index::{locate, Located, SourceIndex};
use clipbench_engine::mp4join::{join_mp4, CopySource, JoinPiece, PieceFrom};
use clipbench_engine::probe::parse_ffprobe_json;
use proptest::prelude::*;

/// A real 2 s H.264 + AAC MP4 and ffprobe's JSON of it, made once per test binary.
fn seeds() -> &'static (PathBuf, Vec<u8>, String) {
    static SEEDS: OnceLock<(PathBuf, Vec<u8>, String)> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let video = common::make_video(&dir, "seed.mp4", 2.0, true);
        let json = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-print_format",
                "json",
                "-show_format",
                "-show_streams",
            ])
            .arg(&video)
            .output()
            .unwrap()
            .stdout;
        let bytes = std::fs::read(&video).unwrap();
        (dir, bytes, String::from_utf8(json).unwrap())
    })
}

/// Up to `n` byte changes and an optional cut, applied to `data`.
fn mutations(
    n: usize,
) -> impl Strategy<Value = (Vec<(prop::sample::Index, u8)>, Option<prop::sample::Index>)> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..n),
        prop::option::weighted(0.2, any::<prop::sample::Index>()),
    )
}

fn mutate(
    data: &[u8],
    (changes, cut): &(Vec<(prop::sample::Index, u8)>, Option<prop::sample::Index>),
) -> Vec<u8> {
    let mut out = data.to_vec();
    for (at, byte) in changes {
        let i = at.index(out.len());
        out[i] = *byte;
    }
    if let Some(cut) = cut {
        out.truncate(cut.index(out.len()));
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// 300 cases from a fixed seed, the same every CI run: the MP4 reader is a third-party crate,
/// and a random input that makes it spin must not make one CI run fail and the next pass.
/// `PROPTEST_RNG_SEED` and `PROPTEST_CASES` explore further.
fn fuzz_config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 300;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(20_261_202);
    }
    config
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn fuzz_mp4_join_of_corrupted_pieces_never_panics(changes in mutations(24)) {
        let (_, seed, _) = seeds();
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "bad.mp4", &mutate(seed, &changes));
        let good = write(dir.path(), "good.mp4", seed);
        let pieces = [
            JoinPiece::file(&good, 1.0),
            JoinPiece::file(&bad, 1.0),
        ];
        let _ = join_mp4(&pieces, Some(PieceFrom::File(&bad)), &dir.path().join("out.mp4"));
        // The same file as a source whose copies the join reads (the seed is one).
        let seed_copy = CopySource::read(&good).map_err(|e| e.to_string());
        prop_assert!(seed_copy.and_then(|s| s.copy(0.0, None).map_err(|e| e.to_string())).is_ok());
        if let Ok(source) = CopySource::read(&bad) {
            if let Ok(copy) = source.copy(0.0, None) {
                let from = PieceFrom::Source(&source, copy);
                let copied = [JoinPiece::file(&good, 1.0), JoinPiece { from, planned_s: 1.0 }];
                let audio = source.audio(0.5, 1.5).ok().map(|a| PieceFrom::Source(&source, a));
                let _ = join_mp4(&copied, audio, &dir.path().join("copied.mp4"));
            }
        }
    }

    #[test]
    fn fuzz_index_of_a_corrupted_file_never_panics(changes in mutations(24)) {
        let (_, seed, _) = seeds();
        let bad = mutate(seed, &changes);
        let found = match locate(&bad, 0) {
            Located::After(at) => locate(bad.get(at as usize..).unwrap_or_default(), at),
            other => other,
        };
        if let Located::At(range) = found {
            if let Some(moov) = bad.get(range.start as usize..range.end as usize) {
                if let Ok(index) = SourceIndex::parse(moov) {
                    let _ = (index.packets(), index.ranges_for([(0.0, 1.0), (0.5, 2.0)]));
                }
            }
        }
    }

    #[test]
    fn fuzz_ffprobe_json_reader_never_panics(changes in mutations(8)) {
        let (dir, _, json) = seeds();
        let text = String::from_utf8_lossy(&mutate(json.as_bytes(), &changes)).into_owned();
        let _ = parse_ffprobe_json(&dir.join("seed.mp4"), &text);
    }
}

#[test]
fn the_seeds_are_valid_so_the_mutations_start_from_real_inputs() {
    let (dir, seed, json) = seeds();
    let info = parse_ffprobe_json(&dir.join("seed.mp4"), json).unwrap();
    assert!(info.duration > 1.5 && info.has_audio);
    let copy = write(dir, "copy.mp4", seed);
    let piece = [JoinPiece::file(&copy, 2.0)];
    join_mp4(
        &piece,
        Some(PieceFrom::File(&copy)),
        &dir.join("joined.mp4"),
    )
    .unwrap();
    let Located::After(at) = locate(seed, 0) else {
        panic!("ffmpeg writes the index after the media data");
    };
    let Located::At(range) = locate(&seed[at as usize..], at) else {
        panic!("no index after the media data");
    };
    SourceIndex::parse(&seed[range.start as usize..range.end as usize]).unwrap();
}
