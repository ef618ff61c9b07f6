//! Line charts: figures over time (weeks, months), one line per series.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Chart, FONT, GRID, INK, MUTED, Series, WIDTH, color, err, text_width, value_axis, whole_numbers_only};

/// Figures over time: one line per series (dashed when faded) across the categories.
pub(super) fn draw(body: &DrawingArea<SVGBackend<'_>, Shift>, chart: &Chart) -> Result<()> {
    let n = chart.categories.len();
    let max = chart.series.iter().flat_map(|s| s.values.iter().flatten()).fold(0.0f64, |a, &b| a.max(b));
    let (top, y_labels) = value_axis(max, chart.percent, 1.12);
    let mut plot = ChartBuilder::on(body)
        .margin_left(16)
        .margin_right(36)
        .margin_top(6)
        .margin_bottom(12)
        .x_label_area_size(46)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
        .map_err(err)?;
    let categories = &chart.categories;
    let x_format = |v: &f64| {
        let i = v.round();
        if (v - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        categories.get(i as usize).cloned().unwrap_or_default()
    };
    let percent = chart.percent;
    let y_format = |v: &f64| whole_numbers_only(*v, percent);
    // At most about ten date labels, whatever the number of weeks: they must not run into each other.
    let longest = categories.iter().map(|c| text_width(c, 13.0)).max().unwrap_or(60).max(40);
    let x_labels = ((WIDTH as i32 - 140) / (longest + 24)).clamp(2, 16) as usize;
    plot.configure_mesh()
        .x_labels(x_labels.min(n.max(1)))
        .y_labels(y_labels)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .x_desc(chart.x_title.clone())
        .y_desc(chart.value_title.clone())
        .label_style((FONT, 13).into_font().color(&INK))
        .axis_desc_style((FONT, 15).into_font().color(&MUTED))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .disable_x_mesh()
        .draw()
        .map_err(err)?;
    let dots = n <= 60;
    // Earlier periods first, so that the current ones are drawn on top.
    let mut order: Vec<&Series> = chart.series.iter().collect();
    order.sort_by_key(|s| !s.faded);
    for series in order {
        let style = ShapeStyle { color: color(series), filled: false, stroke_width: 2 };
        // A gap (None) splits the line.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (i, value) in series.values.iter().enumerate() {
            match value {
                Some(v) => runs.last_mut().expect("a run").push((i as f64, *v)),
                None if !runs.last().is_some_and(Vec::is_empty) => runs.push(Vec::new()),
                None => {}
            }
        }
        // A partial last period: the segment into it dashed, its dot open.
        let partial_point = match chart.partial_last && !series.faded && n > 0 {
            true => runs.last_mut().filter(|run| run.last().is_some_and(|p| p.0 == (n - 1) as f64)).and_then(|run| {
                let point = run.pop()?;
                let into = run.last().copied().into_iter().chain(std::iter::once(point)).collect::<Vec<_>>();
                Some((point, into))
            }),
            false => None,
        };
        if let Some((point, into)) = partial_point {
            if into.len() == 2 {
                plot.draw_series(DashedLineSeries::new(into, 6, 5, style)).map_err(err)?;
            }
            plot.draw_series(std::iter::once(Circle::new(point, 4, style))).map_err(err)?;
        }
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            if series.faded {
                plot.draw_series(DashedLineSeries::new(run.clone(), 6, 5, style)).map_err(err)?;
            } else {
                plot.draw_series(LineSeries::new(run.clone(), style)).map_err(err)?;
                if dots {
                    plot.draw_series(run.iter().map(|p| Circle::new(*p, 3, color(series).filled()))).map_err(err)?;
                }
            }
        }
    }
    Ok(())
}
