//! `mes kpi`: the figures supervisors act on, for scripts (`--json`) and people (a table).
//! Formulas: `docs/kpi.md` and `mes::domain::kpi`.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use mes::config::Config;
use mes::domain::counter::{CounterKind, DeltaRules, counted_between};
use mes::domain::kpi::{
    Bucket, Grain, buckets, defect_pareto, rolled_throughput_yield, station_downtime, station_yields,
};
use mes::domain::{LineId, StationId};

/// KPI reports.
#[derive(Debug, Subcommand)]
pub enum KpiCommand {
    /// First-pass, final and rolled throughput yield per station of a line.
    Yield(Period),
    /// Defects by code, most frequent first.
    Pareto(Period),
    /// Time by machine state, breakdowns, MTBF and MTTR, downtime by reason, per station.
    Downtime(Period),
}

/// The line and period a figure covers.
#[derive(Debug, Args)]
pub struct Period {
    /// Line code.
    #[arg(long)]
    line: String,
    /// Only this station (Pareto).
    #[arg(long)]
    station: Option<String>,
    /// Start (inclusive): RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`; default 24 h ago.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive); default now.
    #[arg(long)]
    to: Option<String>,
    /// Figures per plant shift, local day or local hour instead of one for the whole period.
    #[arg(long, value_enum)]
    by: Option<By>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// `--by` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum By {
    Shift,
    Day,
    Hour,
}

