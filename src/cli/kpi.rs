//! `mes kpi`: the figures supervisors act on, for scripts (`--json`) and people (a table).
//! Formulas: `docs/kpi.md` and `mes::domain::kpi`.

use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Subcommand};
use mes::config::Config;
use mes::domain::kpi::Bucket;
use mes::domain::oee::OeeProblem;
use mes::figures::{self, DowntimeFigures, OeeFigures, ParetoFigures, Scope, ScopeText, Slice, YieldFigures};

/// KPI reports.
#[derive(Debug, Subcommand)]
pub enum KpiCommand {
    /// First-pass, final and rolled throughput yield per station of a line.
    Yield(Period),
    /// Defects by code, most frequent first.
    Pareto(Period),
    /// Time by machine state, breakdowns, MTBF and MTTR, downtime by reason, per station.
    Downtime(Period),
    /// OEE per ISO 22400-2 per station and for the line: availability, effectiveness, quality.
    Oee(Period),
}

/// The line and period a figure covers.
#[derive(Debug, Args)]
pub struct Period {
    /// Line code.
    #[arg(long)]
    line: String,
    /// Only this station (Pareto, downtime, OEE; yield shows the whole route).
    #[arg(long)]
    station: Option<String>,
    /// Start (inclusive): RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`; default 24 h ago.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive); default now.
    #[arg(long)]
    to: Option<String>,
    /// Figures per plant shift, local day or local hour instead of one for the whole period.
    #[arg(long, value_parser = ["shift", "day", "hour"])]
    by: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".to_owned(), |v| format!("{:.2} %", v * 100.0))
}

