//! `mes bench live`: the live line summaries (the overview's tiles, `/api/v1/summary`,
//! `/events`) on a store filling with a 12-hour shift of the sample plant's three lines at
//! factory rate. At 1, 6 and 12 hours into the shift it times a refresh after one commit, kept
//! (reading what changed, `figures::kept`, as the web process does) against the same summaries
//! recomputed from the whole shift (`figures::line_summaries`, the way before), in the same run
//! on the same store, and checks that both give the same summaries.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use clap::Args;
use mes::bench::sample_plant::{SamplePlant, plant_model};
use mes::domain::shift::{DEFAULT_TIME_ZONE, ShiftCalendar, ShiftDef};
use mes::figures::kept::KeptSummaries;
use mes::store::{RecordBatch, Store, sqlite_url};

/// Options of `mes bench live`.
#[derive(Debug, Args)]
pub struct LiveBenchArgs {
    /// Hours into the shift at which to measure (the shift is 12 hours).
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 6, 12])]
    hours: Vec<u32>,
    /// Commits timed at each point (one phone and the boards it needs, with their states).
    #[arg(long, default_value_t = 40)]
    commits: usize,
    /// Recomputations timed at each point.
    #[arg(long, default_value_t = 5)]
    recomputes: usize,
    /// Also run on PostgreSQL: an admin URL; a fresh database is created (and dropped).
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Seed of the sample plant.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Phones and tablets an hour at the simulators' takt (30 s and 45 s): the plant's factory rate
/// (the SMT line's 20 s boards make fewer, and set the pace).
const PHONES_PER_HOUR: usize = 3_600 / 30;
const TABLETS_PER_HOUR: usize = 3_600 / 45;

