//! The summary table's cells, formatted once for every format that shows them (Markdown,
//! HTML, the terminal).

use crate::record::CellSummary;

/// Shown for a value that is not known.
pub const MISSING: &str = "–";

/// The summary table's column headers; `{baseline}` names the baseline target.
pub fn summary_headers(baseline: &str) -> [String; 10] {
    [
        "target".into(),
        "sample".into(),
        "valid runs".into(),
        "median wall s [95% CI]".into(),
        "mean ± sd s".into(),
        "min–max s".into(),
        "outliers".into(),
        "TTFC s".into(),
        format!("speed-up vs {baseline} [95% CI]"),
        "CPU %".into(),
    ]
}

/// Seconds with two decimals, or [`MISSING`].
pub fn seconds(v: Option<f64>) -> String {
    v.map_or(MISSING.into(), |v| format!("{v:.2}"))
}

/// One row of the summary table, and whether some of its runs were invalid or failed.
pub fn summary_cells(c: &CellSummary) -> ([String; 10], bool) {
    let missing = || MISSING.to_owned();
    let w = c.wall.as_ref();
    let bad = c.runs_invalid + c.runs_failed;
    let valid = if bad > 0 {
        format!("{} ({bad} invalid or failed)", c.runs_valid)
    } else {
        c.runs_valid.to_string()
    };
    let cells = [
        c.target.clone(),
        c.sample.clone(),
        valid,
        w.map_or_else(missing, |w| {
            format!(
                "{:.2} [{:.2}, {:.2}]",
                w.median, w.median_ci.0, w.median_ci.1
            )
        }),
        w.map_or_else(missing, |w| format!("{:.2} ± {:.2}", w.mean, w.std_dev)),
        w.map_or_else(missing, |w| format!("{:.2}–{:.2}", w.min, w.max)),
        w.map_or_else(missing, |w| w.outliers.len().to_string()),
        seconds(c.time_to_first_clip.as_ref().map(|t| t.median)),
        c.speedup_vs_baseline.map_or_else(missing, |s| {
            format!("{:.2}x [{:.2}, {:.2}]", s.value, s.ci.0, s.ci.1)
        }),
        c.cpu_mean_percent
            .map_or_else(missing, |v| format!("{v:.0}")),
    ];
    (cells, bad > 0)
}
