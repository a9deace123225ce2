//! Trace search: a serial shows its genealogy tree (what it contains, any depth, possible links
//! marked), the units that contain it, and every station visit of everything in it in time
//! order; a lot or reel shows every unit containing it. Holds are marked wherever they apply.

use std::collections::BTreeSet;
use std::fmt::Write;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::super::WebState;
use super::super::charts::esc;
use super::super::i18n::{Lang, Words};
use super::{Chrome, error_page, html, page_start};
use crate::domain::genealogy::{Containment, TraceNode};
use crate::domain::ids::{LotId, SerialNumber};
use crate::domain::record::{Certainty, ConsumedItem, Verdict};
use crate::store::{ForwardTrace, UnitView};
use crate::web::error::ApiError;

#[derive(Deserialize)]
pub(super) struct TraceQuery {
    q: Option<String>,
}

struct UnitHead {
    serial: String,
    product: String,
    status: String,
    on_hold: bool,
}

struct VisitRow {
    at: String,
    serial: String,
    line: String,
    station: String,
    result: String,
    failed: bool,
    defects: String,
}

struct Container {
    serial: String,
    containment: &'static str,
    possible: bool,
    depth: u32,
    product: String,
    status: String,
    on_hold: bool,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "trace.html")]
struct TracePage {
    c: Chrome,
    q: String,
    missing: Option<String>,
    unit: Option<UnitHead>,
    tree_html: String,
    visits: Vec<VisitRow>,
    lot: Option<String>,
    lot_held: bool,
    containers: Vec<Container>,
}

/// The nested list of a backward trace; each item links to its own trace.
fn tree_html(
    node: &TraceNode,
    units: &std::collections::BTreeMap<String, UnitView>,
    held_lots: &BTreeSet<String>,
    words: &Words,
    lang: Lang,
    zone: chrono_tz::Tz,
) -> String {
    let mut out = String::new();
    let id = node.item.id();
    let held = match &node.item {
        ConsumedItem::Serial(s) => units.get(s.as_str()).is_some_and(|u| u.unit.on_hold),
        ConsumedItem::Lot(l) => held_lots.contains(l.as_str()),
    };
    let possible = node.certainty == Certainty::Possible;
    let _ = write!(
        out,
        "<li data-item=\"{}\"><span class=\"kind\">{}</span> <a href=\"/trace?q={}\"><b>{}</b></a>",
        esc(id),
        esc(&node.kind),
        esc(&urlencode(id)),
        esc(id)
    );
    if let Some(via) = &node.via {
        let at = lang.date_time(via.at, zone);
        let refdes = via.ref_designator.as_deref().map(|r| format!(" [{}]", esc(r))).unwrap_or_default();
        let _ = write!(out, " <small>{}/{} {at}{refdes}</small>", esc(via.line.as_str()), esc(via.station.as_str()));
    }
    if possible {
        let _ = write!(out, " <span class=\"possible\">({})</span>", words.possibly_contains);
    }
    if held {
        let _ = write!(out, " <span class=\"badge\">■ {}</span>", words.on_hold);
    }
    if !node.children.is_empty() {
        out.push_str("<ul class=\"tree\">");
        for child in &node.children {
            out.push_str(&tree_html(child, units, held_lots, words, lang, zone));
        }
        out.push_str("</ul>");
    }
    out.push_str("</li>");
    out
}

/// Percent-encodes a query value (ids are printable ASCII, but `&`, `#`, `+` and spaces must
/// not break the link).
fn urlencode(text: &str) -> String {
    askama::filters::urlencode(text).map(|s| s.to_string()).unwrap_or_else(|_| text.to_owned())
}

fn containers(trace: &ForwardTrace, words: &Words, lang: Lang, zone: chrono_tz::Tz) -> Vec<Container> {
    trace
        .units
        .iter()
        .map(|t| Container {
            serial: t.hit.serial.to_string(),
            possible: t.hit.containment == Containment::PossiblyContains,
            containment: match t.hit.containment {
                Containment::Contains => words.contains,
                Containment::PossiblyContains => words.possibly_contains,
            },
            depth: t.hit.depth,
            product: t.product.as_ref().map_or_else(|| "—".to_owned(), ToString::to_string),
            status: lang.unit_status(t.status).to_owned(),
            on_hold: t.on_hold,
            last_seen: t
                .last_seen
                .as_ref()
                .map_or_else(|| "—".to_owned(), |s| format!("{}/{} {}", s.line, s.station, lang.date_time(s.at, zone))),
        })
        .collect()
}

