//! `index.html`: one self-contained page (inline SVG, inline CSS, no scripts, nothing fetched)
//! with the machine, the tables and the plots; readable offline.

use std::fmt::Write;

use super::cells::{seconds, summary_cells, summary_headers};
use super::{Exporter, Report};
use crate::record::{Results, RunStatus};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A table row of `tag` cells (escaped), the cell at `bad` (if any) marked in red.
fn row(tag: &str, cells: &[String], bad: Option<usize>) -> String {
    let cells: String = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let class = if bad == Some(i) { " class=\"bad\"" } else { "" };
            format!("<{tag}{class}>{}</{tag}>", escape(c))
        })
        .collect();
    format!("<tr>{cells}</tr>")
}

/// Builds the page.
pub fn page(report: &Report) -> String {
    let r = report.results;
    let mut h = String::new();
    head(&mut h, r);
    let answer = super::markdown::answer(r);
    if !answer.is_empty() {
        let _ = writeln!(h, "<h2>The answer</h2><ul>");
        for line in answer {
            let _ = writeln!(h, "<li><strong>{}</strong></li>", escape(&line));
        }
        let _ = writeln!(h, "</ul>");
    }
    let stopped = super::markdown::stopping_lines(r);
    if !stopped.is_empty() {
        let rule = r.stopping.as_ref().map_or("", |s| s.rule.as_str());
        let _ = writeln!(
            h,
            "<h2>When each cell stopped</h2><p>{}</p><ul>",
            escape(rule)
        );
        for line in stopped {
            let _ = writeln!(h, "<li>{}</li>", escape(&line));
        }
        let _ = writeln!(h, "</ul>");
    }
    let news = super::markdown::history_lines(report.history);
    if !news.is_empty() {
        let _ = writeln!(h, "<h2>History</h2><ul>");
        for line in news {
            let _ = writeln!(h, "<li>{}</li>", escape(&line));
        }
        let _ = writeln!(h, "</ul>");
    }
    // One section per sample: its table, fastest first, and its own charts.
    for sample in &r.samples {
        let _ = writeln!(h, "<h2>{}</h2>", escape(sample));
        summary_table(&mut h, r, sample);
        for chart in report
            .charts
            .iter()
            .filter(|c| c.sample.as_ref() == Some(sample))
        {
            // The chart draws its title: no caption repeats it.
            let _ = writeln!(h, "<figure id=\"{}\">{}</figure>", chart.name, chart.svg);
        }
    }
    let sources = super::provenance(r);
    if !sources.is_empty() {
        let _ = writeln!(h, "<h2>Where the figures come from</h2><ul>");
        for line in sources {
            let _ = writeln!(h, "<li>{}</li>", escape(&line));
        }
        let _ = writeln!(h, "</ul>");
    }
    runs_table(&mut h, r);
    let _ = writeln!(h, "</body></html>");
    h
}

/// The document's head, title, what ran where, and what was interrupted or skipped.
fn head(h: &mut String, r: &Results) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>clipbench results</title>\n<style>\
         body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,td:nth-child(2),th{{text-align:left}}\
         .bad{{color:#b00}}figure{{margin:1.5em 0}}svg{{max-width:100%;height:auto}}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>clipbench results</h1>");
    let runs = match &r.stopping {
        Some(_) => format!(
            "up to {} runs per cell, each stopped once decided",
            r.runs_per_cell
        ),
        None => format!("{} runs per cell (+{} warm-up)", r.runs_per_cell, r.warmup),
    };
    let _ = writeln!(
        h,
        "<p>{} · machine: {} · git {} · {runs} · seed {}</p>",
        escape(&r.created_at),
        escape(&r.machine.describe()),
        escape(r.machine.git_commit.as_deref().unwrap_or("unknown")),
        r.seed
    );
    if let Some(link) = &r.link {
        let _ = writeln!(
            h,
            "<p>Link: every target got the samples over {} (engine and command targets after the harness downloaded them; the download counts).</p>",
            escape(&link.describe())
        );
    }
    if r.interrupted {
        let _ = writeln!(
            h,
            "<p class=\"bad\">Interrupted: only finished runs are included.</p>"
        );
    }
    for s in &r.skipped {
        let _ = writeln!(
            h,
            "<p class=\"bad\">Skipped {}: {}</p>",
            escape(&s.target),
            escape(&s.reason)
        );
    }
}

/// The summary table of one sample (the same cells as `summary.md`'s rows of it).
fn summary_table(h: &mut String, r: &Results, sample: &str) {
    let baseline = r.baseline.as_deref().unwrap_or("baseline");
    let _ = writeln!(h, "<table>");
    let _ = writeln!(h, "{}", row("th", &summary_headers(baseline), None));
    for c in r.summaries.iter().filter(|c| c.sample == sample) {
        let (cells, bad) = summary_cells(c);
        let _ = writeln!(h, "{}", row("td", &cells, bad.then_some(2)));
    }
    let _ = writeln!(h, "</table>");
}

/// Every run, with its status, phases and where its figures come from.
fn runs_table(h: &mut String, r: &Results) {
    let headers = [
        "target",
        "sample",
        "run",
        "status",
        "wall s",
        "download s",
        "analysis s",
        "encode s",
        "TTFC s",
        "clips",
        "CPU mean %",
        "problems",
        "derived from",
    ];
    let _ = writeln!(h, "<h2>Runs</h2><table>");
    let _ = writeln!(h, "{}", row("th", &headers.map(String::from), None));
    for run in &r.runs {
        let cells = [
            run.target.clone(),
            run.sample.clone(),
            run.run.to_string(),
            format!("{:?}", run.status),
            format!("{:.2}", run.wall_s),
            seconds(run.download_s),
            seconds(run.analysis_s),
            seconds(run.encode_s),
            seconds(run.time_to_first_clip_s),
            format!("{}/{}", run.clips_valid, run.clips),
            format!("{:.0}", run.cpu_mean_percent),
            run.problems.clone(),
            run.sources(),
        ];
        let bad = (run.status != RunStatus::Ok).then_some(3);
        let _ = writeln!(h, "{}", row("td", &cells, bad));
    }
    let _ = writeln!(h, "</table>");
}

/// `index.html`.
pub struct IndexHtml;

impl Exporter for IndexHtml {
    fn files(&self, report: &Report) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(vec![("index.html".into(), page(report).into_bytes())])
    }
}
