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
    /// checkpoint; exit status 1 on any discrepancy. With `--bundle`, no database is needed.
    Verify(VerifyArgs),
    /// Write one signed file with the entries, the raw records of the chosen periods, the
    /// checkpoints, inclusion and consistency proofs and the public key.
    Export(ExportArgs),
    /// Append a signed correction of an entry's figures, naming who and why (the entry stays).
    Correct(CorrectArgs),
}

/// Options of `mes audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only this line's periods.
    #[arg(long)]
    line: Option<String>,
    /// Periods ending after this (RFC 3339 or plant-local).
    #[arg(long)]
    from: Option<String>,
    /// Periods starting before this.
    #[arg(long)]
    to: Option<String>,
    /// The bundle file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Options of `mes audit correct`.
#[derive(Debug, Args)]
pub struct CorrectArgs {
    /// The entry corrected.
    #[arg(long)]
    entry: u64,
    /// `FIELD=VALUE`: a JSON pointer into the entry's figures (`/output/units_out`) and the
    /// corrected value (JSON, or text); repeatable.
    #[arg(long, value_name = "FIELD=VALUE", required = true)]
    set: Vec<String>,
    /// Why.
    #[arg(long)]
    reason: String,
    /// Who corrects.
    #[arg(long)]
    by: String,
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
    /// Verify this exported bundle instead of the store, with no database.
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// Recompute only this line's periods (every entry's hash, chain and signature and every
    /// checkpoint are checked whatever the scope).
    #[arg(long, conflicts_with = "bundle")]
    line: Option<String>,
    /// Recompute only periods ending after this (RFC 3339 or plant-local).
    #[arg(long, conflicts_with = "bundle")]
    from: Option<String>,
    /// Recompute only periods starting before this.
    #[arg(long, conflicts_with = "bundle")]
    to: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// Where the plant's ledger key lives.
pub fn key_path(config: &Config) -> PathBuf {
    mes::audit::key_path(&config.data_dir)
}

fn checkpoint_path(config: &Config) -> PathBuf {
    config.data_dir.join("audit").join("checkpoints")
}

/// How often a real plant's closer looks for periods to close.
pub const CLOSE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The closer a running MES keeps (`[audit] auto_close`), on the plant clock `now`, looking
/// `every` (wall time); stopped with [`super::app::Background::stop`]. `None` when the config turns it off.
pub fn start_auto_close(
    config: &Config,
    store: std::sync::Arc<mes::store::Store>,
    now: impl Fn() -> chrono::DateTime<Utc> + Send + 'static,
    every: std::time::Duration,
) -> anyhow::Result<Option<super::app::Background>> {
    if !config.audit.auto_close {
        return Ok(None);
    }
    let key = audit::plant_key(&key_path(config), DEFAULT_ORIGIN).context("the plant's ledger key")?;
    let settings = audit::AutoClose { grace: config.audit.grace, period: config.audit.period, every };
    let calendar = config.calendar.clone();
    let checkpoints = checkpoint_path(config);
    let closer = super::app::Background::spawn(move |stopped| {
        audit::auto_close(store, calendar, key, checkpoints, settings, now, stopped)
    });
    tracing::info!(
        grace_minutes = config.audit.grace.num_minutes(),
        "closing periods into the audit ledger as they end"
    );
    Ok(Some(closer))
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
        AuditCommand::Verify(args) => match &args.bundle {
            Some(file) => verify_bundle(file, args),
            None => verify(config, args).await,
        },
        AuditCommand::Export(args) => export(config, args).await,
        AuditCommand::Correct(args) => correct(config, args).await,
    }
}

/// The periods `--line`, `--from` and `--to` select.
fn period_scope(
    config: &Config,
    line: Option<&String>,
    from: Option<&String>,
    to: Option<&String>,
) -> anyhow::Result<audit::PeriodScope> {
    let zone = config.calendar.time_zone;
    Ok(audit::PeriodScope {
        line: line.cloned().map(LineId::parse).transpose().context("--line")?,
        from: from.map(|t| super::parse_time(t, zone)).transpose().context("--from")?,
        to: to.map(|t| super::parse_time(t, zone)).transpose().context("--to")?,
    })
}

async fn export(config: &Config, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let scope = period_scope(config, args.line.as_ref(), args.from.as_ref(), args.to.as_ref())?;
    let store = super::open_store(config).await?;
    let key = audit::plant_key(&key_path(config), DEFAULT_ORIGIN)?;
    let bytes = audit::export(&store, &key, &scope).await?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    super::emit(&format!(
        "{} ({} bytes): verify with\n  mes audit verify --bundle {} --key {}\n",
        args.out.display(),
        bytes.len(),
        args.out.display(),
        key.verifier().encode()
    ))?;
    Ok(ExitCode::SUCCESS)
}

async fn correct(config: &Config, args: &CorrectArgs) -> anyhow::Result<ExitCode> {
    let mut set = Vec::new();
    for s in &args.set {
        let (field, value) = s.split_once('=').with_context(|| format!("--set {s:?}: expected FIELD=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        set.push((field.to_owned(), value));
    }
    let store = super::open_store(config).await?;
    let key = audit::plant_key(&key_path(config), DEFAULT_ORIGIN)?;
    let seq = audit::correct(&store, &key, &checkpoint_path(config), args.entry, &set, &args.reason, &args.by).await?;
    super::emit(&format!("entry {seq} corrects entry {} ({} by {})\n", args.entry, args.reason, args.by))?;
    Ok(ExitCode::SUCCESS)
}

fn verify_bundle(file: &std::path::Path, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let key = args.key.as_deref().map(NoteVerifier::parse).transpose().context("--key")?;
    let (report, verifier) = audit::verify_bundle(&bytes, key.as_ref())?;
    let mut out = String::new();
    if key.is_none() {
        writeln!(
            out,
            "note: verified with the key inside the bundle ({}); compare its fingerprint {} with the plant's",
            verifier.encode(),
            verifier.fingerprint()
        )?;
    }
    emit_report(&mut out, &report, &verifier, args.json)?;
    Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Writes a verification's findings: each discrepancy with where it is, each late arrival, the
/// verdict (or one JSON document).
fn emit_report(
    out: &mut String,
    report: &audit::Verification,
    verifier: &NoteVerifier,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let doc = serde_json::json!({ "clean": report.clean(), "report": report });
        return super::emit(&(serde_json::to_string_pretty(&doc)? + "\n"));
    }
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
    for c in &report.corrections {
        let changes = c.changes.iter().map(|ch| format!("{} {} → {}", ch.field, ch.from, ch.to)).collect::<Vec<_>>();
        writeln!(
            out,
            "correction   entry {} amends entry {} · {} · {}: {} (by {}: {})",
            c.entry,
            c.amends,
            c.line,
            c.period,
            changes.join(", "),
            c.by,
            c.reason
        )?;
    }
    for r in &report.rule_changes {
        writeln!(
            out,
            "rules changed  entry {} · {} · {}: sealed under figure rules {}; rules {} changed how {} of its figures are computed ({}): {}",
            r.entry,
            r.line,
            r.period,
            r.sealed_under,
            r.changed_in,
            r.fields.len(),
            r.change().map_or("", |c| c.en),
            r.fields.iter().take(6).cloned().collect::<Vec<_>>().join(", ")
        )?;
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
    super::emit(out)
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
    let scope = period_scope(config, args.line.as_ref(), args.from.as_ref(), args.to.as_ref())?;
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
    let report = audit::verify(&store, &verifier, &notes, &scope, |done, total| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    })
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut out = String::new();
    emit_report(&mut out, &report, &verifier, args.json)?;
    Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
