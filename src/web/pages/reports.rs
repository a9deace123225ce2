//! The reports page: pick a report (shift, yield, trace certificate, output audit), a line and a
//! period or a serial, and the language; the report is made to check what was asked, then
//! offered as print-ready HTML, each table as CSV and each chart as PNG (the links go to
//! `/api/v1/reports`). Below, the reports the server wrote by itself, newest first.
//!
//! Must never: make a report outside a costly slot, or list audit reports to a role that may
//! not read the ledger.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::super::WebState;
use super::super::reports::{ReportQuery, written_reports};
use super::{Chrome, error_page, html, page_start};
use crate::reports::{self, Kind, Request, words::word};
use crate::web::error::ApiError;

/// A link with its words.
struct Link {
    href: String,
    text: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    c: Chrome,
    /// Words of the form and lists, by key.
    t: Texts,
    kinds: Vec<(String, String)>,
    kind: String,
    lines: Vec<(String, String)>,
    line: String,
    shift: String,
    from: String,
    to: String,
    serial: String,
    lang: String,
    error: Option<String>,
    view: Option<Link>,
    csv: Vec<Link>,
    png: Vec<Link>,
    files: Vec<(Link, String, String, String)>,
}

/// The page's own words (the report words of [`crate::reports::words`]).
struct Texts {
    kind: String,
    shift: String,
    serial: String,
    language: String,
    make: String,
    open: String,
    written: String,
    none: String,
    hint: String,
    busy: String,
}

/// Query text as a URL query string, empty values left out.
fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&urlencoding(v));
    }
    out
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) async fn reports_page(
    req: HttpRequest,
    state: web::Data<WebState>,
    q: web::Query<ReportQuery>,
    kind: web::Query<KindQuery>,
) -> HttpResponse {
    let (session, zone, lang) = match page_start(&req, &state, false).await {
        Ok(start) => start,
        Err(to_login) => return to_login.answer(),
    };
    let Some(session) = session else {
        return error_page(&req, None, zone, &ApiError::Unauthorized);
    };
    let fail = |e: ApiError| error_page(&req, Some(&session), zone, &e);
    let lines = match state.store.lines().await {
        Ok(ls) => {
            ls.into_iter().map(|l| (l.id.to_string(), lang.name(&l.name, l.name_vi.as_deref()).to_owned())).collect()
        }
        Err(e) => return fail(e.into()),
    };
    let w = |k: &str| word(lang, k).to_owned();
    let mut kinds: Vec<(String, String)> =
        [Kind::Shift, Kind::Yield, Kind::Trace].iter().map(|k| (k.as_str().to_owned(), w(k.as_str()))).collect();
    if session.role.may_audit() {
        kinds.push(("audit".into(), w("audit")));
    }
    let report_lang = q.lang.clone().unwrap_or_else(|| lang.tag().to_owned());
    let mut page = ReportsPage {
        c: Chrome::new(&req, Some(&session), zone, lang.words().nav_reports),
        t: Texts {
            kind: w("kind_word"),
            shift: w("shift_name"),
            serial: w("serial"),
            language: w("language"),
            make: w("make"),
            open: w("open"),
            written: w("written_reports"),
            none: w("none"),
            hint: w("reports_hint"),
            busy: w("making"),
        },
        kinds,
        kind: kind.kind.clone().unwrap_or_else(|| "shift".into()),
        lines,
        line: q.line.clone().unwrap_or_default(),
        shift: q.shift.clone().unwrap_or_default(),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
        serial: q.serial.clone().unwrap_or_default(),
        lang: report_lang.clone(),
        error: None,
        view: None,
        csv: Vec::new(),
        png: Vec::new(),
        files: written_reports(&state, &session)
            .into_iter()
            .map(|f| {
                let link = Link { href: format!("/api/v1/reports/files/{}", urlencoding(&f.name)), text: f.name };
                (link, w(&f.kind), lang.count(f.bytes), lang.date_time(f.written, zone))
            })
            .collect(),
    };
    // A report was asked for: make it now (to say what is wrong with the request, and to list
    // its tables and charts), then offer it.
    if let Some(k) = kind.kind.as_deref().filter(|k| !k.is_empty()) {
        let Some(k) = Kind::parse(k) else {
            return fail(ApiError::bad("kind", format!("{k:?} is not a report")));
        };
        if k == Kind::Audit
            && let Err(e) = session.require_audit_rights()
        {
            return fail(e);
        }
        let request = Request {
            kind: k,
            line: q.line.clone().filter(|l| !l.is_empty()),
            from: q.from.clone().filter(|l| !l.is_empty()),
            to: q.to.clone().filter(|l| !l.is_empty()),
            shift: q.shift.clone().filter(|l| !l.is_empty()),
            serial: q.serial.clone().filter(|l| !l.is_empty()),
            by: None,
            lang: crate::present::i18n::Lang::parse(Some(&report_lang)),
            by_whom: session.user.clone(),
        };
        let config = crate::config::Config {
            data_dir: state.reports.data_dir.clone(),
            calendar: state.calendar.clone(),
            ..Default::default()
        };
        let slot = match state.costly_slot("/reports").await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let made = reports::assemble(&state.store, &config, &request, false, chrono::Utc::now()).await;
        drop(slot);
        match made {
            Ok(report) => {
                let base = format!("/api/v1/reports/{}", k.as_str());
                let common = |extra: &[(&str, &str)]| {
                    let mut pairs = vec![
                        ("line", request.line.as_deref().unwrap_or_default()),
                        ("from", request.from.as_deref().unwrap_or_default()),
                        ("to", request.to.as_deref().unwrap_or_default()),
                        ("shift", request.shift.as_deref().unwrap_or_default()),
                        ("serial", request.serial.as_deref().unwrap_or_default()),
                        ("lang", report_lang.as_str()),
                    ];
                    pairs.extend_from_slice(extra);
                    format!("{base}{}", query(&pairs))
                };
                page.view = Some(Link { href: common(&[("format", "html")]), text: report.header.clone() });
                page.csv = report
                    .tables
                    .iter()
                    .map(|t| Link { href: common(&[("format", "csv"), ("table", t.name)]), text: w(t.name) })
                    .collect();
                page.png = report
                    .figures
                    .iter()
                    .map(|f| Link { href: common(&[("format", "png"), ("chart", &f.name)]), text: f.name.clone() })
                    .collect();
            }
            Err(e) => page.error = Some(e.to_string()),
        }
    }
    html(actix_web::http::StatusCode::OK, page.render())
}

/// The report kind chosen in the form.
#[derive(Debug, serde::Deserialize)]
pub(super) struct KindQuery {
    kind: Option<String>,
}
