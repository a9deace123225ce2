//! KPI: yield, OEE, defect Pareto and downtime by reason for a line over a period the user
//! picks (this shift, today, the last 24 hours, the last 7 days, or any from/to in plant time),
//! whole or sliced per shift, day or hour. Every figure comes from [`crate::figures`], the same
//! documents `mes kpi` and `/api/v1/kpi/*` return; problems with the data (no ideal cycle time,
//! unrecorded time) are said above the figures, never hidden.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::super::WebState;
use super::super::charts;
use super::super::i18n::Lang;
use super::{Chrome, html, page_start};
use crate::figures::{self, Scope, ScopeText};
use crate::web::error::ApiError;

struct SliceRow {
    label: String,
    /// Its range in plant time.
    range: String,
    /// Still running: its figures are for part of it.
    partial: bool,
    output: String,
    /// Units planned in the slice (so far, while it runs).
    plan: String,
    rty: String,
    scrap: String,
    oee: String,
}

#[derive(Template)]
#[template(path = "kpi.html")]
struct KpiPage {
    c: Chrome,
    lines: Vec<(String, String)>,
    line: String,
    from: String,
    to: String,
    by: String,
    bys: Vec<(&'static str, &'static str)>,
    presets: Vec<(&'static str, String)>,
    error: Option<String>,
    problems: Vec<String>,
    /// The line's constraint (its OEE row is timed by it), as shown.
    constraint: Option<String>,
    slices: Vec<SliceRow>,
    yields: Vec<(String, String, String, String, String)>,
    rty: String,
    scrap: String,
    dpmo: String,
    oee: Vec<(String, String, String, String, String)>,
    has_defects: bool,
    pareto_svg: String,
    reasons: Vec<(String, String, String)>,
}

const INPUT: &str = "%Y-%m-%dT%H:%M";

pub(super) async fn kpi_page(req: HttpRequest, state: web::Data<WebState>, q: web::Query<ScopeText>) -> HttpResponse {
    let (session, zone, lang) = match page_start(&req, &state, false).await {
        Ok(start) => start,
        Err(to_login) => return to_login.answer(),
    };
    let words = lang.words();
    let now = chrono::Utc::now();
    let lines: Vec<(String, String)> = match state.store.lines().await {
        Ok(ls) => {
            ls.into_iter().map(|l| (l.id.to_string(), lang.name(&l.name, l.name_vi.as_deref()).to_owned())).collect()
        }
        Err(e) => return super::error_page(&req, session.as_ref(), zone, &ApiError::from(e)),
    };
    let mut text = q.into_inner();
    if text.line.is_none() {
        text.line = lines.first().map(|l| l.0.clone());
    }
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).format(INPUT).to_string();
    let line = text.line.clone().unwrap_or_default();
    let link = |from: chrono::DateTime<chrono::Utc>, label| {
        (label, format!("/kpi?line={}&from={}&to={}", line, local(from), local(now)))
    };
    let shift_start = state.calendar.locate(now).map_or(now - chrono::Duration::hours(8), |s| s.start);
    let midnight = now
        .with_timezone(&zone)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(zone).earliest())
        .map_or(now - chrono::Duration::hours(24), |t| t.to_utc());
    let presets = vec![
        link(shift_start, words.shift),
        link(midnight, words.today),
        link(now - chrono::Duration::hours(24), "24 h"),
        link(now - chrono::Duration::days(7), words.last_7_days),
    ];
    let mut page = KpiPage {
        c: Chrome::new(&req, session.as_ref(), zone, words.nav_kpi),
        lines,
        line: line.clone(),
        from: String::new(),
        to: String::new(),
        by: text.by.clone().unwrap_or_default(),
        bys: vec![("", words.whole_period), ("shift", words.shift), ("day", words.per_day), ("hour", words.per_hour)],
        presets,
        error: None,
        problems: Vec::new(),
        constraint: None,
        slices: Vec::new(),
        yields: Vec::new(),
        rty: String::new(),
        scrap: String::new(),
        dpmo: String::new(),
        oee: Vec::new(),
        has_defects: false,
        pareto_svg: String::new(),
        reasons: Vec::new(),
    };
    if text.by.as_deref() == Some("") {
        text.by = None;
    }
    for t in [&mut text.from, &mut text.to] {
        if t.as_deref() == Some("") {
            *t = None;
        }
    }
    // The page opens on the shift running now (a supervisor's question), not on the API's
    // rolling 24 hours, which mixes three shifts and the idle time between runs.
    if text.from.is_none() && text.to.is_none() {
        text.from = Some(shift_start.to_rfc3339());
    }
    let scope = match Scope::parse(&text, &state.calendar, now) {
        Ok(s) => s,
        Err(e) => {
            page.error = Some(e.to_string());
            return html(actix_web::http::StatusCode::BAD_REQUEST, page.render());
        }
    };
    // The fields in the page's date order (day first in Vietnamese); either order is read back.
    page.from = lang.date_time(scope.from, zone);
    page.to = lang.date_time(scope.to, zone);
    match fill(&state, &scope, &mut page, lang, now).await {
        Ok(()) => html(actix_web::http::StatusCode::OK, page.render()),
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            page.error = Some(e.to_string());
            html(status, page.render())
        }
    }
}

