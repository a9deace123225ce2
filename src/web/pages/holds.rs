//! Holds: every hold, in force or released, with who placed and released it; a form to place
//! one on a lot, reel or unit (first showing what it would catch, by line and status, to be
//! confirmed) and a button to release each (with the reason, kept), for the quality and admin
//! roles (others see the list only). Writes carry the session's CSRF token and answer with a
//! redirect (a reload does not repeat them); every held unit already packed is listed first,
//! for a recall.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::super::WebState;
use super::super::api::{HoldRequest, hold_target};
use super::super::auth::Session;
use super::{Chrome, error_page, html, lang_of, page_session, page_start, see_other};
use crate::domain::hold::HoldTarget;
use crate::domain::record::ConsumedItem;
use crate::web::error::ApiError;

/// Held units already packed listed on the page at most (each a link to its trace).
const MAX_PACKED_LISTED: usize = 2_000;

struct HoldRow {
    kind: &'static str,
    kind_key: &'static str,
    /// The serial or the lot's code, as the release form sends it back.
    id: String,
    /// The lot's part number and supplier (empty for a unit, or where not named).
    part: String,
    supplier: String,
    /// The lot's material in words, empty for a unit.
    material: String,
    /// Its trace page.
    href: String,
    reason: String,
    placed: String,
    active: bool,
    released: String,
}

/// A hold asked for, shown with what it would catch before it is placed.
struct Confirm {
    kind_key: String,
    kind: &'static str,
    /// What is held, in words (a lot with its material).
    label: String,
    /// The form's fields, sent back to place it.
    id: String,
    part: String,
    supplier: String,
    reason: String,
    total: u64,
    /// `(line, units by status in words)`.
    lines: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "holds.html")]
struct HoldsPage {
    c: Chrome,
    may_hold: bool,
    confirm: Option<Confirm>,
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
    render(&req, &state, session.as_ref(), message, false, actix_web::http::StatusCode::OK, None).await
}

