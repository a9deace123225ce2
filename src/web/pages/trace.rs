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
    /// A lot's part number, where its code alone names lots of several materials.
    part: Option<String>,
    /// A lot's supplier, likewise.
    supplier: Option<String>,
    /// Page of the forward trace's units (from 0; [`UNITS_PER_PAGE`] each).
    page: Option<usize>,
}

/// Units of a forward trace listed per page (a reel reaches thousands: they are counted by
/// product and status above the list, and listed a page at a time).
const UNITS_PER_PAGE: usize = 100;

/// Where a page of the forward trace's units sits, with links to its neighbours.
struct Paging {
    first: usize,
    last: usize,
    prev: Option<String>,
    next: Option<String>,
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
    /// What a repair bench did, in words with its code; empty elsewhere.
    repair_action: String,
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
    /// The lots a code names when it names several: `(material, link)`, one to choose.
    choices: Vec<(String, String)>,
    /// Every unit of the forward trace, counted.
    reached: usize,
    /// `(product, status, units)` over every unit of the forward trace.
    groups: Vec<(String, String, usize)>,
    /// This page of them.
    containers: Vec<Container>,
    /// Set when they take more than one page.
    paging: Option<Paging>,
}

impl TracePage {
    /// The page for query `q` before anything is found: the search form alone.
    fn empty(c: Chrome, q: String) -> Self {
        TracePage {
            c,
            q,
            missing: None,
            unit: None,
            tree_html: String::new(),
            visits: Vec::new(),
            lot: None,
            lot_held: false,
            choices: Vec::new(),
            reached: 0,
            groups: Vec::new(),
            containers: Vec::new(),
            paging: None,
        }
    }
}

/// Counts `all` by product and status into `out`, with page `page` of them to list; `href` is
/// the trace's own link, which the page links extend.
fn page_units(all: Vec<Container>, page: usize, href: &str, out: &mut TracePage) {
    let mut groups: std::collections::BTreeMap<(String, String), usize> = std::collections::BTreeMap::new();
    for c in &all {
        *groups.entry((c.product.clone(), c.status.clone())).or_default() += 1;
    }
    out.groups = groups.into_iter().map(|((product, status), n)| (product, status, n)).collect();
    out.reached = all.len();
    let pages = all.len().div_ceil(UNITS_PER_PAGE).max(1);
    let page = page.min(pages - 1);
    let link = |p: usize| format!("{href}&page={p}");
    if pages > 1 {
        out.paging = Some(Paging {
            first: page * UNITS_PER_PAGE + 1,
            last: ((page + 1) * UNITS_PER_PAGE).min(all.len()),
            prev: (page > 0).then(|| link(page - 1)),
            next: (page + 1 < pages).then(|| link(page + 1)),
        });
    }
    out.containers = all.into_iter().skip(page * UNITS_PER_PAGE).take(UNITS_PER_PAGE).collect();
}

