//! Report charts as standalone SVG (plotters' SVG backend): line charts for figures over time,
//! horizontal bars (grouped or stacked) for figures per rep or per client, whose long names read
//! best on the vertical axis. Text is SVG text in the generic `sans-serif` family: no fonts, images
//! or scripts are referenced.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    /// One line per series across the categories (time buckets).
    #[default]
    Lines,
    /// One horizontal bar per series in each category.
    Bars,
    /// The series stacked into one horizontal bar per category.
    StackedBars,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    /// One value per category; `None` draws nothing (a gap in a line).
    pub values: Vec<Option<f64>>,
    /// Index into the palette.
    pub color: usize,
    /// An earlier period: a dashed line, or a lighter bar.
    pub faded: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    pub title: String,
    pub subtitle: String,
    pub style: Style,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    pub x_title: String,
    pub value_title: String,
    /// Values are percentages (0 to 100).
    pub percent: bool,
    /// A labelled reference value drawn across the bars (e.g. the team's figure).
    pub reference: Option<(String, f64)>,
}

/// Tableau 10: distinct hues that stay apart for the colour-blind and in greyscale print.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];
/// Palette entries of completed, cancelled and planned activities.
pub const STATUS_COLORS: [usize; 3] = [4, 2, 9];
pub const UNTOUCHED_COLOR: usize = 1;

const WIDTH: u32 = 1100;
const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(40, 40, 40);
const MUTED: RGBColor = RGBColor(100, 100, 100);
const GRID: RGBColor = RGBColor(232, 232, 232);
const MAX_LABEL_CHARS: usize = 42;

fn color(series: &Series) -> RGBAColor {
    let base = PALETTE[series.color % PALETTE.len()];
    if series.faded { base.mix(0.45) } else { base.mix(1.0) }
}

/// Rough width in pixels of `text` in a plotters font of `size` (which the SVG backend writes as
/// `size / 1.24` px); it cannot measure text either. Generous for a sans-serif font.
fn text_width(text: &str, size: f64) -> i32 {
    (text.chars().count() as f64 * size / 1.24 * 0.62).ceil() as i32
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL_CHARS {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX_LABEL_CHARS - 1).collect::<String>().trim_end())
    }
}

fn number(value: f64, percent: bool) -> String {
    if percent {
        format!("{value:.1}%")
    } else if (value - value.round()).abs() < 1e-9 {
        format!("{}", value.round() as i64)
    } else {
        format!("{value:.1}")
    }
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the chart: {e}")
}

/// The legend's rows: each item is (series index, x offset); rows wrap at the chart's width.
fn legend_layout(series: &[Series]) -> Vec<Vec<(usize, i32)>> {
    let mut rows: Vec<Vec<(usize, i32)>> = vec![Vec::new()];
    let mut x = 24;
    for (i, s) in series.iter().enumerate() {
        let width = 22 + text_width(&s.name, 14.0) + 26;
        if x + width > WIDTH as i32 - 24 && !rows.last().is_some_and(Vec::is_empty) {
            rows.push(Vec::new());
            x = 24;
        }
        rows.last_mut().expect("one row at least").push((i, x));
        x += width;
    }
    rows
}

fn header_height(chart: &Chart) -> u32 {
    let legend_rows = if chart.series.len() > 1 { legend_layout(&chart.series).len() as u32 } else { 0 };
    72 + legend_rows * 24 + 8
}

/// Title, subtitle and legend, above the plot.
fn draw_header(root: &DrawingArea<SVGBackend<'_>, Shift>, chart: &Chart) -> Result<()> {
    root.draw(&Text::new(chart.title.clone(), (24, 16), (FONT, 24).into_font().style(FontStyle::Bold).color(&INK)))
        .map_err(err)?;
    root.draw(&Text::new(chart.subtitle.clone(), (24, 48), (FONT, 15).into_font().color(&MUTED))).map_err(err)?;
    if chart.series.len() < 2 {
        return Ok(());
    }
    for (row, items) in legend_layout(&chart.series).iter().enumerate() {
        let y = 80 + row as i32 * 24;
        for &(i, x) in items {
            let series = &chart.series[i];
            let swatch = color(series);
            if chart.style == Style::Lines {
                let line = ShapeStyle { color: swatch, filled: false, stroke_width: 3 };
                if series.faded {
                    for dash in 0..3 {
                        let x0 = x + dash * 7;
                        root.draw(&PathElement::new(vec![(x0, y + 7), (x0 + 4, y + 7)], line)).map_err(err)?;
                    }
                } else {
                    root.draw(&PathElement::new(vec![(x, y + 7), (x + 18, y + 7)], line)).map_err(err)?;
                }
            } else {
                root.draw(&Rectangle::new([(x, y), (x + 16, y + 14)], swatch.filled())).map_err(err)?;
            }
            let style = (FONT, 14).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(series.name.clone(), (x + 22, y + 7), style)).map_err(err)?;
        }
    }
    Ok(())
}

