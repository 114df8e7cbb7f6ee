//! Exporters: one module per format behind one trait; every one reads the same [`Report`].

pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod plots;

use std::path::Path;

use anyhow::Context;

use crate::record::Results;

/// What exporters read: the results and the charts rendered once from them.
pub struct Report<'a> {
    pub results: &'a Results,
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

/// Writes `bytes` to `path` under a temporary name first, then renames it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = clipbench_engine::execute::partial_path(path);
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot rename {}", temp.display()))?;
    Ok(())
}

/// Renders every format of `results` into `dir`.
pub fn write_all(results: &Results, dir: &Path) -> anyhow::Result<()> {
    let report = Report {
        results,
        charts: plots::charts(results)?,
    };
    for exporter in exporters() {
        for (name, bytes) in exporter.files(&report)? {
            write_atomic(&dir.join(name), &bytes)?;
        }
    }
    Ok(())
}
