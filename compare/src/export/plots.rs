//! Plots rendered with plotters as SVG and PNG: one small data struct per chart kind (bars with
//! error bars, lines), built from the results by one function per chart.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Exporter, Report};
use crate::record::{CellSummary, Results, RunRecord};
use crate::stats::Summary;
use crate::summary::valid_walls;

/// A rendered chart.
pub struct Chart {
    /// File stem: `<name>.svg` and `<name>.png`.
    pub name: &'static str,
    pub title: String,
    pub svg: String,
    pub png: Vec<u8>,
}

/// One bar with its interval and the runs it summarises.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    /// Every run's value, drawn as a point over the bar.
    pub runs: Vec<f64>,
    /// The target's colour (its index among the report's targets).
    pub colour: usize,
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    pub colour: usize,
}

/// One task on one row of a Gantt chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub row: usize,
    pub from: f64,
    pub to: f64,
    pub colour: usize,
    /// Drawn lighter (chunks and other helper tasks, against whole clips).
    pub light: bool,
}

/// What a chart shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Bars {
        y_label: String,
        bars: Vec<Bar>,
        /// A horizontal reference line (e.g. 1.0 for speed-ups).
        reference: Option<f64>,
        /// A logarithmic value axis (speed-ups of 1.3x and 50x both readable).
        log: bool,
    },
    /// Tasks over time, one row per (target, worker).
    Gantt { rows: Vec<String>, spans: Vec<Span> },
    Lines {
        x_label: String,
        y_label: String,
        series: Vec<Series>,
    },
}

const HEIGHT: u32 = 480;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans from the `dejavu` crate: no system font needed, same look everywhere.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn width_for(spec: &Spec) -> u32 {
    match spec {
        Spec::Bars { bars, .. } => (140 * bars.len() as u32 + 160).max(800),
        Spec::Lines { .. } | Spec::Gantt { .. } => 900,
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, title: &str, spec: &Spec) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let empty = match spec {
        Spec::Bars { bars, .. } => bars.is_empty(),
        Spec::Lines { series, .. } => series.iter().all(|s| s.points.is_empty()),
        Spec::Gantt { spans, .. } => spans.is_empty(),
    };
    if empty {
        root.titled(title, ("sans-serif", 22))?.draw(&Text::new(
            "no data in this run",
            (40, 60),
            ("sans-serif", 18),
        ))?;
        root.present()?;
        return Ok(());
    }
    match spec {
        Spec::Bars {
            y_label,
            bars,
            reference,
            log,
        } => {
            // A log axis is drawn as log10 values on a linear axis, labelled back as ratios.
            let y = |v: f64| if *log { v.max(1e-9).log10() } else { v };
            let values = bars
                .iter()
                .flat_map(|b| {
                    [b.high, b.value, b.low]
                        .into_iter()
                        .chain(b.runs.iter().copied())
                })
                .chain(*reference);
            let (low, high) = values.fold((0.0f64, 0.0f64), |(l, h), v| (l.min(y(v)), h.max(y(v))));
            let pad = 0.15 * (high - low).max(1e-6);
            let bottom = if *log { low - pad } else { 0.0 };
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d((0..bars.len() - 1).into_segmented(), bottom..high + pad)?;
            let ratio_label = |v: &f64| format!("{:.3}x", 10f64.powf(*v));
            let plain_label = |v: &f64| format!("{v:.2}");
            chart
                .configure_mesh()
                .disable_x_mesh()
                .y_desc(y_label.as_str())
                .y_label_formatter(if *log { &ratio_label } else { &plain_label })
                .x_labels(bars.len())
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(i) => {
                        bars.get(*i).map(|b| b.label.clone()).unwrap_or_default()
                    }
                    _ => String::new(),
                })
                .label_style(("sans-serif", 13))
                .draw()?;
            let base = if *log { y(1.0) } else { 0.0 };
            chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
                let color = Palette99::pick(b.colour).mix(0.55);
                let mut rect = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), base),
                        (SegmentValue::Exact(i + 1), y(b.value)),
                    ],
                    color.filled(),
                );
                rect.set_margin(0, 0, 18, 18);
                rect
            }))?;
            chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
                ErrorBar::new_vertical(
                    SegmentValue::CenterOf(i),
                    y(b.low),
                    y(b.value),
                    y(b.high),
                    BLACK.stroke_width(2),
                    12,
                )
            }))?;
            // Every run as a point, spread across the bar so equal values stay visible.
            chart.draw_series(bars.iter().enumerate().flat_map(|(i, b)| {
                let n = b.runs.len().max(1) as f64;
                let colour = Palette99::pick(b.colour).to_rgba();
                b.runs.iter().enumerate().map(move |(k, v)| {
                    let offset = ((k as f64 + 0.5) / n - 0.5) * 40.0;
                    EmptyElement::at((SegmentValue::CenterOf(i), y(*v)))
                        + Circle::new((offset as i32, 0), 4, colour.filled())
                        + Circle::new((offset as i32, 0), 4, BLACK.stroke_width(1))
                })
            }))?;
            if let Some(r) = reference {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![
                        (SegmentValue::Exact(0), y(*r)),
                        (SegmentValue::Exact(bars.len()), y(*r)),
                    ],
                    RED.stroke_width(1),
                )))?;
            }
        }
        Spec::Lines {
            x_label,
            y_label,
            series,
        } => {
            let points = series.iter().flat_map(|s| s.points.iter());
            let (x_max, y_max) =
                points.fold((0.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..(x_max * 1.05).max(1e-6), 0.0..(y_max * 1.1).max(1e-6))?;
            chart
                .configure_mesh()
                .x_desc(x_label.as_str())
                .y_desc(y_label.as_str())
                .label_style(("sans-serif", 13))
                .draw()?;
            for s in series {
                let color = Palette99::pick(s.colour).to_rgba();
                let style = color.stroke_width(2);
                let drawn = if s.dashed {
                    chart.draw_series(DashedLineSeries::new(
                        s.points.iter().copied(),
                        8,
                        5,
                        style,
                    ))?
                } else {
                    chart.draw_series(LineSeries::new(s.points.iter().copied(), style))?
                };
                drawn.label(s.name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()?;
        }
        Spec::Gantt { rows, spans } => {
            let end = spans.iter().map(|s| s.to).fold(0.0, f64::max) * 1.02;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(220)
                .build_cartesian_2d(0.0..end.max(1e-6), (0..rows.len() - 1).into_segmented())?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc("seconds since the run started")
                .y_labels(rows.len())
                .y_label_formatter(&|y| match y {
                    SegmentValue::CenterOf(i) => rows.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .label_style(("sans-serif", 13))
                .draw()?;
            chart.draw_series(spans.iter().map(|s| {
                let colour = Palette99::pick(s.colour).mix(if s.light { 0.4 } else { 0.85 });
                let mut rect = Rectangle::new(
                    [
                        (s.from, SegmentValue::Exact(s.row)),
                        (s.to, SegmentValue::Exact(s.row + 1)),
                    ],
                    colour.filled(),
                );
                rect.set_margin(4, 4, 1, 1);
                rect
            }))?;
        }
    }
    root.present()?;
    Ok(())
}

/// Renders a spec as SVG text and PNG bytes.
pub fn render(name: &'static str, title: &str, spec: &Spec) -> anyhow::Result<Chart> {
    register_font();
    let size = (width_for(spec), HEIGHT);
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, size).into_drawing_area(),
        title,
        spec,
    )
    .map_err(|e| anyhow::anyhow!("cannot draw {name}: {e}"))?;
    let mut pixels = vec![0u8; (size.0 * size.1 * 3) as usize];
    draw(
        BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area(),
        title,
        spec,
    )
    .map_err(|e| anyhow::anyhow!("cannot draw {name}: {e}"))?;
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(&pixels)?;
    }
    Ok(Chart {
        name,
        title: title.to_owned(),
        svg,
        png,
    })
}

