//! `mes bench acquisition --connect HOST:PORT --profile FILE`: the acquisition benchmark against
//! a PLC or server the MES did not start. The collector (with its store, so state and counter
//! changes are committed as in production) polls the profile's stations for a window; then a
//! raw tokio-modbus loop reads the same blocks at the same fixed rate (tokio interval, missed
//! ticks skipped) for a window of the same length; the two alternate `--repeats` times. Each is
//! reported as read requests/s achieved against configured, client CPU per read, poll-duration
//! p50/p99 and overruns. An OPC UA profile is polled by the collector alone, with the data-change
//! notifications per second it received.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mes::acquisition::collector::Mode;
use mes::acquisition::plan::{DEFAULT_MAX_GAP, ReadBlock, plan_reads};
use mes::acquisition::sink::Ports;
use mes::acquisition::station::{StationMap, polled_classes};
use mes::acquisition::{Collectors, DriverSettings};
use plc_contract::profile::{Endpoint, Profile, RegisterSpace};
use tokio_modbus::client::Reader;
use tokio_modbus::prelude::{SlaveContext, tcp};

use super::acquisition::{context_switches, cpu_seconds, percentile};

/// What one measured window gave.
struct Window {
    who: &'static str,
    seconds: f64,
    /// Ticks of the schedule that came in the window.
    ticks: f64,
    polls: u64,
    overruns: u64,
    /// Read requests made by the polls.
    reads: u64,
    cpu: f64,
    /// Context switches of the process's threads.
    switches: u64,
    durations: Vec<Duration>,
    /// Commits of state intervals and counter samples (collector only).
    commits: Option<u64>,
    /// OPC UA data-change notifications received (collector of an OPC UA line only).
    notifications: Option<u64>,
}

impl Window {
    fn row(&self, repeat: usize, per_tick: usize) -> String {
        let mut sorted = self.durations.clone();
        sorted.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let configured = self.ticks * per_tick as f64 / self.seconds;
        let achieved = self.reads as f64 / self.seconds;
        let mut row = format!(
            "  {repeat:>6}  {:<9} {achieved:>9.1} {configured:>10.1} {:>8.3} {:>9.1} µs {:>9.2} {:>8.2} {:>8.2} {:>8} {:>8}",
            self.who,
            self.polls as f64 / self.ticks.max(1.0),
            self.cpu / (self.reads.max(1) as f64) * 1e6,
            self.switches as f64 / (self.reads.max(1) as f64),
            ms(percentile(&sorted, 0.5)),
            ms(percentile(&sorted, 0.99)),
            self.overruns,
            self.commits.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        );
        if let Some(n) = self.notifications {
            row.push_str(&format!("  {:.0} notifications/s", n as f64 / self.seconds));
        }
        row
    }

    fn cpu_per_read(&self) -> f64 {
        self.cpu / (self.reads.max(1) as f64)
    }
}