pub async fn run(args: &LiveBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.hours.iter().all(|h| (1..=12).contains(h)), "--hours must lie in 1..=12");
    anyhow::ensure!(args.commits >= 2 && args.recomputes >= 1, "--commits ≥ 2 and --recomputes ≥ 1");
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).context("hour");
    let calendar = ShiftCalendar {
        time_zone: DEFAULT_TIME_ZONE,
        shifts: vec![
            ShiftDef { name: "day".into(), start: t(6)?, end: t(18)?, breaks: Vec::new() },
            ShiftDef { name: "night".into(), start: t(18)?, end: t(6)?, breaks: Vec::new() },
        ],
    };
    let start = DEFAULT_TIME_ZONE
        .with_ymd_and_hms(2026, 1, 5, 6, 0, 0)
        .single()
        .context("plant-local shift start")?
        .with_timezone(&Utc);
    super::super::emit(&format!(
        "live summaries benchmark: 3 lines (SMT, phone, tablet), {PHONES_PER_HOUR} phones and {TABLETS_PER_HOUR} \
         tablets an hour, one 12 h shift from {start}; {} timed commits and {} recomputations at each point\n\
         machine: {} logical CPUs, {} build\n\n",
        args.commits,
        args.recomputes,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
    ))?;
    let temp = tempfile::tempdir().context("temp folder")?;
    let url = sqlite_url(&temp.path().join("live-bench.sqlite"));
    super::super::emit(&measure("SQLite", &url, &calendar, args, start).await?)?;
    if let Some(admin) = &args.postgres_url {
        super::on_postgres(
            admin,
            "live",
            |url| async move { measure("PostgreSQL", &url, &calendar, args, start).await },
        )
        .await?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Fills one backend's store hour by hour and measures at each requested hour; the report.
async fn measure(
    backend: &str,
    url: &str,
    calendar: &ShiftCalendar,
    args: &LiveBenchArgs,
    start: DateTime<Utc>,
) -> anyhow::Result<String> {
    let store = Store::connect(url).await?;
    store.migrate_up().await?;
    store.register_plant(&plant_model()).await?;
    let mut plant = SamplePlant::new(args.seed, start);
    let mut out = format!(
        "{backend}\n| hours in | station results | recomputed: median | max | kept, after one commit: p50 | p99 | max | \
         rows read per refresh (median) | first read | same summaries |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    );
    let mut hours: Vec<u32> = args.hours.clone();
    hours.sort_unstable();
    hours.dedup();
    let (mut results, mut latest) = (0usize, start);
    for h in hours {
        // A quarter of an hour's units at a time, until the plant's clock is `h` hours in, less
        // what the timed commits add (a phone every 30 s or so) and a margin: every timed
        // refresh falls inside the shift.
        let timed = chrono::Duration::seconds(45 * args.commits as i64 + 300);
        let target = (start + chrono::Duration::hours(i64::from(h)) - timed).max(start + chrono::Duration::minutes(10));
        while latest < target {
            latest =
                latest.max(commit(&store, &mut plant, PHONES_PER_HOUR / 4, TABLETS_PER_HOUR / 4, &mut results).await?);
        }
        let now = latest + chrono::Duration::seconds(1);
        let held = Default::default();
        let mut recomputed = Vec::new();
        for _ in 0..args.recomputes {
            let started = Instant::now();
            mes::figures::line_summaries(&store, calendar, now, &held).await?;
            recomputed.push(started.elapsed());
        }
        // One writer commits here, one batch at a time: ids commit in order on PostgreSQL too
        // (the web process rereads the last `PG_COMMIT_LAG` of ids there; see the report).
        let mut kept = KeptSummaries::with_commit_lag(Duration::ZERO);
        let started = Instant::now();
        kept.summaries(&store, calendar, now, &held).await?;
        let first = started.elapsed();
        let (mut refreshes, mut rows) = (Vec::new(), Vec::new());
        for _ in 0..args.commits {
            latest = latest.max(commit(&store, &mut plant, 1, 0, &mut results).await?);
            let now = latest + chrono::Duration::seconds(1);
            anyhow::ensure!(
                calendar.locate(now).is_some_and(|s| s.start == start),
                "{backend}: {now} is past the shift; use fewer --commits"
            );
            let started = Instant::now();
            kept.summaries(&store, calendar, now, &held).await?;
            refreshes.push(started.elapsed());
            rows.push(kept.rows_read().values().sum::<usize>());
        }
        let now = latest + chrono::Duration::seconds(1);
        let ours = serde_json::to_value(kept.summaries(&store, calendar, now, &held).await?)?;
        let fresh = serde_json::to_value(mes::figures::line_summaries(&store, calendar, now, &held).await?)?;
        anyhow::ensure!(ours == fresh, "{backend}: kept summaries differ from recomputed at {h} h");
        recomputed.sort_unstable();
        refreshes.sort_unstable();
        rows.sort_unstable();
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
        let at = |v: &[Duration], q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
        out.push_str(&format!(
            "| {:.1} | {results} | {} | {} | {} | {} | {} | {} | {} | yes |\n",
            (now - start).num_seconds() as f64 / 3600.0,
            ms(at(&recomputed, 0.5)),
            ms(recomputed[recomputed.len() - 1]),
            ms(at(&refreshes, 0.5)),
            ms(at(&refreshes, 0.99)),
            ms(refreshes[refreshes.len() - 1]),
            rows[rows.len() / 2],
            ms(first),
        ));
    }
    store.close().await?;
    Ok(out)
}

/// Commits the next `phones` and `tablets` (and the boards they need) with their state
/// intervals and counters, as collectors would; returns the latest instant committed.
async fn commit(
    store: &Store,
    plant: &mut SamplePlant,
    phones: usize,
    tablets: usize,
    results: &mut usize,
) -> anyhow::Result<DateTime<Utc>> {
    let chunk = plant.next_chunk(phones, tablets);
    let latest = chunk.records.iter().map(|r| r.ended_at).max().unwrap_or_default();
    *results += chunk.records.len();
    for records in chunk.records.chunks(2_000) {
        store.commit(&RecordBatch { records: records.to_vec(), ..Default::default() }).await?;
    }
    store
        .commit(&RecordBatch {
            state_intervals: chunk.state_intervals,
            counter_samples: chunk.counter_samples,
            ..Default::default()
        })
        .await?;
    Ok(latest)
}
