//! `mes outbox`: what a collector host's local outbox holds (the backlog waiting for the central
//! database) and its quarantine (entries the database refused again and again, set aside so
//! the rest could go on), and `--retry` to send quarantined entries again once the cause is
//! mended (a running collector host forwards them at its next round, a stopped one at its next
//! start).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use mes::config::Config;
use mes::store::{OUTBOX_FILE, Outbox};

/// Options of `mes outbox`.
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// Put this quarantined entry back into the outbox (repeatable).
    #[arg(long, value_name = "ID")]
    retry: Vec<i64>,
    /// Put every quarantined entry back into the outbox.
    #[arg(long, conflicts_with = "retry")]
    retry_all: bool,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// Runs `mes outbox`.
pub async fn run(config: &Config, args: &OutboxArgs) -> anyhow::Result<ExitCode> {
    let path = config.data_dir.join(OUTBOX_FILE);
    if !path.exists() {
        eprintln!("no outbox at {}: this data folder is not a collector host's", path.display());
        return Ok(ExitCode::from(2));
    }
    let outbox = Outbox::open(&path, config.outbox.capacity_bytes)?;
    let mut out = String::new();
    if args.retry_all || !args.retry.is_empty() {
        let ids = (!args.retry_all).then(|| args.retry.clone());
        let asked = ids.as_ref().map(Vec::len);
        let moved = outbox.requeue(ids).await?;
        writeln!(
            out,
            "{moved} quarantined entries put back into the outbox; a running collector host forwards them within seconds, a stopped one at its next start"
        )?;
        if asked.is_some_and(|n| n != moved) {
            writeln!(out, "{} of the ids given are not in the quarantine", asked.unwrap_or(0) - moved)?;
        }
    }
    let status = outbox.status().lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let quarantined = outbox.quarantined().await?;
    if args.json {
        let doc = serde_json::json!({ "outbox": status, "quarantine": quarantined });
        return super::emit(&(serde_json::to_string_pretty(&doc)? + "\n")).map(|()| ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "outbox {}: {} entries waiting ({} unit records, {} bytes of {})",
        path.display(),
        status.backlog_entries,
        status.backlog_records,
        status.bytes,
        status.capacity_bytes
    )?;
    if quarantined.is_empty() {
        writeln!(out, "quarantine: empty")?;
    } else {
        writeln!(
            out,
            "quarantine: {} entries the central database refused ({} unit records):",
            quarantined.len(),
            status.quarantined_records
        )?;
        for q in &quarantined {
            writeln!(
                out,
                "  {:>8}  {}  kept {}  set aside {}  {} records: {}",
                q.id, q.line, q.queued_at, q.quarantined_at, q.records, q.error
            )?;
        }
        writeln!(out, "send them again once the cause is mended: mes outbox --retry ID | --retry-all")?;
    }
    super::emit(&out)?;
    // Something set aside is an alarm for scripts too.
    Ok(if quarantined.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
