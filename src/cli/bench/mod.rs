//! `mes bench`: benchmarks that ship with the product, each measured against a baseline in the
//! same run (never timed assertions in tests). Build with `--release` before believing a number.

mod acquisition;
mod audit;
mod connect;
mod events;
mod live;
mod outbox;
mod reports;
mod scale;
mod trace;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use chrono::{TimeZone, Utc};
use clap::{Args, Subcommand};
use mes::bench::sample_plant::{SamplePlant, plant_model};
use mes::config::Config;
use mes::domain::record::UnitRecord;
use mes::store::bench::baseline;
use mes::store::{RecordBatch, Store, create_database, drop_database, sqlite_url};

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Station results with genealogy through the batch writer vs a raw prepared-statement loop.
    Ingest(IngestArgs),
    /// Polling cost per 1,000 tags, reads/s vs raw tokio-modbus, record latency, memory.
    Acquisition(acquisition::AcquisitionArgs),
    /// Backward and forward traces and a day's yield on a generated store of 10⁷ units.
    Trace(trace::TraceArgs),
    /// Many `/events` clients against a running web front: every update, and how late.
    Events(events::EventsArgs),
    /// The live line summaries through a 12 h shift: a refresh after one commit, kept vs
    /// recomputed from the whole shift.
    Live(live::LiveBenchArgs),
    /// The audit ledger: close and verify 30 days of three lines vs a bare scan; bundle size.
    Audit(audit::AuditBenchArgs),
    /// Shift reports of a full 12 h shift per format; plotters charts vs the old hand-written SVG.
    Reports(reports::ReportsBenchArgs),
    /// Store-and-forward: keeping batches in the local outbox and forwarding them to
    /// PostgreSQL, vs committing them straight; catch-up as a multiple of the line rate.
    Outbox(outbox::OutboxArgs),
    /// Many lines over several collector and web processes on one PostgreSQL: records/s, CPU
    /// per line, commit-to-`/events` latency, failover time, catch-up after an outage.
    Scale(scale::ScaleArgs),
}

