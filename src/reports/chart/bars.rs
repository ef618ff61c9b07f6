//! Horizontal bar charts: figures per rep or per client, grouped (one bar per series) or stacked.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Chart, FONT, GRID, INK, MUTED, Style, color, err, number, shorten, text_width, value_axis, whole_numbers_only,
};

/// Pixel height of one category's row of bars.
fn row_height(chart: &Chart) -> u32 {
    match chart.style {
        Style::StackedBars => 40,
        _ => chart.series.len().max(1) as u32 * 20 + 16,
    }
}

/// Pixel height of the plot: one row per category.
pub(super) fn plot_height(chart: &Chart) -> u32 {
    (chart.categories.len() as u32 * row_height(chart)).max(120)
}

/// Horizontal bars, grouped or stacked, one row per category with its label on the left;
/// `root` is the whole drawing, `body` the area below the header.
pub(super) fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    body: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &Chart,
) -> Result<()> {
    let n = chart.categories.len();
    let stacked = chart.style == Style::StackedBars;
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            let values = chart.series.iter().map(|s| s.values.get(i).copied().flatten().unwrap_or(0.0));
            if stacked { values.sum() } else { values.fold(0.0, f64::max) }
        })
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max).max(chart.reference.as_ref().map_or(0.0, |r| r.1));
    let (top, x_labels) = value_axis(max, chart.percent, 1.14);
    let labels: Vec<String> = chart.categories.iter().map(|c| shorten(c)).collect();
    let label_width = labels.iter().map(|l| text_width(l, 14.0)).max().unwrap_or(60).clamp(60, 380) + 24;
    let mut plot = ChartBuilder::on(body)
        .margin_left(16)
        .margin_right(36)
        .margin_top(4)
        .margin_bottom(12)
        .x_label_area_size(46)
        .y_label_area_size(label_width as u32)
        .build_cartesian_2d(0f64..top, -0.5f64..(n as f64 - 0.5))
        .map_err(err)?;
    let percent = chart.percent;
    let x_format = |v: &f64| if *v > 100.0 && percent { String::new() } else { whole_numbers_only(*v, percent) };
    plot.configure_mesh()
        .x_labels(x_labels)
        .y_labels(0)
        .x_label_formatter(&x_format)
        .x_desc(chart.value_title.clone())
        .label_style((FONT, 13).into_font().color(&INK))
        .axis_desc_style((FONT, 15).into_font().color(&MUTED))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .disable_y_mesh()
        .draw()
        .map_err(err)?;

    // Where the reference line runs: a value label that would cross it goes inside its bar.
    let reference_x = chart.reference.as_ref().map(|(_, value)| plot.backend_coord(&(*value, 0.0)).0);
    let row_px = row_height(chart) as f64;
    let unit = 1.0 / row_px; // one pixel, in category units
    let value_style = (FONT, 13).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, label) in labels.iter().enumerate() {
        // The first category at the top.
        let center = (n - 1 - i) as f64;
        let (px, py) = plot.backend_coord(&(0.0, center));
        let style = (FONT, 14).into_font().color(&INK).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(label.clone(), (px - 10, py), style)).map_err(err)?;
        if stacked {
            let half = 13.0 * unit;
            let mut start = 0.0;
            for series in &chart.series {
                let value = series.values.get(i).copied().flatten().unwrap_or(0.0);
                if value <= 0.0 {
                    continue;
                }
                let end = start + value;
                plot.draw_series(std::iter::once(Rectangle::new(
                    [(start, center + half), (end, center - half)],
                    color(series).filled(),
                )))
                .map_err(err)?;
                // The segment's own figure inside it, when it fits.
                let (x0, _) = plot.backend_coord(&(start, center));
                let (x1, _) = plot.backend_coord(&(end, center));
                let figure = number(value, percent);
                if x1 - x0 > text_width(&figure, 12.0) + 8 {
                    let inside = (FONT, 12).into_font().color(&WHITE).pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw(&Text::new(figure, ((x0 + x1) / 2, py), inside)).map_err(err)?;
                }
                start = end;
            }
            plot.draw_series(std::iter::once(
                EmptyElement::at((start, center)) + Text::new(number(start, percent), (6, 0), value_style.clone()),
            ))
            .map_err(err)?;
        } else {
            let k = chart.series.len() as f64;
            let group_top = center + k * 10.0 * unit;
            for (j, series) in chart.series.iter().enumerate() {
                let bar_top = group_top - j as f64 * 20.0 * unit;
                let bar_bottom = bar_top - 17.0 * unit;
                let middle = (bar_top + bar_bottom) / 2.0;
                match series.values.get(i).copied().flatten() {
                    Some(value) => {
                        plot.draw_series(std::iter::once(Rectangle::new(
                            [(0.0, bar_top), (value, bar_bottom)],
                            color(series).filled(),
                        )))
                        .map_err(err)?;
                        let figure = number(value, percent);
                        let (x0, _) = plot.backend_coord(&(0.0, middle));
                        let (x1, _) = plot.backend_coord(&(value, middle));
                        let width = text_width(&figure, 13.0);
                        let crosses = reference_x.is_some_and(|r| r >= x1 - 2 && r <= x1 + 10 + width);
                        if crosses && x1 - x0 > width + 12 {
                            let inside = (FONT, 13).into_font().color(&WHITE).pos(Pos::new(HPos::Right, VPos::Center));
                            plot.draw_series(std::iter::once(
                                EmptyElement::at((value, middle)) + Text::new(figure, (-6, 0), inside),
                            ))
                            .map_err(err)?;
                        } else {
                            plot.draw_series(std::iter::once(
                                EmptyElement::at((value, middle)) + Text::new(figure, (6, 0), value_style.clone()),
                            ))
                            .map_err(err)?;
                        }
                    }
                    None => {
                        plot.draw_series(std::iter::once(
                            EmptyElement::at((0.0, middle)) + Text::new("no data", (6, 0), value_style.clone()),
                        ))
                        .map_err(err)?;
                    }
                }
            }
        }
    }
    if let Some((name, value)) = &chart.reference {
        let line = ShapeStyle { color: INK.mix(0.8), filled: false, stroke_width: 2 };
        plot.draw_series(DashedLineSeries::new(vec![(*value, -0.5), (*value, n as f64 - 0.5)], 6, 4, line))
            .map_err(err)?;
        let (x, y) = plot.backend_coord(&(*value, n as f64 - 0.5));
        let style = (FONT, 13).into_font().color(&INK).pos(Pos::new(HPos::Center, VPos::Bottom));
        root.draw(&Text::new(format!("{name} {}", number(*value, percent)), (x, y - 2), style)).map_err(err)?;
    }
    Ok(())
}