/// The sum of the Prometheus samples `name{…}` carrying `label`, in this process.
fn metric(name: &str, label: &str) -> f64 {
    let text = mes::telemetry::prometheus().render();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs the benchmark; the report as text.
pub async fn run(
    connect: &str,
    profile: &std::path::Path,
    scan_ms: Option<u64>,
    seconds: u64,
    repeats: usize,
) -> anyhow::Result<String> {
    let mut profile = Profile::load(profile).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (host, port) = connect.rsplit_once(':').context("--connect wants HOST:PORT")?;
    let port: u16 = port.parse().with_context(|| format!("--connect {connect}: the port is not a number"))?;
    profile.endpoint.move_to(host, port);
    if let Some(ms) = scan_ms {
        anyhow::ensure!(ms > 0, "--scan-ms must be at least 1");
        for period in profile.scan_classes.values_mut() {
            *period = Duration::from_millis(ms);
        }
    }
    // The periodic reads of every station: status and counter tags, as the collector plans them,
    // at the fastest class the collector's polls follow.
    let maps: Vec<StationMap> =
        profile.stations.iter().map(|s| StationMap::new(s.clone(), profile.clock_zone)).collect();
    let plan: Vec<(u8, Vec<ReadBlock>)> = maps
        .iter()
        .map(|map| {
            let tags: Vec<_> = map.periodic_tags().collect();
            (map.profile.unit_id.unwrap_or(0), plan_reads(&tags, DEFAULT_MAX_GAP))
        })
        .collect();
    let period = polled_classes(&profile.scan_classes, &maps).into_values().min().unwrap_or(Duration::MAX);
    anyhow::ensure!(
        period != Duration::MAX && plan.iter().any(|(_, b)| !b.is_empty()),
        "the profile has no periodic tags to poll"
    );
    let per_tick: usize = plan.iter().map(|(_, b)| b.len()).sum();
    let registers: u32 = plan.iter().flat_map(|(_, b)| b.iter().map(|b| u32::from(b.count))).sum();
    let modbus = matches!(profile.endpoint, Endpoint::ModbusTcp { .. });
    let mut report = format!(
        "acquisition benchmark against {connect} ({}), profile {}: {} stations, {per_tick} read requests ({registers} registers) per tick, \
         every {} ms = {:.0} reads/s configured; {seconds} s windows, {repeats} interleaved repeats, {} build\n\
         \x20 repeat  who          reads/s configured achieved  CPU/read switches/read   p50 ms   p99 ms overruns  commits\n",
        if modbus { "Modbus TCP" } else { "OPC UA" },
        profile.line,
        maps.len(),
        period.as_millis(),
        per_tick as f64 / period.as_secs_f64(),
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
    );
    let window = Duration::from_secs(seconds.max(1));
    let (mut ours, mut raws) = (Vec::new(), Vec::new());
    for repeat in 1..=repeats.max(1) {
        let w = collector_window(&profile, window, per_tick as u64).await?;
        report.push_str(&w.row(repeat, per_tick));
        report.push('\n');
        ours.push(w);
        if modbus {
            // On a worker thread, as the collector's task runs (the main thread's wakeups cost
            // extra context switches).
            let (host, plan) = (host.to_owned(), plan.clone());
            let w = tokio::spawn(async move { raw_window(&host, port, &plan, period, window).await }).await??;
            report.push_str(&w.row(repeat, per_tick));
            report.push('\n');
            raws.push(w);
        }
    }
    let median = |ws: &[Window], f: &dyn Fn(&Window) -> f64| {
        let mut v: Vec<f64> = ws.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let achieved = |w: &Window| w.polls as f64 / w.ticks.max(1.0);
    report.push_str(&format!(
        "median: collector achieved/configured {:.3} (goal ≥ 0.99), CPU per read {:.1} µs",
        median(&ours, &achieved),
        median(&ours, &Window::cpu_per_read) * 1e6,
    ));
    if !raws.is_empty() {
        let (o, r) = (median(&ours, &Window::cpu_per_read), median(&raws, &Window::cpu_per_read));
        report.push_str(&format!(
            "; raw loop {:.3} and {:.1} µs; collector/raw CPU per read {:.2}× (goal ≤ 1.2×)",
            median(&raws, &achieved),
            r * 1e6,
            o / r.max(f64::MIN_POSITIVE),
        ));
    }
    let p99 = median(&ours, &|w: &Window| {
        let mut d = w.durations.clone();
        d.sort();
        percentile(&d, 0.99).as_secs_f64()
    });
    report.push_str(&format!(
        "; collector poll p99 {:.2} ms = {:.2} of the period (goal < 0.5)\n",
        p99 * 1000.0,
        p99 / period.as_secs_f64()
    ));
    Ok(report)
}

/// The collector of `profile` (with a store of its own in a temporary folder) for `window`.
async fn collector_window(profile: &Profile, window: Duration, per_tick: u64) -> anyhow::Result<Window> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(mes::store::Store::connect(&mes::store::sqlite_url(&dir.path().join("mes.sqlite"))).await?);
    let settings = DriverSettings { pki_dir: dir.path().join("pki"), fallback_password: None };
    let collectors = Collectors::start(Ports::all(store), vec![profile.clone()], &settings).await?;
    let health = collectors.health[0].clone();
    let counts = || {
        let h = health.snapshot();
        let fastest = h.scans.iter().min_by_key(|s| s.period_ms).cloned().unwrap_or_default();
        (fastest, h.connected, h.last_connect_error)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (scan, connected, error) = counts();
        if connected && scan.polls >= 5 {
            break;
        }
        if Instant::now() > deadline {
            collectors.set_mode(Mode::Stop);
            anyhow::bail!("the collector made no polls in 30 s: {}", error.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let line = format!("line=\"{}\"", profile.line);
    let endpoint = match &profile.endpoint {
        Endpoint::OpcUa { url, .. } => Some(format!("endpoint=\"{url}\"")),
        Endpoint::ModbusTcp { .. } => None,
    };
    let notified = || endpoint.as_ref().map(|e| metric(mes::telemetry::OPCUA_NOTIFICATIONS, e));
    let (a, commits0, notified0) = (counts().0, metric("mes_commit_seconds_count", &line), notified());
    let (began, cpu0, switches0) = (Instant::now(), cpu_seconds(), context_switches());
    tokio::time::sleep(window).await;
    let (b, cpu, seconds) = (counts().0, cpu_seconds() - cpu0, began.elapsed().as_secs_f64());
    let switches = context_switches().saturating_sub(switches0);
    let commits = metric("mes_commit_seconds_count", &line) - commits0;
    let notifications = notified().zip(notified0).map(|(n, n0)| (n - n0) as u64);
    collectors.set_mode(Mode::Stop);
    collectors.join().await;
    let polls = b.polls - a.polls;
    let recent = b.recent_us.len().min(usize::try_from(polls).unwrap_or(usize::MAX));
    let durations =
        b.recent_us.iter().skip(b.recent_us.len() - recent).map(|us| Duration::from_micros(u64::from(*us))).collect();
    Ok(Window {
        who: "collector",
        seconds,
        ticks: seconds * 1000.0 / b.period_ms.max(1) as f64,
        polls,
        overruns: b.overruns - a.overruns,
        reads: polls * per_tick,
        cpu,
        switches,
        durations,
        commits: Some(commits as u64),
        notifications,
    })
}

/// A raw tokio-modbus loop reading `plan` every `period` (tokio interval, missed ticks skipped)
/// for `window`: the floor of what polling costs.
async fn raw_window(
    host: &str,
    port: u16,
    plan: &[(u8, Vec<ReadBlock>)],
    period: Duration,
    window: Duration,
) -> anyhow::Result<Window> {
    let address = tokio::net::lookup_host((host, port)).await?.next().context("--connect: no address")?;
    let mut ctx = tcp::connect(address).await?;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (began, cpu0, switches0) = (Instant::now(), cpu_seconds(), context_switches());
    let (mut polls, mut overruns, mut reads, mut durations) = (0u64, 0u64, 0u64, Vec::new());
    loop {
        let tick = ticks.tick().await;
        if began.elapsed() >= window {
            break;
        }
        let started = Instant::now();
        for (unit, blocks) in plan {
            ctx.set_slave(tokio_modbus::Slave(*unit));
            for b in blocks {
                match b.space {
                    RegisterSpace::HoldingRegister => drop(ctx.read_holding_registers(b.start, b.count).await??),
                    RegisterSpace::InputRegister => drop(ctx.read_input_registers(b.start, b.count).await??),
                    RegisterSpace::Coil => drop(ctx.read_coils(b.start, b.count).await??),
                    RegisterSpace::DiscreteInput => drop(ctx.read_discrete_inputs(b.start, b.count).await??),
                }
                reads += 1;
            }
        }
        durations.push(started.elapsed());
        polls += 1;
        overruns += u64::from(tokio::time::Instant::now() >= tick + period);
    }
    let seconds = began.elapsed().as_secs_f64();
    Ok(Window {
        who: "raw loop",
        seconds,
        ticks: seconds / period.as_secs_f64(),
        polls,
        overruns,
        reads,
        cpu: cpu_seconds() - cpu0,
        switches: context_switches().saturating_sub(switches0),
        durations,
        commits: None,
        notifications: None,
    })
}