impl From<By> for Grain {
    fn from(b: By) -> Self {
        match b {
            By::Shift => Grain::Shift,
            By::Day => Grain::Day,
            By::Hour => Grain::Hour,
        }
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".to_owned(), |v| format!("{:.2} %", v * 100.0))
}

pub async fn run(config: &Config, command: KpiCommand) -> anyhow::Result<ExitCode> {
    let (KpiCommand::Yield(p) | KpiCommand::Pareto(p) | KpiCommand::Downtime(p)) = &command;
    let zone = config.calendar.time_zone;
    let to: DateTime<Utc> = match &p.to {
        Some(t) => super::parse_time(t, zone).context("--to")?,
        None => Utc::now(),
    };
    let from: DateTime<Utc> = match &p.from {
        Some(t) => super::parse_time(t, zone).context("--from")?,
        None => to - Duration::hours(24),
    };
    anyhow::ensure!(from < to, "--from must be before --to");
    let line = LineId::parse(p.line.clone()).context("--line")?;
    let store = super::open_store(config).await?;
    let route = store.production_steps(line.as_str()).await?;
    let slices: Vec<Bucket> = match p.by {
        Some(by) => buckets(&config.calendar, from, to, by.into()),
        None => vec![Bucket { label: "period".into(), start: from, end: to }],
    };
    let pareto = matches!(command, KpiCommand::Pareto(_));
    let mut out = String::new();
    let mut docs = Vec::new();
    match command {
        KpiCommand::Yield(_) => {
            let visits = store.yield_visits(line.as_str(), from, to).await?;
            // The "in" counter of each station: what the PLCs counted, beside the records.
            let mut samples = Vec::new();
            for station in &route {
                let all = store.counter_samples(&line, station).await?;
                samples.push(all.into_iter().filter(|c| c.counter == CounterKind::In).collect::<Vec<_>>());
            }
            let rules = DeltaRules::default();
            for b in &slices {
                let stations = station_yields(&visits, &route, b.start, b.end);
                let counted: Vec<u64> = samples.iter().map(|s| counted_between(s, &rules, b.start, b.end)).collect();
                let rty = rolled_throughput_yield(&stations);
                write_heading(&mut out, b)?;
                writeln!(
                    out,
                    "  {:<10} {:>8} {:>10} {:>7} {:>11} {:>7} {:>8} {:>8} {:>6}",
                    "station", "first", "FPY", "units", "final", "visits", "defects", "counted", "diff"
                )?;
                for (s, c) in stations.iter().zip(&counted) {
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
                        c,
                        s.visits as i64 - *c as i64
                    )?;
                }
                writeln!(out, "  rolled throughput yield: {}", percent(rty))?;
                let counters: Vec<serde_json::Value> = stations
                    .iter()
                    .zip(&counted)
                    .map(|(s, c)| {
                        serde_json::json!({ "station": s.station.as_str(), "records": s.visits, "counted_in": c, "difference": s.visits as i64 - *c as i64 })
                    })
                    .collect();
                docs.push(serde_json::json!({ "stations": stations, "rty": rty, "counters": counters }));
            }
        }
        KpiCommand::Downtime(_) => {
            let mut intervals = Vec::new();
            for station in &route {
                intervals.push(store.state_intervals(&line, station).await?);
            }
            let now = Utc::now();
            let minutes = |s: Option<f64>| s.map_or_else(|| "no data".to_owned(), |s| format!("{:.1} min", s / 60.0));
            for b in &slices {
                let stations: Vec<_> = route
                    .iter()
                    .zip(&intervals)
                    .map(|(st, iv)| station_downtime(st, iv, b.start, b.end, now))
                    .collect();
                write_heading(&mut out, b)?;
                writeln!(
                    out,
                    "  {:<10} {:>9} {:>9} {:>9} {:>11} {:>11}  top reason",
                    "station", "running", "fault", "failures", "MTBF", "MTTR"
                )?;
                for d in &stations {
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
                        d.by_reason
                            .first()
                            .map_or_else(String::new, |(r, n, s)| format!("{r} ({n}×, {:.1} min)", s / 60.0)),
                    )?;
                }
                docs.push(serde_json::json!({ "stations": stations }));
            }
        }
        KpiCommand::Pareto(_) => {
            let mut visits = store.yield_visits(line.as_str(), from, to).await?;
            if let Some(station) = &p.station {
                let station = StationId::parse(station.clone()).context("--station")?;
                visits.retain(|v| v.station == station);
            }
            for b in &slices {
                let bars = defect_pareto(&visits, b.start, b.end);
                write_heading(&mut out, b)?;
                writeln!(out, "  {:<24} {:>7} {:>8} {:>11}", "defect", "count", "share", "cumulative")?;
                for bar in &bars {
                    writeln!(
                        out,
                        "  {:<24} {:>7} {:>7.1}% {:>10.1}%",
                        bar.code,
                        bar.count,
                        bar.share * 100.0,
                        bar.cumulative * 100.0
                    )?;
                }
                if bars.is_empty() {
                    writeln!(out, "  no defects recorded in the period")?;
                }
                docs.push(serde_json::json!({ "defects": bars }));
            }
        }
    }
    if p.json {
        let mut doc = serde_json::json!({ "line": line.as_str(), "from": from, "to": to });
        if pareto {
            doc["station"] = serde_json::json!(p.station);
        }
        match p.by {
            // One entry per slice, each with its own bounds.
            Some(by) => {
                doc["by"] = serde_json::json!(Grain::from(by));
                let entries: Vec<serde_json::Value> = slices
                    .iter()
                    .zip(docs)
                    .map(|(b, mut d)| {
                        d["label"] = b.label.as_str().into();
                        d["from"] = serde_json::json!(b.start);
                        d["to"] = serde_json::json!(b.end);
                        d
                    })
                    .collect();
                doc["buckets"] = entries.into();
            }
            // The period's figures at the top level.
            None => {
                if let Some(serde_json::Value::Object(figures)) = docs.pop() {
                    for (k, v) in figures {
                        doc[k] = v;
                    }
                }
            }
        }
        super::emit(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The heading of one slice of a human report.
fn write_heading(out: &mut String, b: &Bucket) -> std::fmt::Result {
    writeln!(out, "{} ({} – {} UTC)", b.label, b.start.format("%Y-%m-%d %H:%M"), b.end.format("%Y-%m-%d %H:%M"))
}
