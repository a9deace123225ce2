//! `mes bench audit`: the investor ledger at factory scale. Records 30 days of the sample plant's
//! three lines (SMT, phone, tablet, at the simulators' takt) through the production write path,
//! closes every shift into signed entries, verifies every closed period from the raw records,
//! and exports a day's bundle; verification is measured against a bare scan of the same
//! station results in the same run on the same database.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, TimeZone, Utc};
use clap::Args;
use mes::audit::{self, CloseRequest, PeriodScope};
use mes::bench::sample_plant::{SamplePlant, plant_model};
use mes::config::Config;
use mes::domain::ledger::PeriodKind;
use mes::domain::shift::ShiftCalendar;
use mes::store::{RecordBatch, Store, sqlite_url};

/// Options of `mes bench audit`.
#[derive(Debug, Args)]
pub struct AuditBenchArgs {
    /// Days of production to record, close and verify.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Seed of the sample plant.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also run on PostgreSQL: an admin URL; a fresh database is created (and dropped).
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Skip SQLite (PostgreSQL only).
    #[arg(long)]
    no_sqlite: bool,
    /// Folder for the SQLite file, the key and the checkpoint file; default a temp folder.
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

/// Phones and tablets a day at the simulators' takt (30 s and 45 s): the plant's factory rate.
const PHONES_PER_DAY: usize = 86_400 / 30;
const TABLETS_PER_DAY: usize = 86_400 / 45;
/// Final units generated per slice, so the whole history is never held in memory.
const SLICES_PER_DAY: usize = 24;

pub async fn run(config: &Config, args: &AuditBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.days >= 2, "--days must be at least 2 (a bundle of the second day is measured)");
    let calendar = &config.calendar;
    let start = calendar
        .time_zone
        .with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .context("plant-local midnight")?
        .with_timezone(&Utc);
    let until = start + Duration::days(i64::from(args.days));
    super::super::emit(&format!(
        "audit benchmark: {} days of 3 lines (SMT, phone, tablet) from {start}, {} phones and {} tablets a day, \
         shifts of the configured calendar ({} a day)\nmachine: {} logical CPUs, {} build\n\n",
        args.days,
        PHONES_PER_DAY,
        TABLETS_PER_DAY,
        calendar.shifts.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
    ))?;
    let temp = tempfile::tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir)).context("temp folder")?;
    if !args.no_sqlite {
        let url = sqlite_url(&temp.path().join("audit-bench.sqlite"));
        let report = measure("SQLite", &url, calendar, args, start, until, temp.path()).await?;
        super::super::emit(&report)?;
    }
    if let Some(admin) = &args.postgres_url {
        super::on_postgres(admin, "audit", |url| async move {
            measure("PostgreSQL", &url, calendar, args, start, until, temp.path()).await
        })
        .await?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Records, closes, scans, verifies and exports on one backend; the report's lines.
async fn measure(
    backend: &str,
    url: &str,
    calendar: &ShiftCalendar,
    args: &AuditBenchArgs,
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    dir: &std::path::Path,
) -> anyhow::Result<String> {
    let store = Store::connect(url).await?;
    store.migrate_up().await?;
    store.register_plant(&plant_model()).await?;
    let mut out = format!("{backend}\n");

    let started = Instant::now();
    let recorded = record(&store, args.seed, args.days, start).await?;
    out.push_str(&format!(
        "  recorded  {recorded} station results through the batch writer in {:.1} s\n",
        started.elapsed().as_secs_f64()
    ));

    let folder = dir.join(backend.to_lowercase());
    let key = audit::plant_key(&folder.join("ledger.key"), audit::DEFAULT_ORIGIN)?;
    let checkpoints = folder.join("checkpoints");
    let request = CloseRequest { line: None, period: PeriodKind::Shift, until, by: "mes bench audit".into() };
    let started = Instant::now();
    let closed = audit::close(&store, calendar, &key, &checkpoints, &request).await?;
    let close_s = started.elapsed().as_secs_f64();
    let closed_records: u64 = closed.iter().map(|c| c.results).sum();
    let shifts = closed.iter().map(|c| c.period.as_str()).collect::<std::collections::BTreeSet<_>>().len().max(1);
    out.push_str(&format!(
        "  close     {} entries ({shifts} shifts × lines) over {closed_records} station results in {close_s:.1} s: \
         {:.2} s per shift (all lines), {:.0} ms per entry\n",
        closed.len(),
        close_s / shifts as f64,
        1000.0 * close_s / closed.len().max(1) as f64,
    ));

    // The floor and the check read the same rows, one after the other, on a warm cache.
    let started = Instant::now();
    let scanned = store.bare_result_scan(start - Duration::days(1), until).await?;
    let scan_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let verification = audit::verify(&store, &key.verifier(), &[], &PeriodScope::default(), |_, _| {}).await?;
    let verify_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(verification.clean(), "the untouched store did not verify: {:?}", verification.discrepancies);
    anyhow::ensure!(
        verification.records == closed_records,
        "verify recomputed {} records, the close counted {closed_records}",
        verification.records
    );
    let (scan_rate, verify_rate) = (scanned as f64 / scan_s, verification.records as f64 / verify_s);
    out.push_str(&format!(
        "  scan      {scanned} station results, bare paged SELECT with every column decoded: {scan_s:.1} s, {scan_rate:.0} records/s\n\
         \x20 verify    {} entries, {} records recomputed (figures, digests, each record's hash), every leaf, root, \
         signature and {} checkpoints: {verify_s:.1} s, {verify_rate:.0} records/s = {:.2} × the scan (goal ≥ 0.3)\n",
        verification.entries,
        verification.records,
        verification.checkpoints,
        verify_rate / scan_rate,
    ));

    let day = start + Duration::days(1);
    let scope = PeriodScope { line: None, from: Some(day), to: Some(day + Duration::days(1)) };
    let started = Instant::now();
    let bundle = audit::export(&store, &key, &scope).await?;
    let export_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (offline, _) = audit::verify_bundle(&bundle, Some(&key.verifier()))?;
    let offline_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(offline.clean(), "the day's bundle did not verify: {:?}", offline.discrepancies);
    out.push_str(&format!(
        "  bundle    one day, 3 lines: {:.1} MiB ({} records, {:.0} bytes per record), exported in {export_s:.1} s, \
         verified offline in {offline_s:.1} s ({:.0} records/s)\n",
        bundle.len() as f64 / f64::from(1u32 << 20),
        offline.records,
        bundle.len() as f64 / offline.records.max(1) as f64,
        offline.records as f64 / offline_s,
    ));
    store.close().await?;
    Ok(out)
}

/// Records `days` of the sample plant (seed `seed`) through [`Store::commit`] in
/// collector-sized batches, slice by slice; returns the station results written.
pub(super) async fn record(store: &Store, seed: u64, days: u32, start: DateTime<Utc>) -> anyhow::Result<u64> {
    let mut plant = SamplePlant::new(seed, start);
    let mut written = 0u64;
    for _ in 0..days as usize * SLICES_PER_DAY {
        let chunk = plant.next_chunk(PHONES_PER_DAY / SLICES_PER_DAY, TABLETS_PER_DAY / SLICES_PER_DAY);
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
        written += chunk.records.len() as u64;
    }
    Ok(written)
}
