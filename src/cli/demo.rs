//! `mes demo` (and `mes` with no subcommand): the product running on one machine. Live: the
//! bundled line simulators on loopback Modbus TCP, one collector per line from the bundled
//! profiles, SQLite under the data folder, and a one-line-per-line summary on the terminal
//! (the dashboard replaces it when it lands). Ctrl-C or SIGTERM stops production, drains every
//! record the PLCs still hold, then exits. `--history` instead loads a generated history at once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use chrono::{Duration, DurationRound, Utc};
use clap::Args;
use mes::acquisition::DriverSettings;
use mes::acquisition::collector::Mode;
use mes::acquisition::health::LineHealth;
use mes::bench::sample_plant::{SamplePlant, plant_model};
use mes::config::Config;
use mes::domain::record::Verdict;
use mes::domain::state::MachineState;
use mes::domain::user::Role;
use mes::store::RecordBatch;
use mes_simulators::run::{SimulateOptions, simulate};
use plc_contract::profile::Endpoint;

use super::app::{App, Parts, WebPart};

/// Options of `mes demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed: the same seed gives the same serials, results and failures.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 10.0)]
    speed: f64,
    /// Stop production after this much simulated time, in minutes, then drain and exit
    /// (default: run until Ctrl-C).
    #[arg(long, value_name = "MINUTES")]
    minutes: Option<u64>,
    /// Append one JSON line per record a simulated PLC produced (compare with
    /// `mes export station-results --format jsonl`).
    #[arg(long, value_name = "FILE")]
    ground_truth: Option<PathBuf>,
    /// Faults to inject, e.g. `drop=7,stall=11:800,busy=0.05,restart=20,counter_reset=25`
    /// (drop, stall, busy, restart, counter_reset, counter_jump, fault; see the simulators'
    /// `faults` module or plc-profiles/README.md).
    #[arg(long, value_name = "SPEC", default_value = "")]
    faults: String,
    /// Port of the first simulated Modbus line (others above it); 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    modbus_port: u16,
    /// Read-only kiosk: the overview readable without a login (wall screens).
    #[arg(long)]
    kiosk: bool,
    /// Web port on 127.0.0.1 (dashboard and JSON API); 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Seconds between summary lines.
    #[arg(long, default_value_t = 5)]
    every: u64,
    /// Load a generated history (SMT, phone and tablet lines) at once instead of running lines.
    #[arg(long)]
    history: bool,
    /// With --history: phones to generate (each with its PCBA from the SMT line).
    #[arg(long, default_value_t = 120)]
    phones: usize,
    /// With --history: tablets to generate.
    #[arg(long, default_value_t = 60)]
    tablets: usize,
    /// With --history: when the history starts (RFC 3339 or plant time, e.g.
    /// `2026-12-01T06:00`); by default 8 hours ago, so it ends about now. An earlier start
    /// gives a history whose shifts have all ended (reports, audit close).
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            seed: 7,
            speed: 10.0,
            minutes: None,
            ground_truth: None,
            faults: String::new(),
            modbus_port: 0,
            port: 8080,
            kiosk: false,
            every: 5,
            history: false,
            phones: 120,
            tablets: 60,
            start: None,
        }
    }
}

/// Records per transaction when loading, as a collector would batch them.
const BATCH: usize = 500;

pub async fn run(config: &Config, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    if args.history {
        return history(config, args).await;
    }
    live(config, args).await
}

/// The demo password of a role's login (the demo listens on loopback only).
fn demo_password(role: Role) -> String {
    format!("{}-demo", role.as_str())
}

/// Lines simulated and collected live: SMT and phone over Modbus TCP, tablet over OPC UA.
const LIVE_LINES: [&str; 3] = ["smt", "phone", "tablet"];