/// Options of `mes bench ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Station results to insert.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Records per batch (one transaction each) for the batch writer.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Also run against PostgreSQL: an admin URL; two fresh databases are created and dropped.
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Seed of the generated records.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `measure` on a fresh PostgreSQL database made through `admin` (named after the
/// benchmark and this process), drops it whatever the outcome, and prints the report.
async fn on_postgres<F>(admin: &str, bench: &str, measure: impl FnOnce(String) -> F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<String>>,
{
    let name = format!("mes_bench_{bench}_{}", std::process::id());
    let url = create_database(admin, &name).await?;
    let outcome = measure(url).await;
    drop_database(admin, &name).await?;
    super::emit(&outcome?)
}

pub async fn run(config: &Config, command: BenchCommand) -> anyhow::Result<ExitCode> {
    let args = match command {
        BenchCommand::Ingest(args) => args,
        BenchCommand::Acquisition(args) => return acquisition::run(config, &args).await,
        BenchCommand::Trace(args) => return trace::run(config, &args).await,
        BenchCommand::Events(args) => return events::run(&args).await,
        BenchCommand::Audit(args) => return audit::run(config, &args).await,
        BenchCommand::Live(args) => return live::run(&args).await,
        BenchCommand::Reports(args) => return reports::run(config, &args).await,
        BenchCommand::Outbox(args) => return outbox::run(&args).await,
        BenchCommand::Scale(args) => return scale::run(&args).await,
    };
    anyhow::ensure!(args.records > 0 && args.batch > 0, "--records and --batch must be positive");
    eprintln!("generating {} station results (seed {}) …", args.records, args.seed);
    let records = generate(args.records, args.seed);
    let edges: usize = records.iter().map(|r| r.consumed.len()).sum();
    let defects: usize = records.iter().map(|r| r.defects.len()).sum();
    let measurements: usize = records.iter().map(|r| r.measurements.len()).sum();
    let mut report = format!(
        "ingest benchmark: {} station results, {edges} genealogy edges, {defects} defects, {measurements} measurements\n\
         machine: {} logical CPUs, {} build\n\n\
         {:<10} {:<44} {:>10} {:>14} {:>8}\n",
        records.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
        "backend",
        "loader",
        "seconds",
        "records/s",
        "ratio",
    );

    // The raw floor runs first, and each loader's files are flushed to disk outside its timing,
    // so neither pays for the other's write-back.
    let dir = tempfile::tempdir().context("creating a temp folder")?;
    let raw_path = dir.path().join("raw.sqlite");
    let ids = prepare(&sqlite_url(&raw_path)).await?;
    let raw = {
        let records = records.clone();
        let path = raw_path.clone();
        let started = Instant::now();
        tokio::task::spawn_blocking(move || baseline::insert_sqlite(&path, &ids, &records)).await??;
        started.elapsed().as_secs_f64()
    };
    flush_sqlite_files(&raw_path)?;
    let ours_path = dir.path().join("ours.sqlite");
    let ours = time_ours(&sqlite_url(&ours_path), &records, args.batch).await?;
    let size = flush_sqlite_files(&ours_path)?;
    verify_same_rows(&sqlite_url(&ours_path), &sqlite_url(&raw_path)).await?;
    report.push_str(&rows("sqlite", &format!("batch writer ({} records/txn)", args.batch), ours, records.len(), raw));
    report.push_str(&rows("sqlite", "raw rusqlite loop, one transaction", raw, records.len(), raw));
    report.push_str(&format!("{:<10} SQLite file after ingest: {:.1} MiB\n", "", size as f64 / 1_048_576.0));

    if let Some(admin) = &args.postgres_url {
        let suffix = format!("{}_{}", std::process::id(), Utc::now().timestamp() % 100_000);
        let (ours_db, raw_db) = (format!("mes_bench_ours_{suffix}"), format!("mes_bench_raw_{suffix}"));
        let ours_url = create_database(admin, &ours_db).await?;
        let raw_url = create_database(admin, &raw_db).await?;
        let outcome = async {
            let ours = time_ours(&ours_url, &records, args.batch).await?;
            let ids = prepare(&raw_url).await?;
            let started = Instant::now();
            baseline::insert_postgres(&raw_url, &ids, &records).await?;
            let raw = started.elapsed().as_secs_f64();
            verify_same_rows(&ours_url, &raw_url).await?;
            anyhow::Ok((ours, raw))
        }
        .await;
        for db in [&ours_db, &raw_db] {
            drop_database(admin, db).await?;
        }
        let (ours, raw) = outcome?;
        report.push_str(&rows(
            "postgres",
            &format!("batch writer ({} records/txn)", args.batch),
            ours,
            records.len(),
            raw,
        ));
        report.push_str(&rows("postgres", "raw sqlx loop, one transaction", raw, records.len(), raw));
    }
    super::emit(&report)?;
    Ok(ExitCode::SUCCESS)
}

/// The first `n` records of a seeded sample-plant history.
fn generate(n: usize, seed: u64) -> Vec<UnitRecord> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_else(Utc::now);
    let mut plant = SamplePlant::new(seed, start);
    let mut records = Vec::with_capacity(n + 20_000);
    while records.len() < n {
        records.extend(plant.next_chunk(500, 250).records);
    }
    records.truncate(n);
    records
}

/// A migrated store with the sample plant's master data.
/// Closed before returning, so a raw loader may then open the SQLite file on its own.
async fn prepare(url: &str) -> anyhow::Result<baseline::BaselineIds> {
    let store = Store::connect(url).await?;
    store.register_plant(&plant_model()).await?;
    let ids = store.baseline_ids().await?;
    store.close().await?;
    Ok(ids)
}

async fn time_ours(url: &str, records: &[UnitRecord], batch: usize) -> anyhow::Result<f64> {
    let store = Store::connect(url).await?;
    store.register_plant(&plant_model()).await?;
    // Batches are built before the clock starts: a collector hands over batches it built anyway.
    let batches: Vec<RecordBatch> =
        records.chunks(batch).map(|c| RecordBatch { records: c.to_vec(), ..Default::default() }).collect();
    let started = Instant::now();
    for b in &batches {
        store.commit(b).await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// fsyncs a SQLite database and its WAL; returns their total size in bytes.
fn flush_sqlite_files(path: &std::path::Path) -> anyhow::Result<u64> {
    let mut size = 0;
    let wal = path.with_extension("sqlite-wal");
    for file in [path, wal.as_path()] {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(file) {
            f.sync_all().with_context(|| format!("flushing {}", file.display()))?;
            size += f.metadata()?.len();
        }
    }
    Ok(size)
}

/// Both loaders must have written the same rows, or the comparison means nothing.
async fn verify_same_rows(a: &str, b: &str) -> anyhow::Result<()> {
    let (a, b) = (Store::connect(a).await?.row_counts().await?, Store::connect(b).await?.row_counts().await?);
    anyhow::ensure!(a == b, "the two loaders wrote different rows: {a:?} vs {b:?}");
    Ok(())
}

fn rows(backend: &str, loader: &str, seconds: f64, records: usize, baseline: f64) -> String {
    format!(
        "{backend:<10} {loader:<44} {seconds:>10.2} {:>14.0} {:>8.2}\n",
        records as f64 / seconds,
        baseline / seconds,
    )
}
