//! `mes bench acquisition`: what one collector costs and how fast records go from a PLC to the
//! store and back. Polling: N load-mode tags of a simulator in another process, read at a fixed
//! scan and back to back, against a raw tokio-modbus loop reading the same blocks (baseline).
//! Latency and memory: the three simulated lines and their collectors in this process, as
//! `mes demo` runs them, with every PLC timing offer → acknowledgement.

use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use mes::acquisition::collector::Mode;
use mes::acquisition::driver::Driver;
use mes::acquisition::modbus::ModbusDriver;
use mes::acquisition::plan::{DEFAULT_MAX_GAP, plan_reads};
use mes::acquisition::sink::Ports;
use mes::acquisition::{Collectors, DriverSettings};
use mes::config::Config;
use mes_simulators::image::LOAD_UNIT;
use mes_simulators::run::{SimulateOptions, simulate};
use plc_contract::codec::{ByteOrder, DataType, WordOrder};
use plc_contract::profile::{Address, RegisterSpace, Tag};
use tokio_modbus::client::Reader;
use tokio_modbus::prelude::{SlaveContext, tcp};

/// Options of `mes bench acquisition`.
#[derive(Debug, Args)]
pub struct AcquisitionArgs {
    /// Load-mode tags to poll (f32 each).
    #[arg(long, default_value_t = 10_000)]
    tags: usize,
    /// Scan period of the paced polling run, in milliseconds (100 unless given); with
    /// `--connect`, the period of every scan class of the profile (the profile's own unless given).
    #[arg(long)]
    scan_ms: Option<u64>,
    /// Benchmark a PLC or server the MES did not start, at HOST:PORT, described by `--profile`:
    /// the collector against a raw tokio-modbus loop at the same fixed rate.
    #[arg(long, requires = "profile", value_name = "HOST:PORT")]
    connect: Option<String>,
    /// The PLC profile of the server given by `--connect` (its endpoint is moved there).
    #[arg(long, requires = "connect")]
    profile: Option<std::path::PathBuf>,
    /// Interleaved repeats of the collector and the raw loop with `--connect`.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Seconds of each measured phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Simulation speed of the latency phase.
    #[arg(long, default_value_t = 20.0)]
    speed: f64,
}

/// CPU seconds this process has used, every thread (ended ones too), to the nanosecond: the
/// process CPU-time clock.
pub(super) fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// The number after `key:` in a `/proc/…/status` text (kB for sizes).
fn status_value(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
}

/// Context switches of this process's living threads so far (voluntary and not): a poll that
/// wakes more threads than it needs shows here before it shows in CPU time.
pub(super) fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|s| {
            ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]
                .into_iter()
                .filter_map(|key| status_value(&s, key))
                .sum::<u64>()
        })
        .sum()
}

/// Resident set size of this process in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| status_value(&s, "VmRSS"))
        .map_or(0.0, |kb| kb as f64 / 1024.0)
}

/// The `p` quantile of sorted durations, nearest rank.
pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

