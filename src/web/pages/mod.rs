//! The pages: login; the line overview a supervisor watches all shift (a tile per line); the
//! line page (route with states and WIP, hourly output against plan, top defects, machine-state
//! timeline, collector health); trace search; holds; KPI with a period picker. HTML is rendered
//! on the server from compiled templates (`src/web/templates/`, askama) and charts are inline
//! SVG ([`super::charts`]), so a page shows its figures before any script runs; the one script
//! (`/assets/live.js`, embedded) only applies live updates. Nothing is fetched from anywhere.
//!
//! Anonymous visitors get the login page only, unless the operator runs a kiosk (`--kiosk`):
//! then the overview, the line pages and their events are readable without a login, and
//! nothing can be changed.

use crate::figures::{LineStatus, LineSummary, StationNow};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

mod api_doc;
mod api_doc_vi;
mod audit;
mod holds;
mod kpi;
mod line;
mod reports;
mod trace;

use super::WebState;
use super::auth::{COOKIE, SESSION_HOURS, Session, session_of};
use super::error::ApiError;
use super::i18n::{self, Lang, Words};

/// The page routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview))
        .route("/lines/{line}", web::get().to(line::line_page))
        .route("/trace", web::get().to(trace::trace_page))
        .route("/holds", web::get().to(holds::holds_page))
        .route("/holds", web::post().to(holds::holds_submit))
        .route("/kpi", web::get().to(kpi::kpi_page))
        .route("/audit", web::get().to(audit::audit_page))
        .route("/reports", web::get().to(reports::reports_page))
        .route("/api", web::get().to(api_doc::api_doc_page))
        .route("/assets/live.js", web::get().to(live_js))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login_submit))
        .route("/logout", web::post().to(logout))
        .route("/lang/{lang}", web::get().to(set_lang));
}

pub(super) fn lang_of(req: &HttpRequest) -> Lang {
    Lang::parse(req.cookie(i18n::COOKIE).as_ref().map(Cookie::value))
}

fn other(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "vi",
        Lang::Vi => "en",
    }
}

/// What every page's frame shows: language, user, navigation, the CSRF token of its forms.
pub(super) struct Chrome {
    lang: &'static str,
    other_lang: &'static str,
    words: &'static Words,
    words_json: String,
    zone: String,
    user: String,
    csrf: String,
    kiosk_only: bool,
    may_audit: bool,
    here: String,
    heading: String,
    title: String,
}

impl Chrome {
    pub(super) fn new(req: &HttpRequest, session: Option<&Session>, zone: chrono_tz::Tz, heading: &str) -> Self {
        let lang = lang_of(req);
        let words = lang.words();
        let here = match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        };
        Self {
            lang: lang.tag(),
            other_lang: other(lang),
            words,
            words_json: serde_json::to_string(words).unwrap_or_default().replace("</", "<\\/"),
            zone: zone.name().to_owned(),
            user: session.map_or_else(|| words.kiosk.to_owned(), |s| format!("{} ({})", s.user, lang.role(s.role))),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            kiosk_only: session.is_none(),
            may_audit: session.is_some_and(|s| s.role.may_audit()),
            here,
            title: format!("MES — {heading}"),
            heading: heading.to_owned(),
        }
    }
}

/// A page request without a session where one is needed: answered with the login page.
pub(super) struct ToLogin;

impl ToLogin {
    pub(super) fn answer(self) -> HttpResponse {
        see_other("/login")
    }
}

/// What every page handler starts from: the session (`None`: an anonymous kiosk viewer, where
/// allowed), the plant's time zone and the page's language.
pub(super) async fn page_start(
    req: &HttpRequest,
    state: &WebState,
    kiosk_may_see: bool,
) -> Result<(Option<Session>, chrono_tz::Tz, Lang), ToLogin> {
    Ok((page_session(req, kiosk_may_see).await?, state.calendar.time_zone, lang_of(req)))
}

