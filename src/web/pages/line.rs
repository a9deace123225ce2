//! The line page: the line's tile, its route with each station's state and the units waiting
//! for it, output per hour against plan, top defects, the machine-state timeline of the shift,
//! and the health of its collector (when this process collects it).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::super::{WebState, charts};
use super::{Chrome, Tile, error_page, html, latest_lines, page_start, tile};
use crate::present::charts::Theme;
use crate::web::error::ApiError;

/// A station of the route as the line page writes it.
struct RouteStation {
    code: String,
    name: String,
    state: String,
    state_text: String,
    since: String,
    reason: String,
    wip: String,
}

/// A station's collector health as the line page writes it.
struct HealthRow {
    code: String,
    last_read: String,
    records: String,
    again: String,
    errors: String,
    failing: bool,
    last_error: String,
}

/// A scan class of the line's collector as the line page writes it.
struct ScanRow {
    class: String,
    period: String,
    polls: String,
    overruns: String,
    overran: bool,
    skipped: String,
    duration: String,
}

#[derive(Template)]
#[template(path = "line.html")]
struct LinePage {
    c: Chrome,
    line: String,
    tiles: Vec<Tile>,
    stations: Vec<RouteStation>,
    at_repair: String,
    hourly_svg: String,
    has_defects: bool,
    pareto_svg: String,
    timeline_svg: String,
    legend: String,
    period: String,
    collector: String,
    health_rows: Vec<HealthRow>,
    scan_rows: Vec<ScanRow>,
}

