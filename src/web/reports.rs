//! `/api/v1/reports`: the printable reports on demand (HTML, one table as CSV, one chart as PNG)
//! and the files the server wrote by itself into `<data-dir>/reports`. Audit reports are for
//! auditors and admins, like the ledger they are drawn from.
//!
//! Must never: serve a file outside the reports folder, or make a report outside a costly slot.

use std::path::PathBuf;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::WebState;
use super::api::ok;
use super::auth::Session;
use super::error::{ApiError, ErrorBody};
use crate::present::i18n::Lang;
use crate::reports::{self, Kind, ReportError, Request, Templates};

/// Where reports are written and read from, and the templates they are laid out with.
#[derive(Debug, Clone)]
pub struct ReportSetup {
    /// The data folder (`reports/` under it holds the written reports; `audit/` the key).
    pub data_dir: PathBuf,
    /// Templates.
    pub templates: Templates,
}

impl Default for ReportSetup {
    fn default() -> Self {
        ReportSetup { data_dir: PathBuf::from(crate::config::DEFAULT_DATA_DIR), templates: Templates::default() }
    }
}

/// The report routes, inside the `/api/v1` scope.
pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    use actix_web::Resource;
    fn get(path: &str) -> Resource {
        web::resource(path).default_service(web::to(|| super::api::not_allowed("GET")))
    }
    scope
        .service(get("/reports").route(web::get().to(list)))
        .service(get("/reports/files/{name}").route(web::get().to(file)))
        .service(get("/reports/{kind}").route(web::get().to(make)))
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Request { field, message } => ApiError::bad(field, message),
            ReportError::NotFound(message) => ApiError::NotFound { code: "nothing_to_report", message },
            ReportError::Figures(f) => f.into(),
            ReportError::Store(s) => s.into(),
            ReportError::Audit(a) => a.into(),
            ReportError::PdfUnavailable => ApiError::bad("format", ReportError::PdfUnavailable),
            other => ApiError::Unavailable { message: other.to_string() },
        }
    }
}

/// A written report file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportFile {
    /// File name (download it from `/api/v1/reports/files/{name}`).
    pub name: String,
    /// `shift`, `yield`, `trace` or `audit`, from the name.
    pub kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was written.
    pub written: chrono::DateTime<chrono::Utc>,
}

/// The report files `session` may read, newest first.
pub fn written_reports(state: &WebState, session: &Session) -> Vec<ReportFile> {
    let dir = state.reports.data_dir.join("reports");
    let Ok(read) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<ReportFile> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
            let kind = name.split('-').next().filter(|k| Kind::parse(k).is_some())?.to_owned();
            Some(ReportFile { name, kind, bytes: meta.len(), written: meta.modified().ok()?.into() })
        })
        .filter(|f| f.kind != "audit" || session.role.may_audit())
        .collect();
    files.sort_by(|a, b| b.written.cmp(&a.written).then_with(|| a.name.cmp(&b.name)));
    files
}

/// The reports the server wrote by itself (each ended shift, each closed period), newest first;
/// audit reports only for auditors and admins.
#[utoipa::path(
    get,
    path = "/api/v1/reports",
    tag = "reports",
    responses((status = 200, body = [ReportFile]))
)]
pub(super) async fn list(session: Session, state: web::Data<WebState>) -> Result<HttpResponse, ApiError> {
    ok(written_reports(&state, &session))
}

/// One written report file: HTML, CSV or PNG.
#[utoipa::path(
    get,
    path = "/api/v1/reports/files/{name}",
    tag = "reports",
    params(("name" = String, Path, description = "A file name from `/api/v1/reports`")),
    responses(
        (status = 200, description = "The file", content_type = "text/html"),
        (status = 404, description = "No such report file", body = ErrorBody)
    )
)]
pub(super) async fn file(
    session: Session,
    state: web::Data<WebState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    // Only a name the listing gives: nothing else in or outside the folder is reachable.
    let listed = written_reports(&state, &session).into_iter().any(|f| f.name == name);
    if !listed {
        return Err(ApiError::NotFound { code: "report_not_found", message: format!("no report file {name:?}") });
    }
    let bytes = std::fs::read(state.reports.data_dir.join("reports").join(&name))
        .map_err(|e| ApiError::Unavailable { message: format!("cannot read report {name}: {e}") })?;
    Ok(HttpResponse::Ok().content_type(content_type(&name)).body(bytes))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// What report to make and in what form.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Line code (shift and yield; audit: only this line).
    pub line: Option<String>,
    /// Start (inclusive): RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`.
    pub from: Option<String>,
    /// End (exclusive); default now.
    pub to: Option<String>,
    /// A named shift, `YYYY-MM-DD NAME` in plant time (shift report).
    pub shift: Option<String>,
    /// Serial (trace certificate).
    pub serial: Option<String>,
    /// Trend slices of the yield report.
    #[param(value_type = Option<String>, pattern = "^(shift|day)$")]
    pub by: Option<String>,
    /// Language: `en` or `vi` (default: the page language cookie, else `en`).
    #[param(value_type = Option<String>, pattern = "^(en|vi)$")]
    pub lang: Option<String>,
    /// `html` (default), `csv` (with `table`) or `png` (with `chart`).
    #[param(value_type = Option<String>, pattern = "^(html|csv|png)$")]
    pub format: Option<String>,
    /// The table to give as CSV (`stations`, `oee`, …: the report's table names).
    pub table: Option<String>,
    /// The chart to give as PNG (`hourly`, `timeline`, `defects`, `downtime`, `trend`).
    pub chart: Option<String>,
}

