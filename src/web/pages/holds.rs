//! Holds: every hold, in force or released, with who placed and released it; a form to place
//! one on a lot, reel or unit and a button to release each, for the quality and admin roles
//! (others see the list only). Writes carry the session's CSRF token and answer with a redirect
//! (a reload does not repeat them); units on hold that already passed a pack station are listed
//! first, for a recall.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::super::WebState;
use super::super::api::{HoldRequest, hold_target};
use super::super::auth::Session;
use super::{Chrome, error_page, html, lang_of, page_session, page_start, see_other};
use crate::domain::hold::HoldTarget;
use crate::web::error::ApiError;

struct HoldRow {
    kind: &'static str,
    kind_key: &'static str,
    id: String,
    reason: String,
    placed: String,
    active: bool,
    released: String,
}

#[derive(Template)]
#[template(path = "holds.html")]
struct HoldsPage {
    c: Chrome,
    may_hold: bool,
    message: Option<String>,
    failed: bool,
    holds: Vec<HoldRow>,
    packed: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct Done {
    done: Option<String>,
}

pub(super) async fn holds_page(req: HttpRequest, state: web::Data<WebState>, done: web::Query<Done>) -> HttpResponse {
    let (session, _, lang) = match page_start(&req, &state, false).await {
        Ok(start) => start,
        Err(to_login) => return to_login.answer(),
    };
    let words = lang.words();
    let message = match done.done.as_deref() {
        Some("placed") => Some(words.placed.to_owned()),
        Some("placed-unseen") => Some(format!("{} {}", words.placed, words.unseen_lot)),
        Some("held") => Some(words.already_held.to_owned()),
        Some(n) if n.starts_with("released-") => Some(format!("{} {}", words.released_n, &n["released-".len()..])),
        _ => None,
    };
    render(&req, &state, session.as_ref(), message, false, actix_web::http::StatusCode::OK).await
}

async fn render(
    req: &HttpRequest,
    state: &WebState,
    session: Option<&Session>,
    message: Option<String>,
    failed: bool,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let zone = state.calendar.time_zone;
    let lang = lang_of(req);
    let words = lang.words();
    let holds = match state.store.holds(super::super::api::HOLDS_PER_PAGE).await {
        Ok(h) => h,
        Err(e) => return error_page(req, session, zone, &ApiError::from(e)),
    };
    let rows = holds
        .into_iter()
        .map(|h| {
            let (kind, kind_key, id) = match &h.target {
                HoldTarget::Lot(l) => (words.lot, "lot", l.to_string()),
                HoldTarget::Unit(s) => (words.unit, "serial", s.to_string()),
            };
            HoldRow {
                kind,
                kind_key,
                id,
                active: h.is_active(),
                reason: h.reason.clone(),
                placed: format!("{} {}", h.placed_by, lang.date_time(h.placed_at, zone)),
                released: h
                    .released
                    .as_ref()
                    .map(|r| format!("{} {} {}", words.released_by, r.by, lang.date_time(r.at, zone)))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let packed = state.health.iter().flat_map(|h| h.snapshot().held_packed).collect();
    let page = HoldsPage {
        c: Chrome::new(req, session, zone, words.nav_holds),
        may_hold: session.is_some_and(|s| s.role.may_hold()),
        message,
        failed,
        holds: rows,
        packed,
    };
    html(status, page.render())
}

#[derive(Deserialize)]
pub(super) struct HoldForm {
    csrf: Option<String>,
    action: String,
    kind: String,
    id: String,
    reason: Option<String>,
}

pub(super) async fn holds_submit(
    req: HttpRequest,
    state: web::Data<WebState>,
    form: web::Form<HoldForm>,
) -> HttpResponse {
    let session = match page_session(&req, false).await {
        Ok(Some(s)) => s,
        Ok(None) | Err(_) => return see_other("/login"),
    };
    match submit(&req, &state, &session, &form).await {
        Ok(done) => see_other(&format!("/holds?done={done}")),
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            render(&req, &state, Some(&session), Some(e.to_string()), true, status).await
        }
    }
}

/// Places or releases; what to say on the page afterwards.
async fn submit(req: &HttpRequest, state: &WebState, session: &Session, form: &HoldForm) -> Result<String, ApiError> {
    let id = form.id.trim().to_owned();
    let request = match form.kind.as_str() {
        "lot" => HoldRequest { lot: Some(id), serial: None, reason: form.reason.clone() },
        "serial" => HoldRequest { lot: None, serial: Some(id), reason: form.reason.clone() },
        other => return Err(ApiError::bad("kind", format!("{other:?} is not lot or serial"))),
    };
    let target = hold_target(session, req, &request, form.csrf.as_deref())?;
    let now = chrono::Utc::now();
    match form.action.as_str() {
        "place" => {
            let reason = super::super::api::hold_reason(form.reason.as_deref())?;
            let done = state.store.place_hold(&target, reason, &session.user, now).await?;
            tracing::info!(user = %session.user, ?target, placed = done.placed, seen = done.seen, "hold (page)");
            Ok(match (done.placed, done.seen) {
                (false, _) => "held",
                (true, true) => "placed",
                (true, false) => "placed-unseen",
            }
            .to_owned())
        }
        "release" => {
            let released = state.store.release_hold(&target, &session.user, now).await?;
            tracing::info!(user = %session.user, ?target, released, "release (page)");
            Ok(format!("released-{released}"))
        }
        other => Err(ApiError::bad("action", format!("{other:?} is not place or release"))),
    }
}
