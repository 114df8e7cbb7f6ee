//! Drawing a [`Spec`] with plotters, as SVG text and PNG bytes: one function per chart kind.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Bar, Chart, Series, Span, Spec, TrendPoint};

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

/// A chart's size: bar charts get a row per bar (horizontal bars, labels on the left, each on
/// its own row so they never overlap), the others a fixed size.
fn size_for(spec: &Spec) -> (u32, u32) {
    match spec {
        Spec::Bars { bars, .. } => (900, (56 * bars.len() as u32 + 130).max(260)),
        Spec::Lines { .. } | Spec::Gantt { .. } | Spec::Trend { .. } => (900, HEIGHT),
    }
}

/// Pixels the bar labels need on the left (about 7.5 per character at 13 px).
fn label_width(bars: &[Bar]) -> u32 {
    let longest = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    (longest as u32 * 15 / 2 + 24).clamp(90, 360)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, title: &str, spec: &Spec) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    if spec.is_empty() {
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
        } => draw_bars(&root, title, y_label, bars, (*reference, *log))?,
        Spec::Lines {
            x_label,
            y_label,
            series,
        } => draw_lines(&root, title, (x_label, y_label), series)?,
        Spec::Gantt { rows, spans } => draw_gantt(&root, title, rows, spans)?,
        Spec::Trend { points, changes } => draw_trend(&root, title, points, changes)?,
    }
    root.present()?;
    Ok(())
}

/// Horizontal bars with their intervals and every run as a point, one row per bar with its
/// label on the left; `(reference line, log axis)`.
fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    value_label: &str,
    bars: &[Bar],
    (reference, log): (Option<f64>, bool),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    // A log axis is drawn as log10 values on a linear axis, labelled back as ratios.
    let x = |v: f64| if log { v.max(1e-9).log10() } else { v };
    let (left, right) = value_range(bars, reference, log);
    // Row 0 at the top: bar i sits in segment rows - 1 - i. Two segments at least (plotters
    // cannot map a one-value range): a single bar leaves the top one empty.
    let rows = bars.len().max(2);
    let row = |i: usize| bars.len() - 1 - i;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(label_width(bars))
        .build_cartesian_2d(left..right, (0..rows - 1).into_segmented())?;
    let plain_label = |v: &f64| format!("{v:.2}");
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh()
        .x_desc(value_label)
        .x_label_formatter(&plain_label);
    if log {
        // Ratios get their own ticks (below): none of plotters' evenly spaced ones.
        mesh.disable_x_mesh().x_labels(0);
    }
    mesh.y_labels(rows)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(r) => (bars.len() - 1)
                .checked_sub(*r)
                .and_then(|i| bars.get(i))
                .map(|b| b.label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 13))
        .draw()?;
    if log {
        for tick in ticks(left, right) {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![
                    (tick, SegmentValue::Exact(0)),
                    (tick, SegmentValue::Exact(rows)),
                ],
                BLACK.mix(0.15).stroke_width(1),
            )))?;
            let (x_px, y_px) = chart.backend_coord(&(tick, SegmentValue::Exact(0)));
            root.draw(&Text::new(
                ratio_tick(10f64.powf(tick)),
                (x_px - 10, y_px + 8),
                ("sans-serif", 13),
            ))?;
        }
    }
    let base = if log { x(1.0) } else { 0.0 };
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let color = Palette99::pick(b.colour).mix(0.55);
        let mut rect = Rectangle::new(
            [
                (base, SegmentValue::Exact(row(i))),
                (x(b.value), SegmentValue::Exact(row(i) + 1)),
            ],
            color.filled(),
        );
        rect.set_margin(10, 10, 0, 0);
        rect
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        ErrorBar::new_horizontal(
            SegmentValue::CenterOf(row(i)),
            x(b.low),
            x(b.value),
            x(b.high),
            BLACK.stroke_width(2),
            12,
        )
    }))?;
    // Every run as a point, spread across the bar's height so equal values stay visible.
    chart.draw_series(bars.iter().enumerate().flat_map(|(i, b)| {
        let n = b.runs.len().max(1) as f64;
        let colour = Palette99::pick(b.colour).to_rgba();
        b.runs.iter().enumerate().map(move |(k, v)| {
            let offset = ((k as f64 + 0.5) / n - 0.5) * 24.0;
            EmptyElement::at((x(*v), SegmentValue::CenterOf(row(i))))
                + Circle::new((0, offset as i32), 4, colour.filled())
                + Circle::new((0, offset as i32), 4, BLACK.stroke_width(1))
        })
    }))?;
    if let Some(r) = reference {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![
                (x(r), SegmentValue::Exact(0)),
                (x(r), SegmentValue::Exact(rows)),
            ],
            RED.stroke_width(1),
        )))?;
    }
    Ok(())
}

