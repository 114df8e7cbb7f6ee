//! `index.html`: one self-contained page (inline SVG, inline CSS, no scripts, nothing fetched)
//! with the machine, the tables and the plots; readable offline.

use std::fmt::Write;

use super::{Exporter, Report};
use crate::record::RunStatus;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}"))
}

/// Builds the page.
pub fn page(report: &Report) -> String {
    let r = report.results;
    let m = &r.machine;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>clipbench results</title>\n<style>\
         body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,td:nth-child(2),th{{text-align:left}}\
         .bad{{color:#b00}}figure{{margin:1.5em 0}}svg{{max-width:100%;height:auto}}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>clipbench results</h1>");
    let _ = writeln!(
        h,
        "<p>{} · machine: {} · git {} · {} runs per cell (+{} warm-up) · seed {}</p>",
        escape(&r.created_at),
        escape(&m.describe()),
        escape(m.git_commit.as_deref().unwrap_or("unknown")),
        r.runs_per_cell,
        r.warmup,
        r.seed
    );
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
    let _ = writeln!(h, "<h2>Summary</h2><table><tr><th>target</th><th>sample</th><th>valid runs</th><th>median wall s</th><th>95% CI</th><th>mean ± sd</th><th>outliers</th><th>TTFC s</th><th>speed-up vs {}</th><th>CPU %</th></tr>", escape(r.baseline.as_deref().unwrap_or("baseline")));
    for c in &r.summaries {
        let w = c.wall.as_ref();
        let bad = c.runs_invalid + c.runs_failed;
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td{}>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.target),
            escape(&c.sample),
            if bad > 0 { " class=\"bad\"" } else { "" },
            c.runs_valid,
            if bad > 0 { format!(" ({bad} invalid or failed)") } else { String::new() },
            opt(w.map(|w| w.median)),
            w.map_or("–".into(), |w| format!("{:.2}–{:.2}", w.median_ci.0, w.median_ci.1)),
            w.map_or("–".into(), |w| format!("{:.2} ± {:.2}", w.mean, w.std_dev)),
            w.map_or(0, |w| w.outliers.len()),
            opt(c.time_to_first_clip.as_ref().map(|t| t.median)),
            c.speedup_vs_baseline.map_or("–".into(), |s| format!("{:.2}x [{:.2}, {:.2}]", s.value, s.ci.0, s.ci.1)),
            c.cpu_mean_percent.map_or("–".into(), |v| format!("{v:.0}")),
        );
    }
    let _ = writeln!(h, "</table>");
    let sources = super::provenance(r);
    if !sources.is_empty() {
        let _ = writeln!(h, "<h2>Where the figures come from</h2><ul>");
        for line in sources {
            let _ = writeln!(h, "<li>{}</li>", escape(&line));
        }
        let _ = writeln!(h, "</ul>");
    }
    let _ = writeln!(h, "<h2>Plots</h2>");
    for chart in &report.charts {
        let _ = writeln!(
            h,
            "<figure id=\"{}\">{}<figcaption>{}</figcaption></figure>",
            chart.name,
            chart.svg,
            escape(&chart.title)
        );
    }
    let _ = writeln!(h, "<h2>Runs</h2><table><tr><th>target</th><th>sample</th><th>run</th><th>status</th><th>wall s</th><th>download s</th><th>analysis s</th><th>encode s</th><th>TTFC s</th><th>clips</th><th>CPU mean %</th><th>problems</th><th>derived from</th></tr>");
    for run in &r.runs {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td{}>{:?}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{:.0}</td><td>{}</td><td>{}</td></tr>",
            escape(&run.target),
            escape(&run.sample),
            run.run,
            if run.status == RunStatus::Ok { "" } else { " class=\"bad\"" },
            run.status,
            run.wall_s,
            opt(run.download_s),
            opt(run.analysis_s),
            opt(run.encode_s),
            opt(run.time_to_first_clip_s),
            run.clips_valid,
            run.clips,
            run.cpu_mean_percent,
            escape(&run.problems),
            escape(&run.sources())
        );
    }
    let _ = writeln!(h, "</table></body></html>");
    h
}

/// `index.html`.
pub struct IndexHtml;

impl Exporter for IndexHtml {
    fn files(&self, report: &Report) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(vec![("index.html".into(), page(report).into_bytes())])
    }
}
