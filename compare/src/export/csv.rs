//! `runs.csv` (one row per run, appended and flushed as each run ends) and `summary.csv`.

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::{Exporter, Report};
use crate::record::RunRecord;

/// Appends runs to `runs.csv` as they finish, flushing each row.
pub struct RunsCsv {
    writer: ::csv::Writer<File>,
}

impl RunsCsv {
    /// Creates the file; the header is written with the first row.
    pub fn create(path: &Path) -> anyhow::Result<RunsCsv> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(RunsCsv {
            writer: ::csv::Writer::from_writer(file),
        })
    }

    /// Appends one run and flushes it to disk.
    pub fn append(&mut self, record: &RunRecord) -> anyhow::Result<()> {
        self.writer.serialize(record)?;
        self.writer.flush()?;
        self.writer.get_ref().sync_data()?;
        Ok(())
    }
}

fn to_csv<T: Serialize>(rows: impl IntoIterator<Item = T>) -> anyhow::Result<Vec<u8>> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row)?;
    }
    writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// `runs.csv` re-rendered from the results (same columns as the live file).
pub struct RunsTable;

impl Exporter for RunsTable {
    fn files(&self, report: &Report) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(vec![("runs.csv".into(), to_csv(&report.results.runs)?)])
    }
}

/// One row of `summary.csv`.
#[derive(Serialize)]
struct SummaryRow<'a> {
    target: &'a str,
    sample: &'a str,
    runs_valid: usize,
    runs_invalid: usize,
    runs_failed: usize,
    wall_median_s: Option<f64>,
    wall_ci_low_s: Option<f64>,
    wall_ci_high_s: Option<f64>,
    wall_mean_s: Option<f64>,
    wall_std_dev_s: Option<f64>,
    wall_min_s: Option<f64>,
    wall_max_s: Option<f64>,
    outliers: usize,
    ttfc_median_s: Option<f64>,
    speedup_vs_baseline: Option<f64>,
    speedup_ci_low: Option<f64>,
    speedup_ci_high: Option<f64>,
    cpu_mean_percent: Option<f64>,
    realtime_factor: Option<f64>,
    work_cpu_s: Option<f64>,
}

/// `summary.csv`: one row per (target, sample).
pub struct SummaryTable;

impl Exporter for SummaryTable {
    fn files(&self, report: &Report) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let rows = report.results.summaries.iter().map(|c| {
            let w = c.wall.as_ref();
            let s = c.speedup_vs_baseline.as_ref();
            SummaryRow {
                target: &c.target,
                sample: &c.sample,
                runs_valid: c.runs_valid,
                runs_invalid: c.runs_invalid,
                runs_failed: c.runs_failed,
                wall_median_s: w.map(|w| w.median),
                wall_ci_low_s: w.map(|w| w.median_ci.0),
                wall_ci_high_s: w.map(|w| w.median_ci.1),
                wall_mean_s: w.map(|w| w.mean),
                wall_std_dev_s: w.map(|w| w.std_dev),
                wall_min_s: w.map(|w| w.min),
                wall_max_s: w.map(|w| w.max),
                outliers: w.map_or(0, |w| w.outliers.len()),
                ttfc_median_s: c.time_to_first_clip.as_ref().map(|t| t.median),
                speedup_vs_baseline: s.map(|s| s.value),
                speedup_ci_low: s.map(|s| s.ci.0),
                speedup_ci_high: s.map(|s| s.ci.1),
                cpu_mean_percent: c.cpu_mean_percent,
                realtime_factor: c.realtime_factor,
                work_cpu_s: c.work_cpu_s,
            }
        });
        Ok(vec![("summary.csv".into(), to_csv(rows)?)])
    }
}
