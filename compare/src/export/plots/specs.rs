//! The data of each chart, built from the results (pure).

use super::{render, Bar, Chart, Series, Span, Spec, TrendPoint};
use crate::record::{CellSummary, Results, RunRecord};
use crate::stats::Summary;
use crate::summary::valid_walls;

/// The colour of a target: its place among the report's targets, the same in every chart.
pub fn colour_of(results: &Results, target: &str) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for name in results.summaries.iter().map(|c| c.target.as_str()) {
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen.iter().position(|t| *t == target).unwrap_or(seen.len())
}

/// The bar of one cell: `(value, interval)` and its runs' values, in the target's colour.
fn cell_bar(
    results: &Results,
    c: &CellSummary,
    (value, ci): (f64, (f64, f64)),
    runs: Vec<f64>,
) -> Bar {
    Bar {
        label: c.target.clone(),
        value,
        low: ci.0,
        high: ci.1,
        runs,
        colour: colour_of(results, &c.target),
    }
}

/// One bar per cell of `sample`: the median of `pick`'s summary with its 95 % interval, and
/// the value of each of its valid runs (`run_value`).
fn summary_bars(
    results: &Results,
    sample: &str,
    pick: fn(&CellSummary) -> Option<&Summary>,
    run_value: fn(&RunRecord) -> Option<f64>,
) -> Vec<Bar> {
    results
        .summaries
        .iter()
        .filter(|c| c.sample == sample)
        .filter_map(|c| {
            let s = pick(c)?;
            let runs = valid_walls(&results.runs, &c.target, &c.sample).filter_map(run_value);
            Some(cell_bar(
                results,
                c,
                (s.median, s.median_ci),
                runs.collect(),
            ))
        })
        .collect()
}

/// Median wall time per target on `sample` with its 95 % interval.
pub fn wall_spec(results: &Results, sample: &str) -> Spec {
    Spec::Bars {
        y_label: "median wall time (s)".into(),
        bars: summary_bars(results, sample, |c| c.wall.as_ref(), |r| Some(r.wall_s)),
        reference: None,
        log: false,
    }
}

/// Speed-up against the baseline target on `sample` with its 95 % interval.
pub fn speedup_spec(results: &Results, sample: &str) -> Spec {
    Spec::Bars {
        y_label: format!(
            "speed-up vs {}",
            results.baseline.as_deref().unwrap_or("baseline")
        ),
        bars: results
            .summaries
            .iter()
            .filter(|c| c.sample == sample && Some(&c.target) != results.baseline.as_ref())
            .filter_map(|c| {
                let s = c.speedup_vs_baseline?;
                // Each run against the baseline's median.
                let baseline = results.summaries.iter().find(|b| {
                    Some(&b.target) == results.baseline.as_ref() && b.sample == c.sample
                })?;
                let reference = baseline.wall.as_ref()?.median;
                let runs =
                    valid_walls(&results.runs, &c.target, &c.sample).map(|r| reference / r.wall_s);
                Some(cell_bar(results, c, (s.value, s.ci), runs.collect()))
            })
            .collect(),
        reference: Some(1.0),
        log: true,
    }
}

/// Median time to first clip on `sample` with its 95 % interval.
pub fn ttfc_spec(results: &Results, sample: &str) -> Spec {
    Spec::Bars {
        y_label: "median time to first clip (s)".into(),
        bars: summary_bars(
            results,
            sample,
            |c| c.time_to_first_clip.as_ref(),
            |r| r.time_to_first_clip_s,
        ),
        reference: None,
        log: false,
    }
}

/// Machine CPU use over time: the first run of each target on `sample`.
pub fn cpu_spec(results: &Results, sample: &str) -> Spec {
    let mut series: Vec<Series> = Vec::new();
    for t in results.timelines.iter().filter(|t| t.sample == sample) {
        if series.iter().any(|s| s.name == t.target) {
            continue;
        }
        series.push(Series {
            name: t.target.clone(),
            points: t.points.iter().map(|(x, y)| (*x, f64::from(*y))).collect(),
            dashed: false,
            colour: colour_of(results, &t.target),
        });
    }
    Spec::Lines {
        x_label: format!("seconds into the run ({sample})"),
        y_label: "machine CPU use (%)".into(),
        series,
    }
}

