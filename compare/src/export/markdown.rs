//! `summary.md`, and the same table for the terminal.

use crate::history::series::{Metric, Series};
use std::fmt::Write;

use super::cells::{summary_cells, summary_headers};
use super::{Exporter, Report};
use crate::record::{CellSummary, Results};
use crate::stats::ratio_of_medians;

/// The summary table in Markdown (readable as plain text too).
pub fn table(cells: &[CellSummary], baseline: &str) -> String {
    let row = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let headers = summary_headers(baseline);
    let mut out = row(&headers);
    out += &row(&headers.map(|_| "---".to_owned()));
    for c in cells {
        out += &row(&summary_cells(c).0);
    }
    out
}

/// hyperfine-style lines: "auto on s ran 1.62 ± 0.05 times faster than serial".
pub fn relative_lines(results: &Results) -> String {
    let Some(baseline) = &results.baseline else {
        return String::new();
    };
    let mut out = String::new();
    for c in results.summaries.iter().filter(|c| &c.target != baseline) {
        if let Some(s) = c.speedup_vs_baseline {
            let half_width = (s.ci.1 - s.ci.0) / 2.0;
            let _ = writeln!(
                out,
                "{} on {} ran {:.2} ± {:.2} times {} than {baseline}",
                c.target,
                c.sample,
                if s.value >= 1.0 {
                    s.value
                } else {
                    1.0 / s.value
                },
                half_width,
                if s.value >= 1.0 { "faster" } else { "slower" }
            );
        }
    }
    out
}

/// The answer first, one line per sample: its fastest target with its median and interval, how
/// many times faster than the baseline and than each HTTP backend measured on it (with
/// intervals), and for a sample of ten minutes or more whether it is under one minute (pure).
pub fn answer(results: &Results) -> Vec<String> {
    let mut lines = Vec::new();
    for sample in &results.samples {
        let walls = |target: &str| -> Vec<f64> {
            crate::summary::valid_walls(&results.runs, target, sample)
                .map(|r| r.wall_s)
                .collect()
        };
        let Some((fastest, wall)) = results
            .summaries
            .iter()
            .filter(|c| &c.sample == sample)
            .filter_map(|c| Some((c, c.wall.as_ref()?)))
            .min_by(|a, b| a.1.median.total_cmp(&b.1.median))
        else {
            continue;
        };
        let mut line = format!(
            "{sample}: fastest {} at {:.1} s [{:.1}, {:.1}]",
            fastest.target, wall.median, wall.median_ci.0, wall.median_ci.1
        );
        let mut others: Vec<&str> = Vec::new();
        if let Some(b) = results.baseline.as_deref() {
            others.push(b);
        }
        for run in results
            .runs
            .iter()
            .filter(|r| &r.sample == sample && r.kind == "http")
        {
            if !others.contains(&run.target.as_str()) {
                others.push(&run.target);
            }
        }
        for other in others.into_iter().filter(|o| *o != fastest.target) {
            let seed = results.seed;
            if let Some(r) = ratio_of_medians(&walls(other), &walls(&fastest.target), seed) {
                let _ = write!(
                    line,
                    ", {:.2}x [{:.2}, {:.2}] faster than {other}",
                    r.value, r.ci.0, r.ci.1
                );
            }
        }
        let long = results
            .runs
            .iter()
            .any(|r| &r.sample == sample && r.source_duration_s >= 590.0);
        if long {
            let verdict = if wall.median_ci.1 < 60.0 {
                "under one minute here"
            } else if wall.median_ci.0 >= 60.0 {
                "NOT under one minute here"
            } else {
                "not clearly under one minute here (the interval straddles 60 s)"
            };
            let _ = write!(line, "; {verdict}");
        }
        lines.push(line);
    }
    lines
}