/// The session of a page request (`None`: an anonymous kiosk viewer, where allowed).
pub(super) async fn page_session(req: &HttpRequest, kiosk_may_see: bool) -> Result<Option<Session>, ToLogin> {
    let session = session_of(req).await;
    let kiosk = req.app_data::<web::Data<WebState>>().is_some_and(|s| s.kiosk);
    match session {
        Some(s) => Ok(Some(s)),
        None if kiosk && kiosk_may_see => Ok(None),
        None => Err(ToLogin),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    message: String,
}

/// A page saying what went wrong, with the status of the API's answer for the same mistake.
pub(super) fn error_page(
    req: &HttpRequest,
    session: Option<&Session>,
    zone: chrono_tz::Tz,
    e: &ApiError,
) -> HttpResponse {
    let status = actix_web::ResponseError::status_code(e);
    let page = ErrorPage { c: Chrome::new(req, session, zone, &status.to_string()), message: e.to_string() };
    html(status, page.render())
}

/// An address that is no page, asked for by a browser: a 404 page in the chosen language, with
/// the navigation to find the way back (the API's paths, and clients asking for JSON, get the
/// API's JSON error instead; see `web::not_found`).
pub(super) async fn missing_page(req: &HttpRequest, state: &WebState) -> HttpResponse {
    let session = session_of(req).await;
    let words = lang_of(req).words();
    let status = actix_web::http::StatusCode::NOT_FOUND;
    let message = format!("{} {}", words.no_page, req.path());
    let page =
        ErrorPage { c: Chrome::new(req, session.as_ref(), state.calendar.time_zone, &status.to_string()), message };
    html(status, page.render())
}

async fn live_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(include_str!("../assets/live.js"))
}

pub(super) fn html(status: actix_web::http::StatusCode, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(page) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:",
            ))
            .insert_header(("X-Frame-Options", "DENY"))
            .body(page),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            HttpResponse::InternalServerError().body("page could not be rendered")
        }
    }
}

pub(super) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    c: Chrome,
    error: Option<&'a str>,
}

async fn login_page(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let c = Chrome::new(&req, None, state.calendar.time_zone, lang_of(&req).words().login);
    html(actix_web::http::StatusCode::OK, LoginPage { c, error: None }.render())
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login_submit(req: HttpRequest, state: web::Data<WebState>, form: web::Form<LoginForm>) -> HttpResponse {
    let lang = lang_of(&req);
    let words = lang.words();
    let refused = |status, error| {
        let c = Chrome::new(&req, None, state.calendar.time_zone, words.login);
        html(status, LoginPage { c, error: Some(error) }.render())
    };
    match super::api::check_login(&req, &state, &form.username, &form.password).await {
        Ok((_, issued)) => {
            let cookie = Cookie::build(COOKIE, issued.token)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .max_age(actix_web::cookie::time::Duration::hours(SESSION_HOURS))
                .finish();
            HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, "/")).finish()
        }
        Err(ApiError::TooManyRequests { .. }) => {
            refused(actix_web::http::StatusCode::TOO_MANY_REQUESTS, words.too_many)
        }
        Err(ApiError::Unauthorized) => refused(actix_web::http::StatusCode::UNAUTHORIZED, words.wrong_login),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    session: Session,
    req: HttpRequest,
    state: web::Data<WebState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    session.check_csrf(&req, form.csrf.as_deref())?;
    // The session ends in the store: the old cookie no longer works anywhere.
    state.auth.logout(&state.store, &session).await?;
    tracing::info!(user = %session.user, "logout (page)");
    let mut gone = Cookie::build(COOKIE, "").path("/").http_only(true).same_site(SameSite::Strict).finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther().cookie(gone).insert_header((header::LOCATION, "/login")).finish())
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

async fn set_lang(path: web::Path<String>, next: web::Query<Next>) -> HttpResponse {
    let lang = Lang::parse(Some(path.as_str()));
    let to = next.next.as_deref().and_then(local_path).unwrap_or("/");
    let cookie = Cookie::build(i18n::COOKIE, lang.tag()).path("/").same_site(SameSite::Lax).finish();
    HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, to)).finish()
}

/// `next` if it is a path on this site that every browser reads as one, else `None` (never an
/// open redirect, never a header that cannot be written).
///
/// Browsers treat `\` as `/` and drop tabs and line breaks from URLs, so `/\evil.example/` and
/// `/<TAB>/evil.example/` both mean `//evil.example/`, another host. Only visible ASCII without
/// a backslash is accepted (pages link with percent-encoded paths, so nothing they make is
/// refused), starting with one `/`.
fn local_path(next: &str) -> Option<&str> {
    let visible = next.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'\\');
    (visible && next.starts_with('/') && !next.starts_with("//")).then_some(next)
}

