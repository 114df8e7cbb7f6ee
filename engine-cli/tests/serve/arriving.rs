//! Cutting while the video downloads, over real HTTP on loopback: a file that trickles in (its
//! index at the front, and at the end fetched first with a Range request) is cut while it
//! arrives; a server without Range, or a WebM, is downloaded first with the reason in the
//! report's notes; a download that breaks off half-way keeps the clips whose bytes came and
//! fails the others with its reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use clipbench_engine::execute::FailureKind;
use clipbench_engine::{ClipStatus, PlanOptions, Profile, RunOptions, Setup, Strategy};
use clipbench_fetch::guard::UrlGuard;
use clipbench_fetch::url_run::{run_url, UrlRun, STREAMED_NOTE};
use clipbench_fetch::DownloadOptions;
use futures_util::StreamExt;

use crate::common;

/// Pieces a file is sent in.
const PIECES: usize = 40;

/// `/slow/NAME`: the file in [`PIECES`] pieces 25 ms apart, a Range request answered at once
/// (206); `/no-range/NAME`: the same, Range ignored (200, the whole file); `/broken/NAME`:
/// 60 % of the file, then the connection breaks.
async fn trickle_server(dir: PathBuf) -> SocketAddr {
    let app = Router::new()
        .route("/{mode}/{name}", get(trickle))
        .with_state(Arc::new(dir));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

async fn trickle(
    State(dir): State<Arc<PathBuf>>,
    UrlPath((mode, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Ok(data) = tokio::fs::read(dir.join(&name)).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let length = data.len();
    let range = (headers.get(header::RANGE))
        .and_then(|v| v.to_str().ok()?.strip_prefix("bytes=")?.split_once('-'))
        .and_then(|(from, to)| Some((from.parse::<usize>().ok()?, to.parse::<usize>().ok()?)));
    if let (Some((from, to)), true) = (range, mode != "no-range") {
        let to = to.min(length - 1);
        return (
            StatusCode::PARTIAL_CONTENT,
            [(header::CONTENT_RANGE, format!("bytes {from}-{to}/{length}"))],
            data[from..=to].to_vec(),
        )
            .into_response();
    }
    let piece = length.div_ceil(PIECES);
    let breaks_at = if mode == "broken" {
        PIECES * 6 / 10
    } else {
        PIECES
    };
    let pieces: Vec<Vec<u8>> = data.chunks(piece).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::iter(pieces.into_iter().enumerate()).then(
        move |(n, bytes)| async move {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if n >= breaks_at {
                return Err(std::io::Error::other("the test broke the connection"));
            }
            Ok(bytes)
        },
    );
    (
        [(header::CONTENT_TYPE, "video/mp4")],
        [(header::CONTENT_LENGTH, length.to_string())],
        Body::from_stream(stream),
    )
        .into_response()
}

/// 13 s of 160x90 H.264 (B-frames, a keyframe every 2 s, about 1 MB) with AAC: its index at
/// the end as ffmpeg writes it, or at the front.
fn source(dir: &Path, name: &str, front: bool) -> PathBuf {
    let path = dir.join(name);
    let lavfi = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x90:rate=25",
        "-f",
        "lavfi",
        "-i",
    ];
    let x264 = [
        "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-bf", "2",
    ];
    let mut args = [
        &lavfi[..],
        &["sine=frequency=440:sample_rate=44100", "-t", "13"],
        &x264,
        &["-x264-params", "bitrate=1200", "-c:a", "aac"],
    ]
    .concat();
    if front {
        args.extend(["-movflags", "+faststart"]);
    }
    args.push(path.to_str().unwrap());
    common::corpus::ffmpeg(&args);
    path
}

/// A smart cut of `url` (3-second clips every 3 s) into `dir`.
async fn cut(url: &str, dir: &Path) -> UrlRun {
    let setup = Setup {
        strategy: Strategy::Fixed(2),
        profile: Profile::Smart,
        plan: PlanOptions {
            policy: "fixed:1:3:3".parse().unwrap(),
            ..PlanOptions::default()
        },
        ..Setup::default()
    };
    let options = RunOptions::with_setup(dir.join("out"), setup);
    let download = DownloadOptions {
        guard: Arc::new(UrlGuard::allow_all()),
        ..DownloadOptions::default()
    };
    let url = url.parse().unwrap();
    let cancel = clipbench_engine::CancelToken::new();
    let folder = dir.join("download");
    let ran = run_url(
        &url,
        &folder,
        &download,
        &options,
        &cancel,
        |_, _| {},
        Arc::new(|_| {}),
    );
    tokio::time::timeout(Duration::from_secs(300), ran)
        .await
        .expect("the run ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_file_is_cut_while_it_arrives_with_its_index_at_either_end() {
    let media = tempfile::tempdir().unwrap();
    source(media.path(), "end.mp4", false);
    source(media.path(), "front.mp4", true);
    let base = trickle_server(media.path().to_owned()).await;
    for name in ["end.mp4", "front.mp4"] {
        let work = tempfile::tempdir().unwrap();
        let ran = cut(&format!("http://{base}/slow/{name}"), work.path()).await;
        let report = ran.report.unwrap();
        assert!(ran.streamed && ran.download_error.is_none(), "{name}");
        assert!(
            report.notes.iter().any(|n| n == STREAMED_NOTE),
            "{name}: {:?}",
            report.notes
        );
        assert!(report.all_valid(), "{name}: {:?}", report.failures);
        assert_eq!(
            report.metrics.clips_fallback, 0,
            "{name}: {:?}",
            report.clips
        );
        assert_eq!(
            ran.bytes,
            std::fs::metadata(media.path().join(name)).unwrap().len()
        );
        for clip in &report.clips {
            common::assert_decodes(clip.path.as_ref().unwrap(), name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_range_requests_or_an_mp4_it_downloads_first_and_says_why() {
    let media = tempfile::tempdir().unwrap();
    source(media.path(), "end.mp4", false);
    let webm = media.path().join("clip.webm");
    common::corpus::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x90:rate=25",
        "-t",
        "7",
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        webm.to_str().unwrap(),
    ]);
    let base = trickle_server(media.path().to_owned()).await;
    for (path, why) in [
        ("no-range/end.mp4", "range request"),
        ("slow/clip.webm", "not an MP4 or MOV"),
    ] {
        let work = tempfile::tempdir().unwrap();
        let ran = cut(&format!("http://{base}/{path}"), work.path()).await;
        let report = ran.report.unwrap();
        assert!(!ran.streamed, "{path}");
        let note = report
            .notes
            .iter()
            .find(|n| n.starts_with("downloaded before cutting"));
        assert!(
            note.is_some_and(|n| n.contains(why)),
            "{path}: {:?}",
            report.notes
        );
        assert!(report.all_valid(), "{path}: {:?}", report.failures);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_breaks_off_keeps_the_clips_whose_bytes_came() {
    let media = tempfile::tempdir().unwrap();
    source(media.path(), "front.mp4", true);
    let base = trickle_server(media.path().to_owned()).await;
    let work = tempfile::tempdir().unwrap();
    let ran = cut(&format!("http://{base}/broken/front.mp4"), work.path()).await;
    let report = ran.report.unwrap();
    let error = ran
        .download_error
        .expect("the download's failure is reported");
    assert!(error.contains("cannot download"), "{error}");
    let made = report
        .clips
        .iter()
        .filter(|c| c.status.is_written())
        .count();
    let failed: Vec<_> = (report.clips.iter())
        .filter(|c| c.status == ClipStatus::Failed)
        .collect();
    assert!(made >= 1 && !failed.is_empty(), "{:?}", report.clips);
    for clip in failed {
        assert_eq!(clip.failure.as_ref().unwrap().kind, FailureKind::Download);
    }
    let out = work.path().join("out");
    assert!(common::files_ending(&out, ".partial").is_empty());
    assert_eq!(common::files_ending(&out, ".mp4").len(), made);
}
