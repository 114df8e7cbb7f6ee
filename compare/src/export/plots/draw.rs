//! Drawing a [`Spec`] with plotters, as SVG text and PNG bytes: one function per chart kind.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Bar, Chart, Series, Span, Spec};

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
    }
    root.present()?;
    Ok(())
}

/// Bars with their intervals and every run as a point; `(reference line, log axis)`.
fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    bars: &[Bar],
    (reference, log): (Option<f64>, bool),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    // A log axis is drawn as log10 values on a linear axis, labelled back as ratios.
    let y = |v: f64| if log { v.max(1e-9).log10() } else { v };
    let (bottom, top) = value_range(bars, reference, log);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0..bars.len() - 1).into_segmented(), bottom..top)?;
    let plain_label = |v: &f64| format!("{v:.2}");
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .y_desc(y_label)
        .y_label_formatter(&plain_label);
    if log {
        // Ratios get their own ticks (below): none of plotters' evenly spaced ones.
        mesh.disable_y_mesh().y_labels(0);
    }
    mesh.x_labels(bars.len())
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.label.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 13))
        .draw()?;
    if log {
        for tick in ticks(bottom, top) {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![
                    (SegmentValue::Exact(0), tick),
                    (SegmentValue::Exact(bars.len()), tick),
                ],
                BLACK.mix(0.15).stroke_width(1),
            )))?;
            let (x, y_px) = chart.backend_coord(&(SegmentValue::Exact(0), tick));
            root.draw(&Text::new(
                ratio_tick(10f64.powf(tick)),
                (x - 44, y_px - 7),
                ("sans-serif", 13),
            ))?;
        }
    }
    let base = if log { y(1.0) } else { 0.0 };
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
                (SegmentValue::Exact(0), y(r)),
                (SegmentValue::Exact(bars.len()), y(r)),
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

/// The value axis of a bar chart: from 0 (or below the lowest value on a log axis) to 15 %
/// above the highest value, interval end, run or reference.
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
        name: name.to_owned(),
        sample: None,
        title: title.to_owned(),
        svg,
        png,
    })
}