async fn render(
    req: &HttpRequest,
    state: &WebState,
    session: Option<&Session>,
    message: Option<String>,
    failed: bool,
    status: actix_web::http::StatusCode,
    confirm: Option<Confirm>,
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
            let (kind, kind_key, item) = match &h.target {
                HoldTarget::Lot(l) => (words.lot, "lot", ConsumedItem::Lot(l.clone())),
                HoldTarget::Unit(s) => (words.unit, "serial", ConsumedItem::Serial(s.clone())),
            };
            let (part, supplier, material) = match &item {
                ConsumedItem::Lot(l) => {
                    (l.material().part_number().to_owned(), l.material().supplier().to_owned(), l.material().label(""))
                }
                ConsumedItem::Serial(_) => Default::default(),
            };
            HoldRow {
                kind,
                kind_key,
                id: item.id().to_owned(),
                part,
                supplier,
                material,
                href: super::trace::trace_href(&item),
                active: h.is_active(),
                reason: h.reason.clone(),
                placed: format!("{} {}", h.placed_by, lang.moment(h.placed_at, zone)),
                released: h
                    .released
                    .as_ref()
                    .map(|r| {
                        let when = format!("{} {} {}", words.released_by, r.by, lang.moment(r.at, zone));
                        match &r.reason {
                            Some(why) => format!("{when}: {why}"),
                            None => when,
                        }
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    // Every held unit already packed, from the store (a hold placed after packing, on a lot or
    // a unit, is caught too), with what this process's collectors saw packed while held.
    let mut packed: std::collections::BTreeSet<String> = match state.store.held_packed_units(MAX_PACKED_LISTED).await {
        Ok(p) => p.into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "held packed units not listed");
            std::collections::BTreeSet::new()
        }
    };
    packed.extend(state.health.iter().flat_map(|h| h.snapshot().held_packed));
    let packed = packed.into_iter().collect();
    let page = HoldsPage {
        c: Chrome::new(req, session, zone, words.nav_holds),
        may_hold: session.is_some_and(|s| s.role.may_hold()),
        confirm,
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
    /// A lot's part number and supplier, where its code alone is ambiguous (blank: not named).
    part: Option<String>,
    supplier: Option<String>,
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
    if form.action == "preview" {
        return match preview(&req, &state, &session, &form).await {
            Ok(confirm) => {
                let ok = actix_web::http::StatusCode::OK;
                render(&req, &state, Some(&session), None, false, ok, Some(confirm)).await
            }
            Err(e) => {
                let (message, status) = failure(&req, &state, &form, e).await;
                render(&req, &state, Some(&session), message, true, status, None).await
            }
        };
    }
    match submit(&req, &state, &session, &form).await {
        Ok(done) => see_other(&format!("/holds?done={done}")),
        Err(e) => {
            let (message, status) = failure(&req, &state, &form, e).await;
            render(&req, &state, Some(&session), message, true, status, None).await
        }
    }
}

/// What the page says when `e` refused the form, and its status. A lot code of several
/// materials is answered in the page's language with the materials to name one of.
async fn failure(
    req: &HttpRequest,
    state: &WebState,
    form: &HoldForm,
    e: ApiError,
) -> (Option<String>, actix_web::http::StatusCode) {
    let status = actix_web::ResponseError::status_code(&e);
    let lang = lang_of(req);
    let words = lang.words();
    let code = form.id.trim();
    let message = match &e {
        ApiError::BadRequest { code: "ambiguous_lot", .. } => {
            // The lots of this code that fit what was typed (as the trace page lists them).
            let query = super::super::api::lot_query(code, form.part.as_deref(), form.supplier.as_deref());
            let materials: Vec<String> = state
                .store
                .lots_with_code(code)
                .await
                .unwrap_or_default()
                .iter()
                .filter(|l| query.as_ref().is_ok_and(|q| q.matches(l)))
                .map(|l| lang.material(l.material()))
                .collect();
            format!(
                "{} {code:?} {} {} ({} / {})",
                words.lot,
                words.lot_choose,
                materials.join("; "),
                words.part_number,
                words.supplier
            )
        }
        _ => e.to_string(),
    };
    (Some(message), status)
}

/// The form's request as the API reads it (the same checks of target and reason).
fn request_of(form: &HoldForm) -> Result<HoldRequest, ApiError> {
    let id = form.id.trim().to_owned();
    match form.kind.as_str() {
        "lot" => Ok(HoldRequest {
            lot: Some(id),
            part_number: form.part.clone(),
            supplier: form.supplier.clone(),
            serial: None,
            reason: form.reason.clone(),
        }),
        "serial" => Ok(HoldRequest {
            lot: None,
            part_number: None,
            supplier: None,
            serial: Some(id),
            reason: form.reason.clone(),
        }),
        other => Err(ApiError::bad("kind", format!("{other:?} is not lot or serial"))),
    }
}

/// What the hold asked for would catch, to confirm before placing it (nothing is written).
async fn preview(req: &HttpRequest, state: &WebState, session: &Session, form: &HoldForm) -> Result<Confirm, ApiError> {
    let target = hold_target(session, req, &request_of(form)?, form.csrf.as_deref())?;
    let reason = super::super::api::hold_reason(form.reason.as_deref())?.to_owned();
    let reach = state.store.hold_reach(&target).await?;
    let lang = lang_of(req);
    let words = lang.words();
    let (kind, label) = match &target {
        HoldTarget::Lot(l) => (words.lot, l.to_string()),
        HoldTarget::Unit(s) => (words.unit, s.to_string()),
    };
    let lines = reach
        .lines
        .iter()
        .map(|(line, by_status)| {
            let counts: Vec<String> = by_status
                .iter()
                .map(|(status, n)| format!("{} {}", lang.count(*n), lang.unit_status(*status)))
                .collect();
            (line.clone(), counts.join(", "))
        })
        .collect();
    let field = |f: &Option<String>| f.as_deref().map(str::trim).unwrap_or_default().to_owned();
    Ok(Confirm {
        kind_key: form.kind.clone(),
        kind,
        label,
        id: form.id.trim().to_owned(),
        part: field(&form.part),
        supplier: field(&form.supplier),
        reason,
        total: reach.total,
        lines,
    })
}

/// Places or releases; what to say on the page afterwards.
async fn submit(req: &HttpRequest, state: &WebState, session: &Session, form: &HoldForm) -> Result<String, ApiError> {
    let target = hold_target(session, req, &request_of(form)?, form.csrf.as_deref())?;
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
            let reason = super::super::api::hold_reason(form.reason.as_deref())?;
            let released = state.store.release_hold(&target, &session.user, reason, now).await?;
            tracing::info!(user = %session.user, ?target, released, reason, "release (page)");
            Ok(format!("released-{released}"))
        }
        other => Err(ApiError::bad("action", format!("{other:?} is not place or release"))),
    }
}
