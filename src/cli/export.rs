//! `mes export station-results`: every recorded station result, as JSON lines with the same
//! keys as the simulators' ground truth (SPEC §8), or as CSV. Streams page by page.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use mes::config::Config;
use mes::domain::ids::{LineId, StationId};
use mes::store::StationResultFilter;

/// What `mes export` can export.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Every recorded station result: line, station, seq, serial, result, defects, consumed,
    /// timestamps.
    StationResults(StationResultsArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON object per line, keys as in the simulators' ground truth.
    Jsonl,
    /// CSV with a header; defects and consumed items joined with ';'.
    Csv,
}

/// Options of `mes export station-results`.
#[derive(Debug, Args)]
pub struct StationResultsArgs {
    /// Only this line.
    #[arg(long)]
    line: Option<String>,
    /// Only this station code.
    #[arg(long)]
    station: Option<String>,
    /// Results that ended at or after (RFC 3339, or plant-local YYYY-MM-DD[THH:MM]).
    #[arg(long)]
    from: Option<String>,
    /// Results that ended before.
    #[arg(long)]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Rows per page read from the store.
const PAGE: u64 = 2_000;

pub async fn run(config: &Config, command: ExportCommand) -> anyhow::Result<ExitCode> {
    let ExportCommand::StationResults(args) = command;
    let zone = config.calendar.time_zone;
    let filter = StationResultFilter {
        line: args.line.map(LineId::parse).transpose().context("--line")?,
        station: args.station.map(StationId::parse).transpose().context("--station")?,
        from: args.from.as_deref().map(|v| super::parse_time(v, zone)).transpose().context("--from")?,
        to: args.to.as_deref().map(|v| super::parse_time(v, zone)).transpose().context("--to")?,
        max_id: None,
    };
    let store = super::open_store(config).await?;
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(out);
    let result = write_all(&store, &filter, args.format, &mut out).await;
    match result.and_then(|n| out.flush().map(|()| n).map_err(anyhow::Error::from)) {
        Ok(n) => {
            if let Some(path) = &args.out {
                eprintln!("wrote {n} station results to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        // `mes export … | head` closes the pipe early: that is not an error.
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    e.downcast_ref::<std::io::Error>().is_some_and(broken)
        || e.downcast_ref::<csv::Error>().is_some_and(|c| matches!(c.kind(), csv::ErrorKind::Io(io) if broken(io)))
        || e.downcast_ref::<serde_json::Error>().and_then(|j| j.io_error_kind()) == Some(std::io::ErrorKind::BrokenPipe)
}

async fn write_all(
    store: &mes::store::Store,
    filter: &StationResultFilter,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    // Units on hold now are marked (the export is a snapshot: a released hold is not shown).
    let held = store.held_serials().await?;
    match format {
        Format::Jsonl => {
            for_each_result(store, filter, |stored| {
                let mut line = stored.record.to_result_line(Some(stored.recorded_at));
                line.on_hold = held.contains(stored.record.serial.as_str()).then_some(true);
                serde_json::to_writer(&mut *out, &line)?;
                out.write_all(b"\n")?;
                Ok(())
            })
            .await
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "line",
                "station",
                "plc_epoch",
                "seq",
                "serial",
                "result",
                "defects",
                "consumed",
                "produced_at",
                "started_at",
                "recorded_at",
                "on_hold",
                "repair_action",
            ])?;
            let n = for_each_result(store, filter, |stored| {
                let r = &stored.record;
                let defects: Vec<&str> = r.defects.iter().map(|d| d.code.as_str()).collect();
                let consumed: Vec<String> = r.consumed.iter().map(|c| format!("{}:{}", c.kind, c.item.id())).collect();
                w.write_record([
                    r.line.as_str(),
                    r.station.as_str(),
                    &r.epoch.to_string(),
                    &r.seq.to_string(),
                    r.serial.as_str(),
                    r.verdict.as_str(),
                    &defects.join(";"),
                    &consumed.join(";"),
                    &r.ended_at.to_rfc3339(),
                    &r.started_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    &stored.recorded_at.to_rfc3339(),
                    if held.contains(r.serial.as_str()) { "true" } else { "false" },
                    r.repair_action.as_ref().map_or("", |a| a.as_str()),
                ])?;
                Ok(())
            })
            .await?;
            w.flush()?;
            Ok(n)
        }
    }
}

/// Calls `f` on every matching result, page by page, in commit order.
async fn for_each_result(
    store: &mes::store::Store,
    filter: &StationResultFilter,
    mut f: impl FnMut(&mes::store::StoredResult) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = store.station_results(filter, after, PAGE).await?;
        let Some(last) = page.last() else { return Ok(written) };
        after = last.id;
        for stored in &page {
            f(stored)?;
            written += 1;
        }
    }
}