/// Median wall time on `sample` against worker count (`--sweep workers=…`), with the ideal
/// `T(a)·a/N`.
pub fn scaling_spec(results: &Results, sample: &str) -> Spec {
    let mut series = Vec::new();
    {
        let mut points: Vec<(f64, f64)> = results
            .summaries
            .iter()
            .filter(|c| c.sample == sample)
            .filter_map(|c| Some((c.sweep_workers? as f64, c.wall.as_ref()?.median)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some(&(first_workers, first_wall)) = points.first() else {
            return Spec::Lines {
                x_label: "workers".into(),
                y_label: "median wall time (s)".into(),
                series,
            };
        };
        let ideal = points
            .iter()
            .map(|(n, _)| (*n, first_wall * first_workers / n))
            .collect();
        let colour = 0;
        series.push(Series {
            name: "measured".into(),
            points,
            dashed: false,
            colour,
        });
        series.push(Series {
            name: "ideal".into(),
            points: ideal,
            dashed: true,
            colour,
        });
    }
    Spec::Lines {
        x_label: "workers".into(),
        y_label: "median wall time (s)".into(),
        series,
    }
}

/// Per-worker timelines of the engine runs on `sample`: for each engine target its run of
/// median wall time, one row per worker, clips solid and chunks light, in the target's colour.
pub fn gantt_spec(results: &Results, sample: &str) -> Spec {
    let (mut rows, mut spans) = (Vec::new(), Vec::new());
    let mut targets: Vec<&str> = Vec::new();
    for shape in results.shapes.iter().filter(|s| s.sample == sample) {
        if !targets.contains(&shape.target.as_str()) {
            targets.push(&shape.target);
        }
    }
    for target in targets {
        let mut runs: Vec<_> = valid_walls(&results.runs, target, sample).collect();
        runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
        let Some(middle) = runs.get(runs.len() / 2) else {
            continue;
        };
        let Some(shape) = results
            .shapes
            .iter()
            .find(|s| s.target == target && s.sample == sample && s.run == middle.run)
        else {
            continue;
        };
        let first_row = rows.len();
        let workers = shape.tasks.iter().map(|t| t.worker + 1).max().unwrap_or(0);
        rows.extend((0..workers).map(|w| format!("{target} · worker {w}")));
        spans.extend(shape.tasks.iter().map(|t| Span {
            row: first_row + t.worker,
            from: t.from_s,
            to: t.to_s,
            colour: colour_of(results, target),
            light: t.kind != "encode" && t.kind != "copy",
        }));
    }
    Spec::Gantt { rows, spans }
}

/// A sample's name as a file name's part: letters, digits, `-`, `_` and `.` kept.
fn slug(sample: &str) -> String {
    sample
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A series' trend: its points' medians and ranges, its wall-time change points labelled with
/// their size.
pub fn trend_spec(series: &crate::history::series::Series) -> Spec {
    use crate::history::series::Metric;
    Spec::Trend {
        points: series
            .points
            .iter()
            .map(|p| TrendPoint {
                commit: p.commit.clone(),
                median: p.wall_median_s,
                low: p.wall_range_s.0,
                high: p.wall_range_s.1,
            })
            .collect(),
        changes: series
            .changes
            .iter()
            .filter(|c| c.metric == Metric::Wall)
            .map(|c| (c.index, format!("{:+.1}%", 100.0 * c.change)))
            .collect(),
    }
}

/// Every chart of a report: one set per sample (never two samples on one axis), `NAME-SAMPLE`,
/// and a trend per target of `history` with two or more commits, `trend-TARGET-SAMPLE`; a
/// chart with nothing to show is left out.
pub fn charts(
    results: &Results,
    history: &[crate::history::series::Series],
) -> anyhow::Result<Vec<Chart>> {
    let baseline = results.baseline.as_deref().unwrap_or("the baseline");
    let mut charts = Vec::new();
    for sample in &results.samples {
        let specs = [
            (
                "wall",
                "Median wall time (95% CI)".to_owned(),
                wall_spec(results, sample),
            ),
            (
                "speedup",
                format!("Speed-up against {baseline} (95% CI)"),
                speedup_spec(results, sample),
            ),
            (
                "ttfc",
                "Time to first clip (95% CI)".to_owned(),
                ttfc_spec(results, sample),
            ),
            (
                "cpu",
                "CPU utilisation over time".to_owned(),
                cpu_spec(results, sample),
            ),
            (
                "scaling",
                "Worker-count scaling against the ideal".to_owned(),
                scaling_spec(results, sample),
            ),
            (
                "gantt",
                "Tasks per worker (engine runs of median wall time; chunks and joins light)"
                    .to_owned(),
                gantt_spec(results, sample),
            ),
        ];
        for (kind, title, spec) in specs.into_iter().filter(|(_, _, s)| !s.is_empty()) {
            let name = format!("{kind}-{}", slug(sample));
            let mut chart = render(&name, &format!("{title} · {sample}"), &spec)?;
            chart.sample = Some(sample.clone());
            charts.push(chart);
        }
        for series in history.iter().filter(|s| &s.sample == sample) {
            let spec = trend_spec(series);
            if spec.is_empty() {
                continue;
            }
            let name = format!("trend-{}-{}", slug(&series.target), slug(sample));
            let title = format!(
                "{} over {} commits (change points dashed) · {sample}",
                series.target,
                series.points.len()
            );
            let mut chart = render(&name, &title, &spec)?;
            chart.sample = Some(sample.clone());
            charts.push(chart);
        }
    }
    Ok(charts)
}