fn no_data(root: &DrawingArea<SVGBackend<'_>, Shift>, top: u32, height: u32) -> Result<()> {
    let style = (FONT, 18).into_font().color(&MUTED).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new("No data in this period", (WIDTH as i32 / 2, ((top + height) / 2) as i32), style)).map_err(err)
}

/// The chart as an SVG document.
pub fn render_svg(chart: &Chart) -> Result<String> {
    let header = header_height(chart);
    let empty = chart.categories.is_empty() || chart.series.is_empty();
    let height = match chart.style {
        _ if empty => header + 200,
        Style::Lines => header + 480,
        Style::Bars | Style::StackedBars => header + bar_plot_height(chart) + 90,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_header(&root, chart)?;
        if empty {
            no_data(&root, header, height)?;
        } else {
            let (_, body) = root.split_vertically(header);
            match chart.style {
                Style::Lines => draw_lines(&body, chart)?,
                Style::Bars | Style::StackedBars => draw_bars(&root, &body, chart)?,
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Labels of an integer-valued axis: no label between whole numbers.
fn whole_numbers_only(value: f64, percent: bool) -> String {
    if (value - value.round()).abs() > 1e-6 || value < -1e-6 { String::new() } else { number(value.round(), percent) }
}

/// A value axis from 0 to a little above `max`, and how many labels it gets: whole-number steps
/// for small counts.
fn value_axis(max: f64, percent: bool, headroom: f64) -> (f64, usize) {
    if percent {
        return (100.0 * headroom.max(1.0), 6);
    }
    let top = (max * headroom).max(4.0);
    let labels = if top <= 10.0 { top.floor() as usize + 1 } else { 8 };
    (top, labels)
}

fn draw_lines(body: &DrawingArea<SVGBackend<'_>, Shift>, chart: &Chart) -> Result<()> {
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

/// Pixel height of one category's row of bars.
fn row_height(chart: &Chart) -> u32 {
    match chart.style {
        Style::StackedBars => 40,
        _ => chart.series.len().max(1) as u32 * 20 + 16,
    }
}

fn bar_plot_height(chart: &Chart) -> u32 {
    (chart.categories.len() as u32 * row_height(chart)).max(120)
}

fn draw_bars(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(style: Style) -> Chart {
        Chart {
            title: "Clients & <things>".into(),
            subtitle: "2026-01-01 to 2026-11-23".into(),
            style,
            categories: vec!["alice".into(), "a very long client name that goes on and on, GmbH & Co. KG".into()],
            series: vec![
                Series { name: "2025".into(), values: vec![Some(3.0), None], color: 0, faded: true },
                Series { name: "2026".into(), values: vec![Some(5.0), Some(2.0)], color: 0, faded: false },
            ],
            x_title: "Week".into(),
            value_title: "Clients".into(),
            percent: false,
            reference: Some(("team".into(), 4.0)),
        }
    }

    #[test]
    fn svg_is_self_contained_and_escaped() {
        for style in [Style::Lines, Style::Bars, Style::StackedBars] {
            let svg = render_svg(&sample(style)).unwrap();
            assert!(svg.starts_with("<svg"), "{style:?}");
            assert!(svg.contains("Clients &amp; &lt;things&gt;"));
            assert!(!svg.contains("href"), "no external assets");
            assert!(!svg.contains("<script"));
        }
        let empty = Chart { categories: vec![], ..sample(Style::Bars) };
        assert!(render_svg(&empty).unwrap().contains("No data in this period"));
    }

    #[test]
    fn long_labels_are_shortened() {
        let short = shorten("a very long client name that goes on and on, GmbH & Co. KG");
        assert!(short.chars().count() <= MAX_LABEL_CHARS && short.ends_with('…'));
    }
}
