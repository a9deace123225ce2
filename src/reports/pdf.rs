//! PDF rendered in process, with no browser: the report's typst layout (`reports/report.typ`,
//! a template like the HTML ones) compiled by typst as a library into PDF/A-2b with the embedded
//! DejaVu Sans (Vietnamese included) and the charts as vector SVG. Built only with the `pdf`
//! cargo feature: typst adds more than five minutes to a cold release build on two cores.
//!
//! Must never: read a file or a font from the machine (everything it lays out is handed to it).

use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;

use super::templates::TemplateError;

static REGULAR: &[u8] = include_bytes!("../present/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../present/fonts/DejaVuSans-Bold.ttf");

/// The one typst source of a report, its charts and the embedded fonts.
struct ReportWorld {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: Source,
    charts: Vec<(FileId, Bytes)>,
}

fn file_id(path: &str) -> FileId {
    // Paths here are fixed strings of ours ("/report.typ", "/charts/NAME.svg").
    let vpath =
        VirtualPath::new(path).unwrap_or_else(|_| VirtualPath::new("/invalid").unwrap_or_else(|_| unreachable!()));
    FileId::new(RootedPath::new(VirtualRoot::Project, vpath))
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() { Ok(self.main.clone()) } else { Err(FileError::NotSource) }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.charts
            .iter()
            .find(|(chart, _)| *chart == id)
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| FileError::NotFound(std::path::PathBuf::from(id.vpath().get_with_slash())))
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

/// Compiles `source` (typst markup made from `template`) with `charts` (name, SVG) reachable
/// as `charts/NAME.svg`, into PDF/A-2b bytes. Errors name the template and the line.
pub fn render(
    template: &str,
    source: String,
    charts: &[(String, String)],
    made: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>, TemplateError> {
    use chrono::{Datelike, Timelike};
    let failed = |line: Option<usize>, message: String| TemplateError { file: template.to_owned(), line, message };
    let fonts: Vec<Font> = [REGULAR, BOLD].iter().filter_map(|data| Font::new(Bytes::new(*data), 0)).collect();
    let world = ReportWorld {
        library: LazyHash::new(Library::builder().build()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
        main: Source::new(file_id("/report.typ"), source),
        charts: charts
            .iter()
            .map(|(name, svg)| (file_id(&format!("/charts/{name}.svg")), Bytes::new(svg.clone().into_bytes())))
            .collect(),
    };
    let explain = |errors: &[SourceDiagnostic]| {
        let first = errors.first();
        let line = first
            .and_then(|e| world.range(e.span))
            .and_then(|r| world.main.lines().byte_to_line(r.start))
            .map(|l| l + 1);
        let message = errors.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; ");
        failed(line, format!("typst (of the generated markup): {message}"))
    };
    let document = typst::compile::<PagedDocument>(&world).output.map_err(|e| explain(&e))?;
    let standards = typst_pdf::PdfStandards::new(&[typst_pdf::PdfStandard::A_2b])
        .map_err(|e| failed(None, format!("PDF/A-2b: {}", e.message())))?;
    // PDF/A needs the document's date: when the report was made, in UTC.
    let when = Datetime::from_ymd_hms(
        made.year(),
        u8::try_from(made.month()).unwrap_or(1),
        u8::try_from(made.day()).unwrap_or(1),
        u8::try_from(made.hour()).unwrap_or(0),
        u8::try_from(made.minute()).unwrap_or(0),
        u8::try_from(made.second()).unwrap_or(0),
    );
    let options = typst_pdf::PdfOptions {
        standards,
        timestamp: when.map(typst_pdf::Timestamp::new_utc),
        creator: typst::foundations::Smart::Custom(Some("mes".into())),
        ..Default::default()
    };
    typst_pdf::pdf(&document, &options).map_err(|e| explain(&e))
}
