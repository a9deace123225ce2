//! Printable reports: the shift report, the yield report, the trace certificate of a serial and
//! the output audit report. Each is assembled from the same figures the pages and `mes kpi`
//! show ([`crate::figures`], [`crate::audit`]), laid out by a template users edit in
//! `reports/` ([`templates`]), and written as print-ready HTML, one CSV per table and, on
//! request, the charts as PNG and (with the `pdf` feature) a PDF/A-2b rendered in process.
//!
//! Must never: compute a figure (it assembles documents), or format a figure in a CSV (CSV
//! cells hold the values as `mes kpi --json` writes them; only HTML is in words).

pub mod audit;
pub mod auto;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod shift;
pub mod table;
pub mod templates;
pub mod trace;
pub mod words;
pub mod yields;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::figures::FiguresError;
use crate::present::charts::{self, Chart, ChartError, Theme};
use crate::present::i18n::Lang;
use crate::store::Store;
pub use table::{Cell, Table};
pub use templates::{TemplateError, Templates};

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One line over one shift: output against plan, yields, OEE, downtime, defects, holds,
    /// counters, ledger status.
    Shift,
    /// Yields of a line over a period with their trend and the defect Pareto.
    Yield,
    /// Certificate of conformance / device history record of one serial.
    Trace,
    /// Raw, corrected and difference figures of closed periods with how to verify them.
    Audit,
}

impl Kind {
    /// Its name on the command line, in file names and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Shift => "shift",
            Kind::Yield => "yield",
            Kind::Trace => "trace",
            Kind::Audit => "audit",
        }
    }

    /// From [`Kind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [Kind::Shift, Kind::Yield, Kind::Trace, Kind::Audit].into_iter().find(|k| k.as_str() == text)
    }
}

/// An output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Print-ready HTML with the charts inline as SVG.
    Html,
    /// One CSV per table, UTF-8 with a byte-order mark.
    Csv,
    /// Each chart as a PNG image.
    Png,
    /// PDF/A-2b rendered in process (the `pdf` cargo feature; else [`ReportError::PdfUnavailable`]).
    Pdf,
}

impl Format {
    /// Parses `html,csv,png,pdf`; the error names the word it did not know.
    pub fn parse_list(text: &str) -> Result<Vec<Format>, ReportError> {
        text.split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|w| match w {
                "html" => Ok(Format::Html),
                "csv" => Ok(Format::Csv),
                "png" => Ok(Format::Png),
                "pdf" => Ok(Format::Pdf),
                other => Err(ReportError::Request {
                    field: "format",
                    message: format!("{other:?} is not html, csv, png or pdf"),
                }),
            })
            .collect()
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A parameter a person got wrong: which, and why.
    #[error("{field}: {message}")]
    Request {
        /// Option or query parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Nothing to report on (an unknown serial, no closed period).
    #[error("{0}")]
    NotFound(String),
    /// The figures could not be read.
    #[error(transparent)]
    Figures(#[from] FiguresError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The audit ledger could not be read.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// A template is broken (file, line and what is wrong).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A chart could not be drawn.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// A PDF was asked for from a build without the `pdf` feature.
    #[error(
        "pdf: this binary was built without the `pdf` feature (cargo build --release --features pdf); or open the HTML in a browser and print it (A4, print CSS with page numbers and headers)"
    )]
    PdfUnavailable,
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
}

/// What a report is asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which report.
    pub kind: Kind,
    /// Line (shift, yield; optional for audit).
    pub line: Option<String>,
    /// Start (inclusive), as people write it (see [`crate::domain::shift::parse_instant`]).
    pub from: Option<String>,
    /// End (exclusive).
    pub to: Option<String>,
    /// A named shift, `YYYY-MM-DD NAME` in plant time (shift report).
    pub shift: Option<String>,
    /// Serial (trace certificate).
    pub serial: Option<String>,
    /// Slices of the yield report's trend: `shift` or `day`.
    pub by: Option<String>,
    /// Language of the words and numbers.
    pub lang: Lang,
    /// Who asks (printed on the report).
    pub by_whom: String,
}

/// A chart of a report, drawn for the HTML (SVG) and, when asked, as a PNG.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// File-name part and template key.
    pub name: String,
    /// Inline SVG (print theme).
    pub svg: String,
    /// PNG bytes, when PNG output was asked for.
    #[serde(skip)]
    pub png: Option<Vec<u8>>,
}

impl Figure {
    /// Draws `chart` as SVG, and as PNG when `png`.
    pub fn draw(name: &str, chart: &impl Chart, png: bool) -> Result<Self, ReportError> {
        Ok(Figure {
            name: name.to_owned(),
            svg: charts::svg(chart, Theme::Print)?,
            png: if png { Some(charts::png(chart, Theme::Print)?) } else { None },
        })
    }
}

/// A report ready to write: the template's variables, its tables and its charts.
#[derive(Debug, Clone)]
pub struct Report {
    /// Which report.
    pub kind: Kind,
    /// File stem (`shift-phone-1-2026-12-04-A`), safe in any file system.
    pub stem: String,
    /// The header printed on every page (line, period).
    pub header: String,
    /// Variables particular to this report (see `reports/README.md`).
    pub data: serde_json::Value,
    /// Tables, in the order the report shows them.
    pub tables: Vec<Table>,
    /// Charts.
    pub figures: Vec<Figure>,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
}

/// Assembles the report `request` asks for from the store, at `now`.
pub async fn assemble(
    store: &Store,
    config: &Config,
    request: &Request,
    png: bool,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    match request.kind {
        Kind::Shift => shift::assemble(store, config, request, png, now).await,
        Kind::Yield => yields::assemble(store, config, request, png, now).await,
        Kind::Trace => trace::assemble(store, config, request, now).await,
        Kind::Audit => audit::assemble(store, config, request, now).await,
    }
}

