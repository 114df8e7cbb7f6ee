//! The harness end to end: the `clipbench` binary against the in-process engine and the
//! engine's HTTP server (the `clipbench-engine serve` binary) on an ephemeral 127.0.0.1 port, on
//! a tiny sample it builds itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MANIFEST: &str = r#"
schema_version = 1

[[sample]]
name = "tiny"
file = "tiny.mp4"
description = "4 s of testsrc2 160x90 25 fps with a sine tone"
args = ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2"]
expect = { duration = 4.0, width = 160, height = 90, fps = 25.0, audio = true }
"#;

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        Bench::with_manifest(MANIFEST)
    }

    fn with_manifest(manifest: &str) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/manifest.toml"), manifest).unwrap();
        Bench { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn config(&self, body: &str) -> PathBuf {
        let path = self.path("clipbench.toml");
        std::fs::write(&path, body).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clipbench"));
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }

    fn clipbench(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The report folder of the last run (what `latest` points at).
    fn latest(&self) -> PathBuf {
        std::fs::canonicalize(self.path("reports/latest")).unwrap()
    }
}

/// A `clipbench-engine serve` process, stopped (SIGTERM, then killed) when dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `clipbench-engine` binary, built beside `clipbench` by `cargo test --workspace` (the
/// harness does not link the server: it talks to it over HTTP, as to any backend).
fn engine_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_clipbench")).with_file_name("clipbench-engine");
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, or build it first with \
         `cargo build -p clipbench-engine-cli --bin clipbench-engine`",
        path.display()
    );
    path
}

/// The engine's HTTP server (the real binary) on an ephemeral port in the dialect of `compat`
/// (`original` or `optimized`), until the returned guard is dropped.
fn engine_server(workdir: &Path, compat: &str) -> (Served, String) {
    engine_server_with_key(workdir, compat, None)
}