/// A log axis's ticks (as log10 values): 1, 2 and 5 times the powers of ten within
/// `bottom..top`, so a reader sees 1x, 2x, 5x, 10x — never 1.585x.
pub fn ticks(bottom: f64, top: f64) -> Vec<f64> {
    let (low, high) = (bottom.floor() as i32, top.ceil() as i32);
    (low..=high)
        .flat_map(|e| [1.0, 2.0, 5.0].map(|m| (m * 10f64.powi(e)).log10()))
        .filter(|t| (bottom..=top).contains(t))
        .collect()
}

/// A ratio tick's label: `1x`, `2x`, `20x`, `0.5x`, `0.02x`.
pub fn ratio_tick(ratio: f64) -> String {
    if ratio >= 1.0 {
        format!("{ratio:.0}x")
    } else {
        let decimals = (-ratio.log10().floor()) as usize;
        format!("{ratio:.decimals$}x")
    }
}

/// The value axis of a bar chart: from 0 (or left of the lowest value on a log axis) to 15 %
/// beyond the highest value, interval end, run or reference.
fn value_range(bars: &[Bar], reference: Option<f64>, log: bool) -> (f64, f64) {
    let y = |v: f64| if log { v.max(1e-9).log10() } else { v };
    let values = bars
        .iter()
        .flat_map(|b| {
            [b.high, b.value, b.low]
                .into_iter()
                .chain(b.runs.iter().copied())
        })
        .chain(reference);
    let (low, high) = values.fold((0.0f64, 0.0f64), |(l, h), v| (l.min(y(v)), h.max(y(v))));
    let pad = 0.15 * (high - low).max(1e-6);
    let bottom = if log { low - pad } else { 0.0 };
    (bottom, high + pad)
}

/// Lines (dashed for ideals) with a legend; `(x label, y label)`.
fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[Series],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let points = series.iter().flat_map(|s| s.points.iter());
    let (x_max, y_max) = points.fold((0.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..(x_max * 1.05).max(1e-6), 0.0..(y_max * 1.1).max(1e-6))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 13))
        .draw()?;
    for s in series {
        let color = Palette99::pick(s.colour).to_rgba();
        let style = color.stroke_width(2);
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(s.points.iter().copied(), 8, 5, style))?
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

    Ok(())
}

/// Median wall time per commit with its runs' range, a dashed line before each change point.
fn draw_trend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[TrendPoint],
    changes: &[(usize, String)],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let low = points.iter().map(|p| p.low).fold(f64::INFINITY, f64::min);
    let high = points.iter().map(|p| p.high).fold(0.0, f64::max);
    let pad = 0.1 * (high - low).max(1e-3);
    let n = points.len();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, (low - pad).max(0.0)..high + pad)?;
    // At most ten commit labels, evenly spaced, so they never overlap.
    let every = n.div_ceil(10).max(1);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("commit (oldest left)")
        .y_desc("seconds (median, range of runs)")
        .x_labels(n.clamp(2, 10))
        .x_label_formatter(&|x| {
            let i = x.round();
            match ((x - i).abs() < 1e-6 && i >= 0.0).then_some(i as usize) {
                Some(i) if i < n && i % every == 0 => points[i].commit.chars().take(7).collect(),
                _ => String::new(),
            }
        })
        .label_style(("sans-serif", 13))
        .draw()?;
    chart.draw_series(points.iter().enumerate().map(|(i, p)| {
        ErrorBar::new_vertical(i as f64, p.low, p.median, p.high, BLUE.stroke_width(1), 6)
    }))?;
    chart.draw_series(LineSeries::new(
        points.iter().enumerate().map(|(i, p)| (i as f64, p.median)),
        BLUE.stroke_width(2),
    ))?;
    for (index, label) in changes {
        let at = *index as f64 - 0.5;
        chart.draw_series(DashedLineSeries::new(
            [(at, low - pad), (at, high + pad)],
            6,
            4,
            RED.stroke_width(2),
        ))?;
        let (x_px, y_px) = chart.backend_coord(&(at, high + pad));
        root.draw(&Text::new(
            label.clone(),
            (x_px + 4, y_px + 4),
            ("sans-serif", 14).into_font().color(&RED),
        ))?;
    }
    Ok(())
}

/// One row per (target, worker), one rectangle per task.
fn draw_gantt<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[String],
    spans: &[Span],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let end = spans.iter().map(|s| s.to).fold(0.0, f64::max) * 1.02;
    let mut chart = ChartBuilder::on(root)
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

    Ok(())
}

/// Renders a spec as SVG text and PNG bytes.
pub fn render(name: &str, title: &str, spec: &Spec) -> anyhow::Result<Chart> {
    register_font();
    let size = size_for(spec);
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
        name: name.to_owned(),
        sample: None,
        title: title.to_owned(),
        svg,
        png,
    })
}
