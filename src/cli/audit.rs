//! `mes audit key|close|verify`: the investor audit ledger (SPEC §5) from the command line.
//! The plant's key lives in `<data-dir>/audit/ledger.key` (made on first use, owner-only) unless
//! `MES_LEDGER_KEY` gives one; every checkpoint is appended to `<data-dir>/audit/checkpoints`,
//! the file the operator hands to auditors.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use mes::audit::{self, CloseRequest, DEFAULT_ORIGIN};
use mes::config::Config;
use mes::domain::LineId;
use mes::domain::ledger::{NoteVerifier, PeriodKind};

/// `mes audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the plant's public key (what auditors verify with) and its fingerprint.
    Key,
    /// Close every complete period not yet closed into a signed ledger entry, per line, and
    /// append a supplement for closed periods that received records since.
    Close(CloseArgs),
    /// Recompute every closed period from the raw records and check every hash, signature and
    /// checkpoint; exit status 1 on any discrepancy.
    Verify(VerifyArgs),
}

/// Options of `mes audit close`.
#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Only this line.
    #[arg(long)]
    line: Option<String>,
    /// Plant shifts or local days.
    #[arg(long, value_parser = ["shift", "day"], default_value = "shift")]
    period: String,
    /// Close the periods that ended by then (RFC 3339 or plant-local); default now.
    #[arg(long)]
    until: Option<String>,
    /// Who closes (default: $USER).
    #[arg(long)]
    by: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// Options of `mes audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A checkpoint file an auditor holds (signed notes one after the other): each must be
    /// consistent with the current log.
    #[arg(long, value_name = "FILE")]
    checkpoint: Vec<PathBuf>,
    /// The public key to verify with (`name+id+key`, as `mes audit key` prints); default the
    /// plant's own.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

fn key_path(config: &Config) -> PathBuf {
    config.data_dir.join("audit").join("ledger.key")
}

fn checkpoint_path(config: &Config) -> PathBuf {
    config.data_dir.join("audit").join("checkpoints")
}

pub async fn run(config: &Config, command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Key => {
            let key = audit::plant_key(&key_path(config), DEFAULT_ORIGIN)?;
            let v = key.verifier();
            super::emit(&format!("{}\nfingerprint SHA-256 {}\n", v.encode(), v.fingerprint()))?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Close(args) => close(config, args).await,
        AuditCommand::Verify(args) => verify(config, args).await,
    }
}

async fn close(config: &Config, args: &CloseArgs) -> anyhow::Result<ExitCode> {
    let zone = config.calendar.time_zone;
    let until = match &args.until {
        Some(t) => super::parse_time(t, zone).context("--until")?,
        None => Utc::now(),
    };
    let request = CloseRequest {
        line: args.line.clone().map(LineId::parse).transpose().context("--line")?,
        period: if args.period == "day" { PeriodKind::Day } else { PeriodKind::Shift },
        until,
        by: args.by.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "mes audit close".into()),
    };
    let store = super::open_store(config).await?;
    let key = audit::plant_key(&key_path(config), DEFAULT_ORIGIN)?;
    let closed = audit::close(&store, &config.calendar, &key, &checkpoint_path(config), &request).await?;
    if args.json {
        super::emit(&(serde_json::to_string_pretty(&closed)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for c in &closed {
        writeln!(
            out,
            "entry {:>5}  {:<10} {:<9} {:<14} {:>7} results  {:>6} units out",
            c.seq,
            c.line,
            format!("{:?}", c.kind).to_lowercase(),
            c.period,
            c.results,
            c.units_out
        )?;
    }
    writeln!(out, "{} entries appended; checkpoints in {}", closed.len(), checkpoint_path(config).display())?;
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

async fn verify(config: &Config, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let verifier = match &args.key {
        Some(k) => NoteVerifier::parse(k).context("--key")?,
        None => audit::plant_key(&key_path(config), DEFAULT_ORIGIN)?.verifier(),
    };
    let mut notes = Vec::new();
    for path in &args.checkpoint {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        notes.extend(audit::read_checkpoint_file(&text));
    }
    let store = super::open_store(config).await?;
    let bar = (!args.json && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} entries {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("recomputing");
        bar
    });
    let report = audit::verify(&store, &verifier, &notes, |done, total| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    })
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if args.json {
        super::emit(
            &(serde_json::to_string_pretty(&serde_json::json!({
                "clean": report.clean(),
                "report": report,
            }))? + "\n"),
        )?;
    } else {
        let mut out = String::new();
        for d in &report.discrepancies {
            let place = [
                d.entry.map(|e| format!("entry {e}")),
                d.line.clone(),
                d.period.clone(),
                d.station.clone(),
                d.record.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            writeln!(out, "DISCREPANCY  {place}: {}", d.what)?;
        }
        for l in &report.late {
            let note = if l.supplemented { "covered by a supplement" } else { "to be supplemented at the next close" };
            writeln!(out, "late arrival  entry {} · {}: arrived after its period closed ({note})", l.entry, l.record)?;
        }
        writeln!(
            out,
            "{}: {} entries, {} station results recomputed, {} checkpoints checked with key {}",
            if report.clean() { "verified" } else { "NOT VERIFIED" },
            report.entries,
            report.records,
            report.checkpoints,
            verifier.encode()
        )?;
        super::emit(&out)?;
    }
    Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
