//! Plots rendered with plotters as SVG and PNG: one small data struct per chart kind (bars with
//! error bars, lines), built from the results by one function per chart.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Exporter, Report};
use crate::record::{CellSummary, Results};
use crate::stats::Summary;

/// A rendered chart.
pub struct Chart {
    /// File stem: `<name>.svg` and `<name>.png`.
    pub name: &'static str,
    pub title: String,
    pub svg: String,
    pub png: Vec<u8>,
}

/// One bar with its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// What a chart shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Bars {
        y_label: String,
        bars: Vec<Bar>,
        /// A horizontal reference line (e.g. 1.0 for speed-ups).
        reference: Option<f64>,
    },
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
        Spec::Lines { .. } => 900,
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
        } => {
            let top = bars
                .iter()
                .map(|b| b.high.max(b.value))
                .fold(reference.unwrap_or(0.0), f64::max)
                * 1.15;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d((0..bars.len() - 1).into_segmented(), 0.0..top.max(1e-6))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .y_desc(y_label.as_str())
                .x_labels(bars.len())
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(i) => {
                        bars.get(*i).map(|b| b.label.clone()).unwrap_or_default()
                    }
                    _ => String::new(),
                })
                .label_style(("sans-serif", 13))
                .draw()?;
            chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
                let color = Palette99::pick(i).mix(0.8);
                let mut rect = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), b.value),
                    ],
                    color.filled(),
                );
                rect.set_margin(0, 0, 18, 18);
                rect
            }))?;
            chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
                ErrorBar::new_vertical(
                    SegmentValue::CenterOf(i),
                    b.low,
                    b.value,
                    b.high,
                    BLACK.stroke_width(2),
                    12,
                )
            }))?;
            if let Some(y) = reference {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![
                        (SegmentValue::Exact(0), *y),
                        (SegmentValue::Exact(bars.len()), *y),
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
            for (i, s) in series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
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

/// One bar per cell: the median of `pick`'s summary with its 95 % interval.
fn summary_bars(results: &Results, pick: fn(&CellSummary) -> Option<&Summary>) -> Vec<Bar> {
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
            })
        })
        .collect()
}

/// Median wall time per (target, sample) with its 95 % interval.
pub fn wall_spec(results: &Results) -> Spec {
    Spec::Bars {
        y_label: "median wall time (s)".into(),
        bars: summary_bars(results, |c| c.wall.as_ref()),
        reference: None,
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
                Some(Bar {
                    label: cell_label(&c.target, &c.sample),
                    value: s.value,
                    low: s.ci.0,
                    high: s.ci.1,
                })
            })
            .collect(),
        reference: Some(1.0),
    }
}

/// Median time to first clip with its 95 % interval.
pub fn ttfc_spec(results: &Results) -> Spec {
    Spec::Bars {
        y_label: "median time to first clip (s)".into(),
        bars: summary_bars(results, |c| c.time_to_first_clip.as_ref()),
        reference: None,
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
        series.push(Series {
            name: format!("{sample} measured"),
            points,
            dashed: false,
        });
        series.push(Series {
            name: format!("{sample} ideal"),
            points: ideal,
            dashed: true,
        });
    }
    Spec::Lines {
        x_label: "workers".into(),
        y_label: "median wall time (s)".into(),
        series,
    }
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
