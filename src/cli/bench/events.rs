//! `mes bench events`: many `/events` clients against a running web front (the demo, while its
//! collectors run): does every client receive every update, and how far behind the moment the
//! summary was published (the event's `id`, Unix milliseconds on this machine) does each get it?
//! The baseline is the same measure for one client alone, taken first in the same run.
//!
//! Clients are threads with blocking HTTP (ureq): each reads its stream line by line, as a
//! browser's `EventSource` does.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

/// Options of `mes bench events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The web front, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    url: String,
    /// User to log in as.
    #[arg(long, default_value = "supervisor")]
    user: String,
    /// Its password.
    #[arg(long, default_value = "supervisor-demo")]
    password: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 500)]
    clients: usize,
    /// Seconds to listen.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
}

/// What one client saw: event ids (publication instants) and the lag of each, in ms.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) ids: Vec<i64>,
    lags_ms: Vec<i64>,
    /// For each event preceded by `: committed <ms>` (PostgreSQL): arrival − that commit, in ms.
    pub(super) commit_lags_ms: Vec<i64>,
    pub(super) error: Option<String>,
}

/// Reads the `/events` stream at `url` (with `token` as a bearer, if any) until `until` or `stop`.
pub(super) fn listen(url: &str, token: &str, until: Instant, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(until.saturating_duration_since(Instant::now()) + Duration::from_secs(20)))
        .build()
        .into();
    let request = agent.get(url);
    let request = if token.is_empty() { request } else { request.header("Authorization", &format!("Bearer {token}")) };
    let response = match request.call() {
        Ok(r) => r,
        Err(e) => {
            seen.error = Some(e.to_string());
            return seen;
        }
    };
    let reader = std::io::BufReader::new(response.into_body().into_reader());
    let mut committed = None;
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if let Some(at) = line.strip_prefix(": committed ").and_then(|v| v.trim().parse::<i64>().ok()) {
            committed = Some(at);
        }
        if let Some(id) = line.strip_prefix("id: ").and_then(|v| v.trim().parse::<i64>().ok()) {
            let now = chrono::Utc::now().timestamp_millis();
            seen.ids.push(id);
            seen.lags_ms.push(now - id);
            if let Some(at) = committed.take() {
                seen.commit_lags_ms.push(now - at);
            }
        }
        if Instant::now() >= until || stop.load(Ordering::Relaxed) {
            break;
        }
    }
    seen
}

/// `clients` listeners for `seconds`: what each saw.
fn run_clients(url: &str, token: &str, clients: usize, seconds: u64) -> Vec<Seen> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (url, token, stop) = (url.to_owned(), token.to_owned(), stop.clone());
            std::thread::Builder::new().stack_size(256 * 1024).spawn(move || listen(&url, &token, until, &stop))
        })
        .collect();
    handles.into_iter().map(|h| h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()).collect()
}

/// The `p` quantile of sorted milliseconds, nearest rank (0 for none).
pub(super) fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One line of the report for a run.
fn summarise(label: &str, seen: &[Seen]) -> (String, bool) {
    let errors: Vec<&String> = seen.iter().filter_map(|s| s.error.as_ref()).collect();
    // Every update published while all clients listened: from the latest first event any client
    // got to the earliest last event; a client missing one of these fell behind.
    let start = seen.iter().filter_map(|s| s.ids.first()).max().copied().unwrap_or(0);
    let end = seen.iter().filter_map(|s| s.ids.last()).min().copied().unwrap_or(0);
    let published: BTreeSet<i64> =
        seen.iter().flat_map(|s| s.ids.iter().copied()).filter(|id| (start..=end).contains(id)).collect();
    let missed: usize = seen
        .iter()
        .map(|s| {
            let got: BTreeSet<i64> = s.ids.iter().copied().collect();
            published.difference(&got).count()
        })
        .sum();
    // The first event of a stream is the summary current at connection time: not a lag.
    let mut lags: Vec<i64> = seen.iter().flat_map(|s| s.lags_ms.iter().skip(1).copied()).collect();
    lags.sort_unstable();
    let worst_client = seen.iter().map(|s| s.lags_ms.iter().skip(1).copied().max().unwrap_or(0)).max().unwrap_or(0);
    let ok = errors.is_empty() && missed == 0 && worst_client <= 1_000;
    (
        format!(
            "{label:<12} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>10}  {}\n",
            seen.len(),
            published.len(),
            missed,
            percentile(&lags, 0.5),
            percentile(&lags, 0.99),
            lags.last().copied().unwrap_or(0),
            errors.len(),
            if ok { "goal met" } else { "GOAL NOT MET" },
        ),
        ok,
    )
}

pub async fn run(args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let base = args.url.trim_end_matches('/').to_owned();
    anyhow::ensure!(
        base.starts_with("http://127.0.0.1")
            || base.starts_with("http://[::1]")
            || base.starts_with("http://localhost"),
        "--url must be on loopback: benchmarks talk to this machine only"
    );
    anyhow::ensure!(args.clients > 0 && args.seconds > 0, "--clients and --seconds must be positive");
    let (user, password) = (args.user.clone(), args.password.clone());
    let login = format!("{base}/api/v1/auth/login");
    let token = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let body = serde_json::json!({ "username": user, "password": password }).to_string();
        let mut r = ureq::post(&login).header("Content-Type", "application/json").send(body.as_str())?;
        let answer: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string()?)?;
        answer["token"].as_str().map(str::to_owned).context("no token in the login answer")
    })
    .await??;
    let url = format!("{base}/events");
    let (clients, seconds) = (args.clients, args.seconds);
    let report = tokio::task::spawn_blocking(move || {
        let mut out = format!(
            "events benchmark against {base}: {clients} clients for {seconds} s (baseline: 1 client, {seconds} s)\n\
             machine: {} logical CPUs\n\n\
             {:<12} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>10}\n",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            "run",
            "clients",
            "updates",
            "missed",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors"
        );
        let (line, _) = summarise("baseline", &run_clients(&url, &token, 1, seconds));
        out.push_str(&line);
        let seen = run_clients(&url, &token, clients, seconds);
        let (line, ok) = summarise("concurrent", &seen);
        out.push_str(&line);
        let mut commit_lags: Vec<i64> = seen.iter().flat_map(|s| s.commit_lags_ms.iter().copied()).collect();
        commit_lags.sort_unstable();
        if !commit_lags.is_empty() {
            out.push_str(&format!(
                "\ncommit → arrival (PostgreSQL: events naming their oldest new commit): {} events, p50 {} ms, p99 {} ms, max {} ms\n",
                commit_lags.len(),
                percentile(&commit_lags, 0.5),
                percentile(&commit_lags, 0.99),
                commit_lags.last().copied().unwrap_or(0),
            ));
        }
        out.push_str(
            "\nupdates: summaries published while every client listened; missed: of those, summed over \
             clients; lag: arrival − publication (the event id), first event of each stream excluded.\n\
             goal: every client receives every update, none more than 1,000 ms behind.\n",
        );
        (out, ok)
    })
    .await?;
    super::super::emit(&report.0)?;
    Ok(if report.1 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
