//! Clips every player accepts: each profile's clips decode from the parameter sets of their
//! sample entries alone (the strict-decoder check, [`common::strict`]), and the check fails a
//! joined clip whose pieces share one entry.

use crate::common;
use crate::smart::{smart_options, source};

use clipbench_engine::task::TaskKind;
use clipbench_engine::{run, CancelToken, PlanOptions, Profile, RunOptions, Setup, Strategy};
use common::strict::{blank_parameter_sets, one_sample_entry, sample_entries, strict_decode};

#[test]
fn every_profile_decodes_from_its_sample_entries_alone() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), "closed.mp4", "b-pyramid=normal");
    for (profile, reuse) in Profile::ALL
        .into_iter()
        .map(|p| (p, false))
        .chain([(Profile::Optimized, true)])
    {
        let out = dir.path().join(format!("{profile:?}-{reuse}"));
        let setup = Setup {
            strategy: Strategy::Fixed(2),
            profile,
            reuse_overlaps: reuse,
            plan: PlanOptions {
                policy: "fixed:1:6:3".parse().unwrap(),
                ..PlanOptions::default()
            },
            ..Setup::default()
        };
        let options = RunOptions::with_setup(&out, setup);
        let report = run(&input, &options, &CancelToken::new(), &|_| {}).unwrap();
        assert!(report.all_valid(), "{profile:?}: {:?}", report.failures);
        for clip in &report.clips {
            let what = format!("{profile:?} (reuse {reuse}) clip {}", clip.clip.number);
            common::assert_decodes(clip.path.as_ref().unwrap(), &what);
        }
    }
}

#[test]
fn a_joined_clip_whose_pieces_share_one_sample_entry_fails_the_strict_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), "closed.mp4", "b-pyramid=normal");
    let options = smart_options(&dir.path().join("out"), "fixed:1:6:3");
    let report = run(&input, &options, &CancelToken::new(), &|_| {}).unwrap();
    // Clip 2 (3–9 s): a head, a copy, a foot.
    let clip = &report.clips[1];
    assert_eq!(clip.kind, TaskKind::Assemble);
    let joined = clip.path.as_ref().unwrap();
    // The copy's entry (the source's `avcC`) and the x264 pieces' (head and foot write the
    // same one: written once).
    assert_eq!(sample_entries(joined), ["avc1", "avc1"]);
    strict_decode(joined).unwrap();
    // Its in-band parameter sets are there (for the players that read one entry) and blanked.
    let blanked = dir.path().join("blanked.mp4");
    assert!(blank_parameter_sets(joined, &blanked) >= 3);
    // Every sample on the head's entry: the copy's slices meet the head's parameter sets.
    let shared = dir.path().join("shared.mp4");
    one_sample_entry(joined, &shared);
    // As written, its in-band sets still carry it (the error is not "as written"): only a
    // strict player sees the fault.
    let why = strict_decode(&shared).unwrap_err();
    assert!(why.starts_with("with its "), "{why}");
    assert!(why.contains("top block unavailable"), "{why}");
}
