//! Golden tests: every exporter renders the fixture `tests/fixtures/two-targets.json` to the
//! bytes kept in `tests/golden/`. A change to a format shows up here as a diff to review; after
//! reviewing it, `UPDATE_GOLDEN=1 cargo test -p clipbench --lib golden` rewrites the files.
//! Charts are left out of the page (they are tested in `plots`).

use std::path::PathBuf;

use super::*;
use crate::record::CellSummary;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every file each exporter but the plots makes from the fixture.
fn rendered() -> Vec<(String, Vec<u8>)> {
    let fixture = include_str!("../../tests/fixtures/two-targets.json");
    let results: Results = serde_json::from_str(fixture).unwrap();
    let report = Report {
        results: &results,
        history: &[],
        charts: Vec::new(),
    };
    let exporters: [Box<dyn Exporter>; 5] = [
        Box::new(csv::RunsTable),
        Box::new(csv::SummaryTable),
        Box::new(json::ResultsJson),
        Box::new(markdown::SummaryMarkdown),
        Box::new(html::IndexHtml),
    ];
    exporters
        .iter()
        .flat_map(|e| e.files(&report).unwrap())
        .filter(|(name, _)| name != "results.schema.json")
        .collect()
}

#[test]
fn golden_every_exporter_renders_the_fixture_as_kept() {
    let files = rendered();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "runs.csv",
            "summary.csv",
            "results.json",
            "summary.md",
            "index.html"
        ]
    );
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, bytes) in files {
        let path = golden_dir().join(&name);
        if update {
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let kept = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        if kept != bytes {
            let (kept, made) = (
                String::from_utf8_lossy(&kept),
                String::from_utf8_lossy(&bytes),
            );
            let line = kept
                .lines()
                .zip(made.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| kept.lines().count().min(made.lines().count()));
            panic!(
                "{name} differs from {} at line {}:\n kept: {:?}\n made: {:?}\n(review, then \
                 UPDATE_GOLDEN=1 to accept)",
                path.display(),
                line + 1,
                kept.lines().nth(line),
                made.lines().nth(line)
            );
        }
    }
}

#[test]
fn golden_results_json_reads_back_as_the_fixture() {
    let fixture: Results =
        serde_json::from_str(include_str!("../../tests/fixtures/two-targets.json")).unwrap();
    let kept = std::fs::read(golden_dir().join("results.json")).unwrap();
    let back: Results = serde_json::from_slice(&kept).unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&fixture).unwrap()
    );
}

#[test]
fn the_answer_names_the_fastest_its_ratios_and_the_minute() {
    let fixture = include_str!("../../tests/fixtures/two-targets.json");
    let mut results: Results = serde_json::from_str(fixture).unwrap();
    // `a` is an HTTP backend and the baseline, `b` the engine; a 10-minute sample.
    for run in &mut results.runs {
        run.source_duration_s = 600.0;
        run.wall_s = if run.target == "a" { 80.0 } else { 40.0 } + run.order as f64;
        if run.target == "a" {
            run.kind = "http".into();
        }
    }
    results.summaries = crate::summary::summarize(&results.runs, Some("a"), results.seed);
    assert_eq!(results.summaries[0].target, "b", "fastest first");
    let answer = markdown::answer(&results);
    assert_eq!(answer.len(), 1, "{answer:?}");
    let line = &answer[0];
    assert!(
        line.starts_with("s: fastest b at 42.0 s [41.0, 43.0], 1.93x"),
        "{line}"
    );
    assert!(line.contains("x ["), "a ratio with its interval: {line}");
    assert!(line.contains("faster than a"), "{line}");
    assert!(line.ends_with("under one minute here"), "{line}");
    assert!(!line.contains("NOT"), "{line}");
}

#[test]
fn an_older_results_file_in_shuffled_order_renders_grouped_and_fastest_first() {
    let fixture = include_str!("../../tests/fixtures/two-targets.json");
    let mut results: Results = serde_json::from_str(fixture).unwrap();
    // Two samples, as the main job measures them, the later-listed one measured first.
    let mut long = results.runs.clone();
    for run in &mut long {
        run.sample = "long".into();
        run.wall_s *= 10.0;
    }
    long.append(&mut results.runs);
    results.runs = long;
    results.samples = vec!["s".into(), "long".into()];
    let summaries = crate::summary::summarize(&results.runs, Some("a"), results.seed);
    // As an older `run` wrote them: alternating between the samples, slowest first.
    let mut shuffled = summaries.clone();
    shuffled.sort_by(|x, y| {
        let wall = |c: &CellSummary| c.wall.as_ref().map_or(0.0, |w| w.median);
        (x.target.clone(), wall(y))
            .partial_cmp(&(y.target.clone(), wall(x)))
            .unwrap()
    });
    results.summaries = shuffled;
    let dir = tempfile::tempdir().unwrap();
    write_all(&results, dir.path(), &[]).unwrap();
    let table = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    let cells: Vec<(String, String)> = (table.lines().skip(1))
        .map(|l| {
            let mut fields = l.split(',');
            let target = fields.next().unwrap().to_owned();
            (fields.next().unwrap().to_owned(), target)
        })
        .collect();
    let fastest = |sample: &str| {
        let mut cells: Vec<&CellSummary> =
            summaries.iter().filter(|c| c.sample == sample).collect();
        cells.sort_by(|x, y| {
            let wall = |c: &CellSummary| c.wall.as_ref().map_or(f64::INFINITY, |w| w.median);
            wall(x).total_cmp(&wall(y))
        });
        cells
            .iter()
            .map(|c| (sample.to_owned(), c.target.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(cells, [fastest("s"), fastest("long")].concat());
    let markdown = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    let first_long = markdown.find("| long").unwrap();
    assert!(markdown.rfind("| s ").unwrap() < first_long, "{markdown}");
}