async fn live(config: &Config, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.speed > 0.0 && args.speed.is_finite(), "--speed must be a positive number");
    // The collectors register the lines, products and routes the profiles declare.
    let store = Arc::new(super::open_store(config).await?);
    // A store with an earlier run's records: the plant goes on from there (new PLC boots, new
    // serials, lots and reels), instead of replaying the same seed as re-deliveries.
    let extent = store.plant_extent().await?;
    let resume = mes_simulators::run::Resume {
        epoch_after: extent.max_epoch,
        units_after: extent.units,
        reels_after: extent.lots,
    };
    let login = mes_simulators::opcua::OpcUaLogin::bundled(config.data_dir.join("pki").join("simulator"));
    let profiles = LIVE_LINES.iter().map(|l| super::simulate::bundled(l)).collect::<anyhow::Result<Vec<_>>>()?;
    let options = SimulateOptions {
        lines: profiles.clone(),
        seed: args.seed,
        speed: args.speed,
        modbus_port: args.modbus_port,
        ground_truth: args.ground_truth.clone(),
        duration: args.minutes.map(|m| StdDuration::from_secs(m * 60)),
        start: Utc::now().duration_trunc(Duration::seconds(1)).unwrap_or_else(|_| Utc::now()),
        faults: mes_simulators::faults::Faults::parse(&args.faults)?,
        opcua_port: 0,
        opcua_login: login.clone(),
        validate: true,
        extra_tags: 0,
        ack_latencies: None,
        resume,
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut sim = tokio::spawn(simulate(
        options,
        move |addresses| {
            let _ = ready_tx.send(addresses.to_vec());
        },
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));
    let Ok(addresses) = ready_rx.await else {
        // The simulation ended before binding: its error says why.
        sim.await??;
        anyhow::bail!("the simulators stopped before serving");
    };
    let mut collected = profiles;
    for p in &mut collected {
        p.move_to_served(&addresses);
        p.at_speed(args.speed);
    }
    let settings = DriverSettings {
        pki_dir: config.data_dir.join("pki").join("collector"),
        fallback_password: Some(login.password.clone()),
    };
    // One login per role, printed below: the demo binds to loopback only.
    for role in [Role::Supervisor, Role::Quality, Role::Auditor, Role::Admin] {
        super::user::add(&store, role.as_str(), &demo_password(role), role).await?;
    }
    // The MES stamps what it stores with its own read time (a simulated PLC's clock runs
    // `speed` times faster and is set aside), so shifts close on the wall clock, as in a plant.
    let parts = Parts {
        collect: Some((collected.clone(), settings)),
        web: Some(WebPart {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], args.port)),
            kiosk: args.kiosk,
            make_key: true,
        }),
        close_and_report: true,
    };
    let app = App::start(config, store.clone(), parts).await?;
    let web_addr = app.web_addr.context("the demo serves its web front")?;

    let url = config.effective_database_url();
    let mut out = String::new();
    writeln!(out, "MES demo: live lines (seed {}, {}x speed)", args.seed, args.speed)?;
    writeln!(out, "  store      {}", mes::store::redact(&url))?;
    if extent.results > 0 {
        writeln!(
            out,
            "  continuing the plant recorded there ({} station results, {} units): new PLC boots, serials from {}",
            extent.results,
            extent.units,
            extent.units + 1
        )?;
    }
    for p in &collected {
        let endpoint = match &p.endpoint {
            Endpoint::ModbusTcp { host, port, .. } => format!("modbus tcp {host}:{port}"),
            Endpoint::OpcUa { url, .. } => format!("{url} (SignAndEncrypt, user mes)"),
        };
        writeln!(out, "  {:<10} simulated PLCs on {endpoint}, collected", p.line)?;
    }
    writeln!(out, "  dashboard  http://{web_addr}/ (line overview, live)")?;
    writeln!(out, "  api        http://{web_addr}/api/v1 (reference after login: http://{web_addr}/api)")?;
    let logins: Vec<String> = [Role::Supervisor, Role::Quality, Role::Auditor, Role::Admin]
        .into_iter()
        .map(|r| format!("{} / {}", r.as_str(), demo_password(r)))
        .collect();
    writeln!(out, "  logins     {}", logins.join(", "))?;
    if config.audit.auto_close {
        writeln!(
            out,
            "  ledger     each {} closes into the signed audit ledger {} minutes after it ends (mes audit verify)",
            if config.audit.period == mes::domain::ledger::PeriodKind::Day { "day" } else { "shift" },
            config.audit.grace.num_minutes()
        )?;
    }
    if config.reports.auto {
        writeln!(
            out,
            "  reports    each ended shift's report into {} (mes report shift|yield|trace|audit; /reports)",
            config.data_dir.join("reports").display()
        )?;
    }
    writeln!(out, "Ctrl-C stops production, takes every record still in the PLCs, then exits.")?;
    writeln!(out)?;
    super::emit(&out)?;

    let signal = super::shutdown_signal();
    tokio::pin!(signal);
    let mut tick = tokio::time::interval(StdDuration::from_secs(args.every.max(1)));
    tick.tick().await;
    let produced = loop {
        tokio::select! {
            () = &mut signal => {
                stop_tx.send_replace(true);
                break (&mut sim).await??;
            }
            done = &mut sim => break done??,
            _ = tick.tick() => super::emit(&summary(&app.health().iter().map(|h| h.snapshot()).collect::<Vec<_>>(), false))?,
        }
    };
    super::emit(&format!("production stopped after {produced} records; draining the PLCs…\n"))?;
    let health = app.health().to_vec();
    app.stop(Mode::Drain).await?;
    let final_health: Vec<LineHealth> = health.iter().map(|h| h.snapshot()).collect();
    let mut out = summary(&final_health, true);
    let counts = store.row_counts().await?;
    writeln!(
        out,
        "stored: {} station results, {} units, {} state intervals, {} counter samples",
        counts.get("station_results").copied().unwrap_or(0),
        counts.get("units").copied().unwrap_or(0),
        counts.get("state_intervals").copied().unwrap_or(0),
        counts.get("counter_samples").copied().unwrap_or(0),
    )?;
    let dir = if config.database_url.is_none() {
        format!(" --data-dir {}", config.data_dir.display())
    } else {
        String::new()
    };
    writeln!(out, "Try:  mes export station-results --format jsonl{dir}")?;
    writeln!(out, "      mes trace PH1-0000001{dir}")?;
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// One line per line: records newly committed, pass/fail, stations running, link, errors,
/// and re-deliveries (records offered again that were already stored) apart.
fn summary(lines: &[LineHealth], drained: bool) -> String {
    let mut out = String::new();
    let now = chrono::Local::now().format("%H:%M:%S");
    for h in lines {
        let records: u64 = h.stations.iter().map(|s| s.records).sum();
        let again: u64 = h.stations.iter().map(|s| s.duplicates).sum();
        let pass: u64 = h.stations.iter().map(|s| s.pass).sum();
        let fail: u64 = h.stations.iter().map(|s| s.fail).sum();
        let running = h.stations.iter().filter(|s| s.state == Some(MachineState::Running)).count();
        let down: Vec<&str> =
            h.stations.iter().filter(|s| s.state == Some(MachineState::Fault)).map(|s| s.code.as_str()).collect();
        let errors: u64 = h.stations.iter().map(|s| s.errors).sum();
        let _ = writeln!(
            out,
            "{now} {:<8} records {records:>6}  pass {pass:>6}  fail {fail:>4}  running {running}/{}  {}{}{}{}",
            h.line,
            h.stations.len(),
            if drained {
                "drained"
            } else if h.connected {
                "link up"
            } else {
                "LINK DOWN"
            },
            if down.is_empty() { String::new() } else { format!("  FAULT {}", down.join(",")) },
            if errors > 0 { format!("  errors {errors}") } else { String::new() },
            if again > 0 { format!("  ({again} offered again, already stored)") } else { String::new() },
        );
        if let Some(e) = &h.last_store_error {
            let _ = writeln!(out, "{now} {:<8} STORE FAILING ({} failed commits): {e}", h.line, h.store_errors);
        }
    }
    out
}