async fn fill(
    state: &WebState,
    scope: &Scope,
    page: &mut KpiPage,
    lang: Lang,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let _slot = state.costly_slot("/kpi").await?;
    let yields = figures::yields(&state.store, &state.calendar, scope).await?;
    let oee = figures::oee(&state.store, &state.calendar, scope, now).await?;
    let pct = |v: Option<f64>| lang.percent(v);
    if scope.by.is_some() {
        page.slices = yields
            .slices
            .iter()
            .zip(&oee.slices)
            .map(|(y, o)| SliceRow {
                label: y.bucket.label.clone(),
                range: format!(
                    "{} – {}",
                    lang.date_time(y.bucket.start, state.calendar.time_zone),
                    lang.time(y.bucket.end, state.calendar.time_zone)
                ),
                partial: y.bucket.running_at(now),
                output: lang.count(y.figures.stations.last().map_or(0, |s| s.final_pass)),
                plan: o.figures.planned_output().map_or_else(|| "—".to_owned(), |p| lang.count(p)),
                rty: pct(y.figures.rty),
                scrap: pct(y.figures.line_yield.scrap_rate),
                oee: pct(o.figures.line_oee.figures.oee),
            })
            .collect();
        return Ok(());
    }
    let (Some(y), Some(o)) = (yields.slices.first(), oee.slices.first()) else { return Ok(()) };
    page.yields = y
        .figures
        .stations
        .iter()
        .map(|s| (s.station.to_string(), lang.count(s.units), pct(s.fpy), pct(s.final_yield), lang.count(s.defects)))
        .collect();
    page.rty = pct(y.figures.rty);
    page.scrap = pct(y.figures.line_yield.scrap_rate);
    page.dpmo = y.figures.line_yield.dpmo.map_or_else(|| "—".to_owned(), |d| lang.decimal(d, 0));
    let row = |name: String, f: &crate::domain::oee::Oee| {
        (name, pct(f.availability), pct(f.effectiveness), pct(f.quality), pct(f.oee))
    };
    page.oee = o.figures.stations.iter().map(|s| row(s.station.to_string(), &s.figures)).collect();
    page.oee.push(row(lang.words().line.to_owned(), &o.figures.line_oee.figures));
    page.constraint = o.figures.line_oee.constraint.as_ref().map(ToString::to_string);
    let mut problems: Vec<String> = o.figures.line_oee.figures.problems.iter().map(|p| lang.oee_problem(p)).collect();
    problems.dedup();
    page.problems = problems;
    let pareto = figures::pareto(&state.store, &state.calendar, scope).await?;
    let defects = pareto.slices.first().map(|s| s.figures.defects.clone()).unwrap_or_default();
    page.has_defects = !defects.is_empty();
    let names = state.store.defect_names().await?;
    let bars = charts::Bars::pareto(&defects[..defects.len().min(10)], &names, lang);
    page.pareto_svg = charts::inline_svg(&bars, charts::Theme::Screen);
    let downtime = figures::downtime(&state.store, &state.calendar, scope, now).await?;
    let mut reasons: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    let reason_names = state.store.reason_names().await?;
    for s in downtime.slices.iter().flat_map(|s| &s.figures.stations) {
        for (reason, n, seconds) in &s.by_reason {
            let e = reasons.entry(lang.reason(&reason_names, reason)).or_default();
            e.0 += n;
            e.1 += seconds;
        }
    }
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    page.reasons = reasons.into_iter().map(|(r, (n, s))| (r, lang.count(n), lang.decimal(s / 60.0, 1))).collect();
    Ok(())
}