pub async fn run(config: &Config, command: KpiCommand) -> anyhow::Result<ExitCode> {
    let (KpiCommand::Yield(p) | KpiCommand::Pareto(p) | KpiCommand::Downtime(p) | KpiCommand::Oee(p)) = &command;
    let text = ScopeText {
        line: Some(p.line.clone()),
        station: p.station.clone(),
        from: p.from.clone(),
        to: p.to.clone(),
        by: p.by.clone(),
    };
    // One instant for the period and the report: a period ending now ends its running slice.
    let now = Utc::now();
    let scope =
        Scope::parse(&text, &config.calendar, now).map_err(|e| anyhow::anyhow!("--{}: {}", e.field, e.message))?;
    let store = super::open_store(config).await?;
    let calendar = &config.calendar;
    let clock = Clock { zone: calendar.time_zone, now, lang: config.lang };
    let mut out = String::new();
    writeln!(out, "times in plant time ({})", clock.zone)?;
    let doc = match command {
        KpiCommand::Yield(_) => {
            let report = figures::yields(&store, calendar, &scope).await?;
            for slice in &report.slices {
                write_yield(&mut out, slice, &clock)?;
            }
            report.to_json()
        }
        KpiCommand::Downtime(_) => {
            let report = figures::downtime(&store, calendar, &scope, now).await?;
            for slice in &report.slices {
                write_downtime(&mut out, slice, &clock)?;
            }
            report.to_json()
        }
        KpiCommand::Pareto(_) => {
            let report = figures::pareto(&store, calendar, &scope).await?;
            for slice in &report.slices {
                write_pareto(&mut out, slice, &clock)?;
            }
            report.to_json()
        }
        KpiCommand::Oee(_) => {
            let report = figures::oee(&store, calendar, &scope, now).await?;
            for slice in &report.slices {
                write_oee(&mut out, slice, &clock)?;
            }
            report.to_json()
        }
    };
    if p.json {
        super::emit(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
    } else {
        super::emit(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_yield(out: &mut String, slice: &Slice<YieldFigures>, at: &Clock) -> std::fmt::Result {
    let f = &slice.figures;
    write_heading(out, &slice.bucket, at)?;
    writeln!(
        out,
        "  {:<10} {:>8} {:>10} {:>7} {:>11} {:>7} {:>8} {:>8} {:>6}",
        "station", "first", "FPY", "units", "final", "visits", "defects", "counted", "diff"
    )?;
    for (s, c) in f.stations.iter().zip(&f.counters) {
        writeln!(
            out,
            "  {:<10} {:>8} {:>10} {:>7} {:>11} {:>7} {:>8} {:>8} {:>6}",
            s.station.as_str(),
            s.first_visits,
            percent(s.fpy),
            s.units,
            percent(s.final_yield),
            s.visits,
            s.defects,
            c.counted_in,
            c.difference
        )?;
    }
    let l = &f.line_yield;
    writeln!(out, "  rolled throughput yield: {}", percent(f.rty))?;
    writeln!(out, "  scrap rate: {} ({} of {} units)", percent(l.scrap_rate), l.scrapped, l.units)?;
    let dpmo = l.dpmo.map_or_else(|| "no data (no defect opportunities declared)".to_owned(), |d| format!("{d:.1}"));
    writeln!(out, "  DPMO: {dpmo} ({} defects)", l.defects)
}

fn write_downtime(out: &mut String, slice: &Slice<DowntimeFigures>, at: &Clock) -> std::fmt::Result {
    let minutes = |s: Option<f64>| s.map_or_else(|| "no data".to_owned(), |s| format!("{:.1} min", s / 60.0));
    write_heading(out, &slice.bucket, at)?;
    writeln!(
        out,
        "  {:<10} {:>9} {:>9} {:>9} {:>11} {:>11}  top reason",
        "station", "running", "fault", "failures", "MTBF", "MTTR"
    )?;
    for d in &slice.figures.stations {
        let state = |name: &str| d.seconds_by_state.get(name).copied().unwrap_or(0.0) / 60.0;
        writeln!(
            out,
            "  {:<10} {:>7.1} m {:>7.1} m {:>9} {:>11} {:>11}  {}",
            d.station.as_str(),
            state("running"),
            state("fault"),
            d.failures,
            minutes(d.mtbf_seconds),
            minutes(d.mttr_seconds),
            d.by_reason.first().map_or_else(String::new, |(r, n, s)| format!("{r} ({n}×, {:.1} min)", s / 60.0)),
        )?;
    }
    Ok(())
}

fn write_pareto(out: &mut String, slice: &Slice<ParetoFigures>, at: &Clock) -> std::fmt::Result {
    write_heading(out, &slice.bucket, at)?;
    writeln!(out, "  {:<24} {:>7} {:>8} {:>11}", "defect", "count", "share", "cumulative")?;
    for bar in &slice.figures.defects {
        writeln!(
            out,
            "  {:<24} {:>7} {:>7.1}% {:>10.1}%",
            bar.code,
            bar.count,
            bar.share * 100.0,
            bar.cumulative * 100.0
        )?;
    }
    if slice.figures.defects.is_empty() {
        writeln!(out, "  no defects recorded in the period")?;
    }
    Ok(())
}

fn write_oee(out: &mut String, slice: &Slice<OeeFigures>, at: &Clock) -> std::fmt::Result {
    let minutes = |ms: i64| format!("{:.1} m", ms as f64 / 60_000.0);
    write_heading(out, &slice.bucket, at)?;
    writeln!(
        out,
        "  {:<10} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10} {:>6} {:>6} {:>4} {:>4}",
        "station", "PBT", "APT", "avail", "effect", "quality", "OEE", "PQ", "GQ", "RQ", "SQ"
    )?;
    let f = &slice.figures;
    let rows = f.stations.iter().map(|s| (s.station.as_str(), &s.figures)).chain([("line", &f.line_oee.figures)]);
    for (name, o) in rows {
        let q = &o.quantities;
        writeln!(
            out,
            "  {:<10} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10} {:>6} {:>6} {:>4} {:>4}",
            name,
            minutes(o.time.pbt_ms),
            minutes(o.time.apt_ms),
            percent(o.availability),
            percent(o.effectiveness),
            percent(o.quality),
            percent(o.oee),
            q.pq,
            q.gq,
            q.rq,
            q.sq
        )?;
    }
    if let (Some(constraint), Some(last)) = (&f.line_oee.constraint, f.stations.last()) {
        writeln!(
            out,
            "  line: timed by its constraint {constraint} (longest ideal cycle); PQ = units out of {} + units scrapped",
            last.station
        )?;
    }
    for problem in &f.line_oee.figures.problems {
        writeln!(out, "  note: {}", problem)?;
    }
    for s in &f.stations {
        for problem in s.figures.problems.iter().filter(|p| matches!(p, OeeProblem::EffectivenessAbove100 { .. })) {
            writeln!(out, "  master-data error: {}", problem)?;
        }
    }
    Ok(())
}

/// The plant's zone and the time of the report: slices are headed in plant time, as the
/// shifts they name are, and one still running is marked partial.
struct Clock {
    zone: chrono_tz::Tz,
    now: chrono::DateTime<Utc>,
    /// The terminal's language: the order of dates.
    lang: mes::present::i18n::Lang,
}

/// The heading of one slice of a human report: its name, its range in plant time, and
/// "running, partial" while it has not ended.
fn write_heading(out: &mut String, b: &Bucket, at: &Clock) -> std::fmt::Result {
    let local = |t: chrono::DateTime<Utc>| at.lang.date_time(t, at.zone);
    let partial = if b.running_at(at.now) { ", running: partial" } else { "" };
    writeln!(out, "{} ({} – {}{partial})", b.label, local(b.start), local(b.end))
}