fn cell_label(target: &str, sample: &str) -> String {
    format!("{target} · {sample}")
}

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

/// One bar per cell: the median of `pick`'s summary with its 95 % interval, and the value of
/// each of its valid runs (`run_value`).
fn summary_bars(
    results: &Results,
    pick: fn(&CellSummary) -> Option<&Summary>,
    run_value: fn(&RunRecord) -> Option<f64>,
) -> Vec<Bar> {
    results
        .summaries
        .iter()
        .filter_map(|c| {
            let s = pick(c)?;
            Some(Bar {
                label: cell_label(&c.target, &c.sample),
                value: s.median,
                low: s.median_ci.0,
                high: s.median_ci.1,
                runs: valid_walls(&results.runs, &c.target, &c.sample)
                    .filter_map(run_value)
                    .collect(),
                colour: colour_of(results, &c.target),
            })
        })
        .collect()
}

/// Median wall time per (target, sample) with its 95 % interval.
pub fn wall_spec(results: &Results) -> Spec {
    Spec::Bars {
        y_label: "median wall time (s)".into(),
        bars: summary_bars(results, |c| c.wall.as_ref(), |r| Some(r.wall_s)),
        reference: None,
        log: false,
    }
}

/// Speed-up against the baseline target with its 95 % interval.
pub fn speedup_spec(results: &Results) -> Spec {
    Spec::Bars {
        y_label: format!(
            "speed-up vs {}",
            results.baseline.as_deref().unwrap_or("baseline")
        ),
        bars: results
            .summaries
            .iter()
            .filter(|c| Some(&c.target) != results.baseline.as_ref())
            .filter_map(|c| {
                let s = c.speedup_vs_baseline?;
                // Each run against the baseline's median.
                let baseline = results.summaries.iter().find(|b| {
                    Some(&b.target) == results.baseline.as_ref() && b.sample == c.sample
                })?;
                let reference = baseline.wall.as_ref()?.median;
                Some(Bar {
                    label: cell_label(&c.target, &c.sample),
                    value: s.value,
                    low: s.ci.0,
                    high: s.ci.1,
                    runs: valid_walls(&results.runs, &c.target, &c.sample)
                        .map(|r| reference / r.wall_s)
                        .collect(),
                    colour: colour_of(results, &c.target),
                })
            })
            .collect(),
        reference: Some(1.0),
        log: true,
    }
}