/// The whole Markdown document.
/// The history's news, one line per series with two or more commits: its newest wall-time
/// change point (size, commits, confidence), or that it has none.
pub fn history_lines(history: &[Series]) -> Vec<String> {
    history
        .iter()
        .filter(|s| s.points.len() >= 2)
        .map(|s| {
            let newest = s
                .changes
                .iter()
                .filter(|c| c.metric == Metric::Wall)
                .max_by_key(|c| c.index);
            match newest {
                Some(c) => format!(
                    "{} on {}: newest change {:+.1}% between {} and {} ({:.2} s → {:.2} s, confidence {:.1}%) over {} commits",
                    s.target,
                    s.sample,
                    100.0 * c.change,
                    c.last_before,
                    c.first_after,
                    c.before_s,
                    c.after_s,
                    100.0 * c.confidence(),
                    s.points.len()
                ),
                None => format!(
                    "{} on {}: no change point over {} commits",
                    s.target,
                    s.sample,
                    s.points.len()
                ),
            }
        })
        .collect()
}

/// Where each cell stopped, in report order, when a stopping rule was used
/// (`smart on bbb-720p-10m: stopped: decided after 2 runs`).
pub fn stopping_lines(results: &Results) -> Vec<String> {
    let Some(stopping) = &results.stopping else {
        return Vec::new();
    };
    (results.summaries.iter())
        .filter_map(|c| {
            let s =
                (stopping.cells.iter()).find(|s| s.target == c.target && s.sample == c.sample)?;
            Some(format!(
                "{} on {}: stopped: {}",
                s.target, s.sample, s.reason
            ))
        })
        .collect()
}

pub fn document(results: &Results, history: &[Series]) -> String {
    let mut out = String::new();
    let m = &results.machine;
    let _ = writeln!(out, "# clipbench results\n");
    let _ = writeln!(out, "- created: {}", results.created_at);
    let _ = writeln!(out, "- machine: {}", m.describe());
    let _ = writeln!(
        out,
        "- git commit: {}",
        m.git_commit.as_deref().unwrap_or("unknown")
    );
    match &results.stopping {
        Some(stopping) => {
            let _ = writeln!(
                out,
                "- runs per cell: {}; seed {}",
                stopping.rule, results.seed
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- runs per cell: {} (+{} warm-up), seed {}",
                results.runs_per_cell, results.warmup, results.seed
            );
        }
    }
    if let Some(link) = &results.link {
        let _ = writeln!(
            out,
            "- link: every target got the samples over {}",
            link.describe()
        );
    }
    if results.interrupted {
        let _ = writeln!(out, "- **interrupted**: only finished runs are included");
    }
    for s in &results.skipped {
        let _ = writeln!(out, "- skipped {}: {}", s.target, s.reason);
    }
    let answer = answer(results);
    if !answer.is_empty() {
        let _ = writeln!(out, "\n## The answer\n");
        for line in answer {
            let _ = writeln!(out, "- {line}");
        }
    }
    let stopped = stopping_lines(results);
    if !stopped.is_empty() {
        let _ = writeln!(out, "\n## When each cell stopped\n");
        for line in stopped {
            let _ = writeln!(out, "- {line}");
        }
    }
    let news = history_lines(history);
    if !news.is_empty() {
        let _ = writeln!(out, "\n## History\n");
        for line in news {
            let _ = writeln!(out, "- {line}");
        }
    }
    let baseline = results.baseline.as_deref().unwrap_or("baseline");
    let _ = writeln!(out, "\n{}", table(&results.summaries, baseline));
    let sources = super::provenance(results);
    if !sources.is_empty() {
        let _ = writeln!(
            out,
            "Where the figures come from (when not measured directly):\n"
        );
        for line in sources {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out);
    }
    let lines = relative_lines(results);
    if !lines.is_empty() {
        let _ = writeln!(out, "```\n{lines}```");
    }
    out
}

/// `summary.md`.
pub struct SummaryMarkdown;

impl Exporter for SummaryMarkdown {
    fn files(&self, report: &Report) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(vec![(
            "summary.md".into(),
            document(report.results, report.history).into_bytes(),
        )])
    }
}
