//! Report charts as standalone SVG (plotters' SVG backend): line charts for figures over time,
//! horizontal bars (grouped or stacked) for figures per rep or per client, whose long names read
//! best on the vertical axis. Text is SVG text in the generic `sans-serif` family: no fonts, images
//! or scripts are referenced.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod bars;
mod lines;

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
    /// The last category is a period not over yet (its figures so far): lines reach it dashed,
    /// to an open dot, so that a low last value does not read as a collapse (its label says
    /// "partial" too).
    pub partial_last: bool,
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
        Style::Bars | Style::StackedBars => header + bars::plot_height(chart) + 90,
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
                Style::Lines => lines::draw(&body, chart)?,
                Style::Bars | Style::StackedBars => bars::draw(&root, &body, chart)?,
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
            partial_last: true,
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
