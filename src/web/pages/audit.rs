//! The audit ledger page, for auditors and admins: the verification of the chosen periods run
//! now (every hash, signature and checkpoint, every closed period recomputed from the raw
//! records), each discrepancy with where it is; the newest signed checkpoint with the key and
//! its fingerprint; every closed period's headline figures as recorded, as corrected and the
//! difference; corrections with who and why; records that arrived after their period closed;
//! and the signed bundle to download with the one command that verifies it offline.
//!
//! Must never: show a verdict that was not computed just now, or change the ledger.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::super::WebState;
use super::super::audit::{PeriodQuery, run_verification};
use super::super::i18n::Lang;
use super::{Chrome, error_page, html, page_start};
use crate::audit::{EntryFilter, EntryView, Headline};
use crate::web::error::ApiError;

/// A closed period's row: its entry and the headline as recorded, then (when corrected) as
/// corrected and the difference.
struct PeriodRow {
    seq: u64,
    line: String,
    period: String,
    kind: &'static str,
    results: String,
    closed: String,
    rows: Vec<(&'static str, [String; 7])>,
}

struct CorrectionRow {
    seq: u64,
    amends: String,
    line: String,
    period: String,
    changes: String,
    reason: String,
    by: String,
}

struct Verdict {
    clean: bool,
    summary: String,
    discrepancies: Vec<(String, String)>,
    late: Vec<String>,
    /// Entries sealed under earlier figure rules: where, and what changed.
    rule_changes: Vec<(String, String)>,
}

struct CheckpointBox {
    note: String,
    size: String,
    root: String,
    key: String,
    fingerprint: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    lines: Vec<(String, String)>,
    line: String,
    from: String,
    to: String,
    error: Option<String>,
    no_key: bool,
    verdict: Option<Verdict>,
    checkpoint: Option<CheckpointBox>,
    periods: Vec<PeriodRow>,
    corrections: Vec<CorrectionRow>,
    bundle_link: String,
    verify_command: String,
}

/// The figures of a headline as the page writes them, in the table's column order.
fn cells(h: &Headline, lang: Lang) -> [String; 7] {
    let n = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), |v| lang.count(v));
    [
        n(h.units_started),
        n(h.units_out),
        n(h.scrapped),
        n(h.reworked),
        lang.percent(h.first_pass_yield),
        lang.percent(h.final_yield),
        lang.percent(h.oee),
    ]
}

/// Corrected minus recorded, signed, per column ("" where neither changed).
fn difference(raw: &Headline, corrected: &Headline, lang: Lang) -> [String; 7] {
    let n = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if a != b => {
            let d = i128::from(b) - i128::from(a);
            format!("{}{}", if d > 0 { "+" } else { "−" }, lang.count(d.unsigned_abs() as u64))
        }
        (a, b) if a != b => "≠".to_owned(),
        _ => String::new(),
    };
    let r = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a != b => {
            let d = (b - a) * 100.0;
            format!("{}{} pp", if d > 0.0 { "+" } else { "−" }, lang.decimal(d.abs(), 1))
        }
        (a, b) if a != b => "≠".to_owned(),
        _ => String::new(),
    };
    [
        n(raw.units_started, corrected.units_started),
        n(raw.units_out, corrected.units_out),
        n(raw.scrapped, corrected.scrapped),
        n(raw.reworked, corrected.reworked),
        r(raw.first_pass_yield, corrected.first_pass_yield),
        r(raw.final_yield, corrected.final_yield),
        r(raw.oee, corrected.oee),
    ]
}

const INPUT: &str = "%Y-%m-%dT%H:%M";

