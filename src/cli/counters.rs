//! `mes counters`: what the PLCs' cumulative counters say each station produced, derived from
//! the stored raw samples, beside what the unit records say, with every wrap, reset, restart,
//! implausible jump and gap listed with the two samples it lies between.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use mes::config::Config;
use mes::domain::counter::{CounterKind, DeltaRules, deltas};
use mes::domain::{LineId, StationId};
use mes::store::StationResultFilter;
use serde::Serialize;

/// Options of `mes counters`.
#[derive(Debug, Args)]
pub struct CountersArgs {
    /// Line code.
    #[arg(long)]
    line: String,
    /// Only this station.
    #[arg(long)]
    station: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// One counter of one station.
#[derive(Debug, Serialize)]
struct CounterFigure {
    station: String,
    counter: &'static str,
    samples: usize,
    /// Units counted between the first and the last sample (implausible jumps excluded).
    counted: u64,
    events: Vec<EventRow>,
}

/// A data-quality event with its two samples.
#[derive(Debug, Serialize)]
struct EventRow {
    kind: mes::domain::counter::CounterEventKind,
    from: chrono::DateTime<chrono::Utc>,
    from_raw: u32,
    to: chrono::DateTime<chrono::Utc>,
    to_raw: u32,
    counted: u64,
}

pub async fn run(config: &Config, args: &CountersArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(config).await?;
    let line = LineId::parse(args.line.clone()).context("--line")?;
    let stations: Vec<StationId> = match &args.station {
        Some(s) => vec![StationId::parse(s.clone()).context("--station")?],
        None => store.production_steps(line.as_str()).await?,
    };
    let rules = DeltaRules::default();
    let mut figures = Vec::new();
    let mut records = Vec::new();
    for station in &stations {
        let samples = store.counter_samples(&line, station).await?;
        for kind in [CounterKind::In, CounterKind::Good, CounterKind::Reject] {
            let mine: Vec<_> = samples.iter().filter(|s| s.counter == kind).cloned().collect();
            let d = deltas(&mine, &rules);
            let events = d
                .iter()
                .filter_map(|x| {
                    x.event.map(|kind| EventRow {
                        kind,
                        from: mine[x.from].sampled_at,
                        from_raw: mine[x.from].raw,
                        to: mine[x.to].sampled_at,
                        to_raw: mine[x.to].raw,
                        counted: x.count,
                    })
                })
                .collect();
            figures.push(CounterFigure {
                station: station.to_string(),
                counter: kind.as_str(),
                samples: mine.len(),
                counted: d.iter().map(|x| x.count).sum(),
                events,
            });
        }
        let filter =
            StationResultFilter { line: Some(line.clone()), station: Some(station.clone()), ..Default::default() };
        let (mut n, mut after) = (0u64, 0i64);
        loop {
            let page = store.station_results(&filter, after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            n += page.len() as u64;
        }
        records.push((station.to_string(), n));
    }
    if args.json {
        let doc = serde_json::json!({ "line": line.as_str(), "counters": figures, "records": records });
        super::emit(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    writeln!(out, "{:<10} {:>8} {:>10} {:>10} {:>10}  events", "station", "records", "in", "good", "reject")?;
    for (station, n) in &records {
        let get = |c: &str| figures.iter().find(|f| f.station == *station && f.counter == c);
        let cell = |c: &str| get(c).map_or_else(|| "-".to_owned(), |f| f.counted.to_string());
        let events: Vec<String> = ["in", "good", "reject"]
            .iter()
            .filter_map(|c| get(c))
            .flat_map(|f| f.events.iter().map(move |e| format!("{} {:?}", f.counter, e.kind)))
            .collect();
        writeln!(
            out,
            "{station:<10} {n:>8} {:>10} {:>10} {:>10}  {}",
            cell("in"),
            cell("good"),
            cell("reject"),
            events.join(", ")
        )?;
    }
    writeln!(out, "\nCounts run from each counter's first stored sample; `records` counts unit records.")?;
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