pub(super) async fn trace_page(
    req: HttpRequest,
    state: web::Data<WebState>,
    query: web::Query<TraceQuery>,
) -> HttpResponse {
    let (session, zone, lang) = match page_start(&req, &state, false).await {
        Ok(start) => start,
        Err(to_login) => return to_login.answer(),
    };
    let words = lang.words();
    let q = query.q.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let mut page = TracePage {
        c: Chrome::new(&req, session.as_ref(), zone, words.nav_trace),
        q: q.clone(),
        missing: None,
        unit: None,
        tree_html: String::new(),
        visits: Vec::new(),
        lot: None,
        lot_held: false,
        containers: Vec::new(),
    };
    if q.is_empty() {
        return html(actix_web::http::StatusCode::OK, page.render());
    }
    let found = lookup(&state, &q, &mut page, lang, zone).await;
    match found {
        Ok(true) => html(actix_web::http::StatusCode::OK, page.render()),
        Ok(false) => {
            page.missing = Some(format!("{} {q:?}", words.not_found));
            html(actix_web::http::StatusCode::NOT_FOUND, page.render())
        }
        Err(e) => error_page(&req, session.as_ref(), zone, &e),
    }
}

/// Fills the page for `q`, a serial first, else a lot; whether anything was found.
async fn lookup(
    state: &WebState,
    q: &str,
    page: &mut TracePage,
    lang: Lang,
    zone: chrono_tz::Tz,
) -> Result<bool, ApiError> {
    let words = lang.words();
    let _slot = state.costly_slot("/trace").await?;
    let held_lots: BTreeSet<String> = state
        .store
        .active_holds()
        .await?
        .into_iter()
        .filter_map(|h| match h.target {
            crate::domain::hold::HoldTarget::Lot(l) => Some(l.to_string()),
            crate::domain::hold::HoldTarget::Unit(_) => None,
        })
        .collect();
    if let Ok(serial) = SerialNumber::parse(q.to_owned())
        && let Some(trace) = state.store.backward_trace(&serial).await?
    {
        let root = trace.units.get(serial.as_str());
        page.unit = root.map(|u| UnitHead {
            serial: u.unit.serial.to_string(),
            product: u.unit.product.as_ref().map_or_else(|| "—".to_owned(), ToString::to_string),
            status: lang.unit_status(u.unit.status).to_owned(),
            on_hold: u.unit.on_hold,
        });
        page.tree_html = format!(
            "<ul class=\"tree root\">{}</ul>",
            tree_html(&trace.tree, &trace.units, &held_lots, words, lang, zone)
        );
        let mut visits: Vec<_> = trace.units.values().flat_map(|u| u.visits.iter()).collect();
        visits.sort_by_key(|v| (v.record.ended_at, v.id));
        page.visits = visits
            .into_iter()
            .map(|v| VisitRow {
                at: lang.date_time(v.record.ended_at, zone),
                serial: v.record.serial.to_string(),
                line: v.record.line.to_string(),
                station: v.record.station.to_string(),
                failed: v.record.verdict == Verdict::Fail,
                result: match v.record.verdict {
                    Verdict::Pass => words.pass.to_owned(),
                    Verdict::Fail => words.fail.to_owned(),
                },
                defects: v.record.defects.iter().map(|d| d.code.to_string()).collect::<Vec<_>>().join(", "),
            })
            .collect();
        if let Some(up) = state.store.forward_trace(&ConsumedItem::Serial(serial)).await? {
            page.containers = containers(&up, words, lang, zone);
        }
        return Ok(true);
    }
    if let Ok(lot) = LotId::parse(q.to_owned())
        && let Some(up) = state.store.forward_trace(&ConsumedItem::Lot(lot.clone())).await?
    {
        page.lot_held = held_lots.contains(lot.as_str());
        page.lot = Some(lot.to_string());
        page.containers = containers(&up, words, lang, zone);
        return Ok(true);
    }
    Ok(false)
}