pub(super) async fn audit_page(
    req: HttpRequest,
    state: web::Data<WebState>,
    q: web::Query<PeriodQuery>,
) -> HttpResponse {
    let (session, zone, lang) = match page_start(&req, &state, false).await {
        Ok(start) => start,
        Err(to_login) => return to_login.answer(),
    };
    let fail = |e: ApiError| error_page(&req, session.as_ref(), zone, &e);
    if let Some(Err(e)) = session.as_ref().map(|s| s.require_audit_rights()) {
        return fail(e);
    }
    let words = lang.words();
    let aw = &words.audit;
    let lines = match state.store.lines().await {
        Ok(ls) => std::iter::once((String::new(), aw.all_lines.to_owned()))
            .chain(ls.into_iter().map(|l| (l.id.to_string(), lang.name(&l.name, l.name_vi.as_deref()).to_owned())))
            .collect(),
        Err(e) => return fail(e.into()),
    };
    // An empty form field means "not given".
    let given = |v: &Option<String>| v.clone().filter(|t| !t.trim().is_empty());
    let query = PeriodQuery { line: given(&q.line), from: given(&q.from), to: given(&q.to) };
    let mut page = AuditPage {
        c: Chrome::new(&req, session.as_ref(), zone, aw.heading),
        lines,
        line: query.line.clone().unwrap_or_default(),
        from: query.from.clone().unwrap_or_default(),
        to: query.to.clone().unwrap_or_default(),
        error: None,
        no_key: state.ledger.is_none(),
        verdict: None,
        checkpoint: None,
        periods: Vec::new(),
        corrections: Vec::new(),
        bundle_link: String::new(),
        verify_command: String::new(),
    };
    let scope = match query.scope(zone) {
        Ok(s) => s,
        Err(e) => {
            page.error = Some(e.to_string());
            return html(actix_web::http::StatusCode::BAD_REQUEST, page.render());
        }
    };
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).format(INPUT).to_string();
    let params: Vec<String> = [
        scope.line.as_ref().map(|l| format!("line={l}")),
        scope.from.map(|t| format!("from={}", local(t))),
        scope.to.map(|t| format!("to={}", local(t))),
    ]
    .into_iter()
    .flatten()
    .collect();
    page.bundle_link = format!("/api/v1/audit/bundle?{}", params.join("&"));
    let _slot = match state.costly_slot("/audit").await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let filter = EntryFilter { scope: scope.clone(), after: None, limit: super::super::api::MAX_HOLDS };
    let entries = match crate::audit::entries(&state.store, &filter).await {
        Ok(e) => e,
        Err(e) => return fail(e.into()),
    };
    let verifier = state.ledger.as_ref().map(|k| k.verifier());
    match crate::audit::latest_checkpoint(&state.store, verifier.as_ref()).await {
        Ok(Some(c)) => {
            page.checkpoint = Some(CheckpointBox {
                note: c.note,
                size: lang.count(c.size),
                root: c.root,
                key: c.key.clone().unwrap_or_else(|| "—".into()),
                fingerprint: c.fingerprint.unwrap_or_else(|| "—".into()),
            });
            if let Some(key) = c.key {
                page.verify_command = format!("mes audit verify --bundle mes-audit-bundle-{}.json --key {key}", c.size);
            }
        }
        Ok(None) => {}
        Err(e) => return fail(e.into()),
    }
    if !page.no_key {
        match run_verification(&state, &scope).await {
            Ok(v) => {
                let r = &v.report;
                page.verdict = Some(Verdict {
                    clean: v.clean,
                    summary: format!(
                        "{} {}, {} {}, {} {}",
                        lang.count(r.entries),
                        aw.entries,
                        lang.count(r.records),
                        aw.records_recomputed,
                        lang.count(r.checkpoints),
                        aw.checkpoints_checked
                    ),
                    discrepancies: r
                        .discrepancies
                        .iter()
                        .map(|d| {
                            let place = [
                                d.entry.map(|e| format!("{} {e}", aw.entry)),
                                d.line.clone(),
                                d.period.clone(),
                                d.station.clone(),
                                d.record.clone(),
                            ];
                            (place.into_iter().flatten().collect::<Vec<_>>().join(" · "), d.what.clone())
                        })
                        .collect(),
                    late: r
                        .late
                        .iter()
                        .map(|l| {
                            let note = if l.supplemented { aw.supplemented } else { aw.to_supplement };
                            format!("{} {} · {} ({note})", aw.entry, l.entry, l.record)
                        })
                        .collect(),
                    rule_changes: r
                        .rule_changes
                        .iter()
                        .map(|n| {
                            let change = n.change().map_or("", |c| if lang == Lang::Vi { c.vi } else { c.en });
                            (
                                format!("{} {} · {} · {}", aw.entry, n.entry, n.line, n.period),
                                format!(
                                    "{} {}; {} {}: {change} ({} {}: {})",
                                    aw.sealed_under,
                                    n.sealed_under,
                                    aw.changed_by,
                                    n.changed_in,
                                    lang.count(n.fields.len() as u64),
                                    aw.figures_differ,
                                    n.fields.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
                                ),
                            )
                        })
                        .collect(),
                });
            }
            Err(e) => return fail(e),
        }
    }
    for e in &entries {
        match e.kind.as_str() {
            "correction" => page.corrections.push(correction_row(e)),
            _ => page.periods.push(period_row(e, lang, zone)),
        }
    }
    html(actix_web::http::StatusCode::OK, page.render())
}

fn period_row(e: &EntryView, lang: Lang, zone: chrono_tz::Tz) -> PeriodRow {
    let aw = &lang.words().audit;
    let mut rows = vec![(aw.raw, cells(&e.figures, lang))];
    if let Some(corrected) = &e.corrected {
        rows.push((aw.corrected, cells(corrected, lang)));
        rows.push((aw.difference, difference(&e.figures, corrected, lang)));
    }
    PeriodRow {
        seq: e.seq,
        line: e.line.clone(),
        period: e.period.clone(),
        kind: if e.kind == "supplement" { aw.kind_supplement } else { aw.kind_period },
        results: e.results.map_or_else(|| "—".to_owned(), |r| lang.count(r)),
        closed: format!("{} {}", e.by, lang.date_time(e.at, zone)),
        rows,
    }
}

fn correction_row(e: &EntryView) -> CorrectionRow {
    CorrectionRow {
        seq: e.seq,
        amends: e.amends.map(|a| a.to_string()).unwrap_or_default(),
        line: e.line.clone(),
        period: e.period.clone(),
        changes: e.changes.iter().map(|c| format!("{}: {} → {}", c.field, c.from, c.to)).collect::<Vec<_>>().join("; "),
        reason: e.reason.clone().unwrap_or_default(),
        by: e.by.clone(),
    }
}