pub(super) async fn line_page(req: HttpRequest, state: web::Data<WebState>, path: web::Path<String>) -> HttpResponse {
    let (session, zone, lang) = match page_start(&req, &state, true).await {
        Ok(start) => start,
        Err(to_login) => return to_login.answer(),
    };
    let detail = match crate::domain::LineId::parse(path.into_inner()).map_err(|e| ApiError::bad("line", e)) {
        Ok(line) => state.line_detail(&line, "/lines/{line}").await,
        Err(e) => Err(e),
    };
    let (detail, published) = match detail {
        Ok(d) => d,
        Err(e) => return error_page(&req, session.as_ref(), zone, &e),
    };
    // The charts, drawn once per summary and language like the figures they show.
    let draw = || async {
        let defect_names = state.store.defect_names().await?;
        let rows: Vec<(String, &[crate::domain::state::StateInterval])> =
            detail.stations.iter().map(|s| (s.station.to_string(), s.timeline.as_slice())).collect();
        Ok::<_, ApiError>([
            charts::inline_svg(&charts::HourlyOutput { hours: &detail.hourly, lang }, Theme::Screen),
            charts::inline_svg(&charts::Bars::pareto(&detail.top_defects, &defect_names, lang), Theme::Screen),
            charts::inline_svg(
                &charts::Timeline { rows: &rows, from: detail.from, to: detail.to, lang, zone },
                Theme::Screen,
            ),
        ])
    };
    let drawn = match published {
        Some(at) => state.live.line_charts.get(&(detail.line.clone(), lang), at, draw).await,
        None => draw().await.map(std::sync::Arc::new),
    };
    let [hourly_svg, pareto_svg, timeline_svg] = match drawn {
        Ok(svgs) => (*svgs).clone(),
        Err(e) => return error_page(&req, session.as_ref(), zone, &e),
    };
    let words = lang.words();
    let snapshot = latest_lines(&state).await;
    let summary = snapshot.lines.iter().find(|l| l.line == detail.line);
    let tiles: Vec<Tile> = summary.iter().map(|l| tile(l, lang, words, zone)).collect();
    let now_of = |code: &crate::domain::StationId| summary.and_then(|l| l.stations.iter().find(|s| &s.station == code));
    let stations = detail
        .stations
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let now = now_of(&s.station);
            let st = now.and_then(|n| n.state);
            let since = now
                .and_then(|n| n.since)
                .map(|t| format!("{} {}", words.since, lang.time(t, zone)))
                .unwrap_or_default();
            RouteStation {
                code: s.station.to_string(),
                name: lang.name(&s.name, s.name_vi.as_deref()).to_owned(),
                state: st.map_or("no_data", |st| st.as_str()).to_owned(),
                state_text: st.map_or(words.no_data, |st| lang.state(st)).to_owned(),
                since,
                reason: now.and_then(|n| super::reason_now(n, lang)).unwrap_or_default().to_owned(),
                wip: if k == 0 { String::new() } else { format!("{} {}", lang.count(s.wip_before), words.wip) },
            }
        })
        .collect();
    let (collector, health_rows, scan_rows) = match state.line_health(detail.line.as_str()) {
        // Collected elsewhere: on PostgreSQL the store knows by whom.
        None => {
            let owner = state.store.line_owners().await.ok().and_then(|mut o| o.remove(detail.line.as_str()));
            let text = match owner {
                Some(holder) => format!("{}: {holder}", words.not_collected_here),
                None => words.not_collected_here.to_owned(),
            };
            (text, Vec::new(), Vec::new())
        }
        Some(h) => {
            use crate::acquisition::health::Ownership;
            let mut link = match (&h.ownership, h.connected) {
                (Ownership::Standby { owner }, _) => {
                    format!("{} {}", words.standby_for, owner.as_deref().unwrap_or(words.not_collected_here))
                }
                (_, true) => words.connected.to_owned(),
                (_, false) => format!("{} {}", words.not_connected, h.last_connect_error.clone().unwrap_or_default()),
            };
            if let Ownership::Owner { holder } = &h.ownership {
                link = format!("{link} · {} {holder}", words.collected_by_this);
            }
            if let Some(e) = &h.last_store_error {
                link = format!("{link} · {}: {e}", words.store_failing);
            }
            if h.lease_unconfirmed {
                link = format!("{link} · {}", words.lease_unconfirmed);
            }
            if let Some(b) = &state.buffer {
                let b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                if b.full {
                    link = format!("{link} · {}", words.outbox_full);
                }
                if b.quarantined_entries > 0 {
                    link = format!("{link} · {} {}", words.outbox_quarantined, lang.count(b.quarantined_records));
                }
                if b.backlog_entries > 0 {
                    let line_records = b.backlog_by_line.get(detail.line.as_str()).copied().unwrap_or(0);
                    let since = b.oldest_queued_at.map(|t| lang.moment(t, zone)).unwrap_or_default();
                    link = format!(
                        "{link} · {}: {} ({} {since}), {} {}/s",
                        words.outbox_waiting,
                        lang.count(line_records),
                        words.oldest,
                        words.forwarding,
                        lang.decimal(b.forward_rate, 0)
                    );
                }
            }
            let rows = h
                .stations
                .iter()
                .map(|s| HealthRow {
                    code: s.code.clone(),
                    last_read: s.last_good_read.map_or_else(|| "—".to_owned(), |t| lang.moment(t, zone)),
                    records: lang.count(s.records),
                    again: lang.count(s.duplicates),
                    errors: lang.count(s.errors),
                    failing: s.errors > 0,
                    last_error: s.last_error.clone().unwrap_or_default(),
                })
                .collect();
            let ms = |d: Option<std::time::Duration>| {
                d.map_or_else(|| "—".to_owned(), |d| format!("{} ms", lang.decimal(d.as_secs_f64() * 1000.0, 1)))
            };
            let scans = h
                .scans
                .iter()
                .map(|s| ScanRow {
                    class: s.class.clone(),
                    period: format!("{} ms", lang.count(s.period_ms)),
                    polls: lang.count(s.polls),
                    overruns: lang.count(s.overruns),
                    overran: s.overruns > 0,
                    skipped: lang.count(s.skipped),
                    duration: format!("{} / {}", ms(s.quantile(0.5)), ms(s.quantile(0.99))),
                })
                .collect();
            (link, rows, scans)
        }
    };
    let page = LinePage {
        c: Chrome::new(&req, session.as_ref(), zone, lang.name(&detail.name, detail.name_vi.as_deref())),
        line: detail.line.to_string(),
        tiles,
        stations,
        at_repair: lang.count(detail.at_repair),
        hourly_svg,
        has_defects: !detail.top_defects.is_empty(),
        pareto_svg,
        timeline_svg,
        legend: charts::legend(lang),
        period: format!("{} – {}", lang.date_time(detail.from, zone), lang.time(detail.to, zone)),
        collector,
        health_rows,
        scan_rows,
    };
    html(actix_web::http::StatusCode::OK, page.render())
}
