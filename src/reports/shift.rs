//! The shift report: one line over one shift, for the plant manager to read, sign and file.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Cell, Figure, Kind, Report, ReportError, Request, Table};
use crate::config::Config;
use crate::domain::LineId;
use crate::domain::kpi::Grain;
use crate::domain::plant::CodeNames;
use crate::domain::shift::{ShiftCalendar, parse_instant};
use crate::figures::{self, Scope};
use crate::present::charts::{Bars, HourlyOutput, Timeline};
use crate::present::i18n::Lang;
use crate::store::Store;

/// A period with its label: a named shift, or any `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `2026-12-04 A`, or the bounds in plant time.
    pub label: String,
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
}

impl Period {
    /// The period as templates read it (`report.period`): label, bounds in plant time and in UTC.
    pub fn document(&self, lang: crate::present::i18n::Lang, zone: chrono_tz::Tz) -> serde_json::Value {
        serde_json::json!({
            "label": self.label,
            "from": lang.date_time(self.from, zone),
            "to": lang.date_time(self.to, zone),
            "from_utc": self.from.format("%Y-%m-%d %H:%M UTC").to_string(),
            "to_utc": self.to.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
    }
}

/// The longest period a shift report with `from`/`to` covers.
pub const MAX_SHIFT_REPORT_DAYS: i64 = 31;

/// The period a shift report covers: `--shift "YYYY-MM-DD NAME"`, else `--from`/`--to`, else
/// the last shift that has ended.
pub fn shift_period(request: &Request, calendar: &ShiftCalendar, now: DateTime<Utc>) -> Result<Period, ReportError> {
    let zone = calendar.time_zone;
    let shifts = |from: DateTime<Utc>, to: DateTime<Utc>| crate::domain::kpi::buckets(calendar, from, to, Grain::Shift);
    if let Some(name) = &request.shift {
        let bad = |message: String| ReportError::Request { field: "shift", message };
        let (date, _) = name.split_once(' ').ok_or_else(|| bad(format!("{name:?} is not \"YYYY-MM-DD NAME\"")))?;
        let day = parse_instant(date, zone).map_err(bad)?;
        let found = shifts(day, day + chrono::Duration::days(1)).into_iter().find(|b| b.label == *name);
        let known: Vec<String> = calendar.shifts.iter().map(|s| s.name.clone()).collect();
        let b =
            found.ok_or_else(|| bad(format!("no shift {name:?} in the calendar (shifts: {})", known.join(", "))))?;
        return Ok(Period { label: b.label, from: b.start, to: b.end });
    }
    match (&request.from, &request.to) {
        (None, None) => {
            let last =
                shifts(now - chrono::Duration::days(2), now).into_iter().filter(|b| b.end <= now).max_by_key(|b| b.end);
            let b = last.ok_or_else(|| ReportError::NotFound("no shift has ended in the last two days".into()))?;
            Ok(Period { label: b.label, from: b.start, to: b.end })
        }
        (from, to) => {
            let period = range(from.as_deref(), to.as_deref(), calendar, now, chrono::Duration::hours(8))?;
            // Hour by hour over its whole span: a shift report of a year is a mistake, and costly.
            if period.to - period.from > chrono::Duration::days(MAX_SHIFT_REPORT_DAYS) {
                return Err(ReportError::Request {
                    field: "from",
                    message: format!(
                        "a shift report covers at most {MAX_SHIFT_REPORT_DAYS} days (use the yield report)"
                    ),
                });
            }
            Ok(period)
        }
    }
}

/// `[from, to)` as people wrote it; a missing end is now, a missing start `span` before the end.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    calendar: &ShiftCalendar,
    now: DateTime<Utc>,
    span: chrono::Duration,
) -> Result<Period, ReportError> {
    let zone = calendar.time_zone;
    let to = match to {
        Some(t) => parse_instant(t, zone).map_err(|message| ReportError::Request { field: "to", message })?,
        None => now,
    };
    let from = match from {
        Some(f) => parse_instant(f, zone).map_err(|message| ReportError::Request { field: "from", message })?,
        None => to - span,
    };
    if from >= to {
        return Err(ReportError::Request { field: "from", message: "must be before to".into() });
    }
    let most = crate::figures::limits::MAX_PERIOD_DAYS;
    if to - from > chrono::Duration::days(most) {
        return Err(ReportError::Request { field: "from", message: format!("the period is longer than {most} days") });
    }
    let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string();
    Ok(Period { label: format!("{} – {}", local(from), local(to)), from, to })
}

/// The line a report is about, checked to exist, with its name in the report's language.
pub async fn line_of(store: &Store, request: &Request) -> Result<(LineId, String), ReportError> {
    let code = request.line.as_deref().ok_or(ReportError::Request { field: "line", message: "is required".into() })?;
    let lines = store.lines().await?;
    let known: Vec<String> = lines.iter().map(|l| l.id.to_string()).collect();
    let line = lines.into_iter().find(|l| l.id.as_str() == code).ok_or_else(|| ReportError::Request {
        field: "line",
        message: format!("no line {code:?} (lines: {})", known.join(", ")),
    })?;
    let name = request.lang.name(&line.name, line.name_vi.as_deref()).to_owned();
    Ok((line.id, name))
}

/// The status of `line`'s period `[from, to)` in the audit ledger: its entries and the newest
/// checkpoint, or `null` while it is not closed.
pub async fn ledger_status(
    store: &Store,
    config: &Config,
    line: &LineId,
    period: &Period,
) -> Result<serde_json::Value, ReportError> {
    let filter = crate::audit::EntryFilter {
        scope: crate::audit::PeriodScope { line: Some(line.clone()), from: Some(period.from), to: Some(period.to) },
        after: None,
        limit: usize::MAX,
    };
    let entries = crate::audit::entries(store, &filter).await?;
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| e.start >= period.from && e.end <= period.to && e.kind != "correction")
        .collect();
    if entries.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    let key = super::plant_verifier(config).ok().flatten();
    let checkpoint = crate::audit::latest_checkpoint(store, key.as_ref()).await?;
    Ok(serde_json::json!({
        "entries": entries.iter().map(|e| serde_json::json!({
            "seq": e.seq, "kind": e.kind, "period": e.period, "results": e.results, "hash": e.hash,
            "corrected_by": e.corrected_by, "at": e.at,
        })).collect::<Vec<_>>(),
        "checkpoint": checkpoint.map(|c| serde_json::json!({
            "size": c.size, "root": c.root, "at": c.at, "fingerprint": c.fingerprint,
        })),
    }))
}

