//! `mes simulate`: runs the bundled line simulators alone, so a collector, a Modbus tool or a
//! test can talk to them. The bundled profiles are embedded, so the simulators serve exactly
//! the address maps in `plc-profiles/`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DurationRound, Utc};
use clap::Args;
use mes_simulators::run::{SimulateOptions, simulate};
use plc_contract::profile::Profile;

/// The bundled profiles, as shipped in `plc-profiles/`.
const BUNDLED: [(&str, &str, &str); 3] = [
    ("smt", "plc-profiles/smt-line.toml", include_str!("../../plc-profiles/smt-line.toml")),
    ("phone", "plc-profiles/phone-line.toml", include_str!("../../plc-profiles/phone-line.toml")),
    ("tablet", "plc-profiles/tablet-line.toml", include_str!("../../plc-profiles/tablet-line.toml")),
];

/// A bundled profile by line kind (`smt`, `phone`, `tablet`), as embedded in the binary.
pub fn bundled(name: &str) -> anyhow::Result<Profile> {
    let (path, text) = bundled_file(name)?;
    Ok(Profile::parse(std::path::Path::new(path), text)?)
}

/// The text of a bundled profile by line kind, as shipped (to derive more lines of a kind).
pub fn bundled_text(name: &str) -> anyhow::Result<&'static str> {
    Ok(bundled_file(name)?.1)
}

fn bundled_file(name: &str) -> anyhow::Result<(&'static str, &'static str)> {
    BUNDLED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, path, text)| (*path, *text))
        .with_context(|| format!("unknown line {name:?}: use smt, phone or tablet"))
}

/// Options of `mes simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Lines to simulate, comma separated: smt, phone (Modbus TCP), tablet (OPC UA). With smt,
    /// the phone and tablet lines consume the boards the SMT line makes.
    #[arg(long, value_delimiter = ',', default_value = "smt,phone,tablet")]
    line: Vec<String>,
    /// Simulate a line from this profile instead of the bundled one (repeatable), e.g.
    /// `phone=my-phone-line.toml`: the same line with its own address map or handshakes.
    #[arg(long = "line-profile", value_name = "LINE=FILE")]
    line_profiles: Vec<String>,
    /// Seed: the same seed gives each station the same sequence of records.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Port of the first Modbus line (others on the ports above); 0 picks free ports.
    #[arg(long, default_value_t = 5020)]
    modbus_port: u16,
    /// Port of the first OPC UA line (others above it); 0 picks free ports.
    #[arg(long, default_value_t = 4840)]
    opcua_port: u16,
    /// Folder for the OPC UA servers' certificates (created on first start).
    #[arg(long, value_name = "DIR", default_value = "mes-data/pki/simulator")]
    pki_dir: PathBuf,
    /// Append one JSON line per record a simulated PLC produced (SPEC §8 keys).
    #[arg(long, value_name = "FILE")]
    ground_truth: Option<PathBuf>,
    /// Faults to inject, e.g. `drop=7,stall=11:800,busy=0.05,restart=20,counter_reset=25`
    /// (drop, stall, busy, restart, counter_reset, counter_jump, fault; see the simulators'
    /// `faults` module or plc-profiles/README.md).
    #[arg(long, value_name = "SPEC", default_value = "")]
    faults: String,
    /// Stop after this much simulated time, in minutes (default: run until Ctrl-C).
    #[arg(long, value_name = "MINUTES")]
    minutes: Option<u64>,
    /// Load mode: N extra changing analog tags per line, for acquisition benchmarks (Modbus:
    /// input registers 0.. of unit id 250, one big-endian f32 per tag; OPC UA:
    /// `nsu=urn:mes:simulator;s=<line>.Load.Tag<k>`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    extra_tags: usize,
    /// Route-entry stations take parts in without asking an MES (by default they ask, and a
    /// station whose fallback is `block` waits for the answer, as a real one does).
    #[arg(long)]
    no_validation: bool,
    /// After production stops (`--minutes` reached), keep serving the PLCs for this many
    /// seconds (or until Ctrl-C), so collectors can take the records still held.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    linger: u64,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.speed > 0.0 && args.speed.is_finite(), "--speed must be a positive number");
    let mut files = std::collections::BTreeMap::new();
    for spec in &args.line_profiles {
        let (name, file) =
            spec.split_once('=').with_context(|| format!("--line-profile {spec:?}: expected LINE=FILE"))?;
        anyhow::ensure!(args.line.iter().any(|l| l == name), "--line-profile {spec:?}: {name} is not in --line");
        files.insert(name.to_owned(), Profile::load(std::path::Path::new(file))?);
    }
    let lines = args
        .line
        .iter()
        .map(|name| files.remove(name).map_or_else(|| bundled(name), Ok))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = SimulateOptions {
        lines,
        seed: args.seed,
        speed: args.speed,
        modbus_port: args.modbus_port,
        ground_truth: args.ground_truth.clone(),
        duration: args.minutes.map(|m| Duration::from_secs(m * 60)),
        start: Utc::now().duration_trunc(chrono::Duration::seconds(1)).unwrap_or_else(|_| Utc::now()),
        faults: mes_simulators::faults::Faults::parse(&args.faults)?,
        opcua_port: args.opcua_port,
        opcua_login: mes_simulators::opcua::OpcUaLogin::bundled(args.pki_dir.clone()),
        validate: !args.no_validation,
        extra_tags: args.extra_tags,
        ack_latencies: None,
        resume: Default::default(),
    };
    let lines_by_name: std::collections::BTreeMap<String, String> = options
        .lines
        .iter()
        .filter_map(|p| p.endpoint.opcua_path().map(|path| (p.line.clone(), path.to_owned())))
        .collect();
    let on_ready = |addresses: &[(String, std::net::SocketAddr)]| {
        let mut out = String::new();
        for (line, addr) in addresses {
            let front = match lines_by_name.get(line.as_str()) {
                Some(path) => format!("opc.tcp://{addr}{path}"),
                None => format!("modbus tcp {addr}"),
            };
            out.push_str(&format!("simulating {line}: {front}\n"));
        }
        let _ = super::emit(&out);
    };
    let (stopped_tx, mut stopped) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        super::shutdown_signal().await;
        stopped_tx.send_replace(true);
    });
    let mut by_signal = stopped.clone();
    let stop = async move {
        let _ = by_signal.wait_for(|s| *s).await;
    };
    let records = simulate(options, on_ready, stop).await?;
    super::emit(&format!("production stopped after {records} records\n"))?;
    if args.linger > 0 && !*stopped.borrow() {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(args.linger)) => {}
            _ = stopped.wait_for(|s| *s) => {}
        }
    }
    signal.abort();
    Ok(ExitCode::SUCCESS)
}
