//! A joined smart clip played through in two browsers with MP4 parsers of their own: headless
//! Chromium and Firefox ESR (`.ci/setup --with-browser` installs both). Each must end the
//! video, crossing every join, and present at least 95 % of its frames (counted with
//! `requestVideoFrameCallback`); frames drawn after it ended must not be blank.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clipbench_engine::task::TaskKind;

use crate::smart::{ffprobe, smart_options, source};

/// A page that plays `clip.mp4` through, counting the frames presented up to its end (and the
/// last one's time), then seeks to two times and draws each frame on a canvas. It reports
/// `done presented=N last=T spreads=…` (per
/// seek, the spread of the frame's pixel values: 0 for a blank frame), or the error, to
/// `/result` on the server that served it.
const PLAYER: &str = r#"<!doctype html><html><body>
<video id="v" muted playsinline preload="auto"></video><canvas id="c"></canvas>
<script>
const video = document.getElementById('v');
const report = (text) => fetch('/result?r=' + encodeURIComponent(text));
let presented = 0, last = -1, ended = null;
const count = (now, meta) => {
  presented = meta.presentedFrames; last = meta.mediaTime;
  if (!ended) video.requestVideoFrameCallback(count);
};
video.requestVideoFrameCallback(count);
const times = [0.5, 3.0], spreads = [];
video.onerror = () => report('error ' + (video.error && video.error.code) + ' ' + (video.error && video.error.message));
video.onended = () => { ended = [presented, last]; video.currentTime = times[0]; };
video.onseeked = () => {
  const canvas = document.getElementById('c');
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const g = canvas.getContext('2d');
  g.drawImage(video, 0, 0);
  const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
  let lo = 255, hi = 0;
  for (let i = 0; i < px.length; i += 4) { lo = Math.min(lo, px[i]); hi = Math.max(hi, px[i]); }
  spreads.push(hi - lo);
  if (spreads.length < times.length) { video.currentTime = times[spreads.length]; }
  else { report('done presented=' + ended[0] + ' last=' + ended[1].toFixed(3) + ' spreads=' + spreads.join(',')); }
};
video.src = 'clip.mp4';
video.play().catch((e) => report('play failed ' + e));
</script></body></html>"#;

/// Serves `site` on loopback and sends what the page reports to `/result?r=…` into `results`.
async fn player_server(
    site: &Path,
    results: tokio::sync::mpsc::Sender<String>,
) -> std::net::SocketAddr {
    use axum::extract::Query;
    let report = move |Query(q): Query<HashMap<String, String>>| async move {
        let _ = results.send(q.get("r").cloned().unwrap_or_default()).await;
        "ok"
    };
    let app = axum::Router::new()
        .route("/result", axum::routing::get(report))
        .fallback_service(tower_http::services::ServeDir::new(site));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// The browser command for `url` with a fresh profile in `profile`, headless, making no
/// connection of its own (this machine's network is closed; a test talks to loopback only).
fn browser(name: &str, url: &str, profile: &Path) -> Option<tokio::process::Command> {
    let find = |paths: &[&str]| paths.iter().map(PathBuf::from).find(|p| p.is_file());
    let mut command = match name {
        "chromium" => {
            let mut c = tokio::process::Command::new(find(&["/usr/bin/chromium"])?);
            c.args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
            ])
            .args(["--no-first-run", "--disable-background-networking"])
            .args([
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
            ])
            .arg("--autoplay-policy=no-user-gesture-required")
            .arg(format!("--user-data-dir={}", profile.display()));
            c
        }
        _ => {
            let prefs = [
                ("media.autoplay.default", "0"),
                ("media.autoplay.blocking_policy", "0"),
                ("app.update.enabled", "false"),
                ("browser.shell.checkDefaultBrowser", "false"),
                ("datareporting.policy.dataSubmissionEnabled", "false"),
                ("network.captive-portal-service.enabled", "false"),
                ("network.connectivity-service.enabled", "false"),
                ("browser.safebrowsing.update.enabled", "false"),
                ("extensions.update.enabled", "false"),
            ];
            let user_js: String = (prefs.iter())
                .map(|(k, v)| format!("user_pref(\"{k}\", {v});\n"))
                .collect();
            std::fs::write(profile.join("user.js"), user_js).unwrap();
            let mut c = tokio::process::Command::new(find(&["/usr/bin/firefox-esr"])?);
            c.args(["--headless", "--no-remote", "--profile"])
                .arg(profile);
            c
        }
    };
    command
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    Some(command)
}

/// Plays `clip` in `name` (chromium or firefox): what its page reported, or `None` when the
/// browser is not installed.
async fn play(name: &str, site: &Path) -> Option<String> {
    let (sender, mut results) = tokio::sync::mpsc::channel(4);
    let address = player_server(site, sender).await;
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{address}/player.html");
    let mut child = browser(name, &url, profile.path())?.spawn().unwrap();
    // Real time, bounded: the clip plays for 6 s; the page reports once it has drawn.
    let reported = tokio::time::timeout(Duration::from_secs(90), results.recv()).await;
    let _ = child.kill().await;
    Some(match reported {
        Ok(Some(result)) => result,
        _ => "nothing within 90 s".to_owned(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_clip_plays_through_in_chromium_and_firefox() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), "closed.mp4", "b-pyramid=normal");
    let options = smart_options(&dir.path().join("out"), "fixed:1:6:3");
    let report = clipbench_engine::run(&input, &options, &Default::default(), &|_| {}).unwrap();
    // Clip 2 (3–9 s): a head to 1 s, the copy from 1 s to 5 s, a foot after.
    let clip = &report.clips[1];
    assert_eq!((clip.kind, &clip.fallback), (TaskKind::Assemble, &None));
    let joined = clip.path.clone().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::copy(&joined, site.join("clip.mp4")).unwrap();
    std::fs::write(site.join("player.html"), PLAYER).unwrap();
    let args = ["-select_streams", "v:0", "-count_frames"];
    let entries = ["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"];
    let frames: u64 = ffprobe(&[&args[..], &entries[..]].concat(), &joined)
        .trim()
        .parse()
        .unwrap();
    for name in ["chromium", "firefox"] {
        let Some(result) = play(name, &site).await else {
            eprintln!("skipping {name}: not installed (.ci/setup --with-browser installs it)");
            continue;
        };
        eprintln!("{name}: {result} of {frames} frames");
        assert!(
            result.starts_with("done "),
            "{name}: the page said: {result}"
        );
        let said: HashMap<&str, &str> = (result["done ".len()..].split_whitespace())
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let presented: u64 = said["presented"].parse().unwrap();
        assert!(
            presented * 100 >= frames * 95,
            "{name}: {presented} of {frames} frames presented"
        );
        let last: f64 = said["last"].parse().unwrap();
        assert!(
            last > 5.8,
            "{name}: the last frame shown was at {last} s of 6"
        );
        for spread in said["spreads"].split(',') {
            let spread: u32 = spread.parse().unwrap();
            assert!(spread > 50, "{name}: a blank frame: {result}");
        }
    }
}