impl Report {
    /// The report as HTML through its template.
    pub fn html(&self, templates: &Templates, request: &Request, zone: chrono_tz::Tz) -> Result<String, ReportError> {
        Ok(templates.render(&format!("{}.html", self.kind.as_str()), &self.context(request, zone))?)
    }

    /// The report as PDF/A-2b, rendered in process from `report.typ` (the `pdf` feature).
    #[cfg(feature = "pdf")]
    pub fn pdf(&self, templates: &Templates, request: &Request, zone: chrono_tz::Tz) -> Result<Vec<u8>, ReportError> {
        let source = templates.render("report.typ", &self.context(request, zone))?;
        let charts: Vec<(String, String)> = self.figures.iter().map(|f| (f.name.clone(), f.svg.clone())).collect();
        Ok(pdf::render("report.typ", source, &charts, self.generated_at)?)
    }

    /// Without the `pdf` feature there is no PDF renderer: says so.
    #[cfg(not(feature = "pdf"))]
    pub fn pdf(
        &self,
        _templates: &Templates,
        _request: &Request,
        _zone: chrono_tz::Tz,
    ) -> Result<Vec<u8>, ReportError> {
        Err(ReportError::PdfUnavailable)
    }

    /// The variables every template receives (see `reports/README.md`).
    fn context(&self, request: &Request, zone: chrono_tz::Tz) -> serde_json::Value {
        let lang = request.lang;
        let figures: serde_json::Map<String, serde_json::Value> =
            self.figures.iter().map(|f| (f.name.clone(), serde_json::Value::String(f.svg.clone()))).collect();
        let tables: serde_json::Map<String, serde_json::Value> = self
            .tables
            .iter()
            .map(|t| (t.name.to_owned(), serde_json::to_value(t.view(lang, zone)).unwrap_or_default()))
            .collect();
        let generated = lang.date_time(self.generated_at, zone);
        serde_json::json!({
            "lang": lang.tag(),
            "w": words::map(lang),
            "kind": self.kind.as_str(),
            "title": words::word(lang, self.kind.as_str()),
            "header": self.header,
            "print_header": print_safe(&self.header),
            "generated_at": generated,
            "generated_at_utc": self.generated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            "generated_by": request.by_whom,
            "print_generated": print_safe(&format!("{} {generated}", words::word(lang, "generated_at"))),
            "time_zone": zone.name(),
            "charts": figures,
            "legend": charts::legend(lang),
            "tables": tables,
            "csv": self.tables.iter().map(|t| (t.name.to_owned(), self.csv_name(t))).collect::<serde_json::Map<_, _>>(),
            "report": self.data,
        })
    }

    /// The CSV file name of `table`.
    pub fn csv_name(&self, table: &Table) -> serde_json::Value {
        serde_json::Value::String(format!("{}.{}.csv", self.stem, table.name))
    }

    /// Writes the asked formats into `dir` (created if missing) and returns the files written.
    pub fn write(
        &self,
        dir: &Path,
        formats: &[Format],
        templates: &Templates,
        request: &Request,
        zone: chrono_tz::Tz,
    ) -> Result<Vec<PathBuf>, ReportError> {
        let write = |path: PathBuf, bytes: &[u8]| -> Result<PathBuf, ReportError> {
            std::fs::write(&path, bytes).map_err(|source| ReportError::Write { path: path.clone(), source })?;
            Ok(path)
        };
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_owned(), source })?;
        let mut written = Vec::new();
        for format in formats {
            match format {
                Format::Html => {
                    let html = self.html(templates, request, zone)?;
                    written.push(write(dir.join(format!("{}.html", self.stem)), html.as_bytes())?);
                }
                Format::Csv => {
                    for t in &self.tables {
                        written.push(write(dir.join(format!("{}.{}.csv", self.stem, t.name)), &t.csv())?);
                    }
                }
                Format::Png => {
                    for f in &self.figures {
                        if let Some(png) = &f.png {
                            written.push(write(dir.join(format!("{}.{}.png", self.stem, f.name)), png)?);
                        }
                    }
                }
                Format::Pdf => {
                    let pdf = self.pdf(templates, request, zone)?;
                    written.push(write(dir.join(format!("{}.pdf", self.stem)), &pdf)?);
                }
            }
        }
        Ok(written)
    }
}

/// The plant key's public half, where this host holds the key (checkpoints print its
/// fingerprint); `None` on a host without it.
fn plant_verifier(config: &Config) -> Result<Option<crate::domain::ledger::NoteVerifier>, ReportError> {
    Ok(crate::audit::existing_plant_key(&crate::audit::key_path(&config.data_dir))?.map(|k| k.verifier()))
}

/// Text safe inside a CSS string of the print header (`@page` margin boxes).
fn print_safe(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '"' | '\\' | '<' | '>' | '\n')).collect()
}

/// A file-name part from free text: letters, digits and `-`, nothing else.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_slugs() {
        assert_eq!(Format::parse_list("html, csv,png").unwrap(), vec![Format::Html, Format::Csv, Format::Png]);
        assert_eq!(
            Format::parse_list("html,docx").unwrap_err().to_string(),
            "format: \"docx\" is not html, csv, png or pdf"
        );
        assert_eq!(slug("2026-12-04 C / phone:1"), "2026-12-04-C-phone-1");
        assert_eq!(print_safe("a\"b\\c<d>"), "abcd");
        assert_eq!(Kind::parse("audit"), Some(Kind::Audit));
    }
}
