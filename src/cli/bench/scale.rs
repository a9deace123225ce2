//! `mes bench scale`: SPEC §7's production shape on this machine. Simulated lines of the three
//! kinds (24 by default) split over collector processes (`mes serve --collect-only`, 4 by
//! default) and watched through web processes (`mes serve --web-only`, 2), all on one fresh
//! PostgreSQL database. The collectors reach the database through a TCP proxy in this process,
//! so the benchmark can cut them off from it for an outage while the web fronts stay connected.
//!
//! Phases, in order: steady production (records per second, CPU per line, commit-to-`/events`
//! latency on every web process); failover (the first collector killed with SIGKILL, a hot
//! standby configured with its lines takes them over: how long until it holds them all); a
//! partition (the second collector alone cut off from the database while its standby still
//! reaches it: how long until the standby holds its lines, and until the cut-off holder, which
//! collects on into its outbox, sees the standby's acknowledgements and leaves them); an
//! outage (the collectors' database connections cut: they keep collecting into their outboxes)
//! and the catch-up after it (backlog over time, as a multiple of the line rate). Last,
//! production stops and every record the simulated PLCs produced must be in the store, exactly:
//! otherwise the benchmark fails. The baseline of the catch-up is the production rate measured
//! in the same run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use mes::domain::LineId;
use mes::store::{StationResultFilter, Store, create_database, drop_database};
use mes_simulators::run::{SimulateOptions, simulate};
use plc_contract::StationResultLine;
use plc_contract::profile::Profile;
use tokio::sync::watch;

use super::events::{Seen, listen, percentile};

/// Options of `mes bench scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// PostgreSQL admin URL: a fresh database is created for the run and dropped after it.
    #[arg(long, value_name = "URL")]
    postgres_url: String,
    /// Simulated lines, a multiple of 3 (as many SMT, phone and tablet lines).
    #[arg(long, default_value_t = 24)]
    lines: usize,
    /// Collector processes the lines are split over (plus one hot standby for the first).
    #[arg(long, default_value_t = 4)]
    collectors: usize,
    /// Web processes, each with one `/events` client listening.
    #[arg(long, default_value_t = 2)]
    webs: usize,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 10.0)]
    speed: f64,
    /// Seconds of steady production measured.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds the collectors are cut off from the database (the goal: 600).
    #[arg(long, default_value_t = 60)]
    outage_seconds: u64,
    /// Seed of the simulated plant.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// A child process, killed with SIGKILL when dropped; its stderr goes to `log`.
struct Proc {
    child: std::process::Child,
    log: PathBuf,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the process has used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command (which may hold spaces) start after the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command; Linux
        // reports them in USER_HZ, 100 per second on every architecture it runs on.
        (ticks(11) + ticks(12)) / 100.0
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `mes` (this binary) with `args`, its stderr in `dir/<name>.log`.
fn spawn(dir: &Path, name: &str, args: &[String], password: &str, stdout: Stdio) -> anyhow::Result<Proc> {
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(std::env::current_exe()?)
        .args(args)
        .env("MES_OPCUA_PASSWORD", password)
        .env("RUST_LOG", "info")
        .stdout(stdout)
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    Ok(Proc { child, log })
}

/// The bundled profile of `kind`, renamed to line `<kind>-<n>` (addresses and all).
fn numbered_profile(dir: &Path, kind: &str, n: usize) -> anyhow::Result<(PathBuf, Profile)> {
    let text = super::super::simulate::bundled_text(kind)?.replace(&format!("{kind}-1"), &format!("{kind}-{n}"));
    let path = dir.join(format!("{kind}-{n}.toml"));
    std::fs::write(&path, &text)?;
    let profile = Profile::load(&path)?;
    Ok((path, profile))
}

/// A database URL's parts: `scheme://[user@]server/path`.
struct DbUrl<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    /// Host and port.
    server: &'a str,
    path: &'a str,
}

impl<'a> DbUrl<'a> {
    fn parse(url: &'a str) -> anyhow::Result<Self> {
        let (scheme, rest) = url.split_once("://").context("a database URL has a scheme")?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, server) = authority.rsplit_once('@').map_or((None, authority), |(u, s)| (Some(u), s));
        Ok(Self { scheme, user, server, path })
    }

    /// The same URL with its host and port replaced by `addr` (the proxy).
    fn through(&self, addr: std::net::SocketAddr) -> String {
        let user = self.user.map(|u| format!("{u}@")).unwrap_or_default();
        format!("{}://{user}{addr}/{}", self.scheme, self.path)
    }
}