/// Median time to first clip with its 95 % interval.
pub fn ttfc_spec(results: &Results) -> Spec {
    Spec::Bars {
        y_label: "median time to first clip (s)".into(),
        bars: summary_bars(
            results,
            |c| c.time_to_first_clip.as_ref(),
            |r| r.time_to_first_clip_s,
        ),
        reference: None,
        log: false,
    }
}

/// Machine CPU use over time: the first run of each target on the last sample.
pub fn cpu_spec(results: &Results) -> Spec {
    let sample = results.samples.last().cloned().unwrap_or_default();
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

/// Median wall time against worker count (`--sweep workers=…`), with the ideal `T(a)·a/N`.
pub fn scaling_spec(results: &Results) -> Spec {
    let mut series = Vec::new();
    for sample in &results.samples {
        let mut points: Vec<(f64, f64)> = results
            .summaries
            .iter()
            .filter(|c| &c.sample == sample)
            .filter_map(|c| Some((c.sweep_workers? as f64, c.wall.as_ref()?.median)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some(&(first_workers, first_wall)) = points.first() else {
            continue;
        };
        let ideal = points
            .iter()
            .map(|(n, _)| (*n, first_wall * first_workers / n))
            .collect();
        let colour = results
            .samples
            .iter()
            .position(|x| x == sample)
            .unwrap_or(0);
        series.push(Series {
            name: format!("{sample} measured"),
            points,
            dashed: false,
            colour,
        });
        series.push(Series {
            name: format!("{sample} ideal"),
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

/// Per-worker timelines of the engine runs on the last sample: for each engine target its run
/// of median wall time, one row per worker, clips solid and chunks light, in the target's
/// colour.
pub fn gantt_spec(results: &Results) -> Spec {
    let sample = results.samples.last().cloned().unwrap_or_default();
    let (mut rows, mut spans) = (Vec::new(), Vec::new());
    let mut targets: Vec<&str> = Vec::new();
    for shape in results.shapes.iter().filter(|s| s.sample == sample) {
        if !targets.contains(&shape.target.as_str()) {
            targets.push(&shape.target);
        }
    }
    for target in targets {
        let mut runs: Vec<_> = valid_walls(&results.runs, target, &sample).collect();
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

/// Every chart of a report.
pub fn charts(results: &Results) -> anyhow::Result<Vec<Chart>> {
    [
        ("wall", "Median wall time (95% CI)", wall_spec(results)),
        (
            "speedup",
            "Speed-up against the baseline (95% CI)",
            speedup_spec(results),
        ),
        ("ttfc", "Time to first clip (95% CI)", ttfc_spec(results)),
        ("cpu", "CPU utilisation over time", cpu_spec(results)),
        (
            "scaling",
            "Worker-count scaling against the ideal",
            scaling_spec(results),
        ),
        (
            "gantt",
            "Tasks per worker (engine runs of median wall time; chunks and joins light)",
            gantt_spec(results),
        ),
    ]
    .into_iter()
    .map(|(name, title, spec)| render(name, title, &spec))
    .collect()
}

/// The SVG and PNG files.
pub struct PlotFiles;

impl Exporter for PlotFiles {
    fn files(&self, report: &Report) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(report
            .charts
            .iter()
            .flat_map(|c| {
                [
                    (format!("{}.svg", c.name), c.svg.clone().into_bytes()),
                    (format!("{}.png", c.name), c.png.clone()),
                ]
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{JobShape, TaskSpan};

    #[test]
    fn the_gantt_has_one_row_per_worker_of_each_target_once() {
        let results_text = include_str!("../../tests/fixtures/two-targets.json");
        let mut results: Results = serde_json::from_str(results_text).unwrap();
        let shape = |target: &str, run: usize, workers: usize| JobShape {
            target: target.into(),
            sample: "s".into(),
            run,
            analysis_s: 0.1,
            tasks: (0..workers)
                .map(|w| TaskSpan {
                    worker: w,
                    kind: "encode".into(),
                    number: w as u32 + 1,
                    from_s: 0.1,
                    to_s: 1.0,
                    cpu_s: 0.9,
                    threads: 1,
                })
                .collect(),
            encoder_peak_rss_bytes: 1,
        };
        // Interleaved runs, as the runner makes them.
        results.shapes = vec![
            shape("a", 1, 2),
            shape("b", 1, 1),
            shape("a", 2, 2),
            shape("b", 2, 1),
        ];
        let Spec::Gantt { rows, spans } = gantt_spec(&results) else {
            panic!()
        };
        assert_eq!(rows, ["a · worker 0", "a · worker 1", "b · worker 0"]);
        assert_eq!(spans.len(), 3);
        assert_ne!(spans[0].colour, spans[2].colour, "one colour per target");
    }
}