/// A line tile with every figure already written for the page's language.
pub(super) struct Tile {
    line: String,
    name: String,
    status: String,
    status_text: String,
    output: String,
    plan: String,
    /// What the plan counts from: the shift so far, or since watching began at HH:MM.
    plan_label: String,
    fpy: String,
    oee: String,
    held: String,
    shift: String,
    down: String,
    /// Whether any station is down: only then is the down list set large, in the colour that
    /// means down (a wall screen must not show "down" colours when nothing is).
    any_down: bool,
    unrecorded: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    c: Chrome,
    tiles: Vec<Tile>,
}

/// "⚠ 12.5 % of the shift not recorded" when some of it was (at least 0.5 %), else nothing.
fn unrecorded_note(share: Option<f64>, lang: Lang) -> String {
    match share {
        Some(v) if v >= 0.005 => format!("⚠ {} {}", lang.percent(Some(v)), lang.words().unrecorded),
        _ => String::new(),
    }
}

/// A station's downtime reason now, in the page's language.
pub(super) fn reason_now(station: &StationNow, lang: Lang) -> Option<&str> {
    let vi = station.reason_vi.as_deref().filter(|_| lang == Lang::Vi);
    vi.or(station.reason.as_deref())
}

pub(super) fn tile(l: &LineSummary, lang: Lang, words: &Words, zone: chrono_tz::Tz) -> Tile {
    let (shape, word) = match l.status {
        LineStatus::Running => ("▲ ", words.running),
        LineStatus::Down => ("■ ", words.down),
        LineStatus::Idle => ("● ", words.idle),
        LineStatus::NoData => ("? ", words.no_data),
    };
    let local_time = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).format("%H:%M").to_string();
    let down: Vec<String> = l
        .down
        .iter()
        .map(|s| {
            let since = s.since.map(local_time).unwrap_or_default();
            format!("{}: {} ({} {since})", s.station, reason_now(s, lang).unwrap_or("?"), words.since)
        })
        .collect();
    Tile {
        line: l.line.to_string(),
        name: lang.name(&l.name, l.name_vi.as_deref()).to_owned(),
        status_text: format!("{shape}{word}"),
        status: l.status.as_str().to_owned(),
        output: lang.count(l.output),
        plan: l.plan.map_or_else(|| "—".to_owned(), |p| lang.count(p)),
        plan_label: l
            .watched_from
            .map(local_time)
            .map_or_else(|| words.plan_so_far.to_owned(), |t| format!("{} {t}", words.plan_from_watch)),
        fpy: lang.percent(l.fpy),
        oee: lang.percent(l.oee),
        held: lang.count(l.held_units),
        shift: l.shift.clone().unwrap_or_else(|| words.off_shift.to_owned()),
        any_down: !down.is_empty(),
        down: if down.is_empty() { words.none_down.to_owned() } else { down.join(" · ") },
        unrecorded: unrecorded_note(l.unrecorded, lang),
    }
}

/// The live summaries, waiting for the first computation.
pub(super) async fn latest_lines(state: &WebState) -> std::sync::Arc<crate::web::live::Snapshot> {
    state.live.latest().await
}

async fn overview(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let (session, zone, lang) = match page_start(&req, &state, true).await {
        Ok(start) => start,
        Err(to_login) => return to_login.answer(),
    };
    let words = lang.words();
    let tiles = latest_lines(&state).await.lines.iter().map(|l| tile(l, lang, words, zone)).collect();
    let page = OverviewPage { c: Chrome::new(&req, session.as_ref(), zone, words.overview), tiles };
    html(actix_web::http::StatusCode::OK, page.render())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_a_browser_cannot_read_as_another_host_are_followed() {
        for ok in ["/", "/lines/phone-1", "/trace?q=PH1-0001&x=%2F", "/kpi?line=smt-1&by=day"] {
            assert_eq!(local_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "//evil.example/",
            "/\\evil.example/",
            "\\\\evil.example",
            "/\t/evil.example/",
            "/\r\nSet-Cookie: x=1",
            "/\0",
            "/\u{7f}",
            "/ space",
            "/trâce",
            "https://evil.example/",
            "evil.example",
            "",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