pub async fn run(_config: &Config, args: &AcquisitionArgs) -> anyhow::Result<std::process::ExitCode> {
    if let (Some(connect), Some(profile)) = (&args.connect, &args.profile) {
        print!("{}", super::connect::run(connect, profile, args.scan_ms, args.seconds, args.repeats).await?);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    anyhow::ensure!(args.tags > 0 && args.tags <= 32_000, "--tags must be 1..=32000");
    let mut report = format!(
        "acquisition benchmark: {} tags, {} ms scan, {} s per phase\nmachine: {} logical CPUs, {} build\n\n",
        args.tags,
        args.scan_ms.unwrap_or(100),
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
    );
    polling(args, &mut report).await?;
    notifications(args, &mut report).await?;
    latency(args, &mut report).await?;
    print!("{report}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Starts `mes simulate ARGS --pki-dir PKI` as a child process and returns it with the first
/// line it printed (the first line's address).
fn simulator(args: &[&str], pki: &std::path::Path) -> anyhow::Result<(std::process::Child, String)> {
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("simulate")
        .args(args)
        .arg("--pki-dir")
        .arg(pki)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting the simulator")?;
    let first = std::io::BufReader::new(child.stdout.take().context("simulator output")?)
        .lines()
        .next()
        .context("the simulator printed no address")??;
    Ok((child, first))
}

/// Polls the load-mode tags of a simulator running in a child process.
async fn polling(args: &AcquisitionArgs, report: &mut String) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, first) = simulator(
        &["--line", "phone", "--modbus-port", "0", "--no-validation", "--extra-tags", &args.tags.to_string()],
        dir.path(),
    )?;
    let address: std::net::SocketAddr =
        first.split_whitespace().last().context("no address")?.parse().context("the simulator's address")?;
    let tags: Vec<Tag> = (0..args.tags)
        .map(|k| Tag {
            address: Address::Modbus { space: RegisterSpace::InputRegister, index: (2 * k) as u16 },
            data_type: DataType::F32,
            length: 0,
            scale: 1.0,
            offset: 0.0,
            scan: "default".into(),
            byte_order: ByteOrder::Big,
            word_order: WordOrder::Big,
        })
        .collect();
    let refs: Vec<&Tag> = tags.iter().collect();
    let blocks = plan_reads(&refs, DEFAULT_MAX_GAP);
    let mut station = super::super::simulate::bundled("phone")?.stations.remove(0);
    station.unit_id = Some(LOAD_UNIT);
    let mut driver = ModbusDriver::new(&address.ip().to_string(), address.port(), Duration::from_secs(2));
    driver.connect().await?;

    // Paced: one full read of every tag per scan period.
    let scan = Duration::from_millis(args.scan_ms.unwrap_or(100).max(1));
    let (began, cpu0) = (Instant::now(), cpu_seconds());
    let mut scans = 0u64;
    let mut next = Instant::now();
    while began.elapsed() < Duration::from_secs(args.seconds) {
        let values = driver.read(&station, &refs).await?;
        anyhow::ensure!(values.iter().all(Result::is_ok), "a load tag did not decode");
        scans += 1;
        next += scan;
        tokio::time::sleep_until(next.into()).await;
    }
    let wall = began.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let core_share = cpu / wall * 100.0;
    let per_thousand = core_share * 1000.0 / args.tags as f64;
    report.push_str(&format!(
        "paced polling: {scans} scans in {wall:.1} s ({:.1} scans/s, {} requests each), CPU {core_share:.2}% of one core = {per_thousand:.3}% per 1,000 tags (goal ≤ 2%)\n",
        scans as f64 / wall,
        blocks.len(),
    ));

    // Back to back: the most one collector reads.
    let half = Duration::from_secs(args.seconds.div_ceil(2));
    let began = Instant::now();
    let mut reads = 0u64;
    while began.elapsed() < half {
        driver.read(&station, &refs).await?;
        reads += 1;
    }
    let ours = reads as f64 * blocks.len() as f64 / began.elapsed().as_secs_f64();
    let tags_per_s = reads as f64 * args.tags as f64 / began.elapsed().as_secs_f64();

    // Baseline: raw tokio-modbus reads of the same blocks, nothing decoded.
    let mut ctx = tcp::connect(address).await?;
    ctx.set_slave(tokio_modbus::Slave(LOAD_UNIT));
    let began = Instant::now();
    let mut raw_requests = 0u64;
    while began.elapsed() < half {
        for b in &blocks {
            ctx.read_input_registers(b.start, b.count).await??;
            raw_requests += 1;
        }
    }
    let raw = raw_requests as f64 / began.elapsed().as_secs_f64();
    report.push_str(&format!(
        "back to back: {ours:.0} register reads/s ({tags_per_s:.0} tags/s decoded); raw tokio-modbus loop {raw:.0} reads/s; ratio {:.2}\n",
        ours / raw
    ));
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

/// OPC UA: monitored items on every load tag of a simulated tablet line (another process, its
/// values changing every 20 ms), counting the data-change notifications this client handles.
async fn notifications(args: &AcquisitionArgs, report: &mut String) -> anyhow::Result<()> {
    use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken, MonitoredItem};
    use opcua::crypto::SecurityPolicy;
    use opcua::types::{
        DataValue, MessageSecurityMode, MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, NodeId,
        ReadValueId, TimestampsToReturn, UserTokenPolicy, UserTokenType,
    };
    use std::sync::atomic::{AtomicU64, Ordering};

    let tags = args.tags.min(20_000);
    let dir = tempfile::tempdir()?;
    let (mut child, first) = simulator(
        &[
            "--line",
            "tablet",
            "--opcua-port",
            "0",
            "--no-validation",
            "--speed",
            "50",
            "--extra-tags",
            &tags.to_string(),
        ],
        &dir.path().join("sim"),
    )?;
    let url = first.split_whitespace().last().context("no URL")?.to_owned();
    let password = mes_simulators::opcua::OpcUaLogin::bundled(dir.path().join("sim")).password;
    let mut client = ClientBuilder::new()
        .application_name("mes bench")
        .application_uri("urn:mes:bench")
        .max_message_size(64 << 20)
        .max_chunk_count(4096)
        .max_array_length(100_000)
        .pki_dir(dir.path().join("client"))
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(0)
        .client()
        .map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    let token = UserTokenPolicy { token_type: UserTokenType::UserName, ..UserTokenPolicy::anonymous() };
    let (session, event_loop) = client
        .connect_to_matching_endpoint(
            (url.as_str(), SecurityPolicy::None.to_str(), MessageSecurityMode::None, token),
            IdentityToken::new_user_name("mes", password),
        )
        .await?;
    let handle = event_loop.spawn();
    anyhow::ensure!(session.wait_for_connection().await, "no OPC UA session");
    let ns = session.get_namespace_index(mes_simulators::opcua::NAMESPACE_URI).await?;
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let callback = DataChangeCallback::new(move |_v: DataValue, _item: &MonitoredItem| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let subscription = session.create_subscription(Duration::from_millis(50), 60, 10, 0, 0, true, callback).await?;
    for chunk in (0..tags).collect::<Vec<_>>().chunks(1_000) {
        let items: Vec<MonitoredItemCreateRequest> = chunk
            .iter()
            .map(|k| {
                let parameters = MonitoringParameters {
                    sampling_interval: 20.0,
                    queue_size: 1,
                    discard_oldest: true,
                    ..Default::default()
                };
                MonitoredItemCreateRequest::new(
                    ReadValueId::from(NodeId::new(ns, format!("tablet-1.Load.Tag{k}"))),
                    MonitoringMode::Reporting,
                    parameters,
                )
            })
            .collect();
        session.create_monitored_items(subscription, TimestampsToReturn::Neither, items).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // the initial values arrive
    let (start, cpu0, began) = (count.load(Ordering::Relaxed), cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let n = count.load(Ordering::Relaxed) - start;
    let wall = began.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    report.push_str(&format!(
        "OPC UA: {tags} monitored items (20 ms sampling, 50 ms publishing): {:.0} data-change notifications/s handled, client CPU {:.0}% of one core (goal ≥ 50,000/s)\n",
        n as f64 / wall,
        cpu / wall * 100.0,
    ));
    let _ = session.disconnect().await;
    handle.abort();
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

/// The demo's composition in this process: latency from a record offered by a PLC to its
/// acknowledgement by the MES (after commit), and the process's resident memory.
async fn latency(args: &AcquisitionArgs, report: &mut String) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(mes::store::Store::connect(&mes::store::sqlite_url(&dir.path().join("mes.sqlite"))).await?);
    store.register_plant(&mes::bench::sample_plant::plant_model()).await?;
    let profiles: Vec<_> =
        ["smt", "phone", "tablet"].iter().map(|l| super::super::simulate::bundled(l)).collect::<anyhow::Result<_>>()?;
    let login = mes_simulators::opcua::OpcUaLogin::bundled(dir.path().join("pki-sim"));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let options = SimulateOptions {
        lines: profiles.clone(),
        seed: 7,
        speed: args.speed,
        modbus_port: 0,
        ground_truth: None,
        duration: Some(Duration::from_secs_f64(args.seconds as f64 * args.speed)),
        start: Utc::now(),
        faults: Default::default(),
        opcua_port: 0,
        opcua_login: login.clone(),
        validate: true,
        extra_tags: 0,
        ack_latencies: Some(latencies.clone()),
        resume: Default::default(),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sim = tokio::spawn(simulate(options, move |a| _ = tx.send(a.to_vec()), std::future::pending::<()>()));
    let addresses = rx.await?;
    let mut collected = profiles;
    for p in &mut collected {
        let Some((_, addr)) = addresses.iter().find(|(l, _)| *l == p.line) else { continue };
        p.endpoint.move_to(&addr.ip().to_string(), addr.port());
    }
    let settings = DriverSettings { pki_dir: dir.path().join("pki-mes"), fallback_password: Some(login.password) };
    let collectors = Collectors::start(Ports::all(store.clone()), collected, &settings).await?;
    sim.await??;
    let rss = rss_mib();
    collectors.set_mode(Mode::Drain);
    collectors.join().await;
    let measured = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let mut lines: Vec<(String, Vec<Duration>)> =
        vec![("all lines".into(), measured.iter().map(|(_, d)| *d).collect())];
    for line in ["smt-1", "phone-1", "tablet-1"] {
        lines.push((line.into(), measured.iter().filter(|(l, _)| l == line).map(|(_, d)| *d).collect()));
    }
    report.push_str(&format!(
        "record ready → committed and acknowledged (3 lines at {}x, 100 ms scan; goal p99 < 200 ms):\n",
        args.speed
    ));
    for (name, mut all) in lines {
        all.sort();
        report.push_str(&format!(
            "  {name:<10} {:>6} records  p50 {:>4.0} ms  p99 {:>4.0} ms  max {:>4.0} ms\n",
            all.len(),
            percentile(&all, 0.5).as_secs_f64() * 1000.0,
            percentile(&all, 0.99).as_secs_f64() * 1000.0,
            all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        ));
    }
    report.push_str(&format!(
        "resident memory of simulators + collectors + store in one process: {rss:.1} MiB (goal < 100 MB)\n"
    ));
    Ok(())
}