/// `--history`: a generated three-line history loaded at once.
async fn history(config: &Config, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(config).await?;
    store.register_plant(&plant_model()).await?;
    // By default the history ends about now; re-running the demo regenerates the same records
    // (same seed, same PLC sequence numbers), which the store recognises and skips.
    let start = match &args.start {
        Some(t) => super::parse_time(t, config.calendar.time_zone).context("--start")?,
        None => Utc::now().duration_trunc(Duration::minutes(1)).unwrap_or_else(|_| Utc::now()) - Duration::hours(8),
    };
    let mut plant = SamplePlant::new(args.seed, start);
    let chunk = plant.next_chunk(args.phones, args.tablets);

    let (mut inserted, mut duplicates, mut edges) = (0, 0, 0);
    for records in chunk.records.chunks(BATCH) {
        let receipt = store.commit(&RecordBatch { records: records.to_vec(), ..Default::default() }).await?;
        inserted += receipt.inserted;
        duplicates += receipt.duplicates;
        edges += receipt.edges;
    }
    store
        .commit(&RecordBatch {
            state_intervals: chunk.state_intervals.clone(),
            counter_samples: chunk.counter_samples.clone(),
            ..Default::default()
        })
        .await?;

    let mut per_line: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for r in &chunk.records {
        let entry = per_line.entry(r.line.as_str()).or_default();
        entry.0 += 1;
        match r.verdict {
            Verdict::Pass => entry.1 += 1,
            Verdict::Fail => entry.2 += 1,
        }
    }
    let url = config.effective_database_url();
    let mut out = String::new();
    writeln!(out, "MES demo: sample plant loaded (seed {})", args.seed)?;
    writeln!(out, "  store      {}", mes::store::redact(&url))?;
    writeln!(out, "  records    {inserted} new, {duplicates} already stored, {edges} genealogy links")?;
    writeln!(out, "  {:<10} {:>8} {:>8} {:>6}", "line", "records", "pass", "fail")?;
    for (line, (n, pass, fail)) in &per_line {
        writeln!(out, "  {line:<10} {n:>8} {pass:>8} {fail:>6}")?;
    }
    let counts = store.row_counts().await?;
    writeln!(
        out,
        "  units {}  lots/reels {}  state intervals {}  counter samples {}",
        counts.get("units").copied().unwrap_or(0),
        counts.get("material_lots").copied().unwrap_or(0),
        counts.get("state_intervals").copied().unwrap_or(0),
        counts.get("counter_samples").copied().unwrap_or(0),
    )?;
    let phone = plant.truth.product_board.keys().next().cloned().unwrap_or_default();
    let reel = plant.truth.reel_boards.keys().next().cloned().unwrap_or_default();
    let dir = if config.database_url.is_none() {
        format!(" --data-dir {}", config.data_dir.display())
    } else {
        String::new()
    };
    writeln!(out)?;
    writeln!(out, "Try:")?;
    writeln!(out, "  mes trace {phone}{dir}                  # everything in a phone, down to the reels")?;
    writeln!(out, "  mes trace --lot {reel}{dir}   # every board and phone a reel went into")?;
    writeln!(out, "  mes export station-results --format jsonl{dir}")?;
    writeln!(out, "  mes audit close{dir} && mes audit verify{dir}   # sign the closed shifts, then check them")?;
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