/// A report made now: the shift report, yield report, trace certificate of a serial, or output
/// audit report (auditors and admins), as print-ready HTML, one of its tables as CSV (UTF-8
/// with a byte-order mark) or one of its charts as PNG.
#[utoipa::path(
    get,
    path = "/api/v1/reports/{kind}",
    tag = "reports",
    params(("kind" = String, Path, description = "shift, yield, trace or audit", pattern = "^(shift|yield|trace|audit)$"), ReportQuery),
    responses(
        (status = 200, description = "The report", content_type = "text/html"),
        (status = 400, description = "A parameter is malformed or missing (`line` for shift and yield, `serial` for trace, `table` for csv, `chart` for png), or the period breaks a rule: `from` before `to`, at most 400 days", body = ErrorBody),
        (status = 403, description = "Only auditors and admins read audit reports", body = ErrorBody),
        (status = 404, description = "No such report kind, unit, shift or closed period, or no such table or chart in it", body = ErrorBody)
    )
)]
pub(super) async fn make(
    session: Session,
    state: web::Data<WebState>,
    kind: web::Path<String>,
    q: web::Query<ReportQuery>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let kind = kind.into_inner();
    let kind = Kind::parse(&kind)
        .ok_or_else(|| ApiError::NotFound { code: "report_not_found", message: format!("no report kind {kind:?}") })?;
    if kind == Kind::Audit {
        session.require_audit_rights()?;
    }
    let lang = match q.lang.as_deref() {
        None => super::pages::lang_of(&req),
        Some("en") => Lang::En,
        Some("vi") => Lang::Vi,
        Some(other) => return Err(ApiError::bad("lang", format!("{other:?} is not en or vi"))),
    };
    let format = q.format.as_deref().unwrap_or("html");
    if !matches!(format, "html" | "csv" | "png") {
        return Err(ApiError::bad("format", format!("{format:?} is not html, csv or png")));
    }
    if let Some(by) = q.by.as_deref().filter(|b| !matches!(*b, "shift" | "day")) {
        return Err(ApiError::bad("by", format!("{by:?} is not shift or day")));
    }
    let request = Request {
        kind,
        line: q.line.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        shift: q.shift.clone(),
        serial: q.serial.clone(),
        by: q.by.clone(),
        lang,
        by_whom: session.user.clone(),
    };
    let config = crate::config::Config {
        data_dir: state.reports.data_dir.clone(),
        calendar: state.calendar.clone(),
        ..Default::default()
    };
    let _slot = state.costly_slot("/api/v1/reports/{kind}").await?;
    let report = reports::assemble(&state.store, &config, &request, format == "png", chrono::Utc::now()).await?;
    let zone = state.calendar.time_zone;
    let attachment =
        |name: String| (actix_web::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""));
    match format {
        "csv" => {
            let wanted = q.table.as_deref().ok_or_else(|| ApiError::bad("table", "is required with format=csv"))?;
            let names: Vec<&str> = report.tables.iter().map(|t| t.name).collect();
            let table = report.tables.iter().find(|t| t.name == wanted).ok_or_else(|| ApiError::NotFound {
                code: "table_not_found",
                message: format!("this report has no table {wanted:?} (tables: {})", names.join(", ")),
            })?;
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header(attachment(format!("{}.{}.csv", report.stem, table.name)))
                .body(table.csv()))
        }
        "png" => {
            let wanted = q.chart.as_deref().ok_or_else(|| ApiError::bad("chart", "is required with format=png"))?;
            let names: Vec<&str> = report.figures.iter().map(|f| f.name.as_str()).collect();
            let png =
                report.figures.iter().find(|f| f.name == wanted).and_then(|f| f.png.clone()).ok_or_else(|| {
                    ApiError::NotFound {
                        code: "chart_not_found",
                        message: format!("this report has no chart {wanted:?} (charts: {})", names.join(", ")),
                    }
                })?;
            Ok(HttpResponse::Ok().content_type("image/png").body(png))
        }
        _ => {
            let html = report.html(&state.reports.templates, &request, zone)?;
            Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
        }
    }
}
