//! `mes kpi`: the figures supervisors act on, for scripts (`--json`) and people (a table).
//! Formulas: `docs/kpi.md` and `mes::domain::kpi`.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use mes::config::Config;
use mes::domain::kpi::{defect_pareto, rolled_throughput_yield, station_yields};
use mes::domain::{LineId, StationId};

/// KPI reports.
#[derive(Debug, Subcommand)]
pub enum KpiCommand {
    /// First-pass, final and rolled throughput yield per station of a line.
    Yield(Period),
    /// Defects by code, most frequent first.
    Pareto(Period),
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
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".to_owned(), |v| format!("{:.2} %", v * 100.0))
}

pub async fn run(config: &Config, command: KpiCommand) -> anyhow::Result<ExitCode> {
    let (KpiCommand::Yield(p) | KpiCommand::Pareto(p)) = &command;
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
    let mut visits = store.yield_visits(line.as_str(), from, to).await?;
    let mut out = String::new();
    match command {
        KpiCommand::Yield(_) => {
            let stations = station_yields(&visits, &route, from, to);
            let rty = rolled_throughput_yield(&stations);
            if p.json {
                let doc = serde_json::json!({ "line": line.as_str(), "from": from, "to": to, "stations": stations, "rty": rty });
                super::emit(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(
                out,
                "yield of {} from {} to {} (UTC)",
                line,
                from.format("%Y-%m-%d %H:%M"),
                to.format("%Y-%m-%d %H:%M")
            )?;
            writeln!(
                out,
                "{:<10} {:>8} {:>10} {:>7} {:>11} {:>7} {:>8}",
                "station", "first", "FPY", "units", "final", "visits", "defects"
            )?;
            for s in &stations {
                writeln!(
                    out,
                    "{:<10} {:>8} {:>10} {:>7} {:>11} {:>7} {:>8}",
                    s.station.as_str(),
                    s.first_visits,
                    percent(s.fpy),
                    s.units,
                    percent(s.final_yield),
                    s.visits,
                    s.defects
                )?;
            }
            writeln!(out, "rolled throughput yield: {}", percent(rty))?;
        }
        KpiCommand::Pareto(_) => {
            if let Some(station) = &p.station {
                let station = StationId::parse(station.clone()).context("--station")?;
                visits.retain(|v| v.station == station);
            }
            let bars = defect_pareto(&visits, from, to);
            if p.json {
                let doc = serde_json::json!({ "line": line.as_str(), "station": p.station, "from": from, "to": to, "defects": bars });
                super::emit(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(out, "{:<24} {:>7} {:>8} {:>11}", "defect", "count", "share", "cumulative")?;
            for b in &bars {
                writeln!(
                    out,
                    "{:<24} {:>7} {:>7.1}% {:>10.1}%",
                    b.code,
                    b.count,
                    b.share * 100.0,
                    b.cumulative * 100.0
                )?;
            }
            if bars.is_empty() {
                writeln!(out, "no defects recorded in the period")?;
            }
        }
    }
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
