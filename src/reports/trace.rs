//! The trace certificate (certificate of conformance / device history record) of one serial:
//! what it is, every station visit with its result and measurements, every component down to
//! the reels (possible ones marked), its hold history, whether it conforms, and, once its
//! period is closed, the ledger entry that counts it with the entry's inclusion proof.

use chrono::{DateTime, Utc};

use super::{Cell, Kind, Report, ReportError, Request, Table};
use crate::config::Config;
use crate::domain::genealogy::TraceNode;
use crate::domain::hold::HoldTarget;
use crate::domain::record::{Certainty, Verdict};
use crate::domain::unit::UnitStatus;
use crate::domain::{LineId, SerialNumber};
use crate::store::Store;

/// Assembles the trace certificate of `request.serial`.
pub async fn assemble(
    store: &Store,
    config: &Config,
    request: &Request,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let lang = request.lang;
    let zone = config.calendar.time_zone;
    let text =
        request.serial.as_deref().ok_or(ReportError::Request { field: "serial", message: "is required".into() })?;
    let serial = SerialNumber::parse(text)
        .map_err(|e| ReportError::Request { field: "serial", message: format!("{text:?}: {e}") })?;
    let trace =
        store.backward_trace(&serial).await?.ok_or_else(|| ReportError::NotFound(format!("no unit {serial}")))?;
    let unit = trace.units.get(serial.as_str()).ok_or_else(|| ReportError::NotFound(format!("no unit {serial}")))?;

    // The unit's visits, then those of each serialised component in it (its PCBA's SMT line).
    let actions = store.repair_action_names().await?;
    let columns =
        ["serial", "line", "station", "seq", "ended_at", "result", "defects", "repair_action", "measurements"];
    let mut visits = Table::new("visits", &columns);
    let others = trace.units.values().filter(|u| u.unit.serial != serial);
    for v in std::iter::once(unit).chain(others).flat_map(|u| &u.visits) {
        let r = &v.record;
        let defects: Vec<String> = r
            .defects
            .iter()
            .map(|d| match &d.ref_designator {
                Some(at) => format!("{} @{at}", d.code),
                None => d.code.to_string(),
            })
            .collect();
        let measurements: Vec<String> = r
            .measurements
            .iter()
            .map(|m| {
                let limits = match (m.lower_limit, m.upper_limit) {
                    (None, None) => String::new(),
                    (lo, hi) => format!(
                        " [{} … {}]",
                        lo.map_or_else(|| "−∞".to_owned(), |v| lang.decimal(v, 3)),
                        hi.map_or_else(|| "+∞".to_owned(), |v| lang.decimal(v, 3))
                    ),
                };
                format!(
                    "{} = {}{}{limits}",
                    m.name,
                    lang.decimal(m.value, 3),
                    m.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
                )
            })
            .collect();
        visits.push(vec![
            Cell::Text(r.serial.to_string()),
            Cell::Text(r.line.to_string()),
            Cell::Text(r.station.to_string()),
            Cell::Count(r.seq.0),
            Cell::Time(Some(r.ended_at)),
            Cell::Word(r.verdict.as_str()),
            Cell::Text(defects.join(", ")),
            Cell::Text(r.repair_action.as_ref().map_or_else(String::new, |a| lang.coded(&actions, a.as_str()))),
            Cell::Text(measurements.join("; ")),
        ]);
    }

    let mut components = Table::new("components", &["kind_word", "item", "certainty", "via", "ended_at"]);
    let mut imei = None;
    let mut items = Vec::new();
    flatten(&trace.tree, 0, &mut |depth, node| {
        if depth == 0 {
            return;
        }
        items.push(node.item.clone());
        if node.kind == "imei" && imei.is_none() {
            imei = Some(node.item.id().to_owned());
        }
        let via = node.via.as_ref();
        components.push(vec![
            Cell::Text(format!("{}{}", "· ".repeat(depth - 1), node.kind)),
            Cell::Text(node.item.to_string()),
            Cell::Word(node.certainty.as_str()),
            Cell::Text(via.map_or_else(String::new, |e| {
                let at = e.ref_designator.as_deref().map(|r| format!(" @{r}")).unwrap_or_default();
                format!("{}/{} #{}{at}", e.line, e.station, e.seq.0)
            })),
            Cell::Time(via.map(|e| e.at)),
        ]);
    });

    // Holds on the unit or on anything in it, in force or released.
    let mut holds = Table::new(
        "holds",
        &["target", "reason", "placed_by", "placed_at", "released_by", "released_at", "release_reason"],
    );
    let mut held_now = Vec::new();
    for h in store.holds(100_000).await? {
        let (word, id) = match &h.target {
            HoldTarget::Unit(s) => ("unit", s.as_str().to_owned()),
            HoldTarget::Lot(l) => ("lot", l.to_string()),
        };
        let ours = id == serial.as_str() || items.iter().any(|i| i.id() == id);
        if !ours {
            continue;
        }
        if h.is_active() {
            held_now.push(format!("{word} {id}"));
        }
        holds.push(vec![
            Cell::Text(format!("{word} {id}")),
            Cell::Text(h.reason.clone()),
            Cell::Text(h.placed_by.clone()),
            Cell::Time(Some(h.placed_at)),
            Cell::Text(h.released.as_ref().map(|r| r.by.clone()).unwrap_or_default()),
            Cell::Time(h.released.as_ref().map(|r| r.at)),
            Cell::Text(h.released.as_ref().and_then(|r| r.reason.clone()).unwrap_or_default()),
        ]);
    }

    // Conformance: finished, every station's last visit passed, nothing in it on hold. A
    // possible link (a reel that may be in it) does not decide it; the table marks such links.
    let mut not_conforming = Vec::new();
    match unit.unit.status {
        UnitStatus::Packed | UnitStatus::Consumed => {}
        other => not_conforming.push(format!("{}: {}", super::words::word(lang, "status"), lang.unit_status(other))),
    }
    let mut last: Vec<(&LineId, &crate::domain::StationId, Verdict)> = Vec::new();
    for v in &unit.visits {
        let r = &v.record;
        match last.iter_mut().find(|l| l.0 == &r.line && l.1 == &r.station) {
            Some(l) => l.2 = r.verdict,
            None => last.push((&r.line, &r.station, r.verdict)),
        }
    }
    for (line, station, verdict) in &last {
        if *verdict != Verdict::Pass {
            not_conforming.push(format!("{line}/{station}: {}", verdict.as_str()));
        }
    }
    not_conforming.extend(held_now.iter().map(|h| format!("{}: {h}", super::words::word(lang, "holds"))));

    // Date of manufacture: its last visit (packing for a finished phone).
    let made = unit.visits.last().map(|v| v.record.ended_at);
    let ledger = match unit.visits.last() {
        Some(v) => ledger_proof(store, config, &v.record.line, v.record.ended_at).await?,
        None => serde_json::Value::Null,
    };
    let data = serde_json::json!({
        "serial": serial.as_str(),
        "product": unit.unit.product.as_ref().map(ToString::to_string),
        "work_order": unit.unit.work_order.as_ref().map(ToString::to_string),
        "imei": imei,
        "status": lang.unit_status(unit.unit.status),
        "manufactured": made.map(|t| lang.date_time(t, zone)),
        "manufactured_utc": made.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        "first_seen": lang.date_time(unit.first_seen_at, zone),
        "conforms": not_conforming.is_empty(),
        "not_conforming": not_conforming,
        "possible": trace_has_possible(&trace.tree),
        "ledger": ledger,
    });
    Ok(Report {
        kind: Kind::Trace,
        stem: format!("trace-{}", super::slug(serial.as_str())),
        header: format!("{} {serial}", super::words::word(lang, "serial")),
        data,
        tables: vec![visits, components, holds],
        figures: Vec::new(),
        generated_at: now,
    })
}

