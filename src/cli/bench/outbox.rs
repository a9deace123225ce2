//! `mes bench outbox`: store-and-forward's two costs — keeping a batch in the local outbox
//! while the database is away (a durable SQLite commit per batch: what an acknowledgement then
//! waits for) and catching up once it answers (forwarding the outbox into PostgreSQL) — beside
//! the baseline of the same batches committed straight to PostgreSQL one transaction each, as
//! collectors do while the database answers. The catch-up rate is also given as a multiple of
//! the fastest bundled line's rate at its ideal cycle (goal: ≥ 10×).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use mes::bench::sample_plant::plant_model;
use mes::store::{Outbox, RecordBatch, Store, StoreAndForward, create_database, drop_database};

/// Options of `mes bench outbox`.
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// PostgreSQL admin URL: two fresh databases are created and dropped.
    #[arg(long, value_name = "URL")]
    postgres_url: String,
    /// Station results kept during the outage.
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Records per batch (a collector's cycle of one line: the simulated lines commit about 6).
    #[arg(long, default_value_t = 6)]
    batch: usize,
    /// Lines behind one collector host, for the catch-up time of a 10-minute outage.
    #[arg(long, default_value_t = 24)]
    lines: usize,
    /// Seed of the generated records.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub async fn run(args: &OutboxArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.records > 0 && args.batch > 0 && args.lines > 0,
        "--records, --batch and --lines must be positive"
    );
    let records = super::generate(args.records, args.seed);
    // The fastest bundled line at its ideal cycle: every station a record per ideal cycle.
    let mut line_rate: f64 = 0.0;
    let mut fastest = String::new();
    for kind in ["smt", "phone", "tablet"] {
        let profile = super::super::simulate::bundled(kind)?;
        let rate: f64 = profile.stations.iter().filter_map(|s| s.ideal_cycle_ms).map(|ms| 1000.0 / f64::from(ms)).sum();
        if rate > line_rate {
            (line_rate, fastest) = (rate, profile.line.clone());
        }
    }
    let batches: Vec<RecordBatch> =
        records.chunks(args.batch).map(|c| RecordBatch { records: c.to_vec(), ..Default::default() }).collect();

    let suffix = format!("{}_{}", std::process::id(), chrono::Utc::now().timestamp() % 100_000);
    let (direct_db, forwarded_db) = (format!("mes_bench_direct_{suffix}"), format!("mes_bench_outbox_{suffix}"));
    let direct_url = create_database(&args.postgres_url, &direct_db).await?;
    let forwarded_url = create_database(&args.postgres_url, &forwarded_db).await?;
    let dir = tempfile::tempdir()?;
    let outcome = async {
        // Baseline: each batch its own transaction, as while the database answers.
        let direct = Store::connect(&direct_url).await?;
        direct.register_plant(&plant_model()).await?;
        let started = Instant::now();
        for b in &batches {
            direct.commit(b).await?;
        }
        let direct_s = started.elapsed().as_secs_f64();

        let store = Arc::new(Store::connect(&forwarded_url).await?);
        store.register_plant(&plant_model()).await?;
        let outbox = Outbox::open(&dir.path().join(mes::store::OUTBOX_FILE), u64::MAX / 2)?;
        let started = Instant::now();
        for b in &batches {
            outbox.keep_batch(b).await?;
        }
        let keep_s = started.elapsed().as_secs_f64();
        let bytes = outbox.status().lock().map(|s| s.bytes).unwrap_or(0);
        let sink = StoreAndForward::new(store.clone(), outbox);
        let started = Instant::now();
        sink.forward_all().await?;
        let forward_s = started.elapsed().as_secs_f64();
        let (a, b) = (direct.row_counts().await?, store.row_counts().await?);
        anyhow::ensure!(a == b, "forwarding wrote other rows than direct commits: {a:?} vs {b:?}");
        anyhow::Ok((direct_s, keep_s, forward_s, bytes))
    }
    .await;
    for db in [&direct_db, &forwarded_db] {
        drop_database(&args.postgres_url, db).await?;
    }
    let (direct_s, keep_s, forward_s, bytes) = outcome?;
    let n = records.len() as f64;
    let report = format!(
        "outbox benchmark: {} station results in {} batches of {} (sample plant, seed {})\n\
         machine: {} logical CPUs, {} build\n\n\
         {:<52} {:>9} {:>12} {:>10} {:>7}\n\
         {:<52} {:>9.2} {:>12.0} {:>10.0} {:>7.2}\n\
         {:<52} {:>9.2} {:>12.0} {:>10.0} {:>7.2}\n\
         {:<52} {:>9.2} {:>12.0} {:>10.0} {:>7.2}\n\n\
         outbox size: {:.1} KiB ({:.0} bytes per record)\n\
         line rate: {:.3} records/s ({}, the fastest bundled line, every station at its ideal cycle)\n\
         catch-up: {:.0} records/s = {:.0}x the line rate (goal: >= 10x); a 10-minute outage of {} such lines is forwarded in {:.1} s\n",
        batches.iter().map(|b| b.records.len()).sum::<usize>(),
        batches.len(),
        args.batch,
        args.seed,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
        "path",
        "seconds",
        "records/s",
        "batches/s",
        "ratio",
        "direct to PostgreSQL, one transaction per batch",
        direct_s,
        n / direct_s,
        batches.len() as f64 / direct_s,
        1.0,
        "kept in the outbox (SQLite, synchronous = FULL)",
        keep_s,
        n / keep_s,
        batches.len() as f64 / keep_s,
        direct_s / keep_s,
        "forwarded from the outbox to PostgreSQL",
        forward_s,
        n / forward_s,
        batches.len() as f64 / forward_s,
        direct_s / forward_s,
        bytes as f64 / 1024.0,
        bytes as f64 / n,
        line_rate,
        fastest,
        n / forward_s,
        n / forward_s / line_rate,
        args.lines,
        600.0 * line_rate * args.lines as f64 / (n / forward_s),
    );
    super::super::emit(&report)?;
    Ok(ExitCode::SUCCESS)
}