/// Assembles the shift report.
pub async fn assemble(
    store: &Store,
    config: &Config,
    request: &Request,
    png: bool,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let calendar = &config.calendar;
    let zone = calendar.time_zone;
    let lang = request.lang;
    let (line, name) = line_of(store, request).await?;
    let period = shift_period(request, calendar, now)?;
    let scope = Scope { line: line.clone(), station: None, from: period.from, to: period.to, by: None };

    let yields = figures::yields(store, calendar, &scope).await?;
    let oee = figures::oee(store, calendar, &scope, now).await?;
    let pareto = figures::pareto(store, calendar, &scope).await?;
    let names = store.defect_names().await?;
    let downtime = figures::downtime(store, calendar, &scope, now).await?;
    let events = figures::counter_events(store, &scope).await?;
    let detail = figures::line_detail_over(store, calendar, &line, (period.from, period.to), now).await?;
    let y = yields.slices.into_iter().next().map(|s| s.figures).ok_or_else(|| no_slice("yield"))?;
    let o = oee.slices.into_iter().next().map(|s| s.figures).ok_or_else(|| no_slice("OEE"))?;
    let p = pareto.slices.into_iter().next().map(|s| s.figures).ok_or_else(|| no_slice("Pareto"))?;
    let d = downtime.slices.into_iter().next().map(|s| s.figures).ok_or_else(|| no_slice("downtime"))?;

    let mut tables = Vec::new();
    let mut hourly = Table::new("hourly", &["hour", "from", "output", "plan", "difference"]);
    for h in &detail.hourly {
        hourly.push(vec![
            Cell::Text(h.label.rsplit(' ').next().unwrap_or(&h.label).to_owned()),
            Cell::Time(Some(h.from)),
            Cell::Count(h.output),
            Cell::Number(h.plan.map(|p| p as f64), 0),
            Cell::Number(h.plan.map(|p| h.output as f64 - p as f64), 0),
        ]);
    }
    tables.push(hourly);
    tables.push(yield_table(&y));
    tables.push(line_yield_table(&y));
    tables.push(oee_table(&o, lang.words().line));
    let mut reasons = Table::new("downtime", &["station", "reason", "stops", "seconds"]);
    let mut by_reason: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    let reason_names = store.reason_names().await?;
    for s in &d.stations {
        for (reason, stops, seconds) in &s.by_reason {
            // In the report's language: the recorded reason is English text.
            let reason = lang.reason(&reason_names, reason);
            reasons.push(vec![
                Cell::Text(s.station.to_string()),
                Cell::Text(reason.clone()),
                Cell::Count(*stops),
                Cell::Seconds(*seconds),
            ]);
            let e = by_reason.entry(reason).or_default();
            e.0 += stops;
            e.1 += seconds;
        }
    }
    tables.push(reasons);
    tables.push(defect_table(&p.defects, &names, lang));
    tables.push(holds_table(store, &period).await?);
    let mut counters = Table::new("counters", &["station", "records", "counted_in", "difference"]);
    for c in &y.counters {
        counters.push(vec![
            Cell::Text(c.station.to_string()),
            Cell::Count(c.records),
            Cell::Count(c.counted_in),
            Cell::Signed(c.difference),
        ]);
    }
    tables.push(counters);
    let mut dq = Table::new("counter_events", &["station", "event", "count"]);
    for e in &events {
        let kind = serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        dq.push(vec![Cell::Text(e.station.to_string()), Cell::Text(kind), Cell::Count(e.count)]);
    }
    tables.push(dq);

    let mut figures_out = vec![Figure::draw("hourly", &HourlyOutput { hours: &detail.hourly, lang }, png)?];
    let rows: Vec<(String, &[crate::domain::state::StateInterval])> =
        detail.stations.iter().map(|s| (s.station.to_string(), s.timeline.as_slice())).collect();
    figures_out.push(Figure::draw(
        "timeline",
        &Timeline { rows: &rows, from: period.from, to: period.to, lang, zone },
        png,
    )?);
    if !p.defects.is_empty() {
        figures_out.push(Figure::draw(
            "defects",
            &Bars::pareto(&p.defects[..p.defects.len().min(10)], &names, lang),
            png,
        )?);
    }
    if !by_reason.is_empty() {
        let mut rows: Vec<(String, f64, String)> = by_reason
            .into_iter()
            .map(|(r, (n, s))| (r, s, format!("{} min ({n})", lang.decimal(s / 60.0, 1))))
            .collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        figures_out.push(Figure::draw(
            "downtime",
            &Bars { label: "downtime by reason".into(), rows, colour: "#D55E00" },
            png,
        )?);
    }

    let output = y.stations.last().map_or(0, |s| s.final_pass);
    let plan: Option<u64> = detail.hourly.iter().map(|h| h.plan).sum();
    let ledger = ledger_status(store, config, &line, &period).await?;
    let data = serde_json::json!({
        "line": { "code": line.as_str(), "name": name },
        "period": period.document(lang, zone),
        "headline": {
            "output": lang.count(output),
            "plan": plan.map_or_else(|| "—".to_owned(), |p| lang.count(p)),
            "rty": lang.percent(y.rty),
            "oee": lang.percent(o.line_oee.figures.oee),
            "scrapped": lang.count(y.line_yield.scrapped),
            "defects": lang.count(y.line_yield.defects),
        },
        "oee_problems": o.line_oee.figures.problems.iter().map(|p| serde_json::to_value(p).unwrap_or_default()).collect::<Vec<_>>(),
        "ledger": ledger,
        "recorded": y.stations.iter().map(|s| s.visits).sum::<u64>(),
    });
    Ok(Report {
        kind: Kind::Shift,
        stem: format!("shift-{}-{}", super::slug(line.as_str()), super::slug(&period.label)),
        header: format!("{name} ({line}) · {}", period.label),
        data,
        tables,
        figures: figures_out,
        generated_at: now,
    })
}

