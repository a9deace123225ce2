//! The command line: one file per subcommand. `anyhow` lives here and in `main.rs` only.
//!
//! Precedence for where the store is: `--database-url` > `--data-dir` > environment
//! (`MES_DATABASE_URL`, `MES_DATA_DIR`) > `--config FILE` > defaults (`./mes-data`).

mod app;
mod audit;
mod bench;
mod collect;
mod counters;
mod demo;
mod export;
mod hold;
mod kpi;
mod migrate;
mod outbox;
mod profile;
mod report;
mod serve;
mod simulate;
mod trace;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::{Parser, Subcommand};
use mes::config::Config;
use mes::store::Store;

/// Manufacturing execution system for an electronics assembly cluster.
#[derive(Debug, Parser)]
#[command(name = "mes", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (mes.toml); see the documented example in the repository.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH?mode=rwc or postgres://USER@HOST/DB.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Data folder; the default database is DIR/mes.sqlite.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Language of the terminal's dates and times (day first in vi) and of reports; MES_LANG too.
    #[arg(long, global = true, value_parser = ["en", "vi"])]
    lang: Option<String>,
    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run three simulated lines (SMT, phone, tablet) with their collectors and the dashboard,
    /// printing a summary (the default with no subcommand); `--history` loads a generated
    /// history instead. Details go to mes-demo.log in the data folder, or here with -v.
    Demo(demo::DemoArgs),
    /// Apply pending database migrations.
    Migrate(migrate::MigrateArgs),
    /// Export recorded data.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Backward genealogy of a serial, or forward genealogy of a lot, reel or serial.
    Trace(trace::TraceArgs),
    /// PLC profiles.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Run the bundled line simulators alone (smt and phone over Modbus TCP, tablet over OPC UA).
    Simulate(simulate::SimulateArgs),
    /// Collect unit records, states and counters from the lines' PLCs into the store.
    Collect(collect::CollectArgs),
    /// Printable reports: shift, yield, trace certificate, output audit (HTML, CSV, PNG charts).
    Report(report::ReportArgs),
    /// Yield and defect figures (formulas in docs/kpi.md).
    #[command(subcommand)]
    Kpi(kpi::KpiCommand),
    /// Put a lot, reel or unit on quality hold.
    Hold(hold::HoldArgs),
    /// Release a quality hold.
    Release(hold::ReleaseArgs),
    /// Logins for the web front and the API.
    #[command(subcommand)]
    User(user::UserCommand),
    /// The investor audit ledger: signed entries per closed period, verification, the public key.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// List quality holds, in force and released.
    Holds {
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// What the PLC counters say each station produced, beside the records, with data-quality events.
    Counters(counters::CountersArgs),
    /// A collector host's local outbox: the backlog for the central database and the entries it
    /// refused, set aside in the quarantine (`--retry` sends them again).
    Outbox(outbox::OutboxArgs),
    /// Collectors and the web front (JSON API) for a real plant.
    Serve(serve::ServeArgs),
    /// Benchmarks that ship with the product, each against a baseline in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Cli {
    /// Log filter for the verbosity asked for.
    /// Where the demo's details go when the terminal is kept for its summary: the demo (what
    /// `mes` with no subcommand runs) at the default verbosity, without `RUST_LOG`, logs to
    /// `mes-demo.log` in the data folder; `None` for every other command or with `-v`.
    pub fn demo_log_file(&self) -> Option<PathBuf> {
        let demo = matches!(self.command, None | Some(Command::Demo(_)));
        if !demo || self.verbose > 0 || std::env::var_os("RUST_LOG").is_some() {
            return None;
        }
        self.config().ok().map(|c| c.data_dir.join("mes-demo.log"))
    }

    pub fn log_level(&self) -> &'static str {
        match self.verbose {
            0 => "warn,mes=info",
            1 => "info,mes=debug",
            _ => "debug,mes=trace",
        }
    }

    /// The configuration in force: file (if any), environment, then flags.
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => {
                let mut c = Config::default();
                c.apply_env(|k| std::env::var(k).ok())?;
                c
            }
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
            config.database_url = None;
        }
        if let Some(url) = &self.database_url {
            config.database_url = Some(url.clone());
        }
        if let Some(lang) = &self.lang {
            config.lang = mes::present::i18n::Lang::parse(Some(lang));
        }
        Ok(config)
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Profiles are checked without a configuration or a store.
    match cli.command {
        Some(Command::Profile(cmd)) => return profile::run(cmd),
        Some(Command::Simulate(args)) => return simulate::run(args).await,
        _ => {}
    }
    let config = cli.config()?;
    match cli.command {
        None => demo::run(&config, &demo::DemoArgs::default()).await,
        Some(Command::Demo(args)) => demo::run(&config, &args).await,
        Some(Command::Migrate(args)) => migrate::run(&config, &args).await,
        Some(Command::Export(cmd)) => export::run(&config, cmd).await,
        Some(Command::Trace(args)) => trace::run(&config, &args).await,
        Some(Command::Bench(cmd)) => bench::run(&config, cmd).await,
        Some(Command::Profile(cmd)) => profile::run(cmd),
        Some(Command::Simulate(args)) => simulate::run(args).await,
        Some(Command::Collect(args)) => collect::run(&config, &args).await,
        Some(Command::Kpi(cmd)) => kpi::run(&config, cmd).await,
        Some(Command::Report(args)) => report::run(&config, &args).await,
        Some(Command::Hold(args)) => hold::hold(&config, &args).await,
        Some(Command::Release(args)) => hold::release(&config, &args).await,
        Some(Command::User(cmd)) => user::run(&config, &cmd).await,
        Some(Command::Holds { json }) => hold::list(&config, json).await,
        Some(Command::Audit(cmd)) => audit::run(&config, &cmd).await,
        Some(Command::Counters(args)) => counters::run(&config, &args).await,
        Some(Command::Outbox(args)) => outbox::run(&config, &args).await,
        Some(Command::Serve(args)) => serve::run(&config, &args).await,
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Opens (creating if needed) and migrates the store the configuration points at.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = open_store_unmigrated(config).await?;
    store.migrate_up().await.context("migrating the store")?;
    Ok(store)
}

/// Opens (creating if needed) the store the configuration points at, without migrating.
async fn open_store_unmigrated(config: &Config) -> anyhow::Result<Store> {
    let url = config.effective_database_url();
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data folder {}", config.data_dir.display()))?;
    }
    Store::open(&url).await.with_context(|| format!("opening the store at {}", mes::store::redact(&url)))
}

/// Writes human output to stdout; a reader that went away (`mes … | head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `--from`/`--to`: RFC 3339 or plant-local time ([`mes::domain::shift::parse_instant`]).
fn parse_time(value: &str, zone: Tz) -> anyhow::Result<DateTime<Utc>> {
    mes::domain::shift::parse_instant(value, zone).map_err(anyhow::Error::msg)
}
