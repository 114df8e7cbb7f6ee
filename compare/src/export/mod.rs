//! Exporters: one module per format behind one trait; every one reads the same [`Report`].

pub mod cells;
pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod plots;

use std::path::Path;

use crate::history::series::Series;
use crate::record::Results;

/// What exporters read: the results, the history of their targets on this machine (empty
/// without one) and the charts rendered once from both.
pub struct Report<'a> {
    pub results: &'a Results,
    pub history: &'a [Series],
    pub charts: Vec<plots::Chart>,
}

/// A report format: file names and their contents.
pub trait Exporter {
    fn files(&self, report: &Report) -> anyhow::Result<Vec<(String, Vec<u8>)>>;
}

/// Every exporter, in the order files are written (the HTML page last).
pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(csv::RunsTable),
        Box::new(csv::SummaryTable),
        Box::new(json::ResultsJson),
        Box::new(markdown::SummaryMarkdown),
        Box::new(plots::PlotFiles),
        Box::new(html::IndexHtml),
    ]
}

/// Where each target's figures come from when they are not measured directly: one line per
/// target that has such figures (the HTTP targets: their detected server and its dialect).
pub fn provenance(results: &Results) -> Vec<String> {
    let mut lines = Vec::new();
    for d in &results.dialects {
        lines.push(format!(
            "{}: {} at {} (POST {}, current_clip counts clips {})",
            d.target,
            crate::targets::describe(&d.dialect),
            d.dialect.base_url,
            d.dialect.generate_path,
            match d.dialect.current_clip {
                crate::dialect::ClipCounter::Started => "started",
                crate::dialect::ClipCounter::Finished => "finished",
            }
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for run in &results.runs {
        if seen.contains(&run.target.as_str()) {
            continue;
        }
        let sources = run.sources();
        if !sources.is_empty() {
            seen.push(&run.target);
            lines.push(format!("{}: {sources}", run.target));
        }
    }
    lines
}

/// Renders every format of `results` into `dir`, with the trends of `history` (its series of
/// these targets on this machine).
pub fn write_all(results: &Results, dir: &Path, history: &[Series]) -> anyhow::Result<()> {
    // The grouping and the order are the report's, whatever order the file holds.
    let mut ordered = results.clone();
    crate::summary::in_report_order(&mut ordered.summaries, &ordered.samples);
    let results = &ordered;
    let report = Report {
        results,
        history,
        charts: plots::charts(results, history)?,
    };
    for exporter in exporters() {
        for (name, bytes) in exporter.files(&report)? {
            clipbench_engine::files::write_atomic(&dir.join(name), &bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