fn no_slice(what: &str) -> ReportError {
    ReportError::NotFound(format!("the {what} figures have no slice for the period"))
}

/// Yield per station with retest yields beside.
pub fn yield_table(y: &figures::YieldFigures) -> Table {
    let mut t = Table::new(
        "stations",
        &[
            "station",
            "first_visits",
            "first_pass",
            "fpy",
            "first_fail",
            "retest_pass",
            "retest_yield",
            "units",
            "final_pass",
            "final_yield",
            "visits",
            "defects",
        ],
    );
    for s in &y.stations {
        let retest = y.retest.iter().find(|r| r.station == s.station);
        t.push(vec![
            Cell::Text(s.station.to_string()),
            Cell::Count(s.first_visits),
            Cell::Count(s.first_pass),
            Cell::Ratio(s.fpy),
            Cell::Count(retest.map_or(0, |r| r.first_fail)),
            Cell::Count(retest.map_or(0, |r| r.retest_pass)),
            Cell::Ratio(retest.and_then(|r| r.retest_yield)),
            Cell::Count(s.units),
            Cell::Count(s.final_pass),
            Cell::Ratio(s.final_yield),
            Cell::Count(s.visits),
            Cell::Count(s.defects),
        ]);
    }
    t
}

/// The line's RTY, scrap and DPMO (one row).
pub fn line_yield_table(y: &figures::YieldFigures) -> Table {
    let l = &y.line_yield;
    let mut t =
        Table::new("line_yield", &["rty", "units", "scrapped", "scrap_rate", "defects", "opportunities", "dpmo"]);
    t.push(vec![
        Cell::Ratio(y.rty),
        Cell::Count(l.units),
        Cell::Count(l.scrapped),
        Cell::Ratio(l.scrap_rate),
        Cell::Count(l.defects),
        Cell::Number(l.opportunities.map(|o| o as f64), 0),
        Cell::Number(l.dpmo, 0),
    ]);
    t
}

