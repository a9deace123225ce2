//! The output audit report: per line and closed period the figures as recorded, as corrected and
//! the difference, the signed checkpoint and the plant key's fingerprint, and the commands that
//! export the evidence and verify it offline with no trust in this software.

use chrono::{DateTime, Utc};

use super::{Cell, Kind, Report, ReportError, Request, Table};
use crate::audit::{EntryFilter, Headline, PeriodScope};
use crate::config::Config;
use crate::domain::LineId;
use crate::domain::shift::parse_instant;
use crate::store::Store;

/// Assembles the output audit report over the entries `request` selects (line, from, to).
pub async fn assemble(
    store: &Store,
    config: &Config,
    request: &Request,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let lang = request.lang;
    let zone = config.calendar.time_zone;
    let line = match request.line.as_deref() {
        Some(code) => Some(
            super::shift::line_of(store, request)
                .await
                .map(|(id, _)| id)
                .map_err(|_| ReportError::Request { field: "line", message: format!("no line {code:?}") })?,
        ),
        None => None,
    };
    let instant = |field: &'static str, text: Option<&str>| -> Result<Option<DateTime<Utc>>, ReportError> {
        text.map(|t| parse_instant(t, zone).map_err(|message| ReportError::Request { field, message })).transpose()
    };
    let (from, to) = (instant("from", request.from.as_deref())?, instant("to", request.to.as_deref())?);
    let filter = EntryFilter { scope: PeriodScope { line: line.clone(), from, to }, after: None, limit: usize::MAX };
    let entries = crate::audit::entries(store, &filter).await?;
    if entries.is_empty() {
        return Err(ReportError::NotFound("no closed period in the audit ledger for that line and time".into()));
    }
    let key = super::plant_verifier(config)?;
    let checkpoint = crate::audit::latest_checkpoint(store, key.as_ref()).await?;

    let mut listed = Table::new(
        "entries",
        &["entry", "kind_word", "line", "period", "from", "to", "results", "closed_by", "closed_at", "leaf_hash"],
    );
    let mut figures = Table::new("figures", &["entry", "line", "period", "figure", "raw", "corrected", "difference"]);
    for e in &entries {
        listed.push(vec![
            Cell::Count(e.seq),
            Cell::Word(match e.kind.as_str() {
                "period" => "period",
                "supplement" => "supplement",
                "correction" => "correction",
                _ => "entry",
            }),
            Cell::Text(e.line.clone()),
            Cell::Text(e.period.clone()),
            Cell::Time(Some(e.start)),
            Cell::Time(Some(e.end)),
            Cell::Number(e.results.map(|r| r as f64), 0),
            Cell::Text(e.by.clone()),
            Cell::Time(Some(e.at)),
            Cell::Text(e.hash.clone()),
        ]);
        if e.kind == "correction" {
            continue;
        }
        let now_stated = e.corrected.as_ref().unwrap_or(&e.figures);
        for (name, raw, corrected) in headline_pairs(&e.figures, now_stated) {
            let (raw_cell, corrected_cell, difference) = match (raw, corrected) {
                (Value::Count(a), Value::Count(b)) => (
                    cell_count(a),
                    cell_count(b),
                    match (a, b) {
                        (Some(a), Some(b)) => Cell::Signed(b as i64 - a as i64),
                        _ => Cell::Number(None, 0),
                    },
                ),
                (Value::Ratio(a), Value::Ratio(b)) => {
                    (Cell::Ratio(a), Cell::Ratio(b), Cell::Ratio(a.zip(b).map(|(a, b)| b - a)))
                }
                _ => continue,
            };
            figures.push(vec![
                Cell::Count(e.seq),
                Cell::Text(e.line.clone()),
                Cell::Text(e.period.clone()),
                Cell::Word(name),
                raw_cell,
                corrected_cell,
                difference,
            ]);
        }
    }

    let first = entries.first().map(|e| e.start).unwrap_or(now);
    let last = entries.iter().map(|e| e.end).max().unwrap_or(now);
    let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let line_flag = line.as_ref().map(|l: &LineId| format!(" --line {l}")).unwrap_or_default();
    let bundle = "ledger-bundle.json";
    let key_text = key.as_ref().map_or_else(|| "PLANT-KEY".to_owned(), crate::domain::ledger::NoteVerifier::encode);
    let data = serde_json::json!({
        "scope": {
            "line": line.as_ref().map(ToString::to_string),
            "from": lang.date_time(first, zone),
            "to": lang.date_time(last, zone),
        },
        "entries": entries.len(),
        "corrected": entries.iter().filter(|e| !e.corrected_by.is_empty()).count(),
        "checkpoint": checkpoint.as_ref().map(|c| serde_json::json!({
            "size": c.size, "root": c.root, "note": c.note, "at": lang.date_time(c.at, zone),
            "key": c.key, "fingerprint": c.fingerprint,
        })),
        "export_command": format!("mes audit export{line_flag} --from {} --to {} --out {bundle}", iso(first), iso(last)),
        "verify_command": format!("mes audit verify --bundle {bundle} --key {key_text}"),
    });
    let scope_words = match &line {
        Some(l) => format!("{l} · {} – {}", lang.date_time(first, zone), lang.date_time(last, zone)),
        None => format!("{} – {}", lang.date_time(first, zone), lang.date_time(last, zone)),
    };
    Ok(Report {
        kind: Kind::Audit,
        stem: format!(
            "audit-{}-{}",
            line.as_ref().map_or_else(|| "all".to_owned(), |l| super::slug(l.as_str())),
            super::slug(&format!(
                "{} {}",
                first.with_timezone(&zone).format("%Y-%m-%d"),
                last.with_timezone(&zone).format("%Y-%m-%d")
            ))
        ),
        header: scope_words,
        data,
        tables: vec![figures, listed],
        figures: Vec::new(),
        generated_at: now,
    })
}

/// A headline figure: a count or a share, either perhaps absent (no data).
enum Value {
    Count(Option<u64>),
    Ratio(Option<f64>),
}

fn cell_count(v: Option<u64>) -> Cell {
    v.map_or(Cell::Number(None, 0), Cell::Count)
}

/// Each headline figure's name with its raw and corrected value.
fn headline_pairs(raw: &Headline, now: &Headline) -> Vec<(&'static str, Value, Value)> {
    vec![
        ("units_started", Value::Count(raw.units_started), Value::Count(now.units_started)),
        ("units_out", Value::Count(raw.units_out), Value::Count(now.units_out)),
        ("scrapped", Value::Count(raw.scrapped), Value::Count(now.scrapped)),
        ("reworked", Value::Count(raw.reworked), Value::Count(now.reworked)),
        ("first_pass_yield", Value::Ratio(raw.first_pass_yield), Value::Ratio(now.first_pass_yield)),
        ("final_yield", Value::Ratio(raw.final_yield), Value::Ratio(now.final_yield)),
        ("oee", Value::Ratio(raw.oee), Value::Ratio(now.oee)),
    ]
}