/// Calls `f` with each node of `node`'s tree and its depth, depth first.
fn flatten(node: &TraceNode, depth: usize, f: &mut impl FnMut(usize, &TraceNode)) {
    f(depth, node);
    for child in &node.children {
        flatten(child, depth + 1, f);
    }
}

fn trace_has_possible(node: &TraceNode) -> bool {
    node.certainty == Certainty::Possible || node.children.iter().any(trace_has_possible)
}

/// The ledger entry of `line` whose period holds `at`, with its inclusion proof in the newest
/// checkpoint, or `null` while that period is not closed.
async fn ledger_proof(
    store: &Store,
    config: &Config,
    line: &LineId,
    at: DateTime<Utc>,
) -> Result<serde_json::Value, ReportError> {
    let filter = crate::audit::EntryFilter {
        scope: crate::audit::PeriodScope {
            line: Some(line.clone()),
            from: Some(at),
            to: Some(at + chrono::Duration::milliseconds(1)),
        },
        after: None,
        limit: usize::MAX,
    };
    let entries = crate::audit::entries(store, &filter).await?;
    let Some(entry) = entries.iter().find(|e| e.kind == "period") else { return Ok(serde_json::Value::Null) };
    let key = super::plant_verifier(config).ok().flatten();
    let proof = crate::audit::entry_proof(store, entry.seq, key.as_ref()).await?;
    Ok(serde_json::json!({
        "seq": entry.seq,
        "period": entry.period,
        "hash": entry.hash,
        "checkpoint": proof.as_ref().map(|p| serde_json::json!({
            "size": p.checkpoint.size, "root": p.checkpoint.root, "fingerprint": p.checkpoint.fingerprint,
        })),
        "inclusion": proof.map(|p| p.inclusion).unwrap_or_default(),
    }))
}
