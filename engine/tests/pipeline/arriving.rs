//! Cutting a source while it arrives: the index read from the file's bytes says what ffprobe
//! says; a smart cut of a trickling file (index at the front, and at the end) starts before the
//! last byte, starts no clip before the bytes it reads, and makes exact clips; a download that
//! stops half-way keeps the clips whose bytes came and fails the others with its reason,
//! leaving nothing half-written.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use clipbench_engine::arrival::{Arrival, Arriving, IndexState, Next, SourceWriter};
use clipbench_engine::execute::{FailureKind, Subject};
use clipbench_engine::index::{locate, Located, SourceIndex};
use clipbench_engine::probe::probe_with_keyframes;
use clipbench_engine::{run_arriving, CancelToken, ClipStatus, Event, RunReport, Tools};

use super::smart::{assert_exact, ffprobe, smart_options, source};
use crate::common;

/// The index of a whole file, found as the downloader finds it.
fn index_of(path: &Path) -> Result<SourceIndex, String> {
    let data = std::fs::read(path).unwrap();
    let moov = match locate(&data, 0) {
        Located::At(range) => range,
        Located::After(at) => match locate(&data[at as usize..], at) {
            Located::At(range) => range,
            other => return Err(format!("{other:?}")),
        },
        other => return Err(format!("{other:?}")),
    };
    SourceIndex::parse(&data[moov.start as usize..moov.end as usize])
}

#[test]
fn the_index_says_what_ffprobe_says() {
    let dir = tempfile::tempdir().unwrap();
    let bframes = source(dir.path(), "b-pyramid.mp4", "b-pyramid=normal");
    let inputs = (common::corpus::corpus().iter())
        .filter(|i| i.usable && !i.name.ends_with(".webm"))
        .map(|i| (i.name, i.path.clone()))
        .chain([("b-pyramid.mp4", bframes)]);
    let mut mapped = Vec::new();
    for (name, path) in inputs {
        let Ok(index) = index_of(&path) else { continue };
        let media = probe_with_keyframes(&Tools::from_env(), &path).unwrap();
        let from_index = clipbench_engine::probe::with_packets(media.clone(), &index.packets());
        let (ours, theirs) = (from_index.keyframes.unwrap(), media.keyframes.unwrap());
        assert_eq!(ours.len(), theirs.len(), "{name}: keyframes");
        for (a, b) in ours.iter().zip(&theirs) {
            assert!((a - b).abs() < 1e-3, "{name}: keyframe {a} against {b}");
        }
        let (a, b) = (
            from_index.reorder_delay_s.unwrap(),
            media.reorder_delay_s.unwrap(),
        );
        assert!((a - b).abs() < 1e-3, "{name}: reordering {a} against {b}");
        assert_eq!(from_index.open_gop, media.open_gop, "{name}: open GOP");
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(index.last_byte() <= size, "{name}");
        assert!(
            index.bytes_through(1.0) <= index.bytes_through(5.0),
            "{name}"
        );
        mapped.push(name);
    }
    // H.264 and HEVC, B-pyramids, the index at either end, an edit list, 10-bit, rotated, VFR.
    for name in ["moov-at-end.mp4", "b-pyramid.mp4", "late-start.mp4"] {
        assert!(mapped.contains(&name), "{name} not mapped: {mapped:?}");
    }
    assert!(mapped.len() >= 8, "{mapped:?}");
}