/// A TCP proxy to `upstream` that can be cut: while cut, it closes every connection through it
/// and refuses new ones (as a broken link does).
async fn proxy(upstream: String, cut: watch::Receiver<bool>) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if *cut.borrow() {
                continue; // dropped: refused
            }
            let (upstream, mut cut) = (upstream.clone(), cut.clone());
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cut.wait_for(|c| *c) => {}
                }
            });
        }
    });
    Ok(addr)
}

/// Records of the ground truth so far (one JSON line each).
fn produced(truth: &Path) -> u64 {
    std::fs::read(truth).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count() as u64)
}

async fn stored(store: &Store) -> anyhow::Result<u64> {
    Ok(store.row_counts().await?.get("station_results").copied().unwrap_or(0))
}

/// Waits for `cond` (checked every 100 ms) up to `limit`; the time it took, or `None`.
async fn wait_for(limit: Duration, mut cond: impl AsyncFnMut() -> anyhow::Result<bool>) -> anyhow::Result<Option<f64>> {
    let began = Instant::now();
    while began.elapsed() < limit {
        if cond().await? {
            return Ok(Some(began.elapsed().as_secs_f64()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}

pub async fn run(args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.lines >= 3 && args.lines.is_multiple_of(3), "--lines must be a positive multiple of 3");
    anyhow::ensure!(args.collectors >= 1 && args.collectors <= args.lines, "--collectors must be 1..=--lines");
    anyhow::ensure!(args.webs >= 1, "--webs must be positive");
    anyhow::ensure!(args.speed > 0.0 && args.seconds > 0, "--speed and --seconds must be positive");
    let server = DbUrl::parse(&args.postgres_url)?.server;
    anyhow::ensure!(
        ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| server.starts_with(h)),
        "--postgres-url must be on loopback: benchmarks talk to this machine only"
    );
    let name = format!("mes_bench_scale_{}_{}", std::process::id(), Utc::now().timestamp() % 100_000);
    let url = create_database(&args.postgres_url, &name).await?;
    let dir = tempfile::Builder::new().prefix("mes-bench-scale").tempdir()?;
    let outcome = measure(args, &url, dir.path()).await;
    if outcome.as_ref().is_ok_and(|(_, ok)| !ok) || outcome.is_err() {
        // Keep what the processes said: the reason is often in their logs.
        let kept = dir.keep();
        eprintln!("logs of the run kept in {}", kept.display());
    }
    drop_database(&args.postgres_url, &name).await?;
    let (report, ok) = outcome?;
    super::super::emit(&report)?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The run itself, in the fresh database at `url`; the report and whether every goal was met.
async fn measure(args: &ScaleArgs, url: &str, dir: &Path) -> anyhow::Result<(String, bool)> {
    let store = Store::connect(url).await?; // migrates the fresh database
    let db_url = DbUrl::parse(url)?;
    let (cut_tx, cut_rx) = watch::channel(false);
    let all_proxy = proxy(db_url.server.to_owned(), cut_rx).await?;
    let proxied = db_url.through(all_proxy);
    // Collector 1 reaches it through a second proxy before the first: cut alone, a partition.
    let (part_tx, part_rx) = watch::channel(false);
    let partitioned = db_url.through(proxy(all_proxy.to_string(), part_rx).await?);

    // The plant: lines of the three kinds, numbered.
    let mut files = Vec::new();
    for n in 1..=args.lines / 3 {
        for kind in ["smt", "phone", "tablet"] {
            files.push(numbered_profile(dir, kind, n)?);
        }
    }
    let truth = dir.join("truth.jsonl");
    let login = mes_simulators::opcua::OpcUaLogin::bundled(dir.join("pki-sim"));
    let password = login.password.clone();
    let options = SimulateOptions {
        lines: files.iter().map(|(_, p)| p.clone()).collect(),
        seed: args.seed,
        speed: args.speed,
        modbus_port: 0,
        ground_truth: Some(truth.clone()),
        duration: None,
        start: Utc::now(),
        faults: Default::default(),
        opcua_port: 0,
        opcua_login: login,
        validate: true,
        extra_tags: 0,
        ack_latencies: None,
        resume: Default::default(),
    };
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (halt_tx, mut halt_rx) = watch::channel(false);
    let sim = tokio::spawn(simulate(options, move |a| _ = ready_tx.send(a.to_vec()), async move {
        let _ = halt_rx.wait_for(|h| *h).await;
    }));
    let addresses = ready_rx.await.context("the simulators did not start")?;

    // Collectors: lines dealt round robin; a standby for the first collector's lines.
    let collector_args = |k: usize, lines: &[usize], db: &str| -> Vec<String> {
        let data = dir.join(format!("collector-{k}"));
        let mut a = vec!["serve".into(), "--collect-only".into(), "--data-dir".into(), data.display().to_string()];
        a.extend(["--database-url".into(), db.to_owned()]);
        for &i in lines {
            let (path, profile) = &files[i];
            a.extend(["--profile".into(), path.display().to_string()]);
            if let Some((_, addr)) = addresses.iter().find(|(l, _)| *l == profile.line) {
                a.extend(["--connect".into(), format!("{}={addr}", profile.line)]);
            }
        }
        a
    };
    let groups: Vec<Vec<usize>> =
        (0..args.collectors).map(|k| (k..files.len()).step_by(args.collectors).collect()).collect();
    let mut collectors = Vec::new();
    for (k, group) in groups.iter().enumerate() {
        let db = if k == 1 { &partitioned } else { &proxied };
        collectors.push(spawn(
            dir,
            &format!("collector-{k}"),
            &collector_args(k, group, db),
            &password,
            Stdio::null(),
        )?);
    }
    let line_names: Vec<String> = files.iter().map(|(_, p)| p.line.clone()).collect();
    let held_by = async |store: &Store, pid: u32, lines: &[usize]| -> anyhow::Result<bool> {
        let owners = store.line_owners().await?;
        Ok(lines.iter().all(|&i| owners.get(&line_names[i]).is_some_and(|o| o.ends_with(&format!(" pid {pid}")))))
    };
    for (k, group) in groups.iter().enumerate() {
        let pid = collectors[k].pid();
        let took = wait_for(Duration::from_secs(120), async || held_by(&store, pid, group).await).await?;
        anyhow::ensure!(took.is_some(), "collector {k} did not take its lines:\n{}", collectors[k].log_text());
    }
    let standby_args = collector_args(args.collectors, &groups[0], &proxied);
    let mut standby = spawn(dir, "standby", &standby_args, &password, Stdio::null())?;
    // Collector 1's standby, for the partition.
    let mut standby_1 = match groups.get(1) {
        Some(group) => {
            let a = collector_args(args.collectors + 1, group, &proxied);
            Some(spawn(dir, "standby-1", &a, &password, Stdio::null())?)
        }
        None => None,
    };
    for (s, group) in [(&standby, &groups[0])].into_iter().chain(standby_1.as_ref().zip(groups.get(1))) {
        let stands_by =
            wait_for(Duration::from_secs(60), async || Ok(s.log_text().matches("standing by").count() >= group.len()))
                .await?;
        anyhow::ensure!(stands_by.is_some(), "a standby did not stand by:\n{}", s.log_text());
    }

    // Web fronts, each told of commits by PostgreSQL.
    let mut webs = Vec::new();
    let mut bases = Vec::new();
    for k in 0..args.webs {
        let data = dir.join(format!("web-{k}"));
        let a: Vec<String> = ["serve", "--web-only", "--kiosk", "--listen", "127.0.0.1:0", "--database-url", url]
            .iter()
            .map(|s| s.to_string())
            .chain(["--data-dir".into(), data.display().to_string()])
            .collect();
        let mut web = spawn(dir, &format!("web-{k}"), &a, &password, Stdio::piped())?;
        let out = web.child.stdout.take().context("web stdout")?;
        let base = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            std::io::BufReader::new(out).lines().map_while(Result::ok).find_map(|l| {
                l.strip_prefix("dashboard on ").and_then(|r| r.split('/').nth(2)).map(|a| format!("http://{a}"))
            })
        })
        .await?
        .context("a web process did not say where it serves")?;
        webs.push(web);
        bases.push(base);
    }

    // Steady production, from once every line has stored records.
    let filters: Vec<StationResultFilter> = line_names
        .iter()
        .map(|l| Ok(StationResultFilter { line: Some(LineId::parse(l.clone())?), ..Default::default() }))
        .collect::<anyhow::Result<_>>()?;
    let warm = wait_for(Duration::from_secs(120), async || {
        for filter in &filters {
            if store.station_results(filter, 0, 1).await?.is_empty() {
                return Ok(false);
            }
        }
        Ok(store.line_owners().await?.len() == line_names.len())
    })
    .await?;
    anyhow::ensure!(warm.is_some(), "not every line was held and recording within 120 s");
    let stop = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let listeners: Vec<_> = bases
        .iter()
        .map(|base| {
            let (url, stop) = (format!("{base}/events"), stop.clone());
            tokio::task::spawn_blocking(move || listen(&url, "", until, &stop))
        })
        .collect();
    let cpu_before: Vec<f64> = collectors.iter().chain(&webs).map(Proc::cpu_seconds).collect();
    let (stored0, produced0, began) = (stored(&store).await?, produced(&truth), Instant::now());
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let wall = began.elapsed().as_secs_f64();
    let (stored1, produced1) = (stored(&store).await?, produced(&truth));
    let cpu: Vec<f64> =
        collectors.iter().chain(&webs).map(Proc::cpu_seconds).zip(&cpu_before).map(|(a, b)| a - b).collect();
    stop.store(true, Ordering::Relaxed);
    let mut seen: Vec<Seen> = Vec::new();
    for l in listeners {
        seen.push(l.await?);
    }
    let stored_rate = (stored1 - stored0) as f64 / wall;
    let produced_rate = (produced1 - produced0) as f64 / wall;
    let line_rate = produced_rate / args.lines as f64;

    // Failover: the first collector killed; the standby must hold its lines.
    let before_kill = store.change_marker().await?.first().copied().unwrap_or(0);
    let killed_at = Instant::now();
    collectors[0].kill();
    let standby_pid = standby.pid();
    let failover = wait_for(Duration::from_secs(60), async || held_by(&store, standby_pid, &groups[0]).await).await?;
    let first_lines: Vec<String> = groups[0].iter().map(|&i| line_names[i].clone()).collect();
    let failover_s = failover.map(|_| killed_at.elapsed().as_secs_f64());
    // Then a record of one of those lines committed after the kill (so by the standby).
    let resumed = wait_for(Duration::from_secs(60), async || {
        for &i in &groups[0] {
            if !store.station_results(&filters[i], before_kill, 1).await?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    })
    .await?
    .map(|_| killed_at.elapsed().as_secs_f64());

    // Partition: collector 1 cut off from the database while its standby still reaches it. The
    // standby must take its lines; the holder, collecting on into its outbox, must leave them
    // once it sees the standby acknowledge their records; then the partition heals.
    let partition = match (&standby_1, groups.get(1)) {
        (Some(s), Some(group)) => {
            let cut_at = Instant::now();
            part_tx.send_replace(true);
            let pid = s.pid();
            let taken = wait_for(Duration::from_secs(60), async || held_by(&store, pid, group).await).await?;
            let holder = &collectors[1];
            let left = wait_for(Duration::from_secs(60), async || {
                Ok(holder.log_text().matches("another process took the line").count() >= group.len())
            })
            .await?
            .map(|_| cut_at.elapsed().as_secs_f64());
            // The lines it left on seeing the standby's acknowledgements (the rest once it
            // found the lease taken).
            let log = holder.log_text();
            let saw = group
                .iter()
                .filter(|&&i| {
                    log.lines()
                        .any(|l| l.contains("it acknowledges the line's records") && l.contains(line_names[i].as_str()))
                })
                .count();
            part_tx.send_replace(false);
            Some((group.len(), taken, left, saw))
        }
        _ => None,
    };

    // Outage: every collector cut off from the database; then the catch-up.
    let outage_began = Instant::now();
    cut_tx.send_replace(true);
    let at_cut = stored(&store).await?;
    tokio::time::sleep(Duration::from_secs(args.outage_seconds)).await;
    let during = stored(&store).await? - at_cut;
    let backlog = produced(&truth).saturating_sub(stored(&store).await?);
    cut_tx.send_replace(false);
    let restored = Instant::now();
    let target = produced(&truth);
    let caught_up =
        wait_for(Duration::from_secs(args.outage_seconds * 10 + 120), async || Ok(stored(&store).await? >= target))
            .await?;
    let outage_wall = restored.duration_since(outage_began).as_secs_f64();

    // The end of production: everything produced must be stored, exactly.
    halt_tx.send_replace(true);
    let total = sim.await??;
    let drained = wait_for(Duration::from_secs(180), async || Ok(stored(&store).await? >= total)).await?;
    let final_stored = stored(&store).await?;
    let truth_lines = produced(&truth);
    let mut all_held = true;
    for (k, group) in groups.iter().enumerate().skip(1) {
        all_held &= match (&standby_1, k) {
            // Collector 1's lines went to its standby in the partition; after the outage either
            // of the two may hold each.
            (Some(s), 1) => {
                let owners = store.line_owners().await?;
                let pids = [format!(" pid {}", s.pid()), format!(" pid {}", collectors[1].pid())];
                group.iter().all(|&i| owners.get(&line_names[i]).is_some_and(|o| pids.iter().any(|p| o.ends_with(p))))
            }
            _ => held_by(&store, collectors[k].pid(), group).await?,
        };
    }
    let (missing, extra, off) = compare_with_truth(&store, &truth).await?;
    for p in collectors.iter_mut().chain(webs.iter_mut()) {
        p.kill();
    }
    standby.kill();
    if let Some(s) = standby_1.as_mut() {
        s.kill();
    }

    // The report.
    let n_collectors: Vec<usize> = groups.iter().map(Vec::len).collect();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = format!(
        "scale benchmark: {} lines ({} each of smt, phone, tablet) at {}x over {} collector processes + 1 standby, \
         {} web processes, one PostgreSQL (fresh database)\n\
         machine: {cores} logical CPUs, {} build; everything (PostgreSQL, simulators, every process) on this machine\n\n",
        args.lines,
        args.lines / 3,
        args.speed,
        args.collectors,
        args.webs,
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
    );
    out.push_str(&format!(
        "steady production, {wall:.0} s:\n  produced by the simulated PLCs {produced_rate:>8.1} records/s ({line_rate:.2} per line)\n  \
         committed by the collectors   {stored_rate:>8.1} records/s ({:.1} % of produced)\n",
        stored_rate / produced_rate.max(f64::MIN_POSITIVE) * 100.0
    ));
    for (k, lines) in n_collectors.iter().enumerate() {
        let c = cpu[k];
        out.push_str(&format!(
            "  collector {k}: {lines} lines, CPU {:>5.1} % of a core = {:.2} % per line\n",
            c / wall * 100.0,
            c / wall * 100.0 / *lines as f64
        ));
    }
    let collector_cpu: f64 = cpu[..args.collectors].iter().sum();
    out.push_str(&format!(
        "  all collectors: {:.2} % of a core per line, {:.0} µs CPU per record\n",
        collector_cpu / wall * 100.0 / args.lines as f64,
        collector_cpu / (stored1 - stored0).max(1) as f64 * 1e6
    ));
    let mut latency_ok = true;
    for (k, s) in seen.iter().enumerate() {
        let mut lags = s.commit_lags_ms.clone();
        lags.sort_unstable();
        let p99 = percentile(&lags, 0.99);
        latency_ok &= !lags.is_empty() && p99 < 1_000 && s.error.is_none();
        out.push_str(&format!(
            "  web {k}: CPU {:>5.1} % of a core; {} summaries, {} showing new commits: commit → /events p50 {} ms, p99 {p99} ms, max {} ms{}\n",
            cpu[args.collectors + k] / wall * 100.0,
            s.ids.len(),
            lags.len(),
            percentile(&lags, 0.5),
            lags.last().copied().unwrap_or(0),
            s.error.as_ref().map(|e| format!(" (error: {e})")).unwrap_or_default(),
        ));
    }
    out.push_str(&format!(
        "\nfailover: collector 0 ({} lines: {}) killed with SIGKILL; the standby held them all after {}; \
         the first record of theirs committed {} after the kill\n",
        first_lines.len(),
        first_lines.join(", "),
        failover_s.map_or("NEVER (60 s)".into(), |s| format!("{s:.1} s")),
        resumed.map_or("NEVER (60 s)".into(), |s| format!("{s:.1} s")),
    ));
    let mut partition_ok = true;
    if let Some((lines, taken, left, saw)) = partition {
        partition_ok = taken.is_some_and(|s| s <= 10.0) && left.is_some();
        out.push_str(&format!(
            "\npartition: collector 1 ({lines} lines) cut off from PostgreSQL while its standby still reached it; \
             the standby held them after {}; collector 1 left them all after {} ({saw} on seeing the standby \
             acknowledge their records, the rest on finding their leases taken)\n",
            taken.map_or("NEVER (60 s)".into(), |s| format!("{s:.1} s")),
            left.map_or("NEVER (60 s)".into(), |s| format!("{s:.1} s")),
        ));
    }
    let catch_up_rate = caught_up.map(|s| backlog as f64 / s);
    out.push_str(&format!(
        "\noutage: the collectors cut off from PostgreSQL for {outage_wall:.0} s ({during} records stored meanwhile); \
         backlog when restored: {backlog} records\n  caught up in {}",
        caught_up.map_or("NEVER".into(), |s| format!("{s:.1} s")),
    ));
    if let Some(rate) = catch_up_rate {
        out.push_str(&format!(
            ": {rate:.0} records/s of backlog forwarded = {:.0}x the line rate, {:.1}x the plant's rate\n",
            rate / line_rate.max(f64::MIN_POSITIVE),
            rate / produced_rate.max(f64::MIN_POSITIVE),
        ));
    } else {
        out.push('\n');
    }
    let exact = drained.is_some() && final_stored == truth_lines && missing == 0 && extra == 0;
    out.push_str(&format!(
        "\nexactness: produced {truth_lines} records (ground truth), stored {final_stored}; record for record: \
         {missing} missing, {extra} extra: {}\n",
        if exact { "every record once" } else { "NOT EXACT" }
    ));
    for (station, n) in &off {
        out.push_str(&format!("  {station}: {} {}\n", n.abs(), if *n > 0 { "missing" } else { "extra" }));
    }
    let failover_ok = failover_s.is_some_and(|s| s <= 10.0);
    let catch_up_ok = catch_up_rate.is_some_and(|r| r >= 10.0 * line_rate);
    out.push_str(&format!(
        "goals: commit → /events p99 < 1 s on every web process: {}; standby holds the lines within 10 s: {} \
         (after a partition: {}); catch-up >= 10x the line rate: {}; nothing lost or doubled: {}\n",
        met(latency_ok),
        met(failover_ok),
        met(partition_ok),
        met(catch_up_ok),
        met(exact)
    ));
    if !all_held {
        out.push_str("note: not every surviving collector still held its lines at the end\n");
    }
    Ok((out, exact && latency_ok && failover_ok && partition_ok && catch_up_ok))
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT MET" }
}

/// The store against the ground truth, record for record (times aside, as SPEC §8 compares):
/// how many produced records are missing from the store, and how many stored ones are extra
/// (doubled or never produced).
async fn compare_with_truth(store: &Store, truth: &Path) -> anyhow::Result<(u64, u64, BTreeMap<String, i64>)> {
    let mut counts: BTreeMap<StationResultLine, i64> = BTreeMap::new();
    for line in std::fs::read_to_string(truth)?.lines() {
        let record: StationResultLine = serde_json::from_str(line).context("reading the ground truth")?;
        *counts.entry(record.without_times()).or_default() += 1;
    }
    let mut after = 0;
    loop {
        let page = store.station_results(&StationResultFilter::default(), after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in &page {
            *counts.entry(r.record.to_result_line(None).without_times()).or_default() -= 1;
        }
    }
    let missing = counts.values().filter(|n| **n > 0).map(|n| *n as u64).sum();
    let extra = counts.values().filter(|n| **n < 0).map(|n| n.unsigned_abs()).sum();
    let mut by_station: BTreeMap<String, i64> = BTreeMap::new();
    for (r, n) in counts.iter().filter(|(_, n)| **n != 0) {
        *by_station.entry(format!("{} {}", r.line, r.station)).or_default() += n;
    }
    Ok((missing, extra, by_station))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_url_is_pointed_at_the_proxy_keeping_user_and_database() {
        let addr: std::net::SocketAddr = "127.0.0.1:6000".parse().unwrap();
        let through = |url| super::DbUrl::parse(url).unwrap().through(addr);
        assert_eq!(through("postgres://postgres@127.0.0.1:5432/mes_x"), "postgres://postgres@127.0.0.1:6000/mes_x");
        assert_eq!(through("postgres://localhost/db"), "postgres://127.0.0.1:6000/db");
    }
}