/// The nested list of a backward trace; each item links to its own trace.
fn tree_html(
    node: &TraceNode,
    units: &std::collections::BTreeMap<String, UnitView>,
    held_lots: &BTreeSet<LotId>,
    words: &Words,
    lang: Lang,
    zone: chrono_tz::Tz,
) -> String {
    let mut out = String::new();
    let id = node.item.id();
    let (held, material) = match &node.item {
        ConsumedItem::Serial(s) => (units.get(s.as_str()).is_some_and(|u| u.unit.on_hold), String::new()),
        ConsumedItem::Lot(l) => (
            held_lots.contains(l),
            if l.material().is_named() {
                format!(" <small>{}</small>", esc(&l.material().to_string()))
            } else {
                String::new()
            },
        ),
    };
    let possible = node.certainty == Certainty::Possible;
    let _ = write!(
        out,
        "<li data-item=\"{}\"><span class=\"kind\">{}</span> <a href=\"{}\"><b>{}</b></a>{material}",
        esc(id),
        esc(lang.item_kind(&node.kind)),
        esc(&trace_href(&node.item)),
        esc(id)
    );
    if let Some(via) = &node.via {
        let at = lang.moment(via.at, zone);
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

/// The trace page of `item`: a lot's link names its material, so it opens that lot even where
/// its code is shared.
pub(super) fn trace_href(item: &ConsumedItem) -> String {
    let mut href = format!("/trace?q={}", urlencode(item.id()));
    if let ConsumedItem::Lot(l) = item {
        for (key, value) in [("part", l.material().part_number()), ("supplier", l.material().supplier())] {
            if !value.is_empty() {
                let _ = write!(href, "&{key}={}", urlencode(value));
            }
        }
    }
    href
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
                .map_or_else(|| "—".to_owned(), |s| format!("{}/{} {}", s.line, s.station, lang.moment(s.at, zone))),
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
    let mut page = TracePage::empty(Chrome::new(&req, session.as_ref(), zone, words.nav_trace), q.clone());
    let units_page = query.page.unwrap_or(0);
    if q.is_empty() {
        return html(actix_web::http::StatusCode::OK, page.render());
    }
    let material = crate::domain::Material::new(
        query.part.as_deref().map(str::trim).unwrap_or_default(),
        query.supplier.as_deref().map(str::trim).unwrap_or_default(),
    );
    let material = match material {
        Ok(material) => material,
        Err(e) => return error_page(&req, session.as_ref(), zone, &ApiError::bad("part/supplier", e)),
    };
    let found = lookup(&state, &q, &material, units_page, &mut page, lang, zone).await;
    match found {
        Ok(true) => html(actix_web::http::StatusCode::OK, page.render()),
        Ok(false) => {
            page.missing = Some(format!("{} {q:?}", words.not_found));
            html(actix_web::http::StatusCode::NOT_FOUND, page.render())
        }
        Err(ApiError::BadRequest { code: "ambiguous_lot", .. }) => {
            // The lots this code names, to choose from.
            let query = LotId::parse(q.clone()).map(|l| l.of(material));
            let lots = match (query, state.store.lots_with_code(&q).await) {
                (Ok(query), Ok(lots)) => lots.into_iter().filter(|l| query.matches(l)).collect::<Vec<_>>(),
                (_, Err(e)) => return error_page(&req, session.as_ref(), zone, &e.into()),
                (Err(_), _) => Vec::new(),
            };
            page.missing = Some(format!("{} {q:?} {}", words.lot, words.lot_choose));
            page.choices =
                lots.into_iter().map(|l| (lang.material(l.material()), trace_href(&ConsumedItem::Lot(l)))).collect();
            html(actix_web::http::StatusCode::OK, page.render())
        }
        Err(e) => error_page(&req, session.as_ref(), zone, &e),
    }
}

/// Fills the page for `q`, a serial first, else a lot; whether anything was found.
async fn lookup(
    state: &WebState,
    q: &str,
    material: &crate::domain::Material,
    units_page: usize,
    page: &mut TracePage,
    lang: Lang,
    zone: chrono_tz::Tz,
) -> Result<bool, ApiError> {
    let words = lang.words();
    let _slot = state.costly_slot("/trace").await?;
    let held_lots = state.store.held_lots().await?;
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
        let names = state.store.defect_names().await?;
        let actions = state.store.repair_action_names().await?;
        let mut visits: Vec<_> = trace.units.values().flat_map(|u| u.visits.iter()).collect();
        visits.sort_by_key(|v| (v.record.ended_at, v.id));
        page.visits = visits
            .into_iter()
            .map(|v| VisitRow {
                at: lang.moment(v.record.ended_at, zone),
                serial: v.record.serial.to_string(),
                line: v.record.line.to_string(),
                station: v.record.station.to_string(),
                failed: v.record.verdict == Verdict::Fail,
                result: match v.record.verdict {
                    Verdict::Pass => words.pass.to_owned(),
                    Verdict::Fail => words.fail.to_owned(),
                },
                defects: v
                    .record
                    .defects
                    .iter()
                    .map(|d| lang.coded(&names, d.code.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
                repair_action: v
                    .record
                    .repair_action
                    .as_ref()
                    .map_or_else(String::new, |a| lang.coded(&actions, a.as_str())),
            })
            .collect();
        let item = ConsumedItem::Serial(serial);
        if let Some(up) = state.store.forward_trace(&item).await? {
            page_units(containers(&up, words, lang, zone), units_page, &trace_href(&item), page);
        }
        return Ok(true);
    }
    if let Ok(lot) = LotId::parse(q.to_owned())
        && let Some(up) = state.store.forward_trace(&ConsumedItem::Lot(lot.of(material.clone()))).await?
    {
        // The lot found, with its whole material.
        if let ConsumedItem::Lot(found) = &up.item {
            page.lot_held = held_lots.contains(found);
            page.lot = Some(found.to_string());
        }
        page_units(containers(&up, words, lang, zone), units_page, &trace_href(&up.item), page);
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> TracePage {
        let request = actix_web::test::TestRequest::default().to_http_request();
        TracePage::empty(Chrome::new(&request, None, chrono_tz::Asia::Ho_Chi_Minh, ""), String::new())
    }

    fn unit(k: usize) -> Container {
        Container {
            serial: format!("P{k:04}"),
            containment: "contains",
            possible: false,
            depth: 1,
            product: if k.is_multiple_of(5) { "TABLET".into() } else { "PHONE".into() },
            status: if k.is_multiple_of(2) { "packed".into() } else { "in process".into() },
            on_hold: false,
            last_seen: String::new(),
        }
    }

    #[test]
    fn a_long_forward_trace_is_counted_whole_and_listed_a_page_at_a_time() {
        let all: Vec<Container> = (0..250).map(unit).collect();
        let mut p = page();
        let lot = LotId::parse("R 1&2").unwrap().of(crate::domain::Material::new("BAT 4500", "").unwrap());
        page_units(all, 2, &trace_href(&ConsumedItem::Lot(lot)), &mut p);
        assert_eq!(p.reached, 250);
        assert_eq!(p.groups.iter().map(|g| g.2).sum::<usize>(), 250, "every unit counted once: {:?}", p.groups);
        assert_eq!(p.groups.iter().find(|g| g.0 == "TABLET" && g.1 == "packed").map(|g| g.2), Some(25));
        assert_eq!(p.containers.len(), 50);
        assert_eq!(p.containers[0].serial, "P0200");
        let paging = p.paging.as_ref().expect("three pages");
        assert_eq!((paging.first, paging.last, paging.next.is_none()), (201, 250, true));
        assert_eq!(
            paging.prev.as_deref(),
            Some("/trace?q=R%201%262&part=BAT%204500&page=1"),
            "the lot's material kept"
        );
        let mut beyond = page();
        page_units((0..250).map(unit).collect(), 99, "R", &mut beyond);
        assert_eq!(beyond.containers[0].serial, "P0200", "a page past the end shows the last");
        let mut short = page();
        page_units((0..3).map(unit).collect(), 0, "R", &mut short);
        assert!(short.paging.is_none() && short.containers.len() == 3);
    }
}
