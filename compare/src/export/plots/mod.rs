//! Plots rendered with plotters as SVG and PNG: one small data struct per chart kind (bars with
//! error bars, lines, a Gantt chart), built from the results by one function per chart
//! (`specs`) and drawn by one function per kind (`draw`).

mod draw;
mod specs;

pub use draw::render;
pub use specs::*;

use super::{Exporter, Report};

/// A rendered chart.
pub struct Chart {
    /// File stem: `<name>.svg` and `<name>.png`.
    pub name: String,
    /// The sample it shows, when it shows one.
    pub sample: Option<String>,
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

/// One commit of a trend chart: its median and the range of its runs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub commit: String,
    pub median: f64,
    pub low: f64,
    pub high: f64,
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
    /// A target's history: a point per commit in commit order, its change points marked
    /// (`(index of the first point at the new level, label)`).
    Trend {
        points: Vec<TrendPoint>,
        changes: Vec<(usize, String)>,
    },
}

impl Spec {
    /// Whether the chart would show nothing (such a chart is not part of the report).
    pub fn is_empty(&self) -> bool {
        match self {
            Spec::Bars { bars, .. } => bars.is_empty(),
            Spec::Lines { series, .. } => series.iter().all(|s| s.points.is_empty()),
            Spec::Gantt { spans, .. } => spans.is_empty(),
            Spec::Trend { points, .. } => points.len() < 2,
        }
    }
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
    use super::draw::{ratio_tick, ticks};

    #[test]
    fn each_sample_has_its_own_charts_and_empty_ones_are_left_out() {
        let text = include_str!("../../../tests/fixtures/two-targets.json");
        let mut results: Results = serde_json::from_str(text).unwrap();
        let mut other = results.summaries.clone();
        for cell in &mut other {
            cell.sample = "long one".into();
        }
        results.summaries.extend(other);
        results.samples.push("long one".into());
        let spec = wall_spec(&results, "s");
        let Spec::Bars { bars, .. } = &spec else {
            panic!()
        };
        let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["a", "b"], "one bar per target of this sample only");
        let names: Vec<String> = specs::charts(&results, &[])
            .unwrap()
            .into_iter()
            .map(|c| format!("{} {:?}", c.name, c.sample))
            .collect();
        assert!(
            names.contains(&"wall-s Some(\"s\")".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"wall-long-one Some(\"long one\")".to_owned()),
            "{names:?}"
        );
        // No sweep: no scaling chart for either sample.
        assert!(!names.iter().any(|n| n.starts_with("scaling")), "{names:?}");
    }

    #[test]
    fn ratio_ticks_are_one_two_five_times_powers_of_ten() {
        let log = ticks(0.5f64.log10(), 60f64.log10());
        let ratios: Vec<f64> = log
            .iter()
            .map(|t| (10f64.powf(*t) * 1e6).round() / 1e6)
            .collect();
        assert_eq!(ratios, [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]);
        let labels: Vec<String> = [1.0, 2.0, 20.0, 0.5, 0.02].map(ratio_tick).to_vec();
        assert_eq!(labels, ["1x", "2x", "20x", "0.5x", "0.02x"]);
    }

    use super::*;
    use crate::history::series::{self as history, Change, LeftOut, Metric, Order, Point};
    use crate::record::{JobShape, Results, TaskSpan};

    /// The `y` of every `<text>` of `svg` whose content is one of `labels`.
    fn label_rows(svg: &str, labels: &[String]) -> Vec<f64> {
        svg.split("<text")
            .skip(1)
            .filter_map(|element| {
                let (attributes, rest) = element.split_once('>')?;
                let content = rest.split("</text>").next()?.trim();
                labels.iter().any(|l| l == content).then_some(())?;
                let y = attributes.split("y=\"").nth(1)?.split('"').next()?;
                y.parse().ok()
            })
            .collect()
    }

    #[test]
    fn horizontal_bars_give_every_label_its_own_row() {
        let labels: Vec<String> = (0..8)
            .map(|i| format!("a rather long target name number {i}"))
            .collect();
        let bars = labels
            .iter()
            .enumerate()
            .map(|(i, label)| Bar {
                label: label.clone(),
                value: 1.0 + i as f64,
                low: 0.5 + i as f64,
                high: 1.5 + i as f64,
                runs: vec![1.0 + i as f64],
                colour: i,
            })
            .collect();
        let spec = Spec::Bars {
            y_label: "seconds".into(),
            bars,
            reference: None,
            log: false,
        };
        let chart = render("bars", "Bars", &spec).unwrap();
        let mut rows = label_rows(&chart.svg, &labels);
        assert_eq!(rows.len(), 8, "every label drawn once");
        rows.sort_by(f64::total_cmp);
        let closest = rows
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::MAX, f64::min);
        assert!(
            closest >= 20.0,
            "labels 13 px high {closest} px apart: {rows:?}"
        );
    }

    fn series_of(points: usize) -> history::Series {
        history::Series {
            target: "a".into(),
            sample: "s".into(),
            machine_id: "m".into(),
            machine: "a machine".into(),
            config_hash: "0123456789abcdef".into(),
            order: Order::Git,
            points: (0..points)
                .map(|i| Point {
                    commit: format!("c{i:09}"),
                    first_measured_at: String::new(),
                    runs: 3,
                    wall_median_s: if i >= 3 { 5.5 } else { 5.0 },
                    wall_range_s: (4.9, 5.6),
                    wall_s: 5.0,
                    cpu_s: None,
                })
                .collect(),
            changes: vec![Change {
                metric: Metric::Wall,
                index: 3,
                last_before: "c000000002".into(),
                first_after: "c000000003".into(),
                before_s: 5.0,
                after_s: 5.5,
                change: 0.1,
                p_value: 0.005,
            }],
            left_out: LeftOut::default(),
        }
    }

    #[test]
    fn a_history_of_two_commits_or_more_gets_a_trend_chart_in_its_sample() {
        let results: Results =
            serde_json::from_str(include_str!("../../../tests/fixtures/two-targets.json")).unwrap();
        let charts = specs::charts(&results, &[series_of(6)]).unwrap();
        let trend = charts.iter().find(|c| c.name == "trend-a-s").unwrap();
        assert_eq!(trend.sample.as_deref(), Some("s"));
        assert!(trend.svg.contains("+10.0%"), "the change point is labelled");
        let lines = crate::export::markdown::history_lines(&[series_of(6), series_of(1)]);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("newest change +10.0% between c000000002 and c000000003"));
        let none = specs::charts(&results, &[series_of(1)]).unwrap();
        assert!(!none.iter().any(|c| c.name.starts_with("trend")));
    }

    #[test]
    fn the_gantt_has_one_row_per_worker_of_each_target_once() {
        let results_text = include_str!("../../../tests/fixtures/two-targets.json");
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
        let Spec::Gantt { rows, spans } = gantt_spec(&results, "s") else {
            panic!()
        };
        assert_eq!(rows, ["a · worker 0", "a · worker 1", "b · worker 0"]);
        assert_eq!(spans.len(), 3);
        assert_ne!(spans[0].colour, spans[2].colour, "one colour per target");
    }
}
