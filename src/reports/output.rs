//! Reports as CSV (for spreadsheets), JSON (for programs) and SVG (for people).

use serde_json::{Map, Value as Json, json};

use super::{Format, Report, Value};

/// The UTF-8 byte order mark: Excel reads a CSV file as UTF-8 only when it starts with one.
pub const BOM: &str = "\u{feff}";

/// The report in `format`; `bom` puts a byte order mark before CSV.
pub fn render(report: &Report, format: Format, bom: bool) -> anyhow::Result<String> {
    Ok(match format {
        Format::Csv => to_csv(report, bom),
        Format::Json => to_json(report),
        Format::Svg => super::chart::render_svg(&report.chart)?,
    })
}

/// RFC 4180 CSV: a header row, CRLF line ends, ISO dates, shares as decimal fractions with a
/// dot, empty cells for "no value".
pub fn to_csv(report: &Report, bom: bool) -> String {
    let mut out = String::new();
    if bom {
        out.push_str(BOM);
    }
    let header: Vec<String> = report.columns.iter().map(|c| csv_text(c)).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in &report.rows {
        let cells: Vec<String> = row.iter().map(csv_cell).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_cell(value: &Value) -> String {
    match value {
        Value::Int(v) => v.to_string(),
        Value::Float(v) => format_share(*v),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Text(t) => csv_text(t),
        Value::Null => String::new(),
    }
}

fn format_share(v: f64) -> String {
    let text = format!("{v:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.to_string() }
}

/// A text cell, quoted when needed. Text that a spreadsheet would run as a formula (a client named
/// "=HYPERLINK(...)" by whoever typed it into the CRM) is prefixed with an apostrophe (OWASP).
fn csv_text(text: &str) -> String {
    let guarded =
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) || guarded.starts_with(' ') || guarded.ends_with(' ') {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// `{report, title, description, period, previous_period?, rep, compare, columns, rows}` with each
/// row an object keyed by column name (`columns` gives their order).
pub fn to_json(report: &Report) -> String {
    let mut head = serde_json::to_value(report).unwrap_or_else(|_| json!({}));
    let rows: Vec<Json> = report
        .rows
        .iter()
        .map(|row| {
            let object: Map<String, Json> = report
                .columns
                .iter()
                .zip(row)
                .map(|(column, value)| (column.clone(), serde_json::to_value(value).unwrap_or(Json::Null)))
                .collect();
            Json::Object(object)
        })
        .collect();
    if let Json::Object(map) = &mut head {
        map.insert("rows".into(), Json::Array(rows));
    }
    let mut text = serde_json::to_string_pretty(&head).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells() {
        assert_eq!(csv_text("Nordwind Foods, Ltd"), "\"Nordwind Foods, Ltd\"");
        assert_eq!(csv_text("Say \"hi\""), "\"Say \"\"hi\"\"\"");
        assert_eq!(csv_text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_text("Müller & Söhne"), "Müller & Söhne");
        assert_eq!(format_share(0.5), "0.5");
        assert_eq!(format_share(2.0 / 3.0), "0.6667");
        assert_eq!(format_share(0.0), "0");
        assert_eq!(format_share(-0.25), "-0.25");
        assert_eq!(csv_cell(&Value::Int(-3)), "-3", "numbers are not guarded");
    }
}