/// Writes `source` into `dest` in 40 pieces, 30 ms apart, through a [`SourceWriter`] (the file's
/// end first when its index is there); after `hold_at` of its pieces it waits for `release`
/// (at most a minute), and after `fail_at` pieces it stops with a failure instead.
fn trickle(
    source: &Path,
    dest: &Path,
    arrival: Arc<Arrival>,
    hold_at: usize,
    release: mpsc::Receiver<()>,
    fail_at: Option<usize>,
) -> JoinHandle<()> {
    let data = std::fs::read(source).unwrap();
    let dest = dest.to_owned();
    std::thread::spawn(move || {
        let mut writer = SourceWriter::create(&dest, arrival.clone()).unwrap();
        let piece = data.len().div_ceil(40);
        for (n, bytes) in data.chunks(piece).enumerate() {
            if Some(n) == fail_at {
                arrival.fail("connection reset by the test".into());
                return;
            }
            if n == hold_at {
                let _ = release.recv_timeout(Duration::from_secs(60));
            }
            if let Next::FetchTail(at) = writer.append(bytes).unwrap() {
                writer.write_tail(at, &data[at as usize..]).unwrap();
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        writer.finish();
    })
}

/// Bytes from the file's start holding every packet decoded before `end` (from ffprobe).
fn bytes_before(path: &Path, end: f64) -> u64 {
    let args = [
        "-show_entries",
        "packet=dts_time,pos,size",
        "-of",
        "csv=p=0",
    ];
    ffprobe(&args, path)
        .lines()
        .filter_map(|line| {
            let mut fields = line.trim_end_matches(',').split(',');
            let dts: f64 = fields.next()?.parse().ok()?;
            let size: u64 = fields.next()?.parse().ok()?;
            let pos: u64 = fields.next()?.parse().ok()?;
            (dts < end).then_some(pos + size)
        })
        .max()
        .unwrap_or(0)
}

/// A smart cut of `source` trickled into `dir` (clips `policy`), with `fail_at` as in
/// [`trickle`]. Returns the report, each clip's bytes on disk when it started, and the file.
fn cut_while_arriving(
    source: &Path,
    dir: &Path,
    policy: &str,
    fail_at: Option<usize>,
) -> (RunReport, Vec<(u32, u64)>, PathBuf) {
    let dest = dir.join("arriving.mp4");
    let arrival = Arrival::new();
    let (release, released) = mpsc::channel();
    let writer = trickle(source, &dest, arrival.clone(), 36, released, fail_at);
    let cancel = CancelToken::new();
    let IndexState::Known(index) = arrival.wait_for_index(&cancel).unwrap() else {
        panic!("the index was not read");
    };
    let options = smart_options(&dir.join("out"), policy);
    let started = Mutex::new(Vec::new());
    let release = Mutex::new(Some(release));
    let report = run_arriving(
        &dest,
        &Arriving::new(arrival.clone(), index),
        &options,
        &cancel,
        &|event| {
            if let Event::Started {
                subject: Subject::Clip(n),
                ..
            } = event.event
            {
                started.lock().unwrap().push((n, arrival.received()));
                // The first clip started: let the rest of the file come.
                drop(release.lock().unwrap().take());
            }
        },
    )
    .unwrap();
    writer.join().unwrap();
    (report, started.into_inner().unwrap(), dest)
}

#[test]
fn a_smart_cut_starts_while_the_file_arrives_and_reads_only_what_arrived() {
    let dir = tempfile::tempdir().unwrap();
    // ffmpeg writes the index at the end; `+faststart` moves it to the front.
    let at_end = source(dir.path(), "at-end.mp4", "b-pyramid=normal:bitrate=1200");
    let at_front = dir.path().join("at-front.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&at_end)
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(&at_front)
        .status()
        .unwrap();
    assert!(status.success());
    for input in [&at_end, &at_front] {
        let work = tempfile::tempdir().unwrap();
        let (report, started, dest) = cut_while_arriving(input, work.path(), "fixed:1:6:3", None);
        let total = std::fs::metadata(input).unwrap().len();
        assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(input).unwrap());
        assert!(report.all_valid(), "{input:?}: {:?}", report.failures);
        // Smart-cut, not re-encoded after a failure (the copies read from the file arriving).
        assert_eq!(report.metrics.clips_fallback, 0, "{:?}", report.clips);
        assert_exact(&report, input);
        // The trickle held back its last pieces until a clip started.
        assert!(started.iter().any(|&(_, had)| had < total), "{started:?}");
        for &(n, had) in &started {
            let clip = &report.plan[n as usize - 1];
            let needed = bytes_before(input, clip.end);
            assert!(
                had >= needed,
                "clip {n} started with {had} bytes, its packets end at {needed}"
            );
        }
    }
}

#[test]
fn a_download_that_stops_keeps_the_clips_that_arrived_and_fails_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), "at-end.mp4", "b-pyramid=normal:bitrate=1200");
    // 3-second clips; the download stops after 22 of its 40 pieces.
    let (report, _, _) = cut_while_arriving(&input, dir.path(), "fixed:1:3:3", Some(22));
    let made: Vec<_> = report
        .clips
        .iter()
        .filter(|c| c.status.is_written())
        .collect();
    let failed: Vec<_> = (report.clips.iter())
        .filter(|c| c.status == ClipStatus::Failed)
        .collect();
    assert!(!made.is_empty() && !failed.is_empty(), "{:?}", report.clips);
    assert_eq!(made.len() + failed.len(), report.clips.len());
    for clip in &made {
        common::assert_decodes(
            clip.path.as_ref().unwrap(),
            "a clip made before the failure",
        );
    }
    for clip in &failed {
        let failure = clip.failure.as_ref().unwrap();
        assert_eq!(failure.kind, FailureKind::Download, "{failure:?}");
        assert!(failure.reason.contains("connection reset by the test"));
    }
    let out = dir.path().join("out");
    assert!(common::files_ending(&out, ".partial").is_empty());
    assert_eq!(common::files_ending(&out, ".mp4").len(), made.len());
}
