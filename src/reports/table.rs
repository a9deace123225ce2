//! A report's table: typed cells, shown in words and the language's number format in HTML, and
//! written as the raw values (`mes kpi --json`'s) in CSV so a spreadsheet or a script reads
//! the same figure the API gives.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::words;
use crate::present::i18n::Lang;

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Words, the same in every language (names, codes, free text).
    Text(String),
    /// A key of [`words`]: its word in HTML, the key itself in CSV.
    Word(&'static str),
    /// A count.
    Count(u64),
    /// A signed count (a difference).
    Signed(i64),
    /// A share 0–1 (HTML shows a percentage; CSV the fraction as JSON writes it), or no data.
    Ratio(Option<f64>),
    /// A number with the decimals to show, or no data.
    Number(Option<f64>, usize),
    /// An instant (HTML: plant time; CSV: RFC 3339 UTC), or none.
    Time(Option<DateTime<Utc>>),
    /// A duration in seconds (HTML: minutes; CSV: seconds).
    Seconds(f64),
    /// A duration in milliseconds (HTML: hours; CSV: milliseconds, as the API gives them).
    Millis(i64),
}

impl Cell {
    fn html(&self, lang: Lang, zone: chrono_tz::Tz) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Word(k) => words::word(lang, k).to_owned(),
            Cell::Count(n) => lang.count(*n),
            Cell::Signed(n) => {
                let sign = if *n < 0 {
                    "−"
                } else if *n > 0 {
                    "+"
                } else {
                    ""
                };
                format!("{sign}{}", lang.count(n.unsigned_abs()))
            }
            Cell::Ratio(r) => lang.percent(*r),
            Cell::Number(v, digits) => v.map_or_else(|| "—".to_owned(), |v| lang.decimal(v, *digits)),
            Cell::Time(t) => t.map_or_else(|| "—".to_owned(), |t| lang.date_time(t, zone)),
            Cell::Seconds(s) => lang.decimal(s / 60.0, 1),
            Cell::Millis(ms) => lang.decimal(*ms as f64 / 3_600_000.0, 2),
        }
    }

    fn csv(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Word(k) => (*k).to_owned(),
            Cell::Count(n) => n.to_string(),
            Cell::Signed(n) => n.to_string(),
            // `{}` of an f64 is its shortest exact form, the number serde_json writes.
            Cell::Ratio(r) | Cell::Number(r, _) => r.map(|v| v.to_string()).unwrap_or_default(),
            Cell::Time(t) => t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).unwrap_or_default(),
            Cell::Seconds(s) => s.to_string(),
            Cell::Millis(ms) => ms.to_string(),
        }
    }

    fn numeric(&self) -> bool {
        !matches!(self, Cell::Text(_) | Cell::Word(_) | Cell::Time(_))
    }
}

/// A table: a name (file-name part and template key), its columns (CSV key, heading word) and
/// rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Name (`stations`, `hourly`, …).
    pub name: &'static str,
    /// Column keys: the CSV header and the key of the heading in [`words`].
    pub columns: Vec<&'static str>,
    /// Rows of cells, as many as columns.
    pub rows: Vec<Vec<Cell>>,
}

/// A table as a template sees it: headings and cells in words.
#[derive(Debug, Clone, Serialize)]
pub struct TableView {
    /// Name.
    pub name: &'static str,
    /// Column keys.
    pub keys: Vec<&'static str>,
    /// Headings in the report's language.
    pub headings: Vec<String>,
    /// Whether each column is numeric (right-aligned).
    pub numeric: Vec<bool>,
    /// Cells in words.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with `columns` and no rows yet.
    pub fn new(name: &'static str, columns: &[&'static str]) -> Self {
        Table { name, columns: columns.to_vec(), rows: Vec::new() }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len(), "table {}", self.name);
        self.rows.push(row);
    }

    /// The table in `lang`'s words and number format.
    pub fn view(&self, lang: Lang, zone: chrono_tz::Tz) -> TableView {
        TableView {
            name: self.name,
            keys: self.columns.clone(),
            headings: self.columns.iter().map(|c| words::word(lang, c).to_owned()).collect(),
            numeric: (0..self.columns.len())
                .map(|k| self.rows.iter().any(|r| r.get(k).is_some_and(Cell::numeric)))
                .collect(),
            rows: self.rows.iter().map(|r| r.iter().map(|c| c.html(lang, zone)).collect()).collect(),
        }
    }

    /// UTF-8 CSV with a byte-order mark (spreadsheets in a Vietnamese locale then read the
    /// diacritics right), header of column keys, raw values.
    pub fn csv(&self) -> Vec<u8> {
        let mut out = "\u{feff}".as_bytes().to_vec();
        {
            let mut w = csv::Writer::from_writer(&mut out);
            // Writing to memory does not fail.
            let _ = w.write_record(&self.columns);
            for row in &self.rows {
                let _ = w.write_record(row.iter().map(Cell::csv));
            }
            let _ = w.flush();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_bom_and_raw_values_html_has_words() {
        let mut t = Table::new("stations", &["station", "fpy", "units", "difference"]);
        t.push(vec![Cell::Text("FT, bàn".into()), Cell::Ratio(Some(0.953_125)), Cell::Count(1234), Cell::Signed(-2)]);
        t.push(vec![Cell::Text("PACK".into()), Cell::Ratio(None), Cell::Count(0), Cell::Signed(3)]);
        let csv = String::from_utf8(t.csv()).unwrap();
        assert_eq!(csv, "\u{feff}station,fpy,units,difference\n\"FT, bàn\",0.953125,1234,-2\nPACK,,0,3\n");
        let view = t.view(Lang::Vi, chrono_tz::Asia::Ho_Chi_Minh);
        assert_eq!(view.rows[0], vec!["FT, bàn", "95,3 %", "1.234", "−2"]);
        assert_eq!(view.rows[1][1], "—");
        assert_eq!(view.numeric, vec![false, true, true, true]);
    }
}