/// OEE per station and for the line with the ISO 22400 times and quantities.
pub fn oee_table(o: &figures::OeeFigures, line_word: &str) -> Table {
    let mut t = Table::new(
        "oee",
        &[
            "station",
            "availability",
            "effectiveness",
            "quality",
            "oee",
            "pbt_ms",
            "apt_ms",
            "adot_ms",
            "adet_ms",
            "unrecorded_ms",
            "pq",
            "gq",
            "rq",
            "sq",
        ],
    );
    let row = |name: String, f: &crate::domain::oee::Oee| {
        vec![
            Cell::Text(name),
            Cell::Ratio(f.availability),
            Cell::Ratio(f.effectiveness),
            Cell::Ratio(f.quality),
            Cell::Ratio(f.oee),
            Cell::Millis(f.time.pbt_ms),
            Cell::Millis(f.time.apt_ms),
            Cell::Millis(f.time.adot_ms),
            Cell::Millis(f.time.adet_ms),
            Cell::Millis(f.time.unrecorded_ms),
            Cell::Count(f.quantities.pq),
            Cell::Count(f.quantities.gq),
            Cell::Count(f.quantities.rq),
            Cell::Count(f.quantities.sq),
        ]
    };
    for s in &o.stations {
        t.push(row(s.station.to_string(), &s.figures));
    }
    t.push(row(line_word.to_owned(), &o.line_oee.figures));
    t
}

/// The defect Pareto.
pub fn defect_table(defects: &[crate::domain::kpi::ParetoBar], names: &CodeNames, lang: Lang) -> Table {
    let mut t = Table::new("defects", &["code", "defect_name", "count", "share", "cumulative"]);
    for d in defects {
        let name = names.get(&d.code).map_or("", |n| lang.name(&n.name, n.name_vi.as_deref()));
        t.push(vec![
            Cell::Text(d.code.clone()),
            Cell::Text(name.to_owned()),
            Cell::Count(d.count),
            Cell::Ratio(Some(d.share)),
            Cell::Ratio(Some(d.cumulative)),
        ]);
    }
    t
}

/// Holds placed or released in the period (plant-wide: a lot or reel is not one line's).
async fn holds_table(store: &Store, period: &Period) -> Result<Table, ReportError> {
    let within = |t: DateTime<Utc>| period.from <= t && t < period.to;
    let mut t = Table::new(
        "holds",
        &["target", "reason", "placed_by", "placed_at", "released_by", "released_at", "release_reason"],
    );
    for h in store.holds(100_000).await? {
        if within(h.placed_at) || h.released.as_ref().is_some_and(|r| within(r.at)) {
            t.push(vec![
                Cell::Text(match &h.target {
                    crate::domain::hold::HoldTarget::Unit(s) => format!("unit {s}"),
                    crate::domain::hold::HoldTarget::Lot(l) => format!("lot {l}"),
                }),
                Cell::Text(h.reason.clone()),
                Cell::Text(h.placed_by.clone()),
                Cell::Time(Some(h.placed_at)),
                Cell::Text(h.released.as_ref().map(|r| r.by.clone()).unwrap_or_default()),
                Cell::Time(h.released.as_ref().map(|r| r.at)),
                Cell::Text(h.released.as_ref().and_then(|r| r.reason.clone()).unwrap_or_default()),
            ]);
        }
    }
    Ok(t)
}