/// [`engine_server`] that answers only callers with `api_key`.
fn engine_server_with_key(workdir: &Path, compat: &str, api_key: Option<&str>) -> (Served, String) {
    use std::io::BufRead;
    let mut command = Command::new(engine_binary());
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--compat", compat])
        .arg("--workdir")
        .arg(workdir)
        // Clips of 2 s, and the samples come from the harness's loopback file server.
        .args(["--policy", "fixed:1:2:2", "--allow-private-urls"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(key) = api_key {
        command.args(["--api-key", key]);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    // "listening on http://ADDRESS (work folder …)"; the pipe closes if the server fails.
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let base = line
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the server did not start: {line:?}"))
        .to_owned();
    (served, base)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader.records().map(|r| r.unwrap()).collect()
}

fn column(path: &Path, name: &str) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let index = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap();
    reader
        .records()
        .map(|r| r.unwrap()[index].to_owned())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

/// Two HTTP targets found by detection alone (`optimized_base` and `original_base` are our
/// server in each compat mode), one whose preset names another server than the one there, and
/// one that is down.
fn config_with_servers(optimized_base: &str, original_base: &str) -> String {
    format!(
        r#"
[run]
samples = ["tiny"]
runs = 3
seed = 11
baseline = "serial"
poll_interval_ms = 20

[[target]]
name = "serial"
kind = "engine"
strategy = "serial"
policy = "fixed:1:2:2"

[[target]]
name = "auto"
kind = "engine"
strategy = "auto"
policy = "fixed:1:2:2"

[[target]]
name = "served"
kind = "http"
base_url = "{optimized_base}"

[[target]]
name = "served-original"
kind = "http"
base_url = "{original_base}"

[[target]]
name = "wrong"
kind = "http"
preset = "original"
base_url = "{optimized_base}"

[[target]]
name = "down"
kind = "http"
preset = "original"
base_url = "http://127.0.0.1:1"
"#
    )
}

#[test]
fn a_full_run_writes_agreeing_reports_and_check_gates() {
    let bench = Bench::new();
    let (_server, base) = engine_server(&bench.path("serve"), "optimized");
    let (_other, original_base) = engine_server(&bench.path("serve-original"), "original");
    let config = bench.config(&config_with_servers(&base, &original_base));
    let out = bench.clipbench(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--manifest",
        "data/manifest.toml",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("skipped down"), "{stderr}");
    assert!(
        stderr.contains("skipped wrong")
            && stderr
                .contains("is clipbench-engine serve (compat optimized), not the original backend"),
        "{stderr}"
    );
    let dir = bench.latest();
    // The hyperfine-style line says what the results say: faster when the speed-up is ≥ 1.
    let summaries = read_json(&dir.join("results.json"))["summaries"].clone();
    let mut lines = 0;
    for cell in summaries.as_array().unwrap() {
        let speedup = cell["speedup_vs_baseline"]["value"].as_f64();
        let Some(speedup) = speedup.filter(|_| cell["target"] != "serial") else {
            continue;
        };
        lines += 1;
        let word = if speedup >= 1.0 { "faster" } else { "slower" };
        let line = format!("{} on tiny ran ", cell["target"].as_str().unwrap());
        let printed = stdout.lines().find(|l| l.starts_with(&line)).unwrap();
        assert!(
            printed.ends_with(&format!("times {word} than serial")),
            "{printed} ({speedup})"
        );
    }
    assert_eq!(lines, 3, "{stdout}");

    // runs.csv: targets × samples × runs rows (the wrong and down targets are skipped), all ok.
    let runs = csv_rows(&dir.join("runs.csv"));
    assert_eq!(runs.len(), 4 * 3);
    assert!(column(&dir.join("runs.csv"), "status")
        .iter()
        .all(|s| s == "ok"));

    // results.json is valid against the schema and agrees with the CSV files.
    let results = read_json(&dir.join("results.json"));
    let schema: Value = serde_json::from_str(clipbench::export::json::RESULTS_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&results)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(results["runs"].as_array().unwrap().len(), 12);
    let skipped: Vec<&str> = results["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["target"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["wrong", "down"]);
    // What detection found, and where each HTTP figure came from.
    let dialects = results["dialects"].as_array().unwrap();
    assert_eq!(dialects.len(), 2);
    for (dialect, compat) in dialects.iter().zip(["optimized", "original"]) {
        assert_eq!(dialect["flavor"], "clipbench", "{dialect}");
        assert_eq!(dialect["compat"], compat, "{dialect}");
        assert_eq!(dialect["generate_path"], "/generate_shorts", "{dialect}");
        assert_eq!(dialect["cleanup_path"], "/cleanup", "{dialect}");
        let counter = if compat == "original" {
            "started"
        } else {
            "finished"
        };
        assert_eq!(dialect["current_clip"], counter, "{dialect}");
    }
    // A tiny job can end between two polls: no reading then shows a clip finished, and its time
    // to first clip is left unknown rather than guessed. Most runs are seen.
    let http_runs: Vec<&Value> = results["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "http")
        .collect();
    let seen = http_runs
        .iter()
        .filter(|r| !r["time_to_first_clip_s"].is_null())
        .count();
    assert!(
        2 * seen >= http_runs.len(),
        "{seen} of {} runs",
        http_runs.len()
    );
    for run in results["runs"].as_array().unwrap() {
        if run["kind"] == "http" {
            if let Some(ttfc) = run["time_to_first_clip_s"].as_f64() {
                assert!(
                    ttfc > 0.0 && ttfc <= run["wall_s"].as_f64().unwrap(),
                    "{run}"
                );
                let source = run["ttfc_source"].as_str().unwrap();
                assert!(source.contains("clipbench.clips_finished"), "{run}");
            } else {
                assert!(run["ttfc_source"].is_null(), "{run}");
            }
            assert_eq!(run["workers_source"], "progress clipbench.workers", "{run}");
            assert!(run["workers"].as_u64().unwrap() >= 1, "{run}");
        } else {
            assert!(run["ttfc_source"].is_null(), "{run}");
        }
        assert!(run["realtime_factor"].as_f64().unwrap() > 0.0, "{run}");
    }
    let ffmpeg = results["machine"]["ffmpeg_version"].as_str().unwrap();
    assert!(
        ffmpeg.chars().next().is_some_and(|c| c.is_ascii_digit()) && !ffmpeg.contains("Copyright"),
        "{ffmpeg}"
    );
    let commit = results["machine"]["git_commit"].as_str().unwrap();
    assert!(commit.len() >= 10 && commit != "unknown", "{commit}");

    let summary_targets = column(&dir.join("summary.csv"), "target");
    let summary_medians = column(&dir.join("summary.csv"), "wall_median_s");
    assert_eq!(summary_targets.len(), 4);
    let run_targets = column(&dir.join("runs.csv"), "target");
    let run_walls = column(&dir.join("runs.csv"), "wall_s");
    let markdown = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for (target, median_text) in summary_targets.iter().zip(&summary_medians) {
        let from_runs = median(
            run_targets
                .iter()
                .zip(&run_walls)
                .filter(|(t, _)| *t == target)
                .map(|(_, w)| w.parse().unwrap())
                .collect(),
        );
        let from_csv: f64 = median_text.parse().unwrap();
        let from_json = results["summaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["target"] == target.as_str())
            .unwrap()["wall"]["median"]
            .as_f64()
            .unwrap();
        assert!((from_runs - from_csv).abs() < 1e-9 && (from_csv - from_json).abs() < 1e-9);
        let shown = format!("| {target} | tiny | 3 | {from_csv:.2} [");
        assert!(markdown.contains(&shown), "{shown} not in\n{markdown}");
        assert!(html.contains(&format!("<td>{target}</td><td>tiny</td>")));
    }
    // No empty panel: the scaling chart needs a worker sweep, which this run has not.
    assert!(!html.contains("no data in this run"));
    assert!(!dir.join("scaling-tiny.svg").exists() && !html.contains("id=\"scaling-"));
    // One section per sample, with that sample's charts.
    assert!(html.contains("<h2>tiny</h2>"));
    for chart in [
        "wall-tiny",
        "speedup-tiny",
        "ttfc-tiny",
        "cpu-tiny",
        "gantt-tiny",
    ] {
        let svg = std::fs::read_to_string(dir.join(format!("{chart}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && html.contains(&format!("<figure id=\"{chart}\"><svg")));
        assert!(
            std::fs::metadata(dir.join(format!("{chart}.png")))
                .unwrap()
                .len()
                > 1000
        );
    }

    assert!(
        markdown.contains(
            "- served-original: clipbench-engine serve (compat original) at http://127.0.0.1:"
        ),
        "{markdown}"
    );
    assert!(html.contains("<h2>Where the figures come from</h2>"));

    // `report` re-renders the same files from results.json.
    let before = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    std::fs::remove_file(dir.join("summary.md")).unwrap();
    std::fs::remove_file(dir.join("index.html")).unwrap();
    let out = bench.clipbench(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.join("summary.md")).unwrap(),
        before
    );
    assert!(dir.join("index.html").exists());

    // `check`: an improvement against a baseline made twice as slow on purpose, a regression
    // against one made twice as fast. The walls are set to a known, tight spread first: three
    // runs on a shared CI machine can spread by 3x, and the gate is right to call that
    // inconclusive (gate.rs unit-tests the verdicts on wide intervals).
    let mut steady = results.clone();
    for (i, run) in steady["runs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        run["wall_s"] = Value::from(1.0 + 0.02 * (i % 3) as f64);
    }
    let current = bench.path("steady.json");
    std::fs::write(&current, serde_json::to_string(&steady).unwrap()).unwrap();
    for (factor, verdict, code) in [(2.0, "Improved", 0), (0.5, "Regressed", 1)] {
        let mut baseline = steady.clone();
        for run in baseline["runs"].as_array_mut().unwrap() {
            let wall = run["wall_s"].as_f64().unwrap();
            run["wall_s"] = Value::from(wall * factor);
        }
        let path = bench.path(&format!("baseline-{factor}.json"));
        std::fs::write(&path, serde_json::to_string(&baseline).unwrap()).unwrap();
        let out = bench.clipbench(&[
            "check",
            "--baseline",
            path.to_str().unwrap(),
            "--current",
            current.to_str().unwrap(),
        ]);
        let table = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{table}");
        let verdicts = table.matches(verdict).count();
        assert_eq!(verdicts, 4, "every cell {verdict}: {table}");
    }
    // Results from another machine are refused unless --force.
    let mut elsewhere = steady.clone();
    elsewhere["machine"]["cpu_model"] = Value::from("Another CPU");
    let other = bench.path("elsewhere.json");
    std::fs::write(&other, serde_json::to_string(&elsewhere).unwrap()).unwrap();
    let out = bench.clipbench(&[
        "check",
        "--baseline",
        other.to_str().unwrap(),
        "--current",
        current.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different machines"));
    let out = bench.clipbench(&[
        "check",
        "--force",
        "--baseline",
        other.to_str().unwrap(),
        "--current",
        current.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));

    if let Some(chromium) = which_chromium() {
        assert_renders(&chromium, &dir.join("index.html"), &bench.path("shot.png"));
    } else {
        eprintln!("skipping the browser check: chromium is not installed (.ci/run installs it)");
    }
}

fn which_chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Opens the page in headless Chromium and checks the screenshot is not blank.
fn assert_renders(chromium: &Path, page: &Path, shot: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1200,1600", "--hide-scrollbars"])
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "chromium failed");
    let decoder = png::Decoder::new(std::fs::File::open(shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let pixels = &pixels[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> =
        pixels.chunks(info.color_type.samples()).collect();
    let non_white = pixels
        .chunks(info.color_type.samples())
        .filter(|p| p.iter().take(3).any(|c| *c < 200))
        .count();
    assert!(
        distinct.len() > 20,
        "the screenshot has {} colours: blank page",
        distinct.len()
    );
    assert!(
        non_white > 5000,
        "only {non_white} dark pixels: the plots did not render"
    );
}

#[test]
fn an_interrupted_run_keeps_its_finished_rows() {
    let bench = Bench::new();
    let config = bench.config(
        "[run]\nsamples = [\"tiny\"]\nruns = 200\n\n[[target]]\nname = \"serial\"\nkind = \"engine\"\nstrategy = \"serial\"\npolicy = \"fixed:1:2:2\"\n",
    );
    let mut child = bench
        .command(&[
            "run",
            "--quiet",
            "--config",
            config.to_str().unwrap(),
            "--manifest",
            "data/manifest.toml",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let runs_csv = loop {
        assert!(Instant::now() < deadline, "no runs.csv rows in time");
        let found = std::fs::read_dir(bench.path("reports")).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path().join("runs.csv"))
                .find(|p| p.exists())
        });
        if let Some(path) = found.filter(|p| csv_rows(p).len() >= 2) {
            break path;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let rows = csv_rows(&runs_csv);
    assert!(rows.len() >= 2 && rows.len() < 200);
    let results = read_json(&runs_csv.with_file_name("results.json"));
    assert_eq!(results["interrupted"], true);
    assert_eq!(
        results["runs"].as_array().unwrap().len(),
        rows.len(),
        "every finished run is reported"
    );
}

#[test]
fn ab_of_two_servers_and_a_calibrated_check() {
    let bench = Bench::new();
    let (_a, base) = engine_server(&bench.path("serve-a"), "optimized");
    let (_b, candidate) = engine_server(&bench.path("serve-b"), "original");
    // As in a CI job: the verdict also goes to the job summary GitHub shows.
    let summary = bench.path("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = bench
        .command(&[
            "ab",
            &format!("http:{base}"),
            &format!("http:{candidate}"),
            "--samples",
            "tiny",
            "--rounds",
            "3",
            "--seed",
            "4",
            "--manifest",
            "data/manifest.toml",
            "--ci",
        ])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("(3 rounds):"),
        "every round judged: {stdout}"
    );
    assert!(stdout.contains("detectable"), "{stdout}");
    let dir = bench.latest();
    let ab = read_json(&dir.join("ab.json"));
    assert_eq!(ab["verdicts"][0]["rounds"], 3);
    let verdict = std::fs::read_to_string(dir.join("ab-verdict.md")).unwrap();
    assert!(verdict.starts_with("## clipbench ab"), "{verdict}");
    // Regressed when wall time or W (where both servers report it) regressed.
    let verdicts = &ab["verdicts"][0];
    let regressed = verdicts["change"]["verdict"] == "regressed"
        || verdicts["cpu_change"]["verdict"] == "regressed";
    assert_eq!(verdict.contains("regression(s)"), regressed, "{verdict}");
    assert_eq!(
        out.status.code(),
        Some(i32::from(regressed)),
        "exit 1 on a regression"
    );
    assert!(verdict.contains("| tiny | 3 | wall |"), "{verdict}");
    // Both servers' runs are in the history beside the reports.
    let history = bench.clipbench(&["history", "--history", "reports/history.sqlite", "--json"]);
    let series: Value = serde_json::from_slice(&history.stdout).unwrap();
    let targets: Vec<&str> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), 2, "{series}");
    let appended = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(appended, format!("earlier step\n{verdict}"));
    assert_eq!(ab["base"]["Http"]["url"], base.as_str());
    // ABBA: 3 rounds × 2 runs per side, in blocks of A B B A or B A A B.
    let runs = read_json(&dir.join("results.json"))["runs"].clone();
    let targets: Vec<String> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(targets.len(), 12);
    for block in targets.chunks(4) {
        assert!(
            block[0] == block[3] && block[1] == block[2] && block[0] != block[1],
            "{block:?}"
        );
    }

    // calibrate writes the spread and drift that check then reports (./clipbench.toml's target).
    bench.config(
        "[[target]]\nname = \"serial\"\nkind = \"engine\"\nstrategy = \"serial\"\npolicy = \"fixed:1:2:2\"\n",
    );
    let out = bench.clipbench(&[
        "calibrate",
        "--target",
        "serial",
        "--sample",
        "tiny",
        "--runs",
        "6",
        "--block",
        "3",
        "--manifest",
        "data/manifest.toml",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calibration = read_json(&bench.path("reports/calibration.json"));
    assert_eq!(calibration["runs"], 6);
    assert!(calibration["spread"].as_f64().unwrap() > 0.0);
    let current = bench.latest().join("results.json");
    let out = bench.clipbench(&[
        "check",
        "--baseline",
        current.to_str().unwrap(),
        "--current",
        current.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("drift between sessions"), "{stdout}");
    // The same runs against themselves: never a change (unchanged, or inconclusive when six
    // tiny runs resolve less than 10 %).
    assert!(
        !stdout.contains("Regressed") && !stdout.contains("Improved"),
        "{stdout}"
    );
}

#[test]
fn a_command_target_and_a_sweep() {
    let bench = Bench::new();
    let config = bench.config(
        r#"[run]
samples = ["tiny"]
runs = 1

[[target]]
name = "engine"
kind = "engine"
strategy = "auto"
policy = "fixed:1:2:2"

[[target]]
name = "plain-ffmpeg"
kind = "command"
command = ["ffmpeg", "-v", "error", "-y", "-i", "{input}", "-c:v", "libx264", "-preset", "ultrafast", "{outdir}/whole.mp4"]

[[target]]
name = "missing-tool"
kind = "command"
command = ["definitely-not-installed-tool", "{input}"]
"#,
    );
    let out = bench.clipbench(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--manifest",
        "data/manifest.toml",
        "--sweep",
        "workers=1..2",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<&str> = results["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"plain-ffmpeg")
            && targets.contains(&"workers-1")
            && targets.contains(&"workers-2")
    );
    assert_eq!(results["skipped"][0]["target"], "missing-tool");
    let sweep: Vec<u64> = results["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["sweep_workers"].as_u64())
        .collect();
    assert_eq!(sweep.len(), 2);
    // A sweep has its scaling chart.
    let html = std::fs::read_to_string(bench.latest().join("index.html")).unwrap();
    assert!(bench.latest().join("scaling-tiny.svg").exists());
    assert!(html.contains("<figure id=\"scaling-tiny\"><svg"));
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let bench = Bench::new();
    for args in [
        vec!["run", "--config", "nope.toml"],
        vec![
            "run",
            "--targets",
            "nosuch",
            "--manifest",
            "data/manifest.toml",
        ],
        vec![
            "run",
            "--samples",
            "nosuch",
            "--targets",
            "engine:serial",
            "--manifest",
            "data/manifest.toml",
        ],
        vec![
            "check",
            "--baseline",
            "missing.json",
            "--current",
            "missing.json",
        ],
        vec!["report", "nowhere"],
    ] {
        let out = bench.clipbench(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
    }
}

/// Samples shaped like real downloads: variable frame rate, VP9 with Opus.
const REAL_WORLD: &str = r#"
schema_version = 1

[[sample]]
name = "vfr"
file = "vfr.mp4"
description = "8 s of H.264 + AAC whose frame rate halves after 4 s"
args = ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "8", "-vf", "setpts='if(lt(T,4),PTS,4/TB+(PTS-4/TB)*2)'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2"]
expect = { duration = 8.0, width = 160, height = 90, fps = 18.844, audio = true }

[[sample]]
name = "vp9"
file = "vp9.mp4"
description = "4 s of VP9 + Opus"
args = ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", "4", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "50", "-c:a", "libopus"]
expect = { duration = 4.0, width = 160, height = 90, fps = 25.0, audio = true }
"#;

#[test]
fn real_world_samples_through_every_engine_mode_and_the_server() {
    let bench = Bench::with_manifest(REAL_WORLD);
    let (_server, base) = engine_server(&bench.path("serve"), "optimized");
    let config = bench.config(&format!(
        r#"
[run]
samples = ["vfr", "vp9"]
runs = 1
warmup = 0

[[target]]
name = "copy"
kind = "engine"
strategy = "auto"
profile = "copy"
policy = "adaptive"

[[target]]
name = "reuse"
kind = "engine"
strategy = "auto"
policy = "fixed:1:2:2"
reuse_overlaps = true

[[target]]
name = "served"
kind = "http"
dialect = "clipbench"
base_url = "{base}"
"#
    ));
    let out = bench.clipbench(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--manifest",
        "data/manifest.toml",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let results = read_json(&bench.latest().join("results.json"));
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3 * 2);
    for run in runs {
        assert_eq!(run["status"], "ok", "{run}");
        assert_eq!(run["clips_valid"], run["clips"], "{run}");
    }
}

#[test]
fn batch_mode_keeps_k_jobs_in_flight_and_reports_jobs_per_hour() {
    let bench = Bench::new();
    let video = bench.path("data/tiny.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90:rate=25",
        ])
        .args(["-t", "4", "-c:v", "libx264", "-preset", "ultrafast"])
        .arg(&video)
        .status()
        .unwrap();
    assert!(made.success());
    let (_server, base) = engine_server(&bench.path("serve"), "optimized");
    let out = bench.clipbench(&[
        "batch",
        "--base",
        &base,
        "--input",
        "data/tiny.mp4",
        "--jobs",
        "3",
        "--concurrency",
        "1,3",
        "--out",
        "batches",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The batch's own folder (beside it the folder may hold other files, listed in any order).
    let folder = std::fs::read_dir(bench.path("batches"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.join("batch.json").is_file())
        .unwrap();
    let report = read_json(&folder.join("batch.json"));
    let levels = report["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2, "{report}");
    for (level, k) in levels.iter().zip([1, 3]) {
        assert_eq!(level["concurrency"], k);
        assert_eq!(
            (level["jobs"].as_u64(), level["ok"].as_u64()),
            (Some(3), Some(3))
        );
        let wall = level["wall_s"].as_f64().unwrap();
        let per_hour = level["jobs_per_hour"].as_f64().unwrap();
        assert!((per_hour - 3.0 * 3600.0 / wall).abs() < 1e-6, "{level}");
    }
    // With 3 in flight every job is sent at once (the local server queues them): their send
    // times are within a moment of each other; with 1, each waits for the one before.
    let sent = |k: u64| -> Vec<f64> {
        report["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["concurrency"] == k)
            .map(|j| j["sent_s"].as_f64().unwrap())
            .collect()
    };
    let (one, three) = (sent(1), sent(3));
    assert!(three.iter().all(|s| *s < one[1]), "{one:?} {three:?}");
    assert!(
        one[1] >= report["jobs"][0]["wall_s"].as_f64().unwrap() * 0.99,
        "{one:?}"
    );
    // Every job is in the history: one series per level, its three jobs at this build's commit.
    let history = bench.clipbench(&["history", "--history", "batches/history.sqlite", "--json"]);
    let series: Value = serde_json::from_slice(&history.stdout).unwrap();
    let series = series.as_array().unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    assert!(
        series
            .iter()
            .all(|s| s["points"].as_array().is_some_and(|p| p
                .iter()
                .map(|p| p["runs"].as_u64().unwrap())
                .sum::<u64>()
                == 3)
                || s["left_out"]["dirty"] == 3),
        "{series:?}"
    );
    assert!(stdout.contains("| 3 | 3 | 3 | 0 |"), "{stdout}");
    let unreachable = bench.clipbench(&[
        "batch",
        "--base",
        "http://127.0.0.1:9",
        "--input",
        "data/tiny.mp4",
    ]);
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("does not answer"));
}

#[test]
fn a_server_with_an_api_key_is_measured_with_the_key_from_the_environment() {
    let bench = Bench::new();
    let key = "e2e-key-0123456789abcdef";
    let (_server, base) = engine_server_with_key(&bench.path("serve"), "optimized", Some(key));
    let config = bench.config(&format!(
        r#"
[run]
samples = ["tiny"]
runs = 1
poll_interval_ms = 20

[[target]]
name = "guarded"
kind = "http"
base_url = "{base}"
api_key_env = "E2E_SERVER_KEY"
"#
    ));
    let args = [
        "run",
        "--config",
        config.to_str().unwrap(),
        "--manifest",
        "data/manifest.toml",
    ];
    let without = bench.clipbench(&args);
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        stderr.contains("api_key_env E2E_SERVER_KEY is not set"),
        "{stderr}"
    );
    let with = bench
        .command(&args)
        .env("E2E_SERVER_KEY", key)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert_eq!(with.status.code(), Some(0), "{stderr}");
    let results = std::fs::read_to_string(bench.latest().join("results.json")).unwrap();
    let parsed: Value = serde_json::from_str(&results).unwrap();
    assert_eq!(parsed["runs"][0]["status"], "ok", "{}", parsed["runs"][0]);
    assert!(!results.contains(key), "the key is never recorded");
}

/// A results.json of `commits` commits of target `auto` on sample `s`, three runs each, 5 s
/// (±0.5 %) and `step` slower from commit `from` on; each in its own folder under `dir`.
fn recorded_history(bench: &Bench, commits: usize, from: usize, step: f64) -> Vec<String> {
    let template = read_json(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/two-targets.json"
    )));
    (0..commits)
        .map(|c| {
            let mut results = template.clone();
            results["created_at"] = Value::from(format!("2026-11-{:02}T10:00:00Z", c + 1));
            results["machine"]["git_commit"] = Value::from(format!("{:010x}", 0xc0 + c));
            let run = template["runs"][0].clone();
            let runs: Vec<Value> = (0..3)
                .map(|k| {
                    let mut r = run.clone();
                    let level = if c >= from { 1.0 + step } else { 1.0 };
                    let jitter = 1.0 + 0.005 * ((c * 3 + k) % 3) as f64 - 0.005;
                    r["target"] = Value::from("auto");
                    r["sample"] = Value::from("s");
                    r["run"] = Value::from(k + 1);
                    r["status"] = Value::from("ok");
                    r["wall_s"] = Value::from(5.0 * level * jitter);
                    r["work_cpu_s"] = Value::from(9.0 * level * jitter);
                    r["started_at"] = Value::from(format!("2026-11-{:02}T10:00:0{k}Z", c + 1));
                    r
                })
                .collect();
            results["runs"] = Value::from(runs);
            let dir = bench.path(&format!("recorded/{c:02}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("results.json"), results.to_string()).unwrap();
            dir.display().to_string()
        })
        .collect()
}

#[test]
fn history_imports_reports_and_flags_the_newest_regression() {
    let bench = Bench::new();
    let folders = recorded_history(&bench, 12, 8, 0.20);
    let mut import = vec!["history", "import"];
    import.extend(folders.iter().map(String::as_str));
    let out = bench.clipbench(&import);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("12 folder(s) added, 0 already there"),
        "{stdout}"
    );
    let again = bench.clipbench(&["history", "import", &folders[0]]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already in the history"));

    let out = bench.clipbench(&["history"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a 20 % slowdown is newest: {stdout}"
    );
    assert!(stdout.contains("12 commit(s)"), "{stdout}");
    assert!(
        stdout.contains("wall +20.0% between 00000000c7 and 00000000c8"),
        "{stdout}"
    );
    assert!(stdout.contains("REGRESSION"), "{stdout}");
    let lenient = bench.clipbench(&["history", "--threshold", "50%"]);
    assert_eq!(lenient.status.code(), Some(0));
    let json = bench.clipbench(&["history", "--json", "--target", "auto"]);
    let series: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(series[0]["points"].as_array().unwrap().len(), 12);
    assert_eq!(series[0]["changes"][0]["first_after"], "00000000c8");

    // The newest report re-rendered with its history: the trend and the news on the front.
    let newest = folders.last().unwrap();
    let out = bench.clipbench(&["report", newest, "--history", "reports/history.sqlite"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("history: auto on s: newest change +20.0%"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(Path::new(newest).join("index.html")).unwrap();
    assert!(page.contains("<h2>History</h2>"), "the news on the front");
    assert!(
        page.contains("<figure id=\"trend-auto-s\">"),
        "the trend in its sample"
    );
    let summary = std::fs::read_to_string(Path::new(newest).join("summary.md")).unwrap();
    assert!(
        summary.contains("## History\n\n- auto on s: newest change +20.0%"),
        "{summary}"
    );
    if let Some(chromium) = which_chromium() {
        let page = Path::new(newest).join("index.html");
        assert_renders(&chromium, &page, &bench.path("trend.png"));
    }

    // --since and --machine select; a machine that measured nothing selects nothing.
    let since = bench.clipbench(&["history", "--json", "--since", "2026-11-10"]);
    let series: Value = serde_json::from_slice(&since.stdout).unwrap();
    assert_eq!(series[0]["points"].as_array().unwrap().len(), 3, "{series}");
    let epyc = bench.clipbench(&["history", "--json", "--machine", "epyc"]);
    let series: Value = serde_json::from_slice(&epyc.stdout).unwrap();
    assert_eq!(series[0]["points"].as_array().unwrap().len(), 12);
    let elsewhere = bench.clipbench(&["history", "--machine", "a-cray"]);
    assert_eq!(elsewhere.status.code(), Some(2));

    let out = bench.clipbench(&["history", "--target", "nothing-like-it"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: no measurement in"), "{stderr}");
    let out = bench.clipbench(&["history", "--history", "nowhere.sqlite"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: no history at nowhere.sqlite"));
    assert!(
        !bench.path("nowhere.sqlite").exists(),
        "reading creates nothing"
    );
    let out = bench.clipbench(&["history", "import", "no-such-folder"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn over_a_shaped_link_every_target_pays_the_download() {
    let bench = Bench::new();
    // The run's own link (--link) for every sample, and a sample with its own (`@LINK`) beside
    // the loopback one.
    let config = bench.config(
        "[run]\nsamples = [\"tiny\"]\nruns = 1\n\n[[target]]\nname = \"serial\"\nkind = \"engine\"\nstrategy = \"serial\"\n\n[[target]]\nname = \"copy\"\nkind = \"command\"\ncommand = [\"cp\", \"{input}\", \"{outdir}/copy.mp4\"]\n",
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--config",
            config.to_str().unwrap(),
            "--manifest",
            "data/manifest.toml",
            "--no-history",
        ];
        args.extend(extra);
        let out = bench.clipbench(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        (read_json(&bench.latest().join("results.json")), stderr)
    };
    let (whole, stderr) = run(&["--link", "2mbit,20ms"]);
    assert!(
        stderr.contains(
            "tiny: every target gets it over a shaped link, 2mbit,20ms (2 Mbit/s, 20 ms)"
        ),
        "{stderr}"
    );
    assert_eq!(whole["link"]["rate_bits_per_s"], 2e6);
    let schema: Value = serde_json::from_str(clipbench::export::json::RESULTS_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(
        validator.is_valid(&whole),
        "results.json with a link fits its schema"
    );
    let summary = std::fs::read_to_string(bench.latest().join("summary.md")).unwrap();
    assert!(summary.contains("- link: every target got the samples over 2mbit,20ms"));
    let (rows, _) = run(&["--samples", "tiny,tiny@2mbit"]);
    let size = std::fs::metadata(bench.path("data/tiny.mp4"))
        .unwrap()
        .len() as f64;
    // No download can beat the link: size / rate, less the bucket's first 16 KiB.
    let least = (size - 16384.0).max(0.0) / 250_000.0;
    let shaped: Vec<&Value> = whole["runs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(
            rows["runs"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["sample"] == "tiny@2mbit"),
        )
        .collect();
    assert_eq!(shaped.len(), 4);
    for run in shaped {
        let download = run["download_s"].as_f64().unwrap();
        assert!(download >= least, "{download} < {least}: {run}");
        assert!(run["wall_s"].as_f64().unwrap() >= download, "{run}");
        assert_eq!(run["status"], "ok", "{run}");
    }
    let loopback: Vec<&Value> = rows["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["sample"] == "tiny")
        .collect();
    assert_eq!(loopback.len(), 2);
    assert!(
        loopback.iter().all(|r| r["download_s"].is_null()),
        "{loopback:?}"
    );
    let out = bench.clipbench(&["run", "--link", "warp-speed", "--no-history"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RATE[,LATENCY]"));
}
