//! The pages: login, and the line overview a supervisor watches all shift (a tile per line,
//! updated live by `/events`). HTML is rendered on the server from compiled templates
//! (`src/web/templates/`, askama), so a page shows its figures before any script runs; the
//! one inline script only applies live updates. Nothing is fetched from anywhere.
//!
//! Anonymous visitors get the login page only, unless the operator runs a kiosk (`--kiosk`):
//! then the overview and its events are readable without a login, and nothing can be changed.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::WebState;
use super::auth::{COOKIE, SESSION_HOURS, Session, session_of};
use super::error::ApiError;
use super::i18n::{self, Lang, Words};

/// The page routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login_submit))
        .route("/logout", web::post().to(logout))
        .route("/lang/{lang}", web::get().to(set_lang));
}

fn lang_of(req: &HttpRequest) -> Lang {
    Lang::parse(req.cookie(i18n::COOKIE).as_ref().map(Cookie::value))
}

fn other(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "vi",
        Lang::Vi => "en",
    }
}

fn html(status: actix_web::http::StatusCode, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(page) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((
                "Content-Security-Policy",
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ))
            .insert_header(("X-Frame-Options", "DENY"))
            .body(page),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            HttpResponse::InternalServerError().body("page could not be rendered")
        }
    }
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    lang: &'a str,
    other_lang: &'a str,
    words: &'a Words,
    error: Option<&'a str>,
}

async fn login_page(req: HttpRequest) -> HttpResponse {
    let lang = lang_of(&req);
    let page = LoginPage { lang: lang.tag(), other_lang: other(lang), words: lang.words(), error: None };
    html(actix_web::http::StatusCode::OK, page.render())
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
        let page = LoginPage { lang: lang.tag(), other_lang: other(lang), words, error: Some(error) };
        html(status, page.render())
    };
    match super::api::check_login(&req, &state, &form.username, &form.password).await {
        Ok((_, _, token)) => {
            let cookie = Cookie::build(COOKIE, token)
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

async fn logout(session: Session, req: HttpRequest, form: web::Form<CsrfForm>) -> Result<HttpResponse, ApiError> {
    session.check_csrf(&req, form.csrf.as_deref())?;
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
    // Only a path on this site: never an open redirect.
    let to = next.next.as_deref().filter(|n| n.starts_with('/') && !n.starts_with("//")).unwrap_or("/");
    let cookie = Cookie::build(i18n::COOKIE, lang.tag()).path("/").same_site(SameSite::Lax).finish();
    HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, to)).finish()
}

/// A line tile with every figure already written for the page's language.
struct Tile {
    line: String,
    name: String,
    status: String,
    status_text: String,
    output: String,
    plan: String,
    fpy: String,
    oee: String,
    held: String,
    shift: String,
    down: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    lang: &'a str,
    other_lang: &'a str,
    words: &'a Words,
    user: String,
    csrf: String,
    kiosk_only: bool,
    tiles: Vec<Tile>,
    lang_json: String,
    words_json: String,
    zone_json: String,
}

fn tile(l: &Value, lang: Lang, words: &Words, zone: chrono_tz::Tz) -> Tile {
    let text = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
    let status = text("status");
    let (shape, word) = match status.as_str() {
        "running" => ("▲ ", words.running),
        "down" => ("■ ", words.down),
        "idle" => ("● ", words.idle),
        _ => ("? ", words.no_data),
    };
    let down: Vec<String> = l["down"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|s| {
                    let since = s["since"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&zone).format("%H:%M").to_string())
                        .unwrap_or_default();
                    format!(
                        "{}: {} ({} {since})",
                        s["station"].as_str().unwrap_or_default(),
                        s["reason"].as_str().unwrap_or("?"),
                        words.since
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Tile {
        line: text("line"),
        name: text("name"),
        status_text: format!("{shape}{word}"),
        status,
        output: lang.count(l["output"].as_u64().unwrap_or(0)),
        plan: l["plan"].as_u64().map_or_else(|| "—".to_owned(), |p| lang.count(p)),
        fpy: lang.percent(l["fpy"].as_f64()),
        oee: lang.percent(l["oee"].as_f64()),
        held: lang.count(l["held_units"].as_u64().unwrap_or(0)),
        shift: l["shift"].as_str().map_or_else(|| words.off_shift.to_owned(), str::to_owned),
        down: if down.is_empty() { words.none_down.to_owned() } else { down.join(" · ") },
    }
}

async fn overview(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let session = session_of(&req);
    if session.is_none() && !state.kiosk {
        return see_other("/login");
    }
    let lang = lang_of(&req);
    let words = lang.words();
    let latest: Value = serde_json::from_str(&state.live.latest().await).unwrap_or(Value::Null);
    let zone = state.calendar.time_zone;
    let tiles = latest.as_array().map(|ls| ls.iter().map(|l| tile(l, lang, words, zone)).collect()).unwrap_or_default();
    let page = OverviewPage {
        lang: lang.tag(),
        other_lang: other(lang),
        words,
        user: session.as_ref().map_or_else(|| "kiosk".to_owned(), |s| format!("{} ({})", s.user, s.role.as_str())),
        csrf: session.as_ref().map(|s| s.csrf.clone()).unwrap_or_default(),
        kiosk_only: session.is_none(),
        tiles,
        lang_json: serde_json::to_string(lang.tag()).unwrap_or_default(),
        words_json: serde_json::to_string(words).unwrap_or_default(),
        zone_json: serde_json::to_string(zone.name()).unwrap_or_default(),
    };
    html(actix_web::http::StatusCode::OK, page.render())
}
